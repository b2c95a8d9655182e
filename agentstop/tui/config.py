"""What the TUI needs to run a session: everything a task file decides, as plain data."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        session_id: a fixed session id (tests); None for a new one. With `resume`, the session to resume.
        resume: run the ended session `session_id` again, as a new epoch under `grant`.
        instruction: what the user adds for the agent when resuming (journaled; a model reads it).
        planner_factory: builds the planner again for a Resume in the app (a task file's
            `TaskFile.planner`); None: `planner` runs again (planners keep no state between runs).
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
    resume: bool = False
    instruction: str = ""
    planner_factory: Callable[[], Planner] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    """Free-form details stored with the session (the demo records its world here)."""
    clock: Callable[[], float] = field(default=time.time)

    def __post_init__(self) -> None:
        if self.resume and self.session_id is None:
            raise ValueError("resume=True needs the session_id of the session to resume")

    def new_planner(self) -> Planner:
        """The planner for another epoch of the session (Resume)."""
        return self.planner_factory() if self.planner_factory is not None else self.planner
