"""The terminal UI (Textual). Only the CLI imports this package, and only when it opens the UI.

One app (`AgentstopApp`), two ways in, one factory each, shared by the CLI and the tests:
`make_app(config)` runs a session here; `make_journal_app(journal, rows, tool_loader, ...)`
views a journal (the sessions browser, timelines, a running session attached live).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agentstop.session import ToolLoader
from agentstop.task import TaskFile
from agentstop.tools import ToolRegistry

from .app import AgentstopApp
from .config import SessionConfig
from .modes import JournalMode, RunMode
from .screens.sessions import SessionRow

__all__ = ["AgentstopApp", "JournalMode", "RunMode", "SessionConfig", "make_app", "make_journal_app", "run_tui"]


def make_app(config: SessionConfig, keymap: Mapping[str, str] | None = None) -> AgentstopApp[RunMode]:
    """The app running the session `config` describes, in this process (with keys moved as `keymap` says)."""
    return AgentstopApp(RunMode(config), keymap)


def make_journal_app(
    journal_path: Path | str,
    rows: list[SessionRow],
    tool_loader: ToolLoader,
    session_id: str | None = None,
    clock: Callable[[], float] = time.time,
    title: str | None = None,
    keymap: Mapping[str, str] | None = None,
) -> AgentstopApp[JournalMode]:
    """The app viewing a journal: its sessions (`rows` first), past ones' timelines, running ones attached live.

    Args:
        journal_path: the journal: a file, or a `postgresql://` URL.
        rows: the sessions browser's first rows.
        tool_loader: loads a session's tools for undo and re-apply (the command line's
            `tools_from_session`, which starts MCP servers from the task file).
        session_id: open this session at once (attached, when it runs).
        clock: the wall clock (tests freeze it).
        title: the header's title ("agentstop replay", "agentstop tui").
        keymap: keys moved from their defaults (`agentstop.tui.keys`).
    """
    mode = JournalMode(journal_path, rows, tool_loader, session_id=session_id, clock=clock, title=title)
    return AgentstopApp(mode, keymap)


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
    keymap: Mapping[str, str] | None = None,
) -> int:
    """Run the task in the TUI (or resume its ended session `resume`); returns the exit code.

    0 only for a clean, completed run (after a Resume: a clean last epoch), 2 when the
    session could not be resumed.
    """
    app = make_app(
        config_from_task(task, tools, journal_path, stop_after, resume=resume, instruction=instruction, meta=meta),
        keymap,
    )
    code = await app.run_async()
    return 1 if code is None else code
