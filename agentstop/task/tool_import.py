"""Importing the tool classes a task file names (`package.module:ClassName`)."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentstop._demo_tools import make_importable, names_demo_tools
from agentstop.errors import AgentstopError
from agentstop.journal.records import SessionRecord
from agentstop.tools.base import Tool
from agentstop.tools.registry import ToolRegistry

from .values import did_you_mean

__all__ = ["ToolImportProblem", "import_tool", "recorded_tools", "search_path"]


class ToolImportProblem(Exception):
    """Why a tool could not be loaded; the loader turns it into a `TaskFileError` with the line."""


@contextmanager
def search_path(dirs: Sequence[Path]) -> Iterator[None]:
    """Put `dirs` first on `sys.path` while the block runs, and take them off after.

    Modules imported meanwhile stay imported (in `sys.modules`), as with any import.
    """
    added: list[str] = []
    for d in dirs:
        entry = str(d)
        if entry not in added:
            added.append(entry)
    sys.path[:0] = added
    importlib.invalidate_caches()  # a module written since the last import must be found
    try:
        yield
    finally:
        for entry in added:
            try:
                sys.path.remove(entry)
            except ValueError:  # the imported code removed it itself
                pass


def _tool_classes(module: Any) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, Tool) and value is not Tool
    )


def _kind(obj: object) -> str:
    if isinstance(obj, type):
        return f"the class {obj.__qualname__}"
    return f"a {type(obj).__name__}"


def import_tool(spec: str, searched: str) -> Tool:
    """Import `package.module:ClassName`, check it is a Tool class, and build it with no arguments.

    Args:
        spec: the import path as the task file writes it.
        searched: where modules were looked for, for the message ("/tasks, /home/me").

    Raises:
        ToolImportProblem: saying what went wrong and what to do.
    """
    module_name, _, qualname = spec.partition(":")
    if names_demo_tools(module_name):
        # A wheel ships the demo package inside agentstop. Were it missing too, the import below says so.
        with contextlib.suppress(AgentstopError):
            make_importable()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise ToolImportProblem(
                f"cannot import module {module_name!r}: not found in {searched}, PYTHONPATH or the installed "
                f"packages; put {module_name.split('.')[0]}.py next to the task file, install its package, "
                "or fix the name"
            ) from None
        raise ToolImportProblem(f"importing {module_name!r} failed: {exc}; install the missing package") from None
    except Exception as exc:
        raise ToolImportProblem(
            f"importing {module_name!r} raised {type(exc).__name__}: {exc}; fix the module"
        ) from None
    obj: Any = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except Exception:
            known = _tool_classes(module)
            listing = ", ".join(known) or "none"
            raise ToolImportProblem(
                f"module {module_name!r} has no attribute {qualname!r}{did_you_mean(qualname, known)} "
                f"(tool classes there: {listing}); fix the class name"
            ) from None
    if not (isinstance(obj, type) and issubclass(obj, Tool)):
        raise ToolImportProblem(f"{spec} is {_kind(obj)}, not a subclass of agentstop.Tool; point to a tool class")
    try:
        return obj()
    except Exception as exc:
        raise ToolImportProblem(
            f"{spec}() raised {type(exc).__name__}: {exc}; tools in a task file are built with no "
            "arguments, so give __init__ defaults (or read settings from the environment)"
        ) from None


def recorded_tools(session: SessionRecord) -> tuple[ToolRegistry, list[str]]:
    """The session's Python tools, imported by the paths it recorded (MCP tools are skipped), and the problems."""
    from agentstop.mcp.restart import mcp_tool_name

    dirs = [Path.cwd()]
    if session.task_path:
        dirs.insert(0, Path(session.task_path).parent)
    tools: list[Tool] = []
    problems: list[str] = []
    with search_path(dirs):
        for spec in session.tools:
            if mcp_tool_name(spec) is not None:
                continue
            try:
                tools.append(import_tool(spec, ", ".join(str(d) for d in dirs)))
            except ToolImportProblem as exc:
                problems.append(f"{spec}: {exc}")
    return ToolRegistry(tools), problems
