"""What a person can do to a session, wherever it runs: the `SessionControl` a view talks to.

Two implementations, one vocabulary:

- `LocalSession`: the session runs in this process, under a `Supervisor` it
  holds (the TUI's `agentstop run`): Stop cancels the planner here, undo runs
  through the session's own tools, Resume starts the next epoch here.
- `AttachedSession`: another process runs (or ran) the session, and this one
  reaches it only through the journal (the sessions browser, `agentstop tui`
  attached to an MCP proxy or a headless run, a session long ended): Stop
  revokes the grant in the journal and the other process stops itself;
  Stop again writes the escalation event it listens for; undo and re-apply
  run through tools rebuilt from the session's task file (`HeldTools`).

A view asks `phase` (a `SessionPhase`) what to offer, calls the verbs, and
reads `report()` and `events()` for what to show: never a supervisor's
internals, never the journal's functions directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agentstop.grant import GrantSpec
from agentstop.journal import Event
from agentstop.report import Report
from agentstop.supervisor import ReapplyResult, UndoResult

from .phase import PhaseListener, SessionPhase

__all__ = ["SessionControl"]


@runtime_checkable
class SessionControl(Protocol):
    """Stop, undo, re-apply, resume and read one session, local or attached."""

    @property
    def session_id(self) -> str:
        """The session's id."""
        ...

    @property
    def phase(self) -> SessionPhase:
        """Where the session is: running, stopping, escalated, ended, resuming."""
        ...

    @property
    def can_resume(self) -> bool:
        """True when `resume` can start the next epoch now (only where the session's agent can run: local)."""
        ...

    @property
    def can_reapply(self) -> bool:
        """True when `reapply` has a way to carry undone effects out again."""
        ...

    def on_phase(self, listener: PhaseListener) -> None:
        """Have `listener(phase)` called after every change of phase."""
        ...

    async def stop(self, reason: str) -> str:
        """Stop now: revoke the grant first (nothing new commits from then on), then stop the agent.

        Pressed again while the session is stopping, it escalates (a local session: pressed again from
        the same holder; a first press while a Stop begun elsewhere is under way waits for that Stop).
        Returns one line for the person saying what was done.
        """
        ...

    async def stop_after_step(self, reason: str) -> None:
        """Let the current step's calls finish, start no new step, then stop (revoking first)."""
        ...

    async def escalate(self) -> str:
        """Stop pressed again: skip the rest of the grace, cancel commits in flight; returns one line."""
        ...

    async def undo(self, call_ids: Sequence[str], *, force: bool = False) -> list[UndoResult]:
        """Run the compensations of these calls, latest commit first; `force` skips the drift check."""
        ...

    async def reapply(self, call_ids: Sequence[str]) -> list[ReapplyResult]:
        """Carry the effects of these undone calls out again, earliest commit first."""
        ...

    async def resume(self, grant: GrantSpec, instruction: str) -> None:
        """Start the session's next epoch under `grant`, telling the agent `instruction`."""
        ...

    async def report(self) -> Report:
        """The four-way report, as the journal has it now."""
        ...

    async def events(self, after: int = 0, limit: int | None = None) -> list[Event]:
        """The session's journal events after seq `after` (what a view shows is only what is durable)."""
        ...
