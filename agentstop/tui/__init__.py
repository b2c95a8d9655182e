"""The terminal UI (Textual). Only the CLI imports this package, and only when it opens the UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentstop.task import TaskFile
from agentstop.tools import ToolRegistry

from .app import AgentstopApp
from .config import SessionConfig

__all__ = ["AgentstopApp", "SessionConfig", "make_app", "run_tui"]


def make_app(config: SessionConfig) -> AgentstopApp:
    """The one factory the CLI and the tests share."""
    return AgentstopApp(config)


def config_from_task(
    task: TaskFile,
    tools: ToolRegistry,
    journal_path: Path | str,
    stop_after: float | None = None,
    *,
    resume: str | None = None,
    instruction: str = "",
    meta: dict[str, Any] | None = None,
) -> SessionConfig:
    """A session config from a loaded task file; `resume` names an ended session of it to run on."""
    return SessionConfig(
        journal_path=journal_path,
        tools=tools,
        grant=task.grant_spec(),
        planner=task.planner(),
        task_name=task.name,
        goal=task.goal,
        task_path=str(task.path),
        grace=task.grace_seconds,
        approve=task.approve,
        stop_after=stop_after,
        session_id=resume,
        resume=resume is not None,
        instruction=instruction,
        planner_factory=task.planner,
        meta=dict(meta or {}),
    )


async def run_tui(
    task: TaskFile,
    tools: ToolRegistry,
    journal_path: Path | str,
    *,
    stop_after: float | None,
    resume: str | None = None,
    instruction: str = "",
    meta: dict[str, Any] | None = None,
) -> int:
    """Run the task in the TUI (or resume its ended session `resume`); returns the exit code.

    0 only for a clean, completed run (after a Resume: a clean last epoch), 2 when the
    session could not be resumed.
    """
    app = make_app(
        config_from_task(task, tools, journal_path, stop_after, resume=resume, instruction=instruction, meta=meta)
    )
    code = await app.run_async()
    return 1 if code is None else code
