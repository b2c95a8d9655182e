"""`TaskFile`: a loaded task.yaml, with what the CLI and TUI need from it."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentstop.errors import TaskFileError, ToolError
from agentstop.grant import GrantSpec
from agentstop.journal.backend import is_url
from agentstop.planners.base import Planner
from agentstop.planners.scripted import ScriptedPlanner, ScriptedStep
from agentstop.redact import register_secret
from agentstop.tools import Tool, ToolRegistry
from agentstop.yaml_lines import LineIndex, format_path

from .models import OpenAIAgentSpec, ScriptedAgentSpec, StepModel, TaskModel
from .problems import Problem, raise_first
from .tool_import import ToolImportProblem, import_tool, search_path
from .validation import problems_from
from .values import did_you_mean

__all__ = ["TaskFile"]

Loc = list[str | int]


class TaskFile:
    """A task file that parsed and validated; made by `load_task`.

    Its fields are on `model` (a `TaskModel`); the helpers here turn them into
    what the supervisor takes. Tools are imported only by `load_tools`, and the
    steps are checked against them by `check_steps`.

    Attributes:
        model: the validated contents.
        path: the file's absolute path.
        shown_path: the path as the user wrote it (what errors print).
        lines: the line index of the file, for errors found after loading.
    """

    def __init__(self, model: TaskModel, path: Path, shown_path: str, lines: LineIndex) -> None:
        self.model = model
        self.path = path
        self.shown_path = shown_path
        self.lines = lines

    def __repr__(self) -> str:
        return f"<TaskFile {self.shown_path} {self.model.name!r}>"

    # -- plain values -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The task's short title."""
        return self.model.name

    @property
    def goal(self) -> str:
        """What the agent was asked to do."""
        return self.model.goal

    @property
    def directory(self) -> Path:
        """The directory the file is in (relative paths in it start here)."""
        return self.path.parent

    @property
    def grace_seconds(self) -> float:
        """Seconds Stop lets commits in flight finish (`stop.grace`)."""
        return self.model.stop.grace

    @property
    def approve(self) -> str | list[str]:
        """Which calls wait for approval: "irreversible", "none", or tool names."""
        return self.model.approve

    def grant_spec(self) -> GrantSpec:
        """The grant as a `GrantSpec` for the supervisor."""
        g = self.model.grant
        return GrantSpec(tools=list(g.tools), scopes=list(g.scopes), ttl=g.ttl, max_calls=g.max_calls)

    def journal_target(self, default: Path | str) -> Path | str:
        """The journal: `journal` if the task sets it, else `default`.

        A file is relative to the task file's directory; a `postgresql://` URL is returned as written.
        """
        if self.model.journal is None:
            return default
        if is_url(self.model.journal):
            return self.model.journal
        p = Path(os.path.expanduser(self.model.journal))
        return p if p.is_absolute() else self.directory / p

    def journal_path(self, default: Path | str) -> Path | str:
        """The older name of `journal_target` (it may now return a URL)."""
        return self.journal_target(default)

    def scripted_steps(self) -> tuple[ScriptedStep, ...]:
        """The steps as plain data for `ScriptedPlanner`."""
        return tuple(_scripted(step) for step in self.model.steps)

    def planner(self) -> Planner:
        """The planner for `agent`: a `ScriptedPlanner`, or an `OpenAIChatPlanner` for kind openai.

        Raises:
            TaskFileError: kind openai names an `api_key_env` that is not set.
        """
        agent = self.model.agent
        if isinstance(agent, ScriptedAgentSpec):
            return ScriptedPlanner(self.scripted_steps(), tokens_per_second=agent.tokens_per_second)
        return self._openai_planner(agent)

    def _openai_planner(self, agent: OpenAIAgentSpec) -> Planner:
        # Imported here: the SDK is slow to import, and scripted runs never need it.
        from agentstop.planners.openai_chat import OpenAIChatPlanner

        api_key: str | None = None
        if agent.api_key_env is not None:
            api_key = os.environ.get(agent.api_key_env, "").strip()
            if not api_key:
                name = agent.api_key_env
                raise self.error(
                    ["agent", "api_key_env"],
                    f"the environment variable {name} is not set (or empty); export it with the API "
                    f"key (export {name}=...), or remove api_key_env for a server without auth",
                )
            register_secret(api_key)  # a model that repeats it leaves *** in the journal, not the key
        return OpenAIChatPlanner(
            agent.model,
            self.goal,
            base_url=agent.base_url,
            api_key=api_key,
            api_key_env=agent.api_key_env,
            max_steps=agent.max_steps,
            temperature=agent.temperature,
            system=agent.system,
            timeout=agent.timeout,
            max_retries=agent.max_retries,
        )

    # -- tools ----------------------------------------------------------------------

    def error(self, path: Loc, problem: str) -> TaskFileError:
        """A `TaskFileError` about the node at `path`, with its line."""
        return TaskFileError(self.shown_path, self.lines.line(path), format_path(path) or None, problem)

    def load_tools(self) -> ToolRegistry:
        """Import the `tools` classes, build each with no arguments, and register them.

        The task file's directory and the current directory come first on
        `sys.path` while importing (and are taken off after); PYTHONPATH works
        as usual.

        Raises:
            TaskFileError: at the line of the first entry that cannot be loaded,
                saying why and what to do.
        """
        registry = ToolRegistry()
        dirs = [self.directory, Path.cwd()]
        searched = ", ".join(dict.fromkeys(str(d) for d in dirs))
        with search_path(dirs):
            for i, spec in enumerate(self.model.tools):
                try:
                    tool = import_tool(spec, searched)
                    registry.add(tool)
                except ToolImportProblem as exc:
                    raise self.error(["tools", i], str(exc)) from None
                except ToolError as exc:
                    raise self.error(["tools", i], f"{spec}: {exc}") from None
        return registry

    def check_steps(self, registry: ToolRegistry) -> None:
        """Check the steps, the grant's tool patterns and `approve` against the loaded tools.

        Every step's tool must exist and its args must pass the tool's Args
        model; every grant tool pattern must match some tool.

        Raises:
            TaskFileError: at the earliest problem's line, with how many more there are.
        """
        problems: list[Problem] = []
        names = registry.names()
        for i, pattern in enumerate(self.model.grant.tools):
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                problems.append(
                    self._problem(
                        ["grant", "tools", i],
                        f"pattern {pattern!r} matches no tool (loaded: {', '.join(names)}); fix it or remove it",
                    )
                )
        if isinstance(self.model.approve, list):
            for i, name in enumerate(self.model.approve):
                if name not in registry:
                    problems.append(self._problem(["approve", i], _unknown_tool(name, names)))
        for i, step in enumerate(self.model.steps):
            for where, tool_name, args in _step_calls(step, i):
                problems.extend(self._check_call(registry, where, tool_name, args))
        raise_first(self.shown_path, problems)

    def _problem(self, path: Loc, text: str) -> Problem:
        return Problem(self.lines.line(path), format_path(path), text)

    def _check_call(self, registry: ToolRegistry, where: Loc, tool_name: str, args: dict[str, Any]) -> list[Problem]:
        if tool_name not in registry:
            return [self._problem([*where, "tool"], _unknown_tool(tool_name, registry.names()))]
        tool: Tool = registry.get(tool_name)
        written = self.lines.has([*where, "args"])
        try:
            tool.Args.model_validate(args)
        except ValidationError as exc:
            return problems_from(
                exc,
                tool.Args,
                self.lines,
                [*where, "args"],
                noun="argument",
                line_path=None if written else [*where, "tool"],
            )
        except Exception as exc:  # a validator that raised something pydantic does not wrap
            return [
                self._problem([*where, "args"], f"the Args model of {tool_name} raised {type(exc).__name__}: {exc}")
            ]
        return []


def _unknown_tool(name: str, names: list[str]) -> str:
    listing = ", ".join(names) or "none"
    return (
        f"no tool named {name!r}{did_you_mean(name, names)} (loaded tools: {listing}); "
        "fix the name, or add the tool's class to `tools`"
    )


def _step_calls(step: StepModel, i: int) -> list[tuple[Loc, str, dict[str, Any]]]:
    if step.parallel is not None:
        return [(["steps", i, "parallel", j], c.tool, c.args) for j, c in enumerate(step.parallel)]
    if step.tool is not None:
        return [(["steps", i], step.tool, step.args or {})]
    return []


def _scripted(step: StepModel) -> ScriptedStep:
    return ScriptedStep(thought=step.thought, calls=step.calls, parallel=step.parallel is not None)
