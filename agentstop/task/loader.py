"""`load_task`: read a task.yaml, validate it, and say exactly where it is wrong.

Anything wrong with the file, from a missing file to a bad field, raises
`TaskFileError` naming the line and the field. The YAML is composed into a
node tree first (which keeps line numbers), then constructed and validated.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from agentstop.errors import TaskFileError
from agentstop.yaml_limits import expansion_problem, max_file_bytes, size_problem
from agentstop.yaml_lines import LineIndex, format_path

from .models import TaskModel
from .problems import Problem, raise_first
from .taskfile import TaskFile
from .validation import problems_from
from .values import show

__all__ = ["load_task", "parse_task"]

_TOP_FIELDS = "name, goal, tools, grant and steps"


def _mark_line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return None if mark is None else int(mark.line) + 1


class _Loader(yaml.SafeLoader):
    """A safe loader whose value errors (a date like 2026-13-45) carry the node's line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> object:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            shown = f" {show(node.value)}" if isinstance(node, yaml.ScalarNode) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value{shown} ({exc}); put it in quotes", node.start_mark
            ) from None


def _char(c: object) -> str:
    return f"U+{c:04X}" if isinstance(c, int) else repr(c)


def _yaml_error(shown: str, text: str, exc: yaml.YAMLError) -> TaskFileError:
    if isinstance(exc, yaml.constructor.ConstructorError):
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        return TaskFileError(shown, _mark_line(exc), None, what if "; " in what else f"{what}; fix this value")
    if isinstance(exc, yaml.MarkedYAMLError):
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "unreadable YAML"
        return TaskFileError(
            shown, _mark_line(exc), None, f"YAML syntax error: {what}; fix the YAML here (indentation, quotes, colons)"
        )
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: max(0, exc.position)].count("\n") + 1
        return TaskFileError(
            shown, line, None, f"the file holds a character YAML does not allow ({_char(exc.character)}); remove it"
        )
    return TaskFileError(shown, None, None, f"cannot read the YAML: {exc}; fix the file")


def _compose_and_construct(text: str, shown: str) -> tuple[yaml.Node | None, object]:
    # One parse: the node tree keeps the line numbers, the data is built from it.
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        bomb = expansion_problem(root)
        if bomb is not None:  # before anything walks the expanded document
            raise TaskFileError(shown, bomb[0], None, bomb[1])
        return root, (None if root is None else loader.construct_document(root))
    finally:
        loader.dispose()


def parse_task(text: str, path: str | os.PathLike[str] = "task.yaml", *, shown_path: str | None = None) -> TaskFile:
    """Validate task.yaml text as if it were read from `path`.

    Args:
        text: the file's contents.
        path: where it lives (relative paths in it, and tool modules, are found from its directory).
        shown_path: how errors name the file; default `path` as given.

    Raises:
        TaskFileError: the YAML or a field is wrong; the earliest problem by line is raised.
    """
    shown = str(path) if shown_path is None else shown_path
    try:
        root, data = _compose_and_construct(text, shown)
    except yaml.YAMLError as exc:
        raise _yaml_error(shown, text, exc) from None
    except RecursionError:
        raise TaskFileError(shown, None, None, "the YAML is nested too deeply; flatten it") from None
    if root is None:
        raise TaskFileError(shown, None, None, f"the file is empty; expected a mapping with {_TOP_FIELDS}")
    index = LineIndex(root)
    if not isinstance(data, dict):
        raise TaskFileError(
            shown, index.line(()), None, f"expected a mapping of fields ({_TOP_FIELDS}) at the top, got {show(data)}"
        )
    problems = [
        Problem(line, format_path([*where, key]), f"key {key!r} is written twice; keep one (YAML uses the last)")
        for line, where, key in index.duplicate_keys()
    ]
    model: TaskModel | None = None
    try:
        model = TaskModel.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, TaskModel, index))
    except RecursionError:
        problems.append(Problem(None, None, "the YAML refers to itself (an alias inside its own anchor); remove it"))
    raise_first(shown, problems)
    assert model is not None
    return TaskFile(model, Path(path).absolute(), shown, index)


def load_task(path: str | os.PathLike[str]) -> TaskFile:
    """Read and validate a task file.

    Tools are not imported yet: call `TaskFile.load_tools()`, then
    `TaskFile.check_steps(registry)`.

    Args:
        path: the task.yaml file.

    Raises:
        TaskFileError: the file is missing or unreadable, its YAML is wrong, or
            a field is; says the line and the field.

    Example:
        ```python
        task = load_task("release.yaml")
        tools = task.load_tools()
        task.check_steps(tools)
        ```
    """
    shown = str(path)
    p = Path(path)
    limit = max_file_bytes()
    try:
        with p.open("rb") as f:
            raw = f.read(limit + 1)  # never more: a 50 MB goal, or /dev/zero, is refused without reading it all
    except FileNotFoundError:
        raise TaskFileError(
            shown, None, None, "no such file; check the path (a relative path starts from the current directory)"
        ) from None
    except IsADirectoryError:
        raise TaskFileError(shown, None, None, "is a directory; pass the task file in it (like task.yaml)") from None
    except OSError as exc:
        problem = f"cannot read it ({exc.strerror or exc}); check its permissions"
        raise TaskFileError(shown, None, None, problem) from None
    too_big = size_problem(len(raw), limit)
    if too_big is not None:
        raise TaskFileError(shown, None, None, too_big)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TaskFileError(shown, line, None, "not UTF-8 text; save the file as UTF-8") from None
    return parse_task(text, p, shown_path=shown)
