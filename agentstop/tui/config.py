"""What the TUI needs to run a session: everything a task file decides, as plain data."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentstop.grant import GrantSpec
from agentstop.planners import Planner
from agentstop.tools import ToolRegistry

__all__ = ["SessionConfig"]


@dataclass
class SessionConfig:
    """A session to run in the TUI.

    Attributes:
        journal_path: the journal: a file, or a `postgresql://` URL.
        tools: the tools.
        grant: the grant.
        planner: the agent.
        task_name: shown in the header.
        goal: shown above the transcript.
        task_path: recorded in the journal.
        grace: Stop's grace period for commits in flight.
        approve: which calls wait for approval ("none", "irreversible", tool names).
        stop_after: press Stop this many seconds after the start (None: never).
        session_id: a fixed session id (tests); None for a new one.
        clock: the wall clock (tests freeze it).
    """

    journal_path: Path | str
    tools: ToolRegistry
    grant: GrantSpec
    planner: Planner
    task_name: str = "agent session"
    goal: str = ""
    task_path: str | None = None
    grace: float = 2.0
    approve: str | Sequence[str] = "none"
    stop_after: float | None = None
    session_id: str | None = None
    clock: Callable[[], float] = field(default=time.time)
