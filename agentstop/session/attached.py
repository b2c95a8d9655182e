"""A session another process runs (or ran), reached only through the journal it writes.

The session may run anywhere the journal reaches: `agentstop mcp-proxy` in
front of Claude Desktop, a headless `agentstop run`, a library's agent loop,
another machine on a shared PostgreSQL journal; or it ended long ago. Stop
revokes the session's grant in the journal, at once and without asking: from
that moment nothing new of the session can commit, wherever it runs; its
process hears of it and stops itself. Stop again, while it still waits for
calls in flight, writes the escalation event its process listens for: it
skips the rest of its grace. Undo and re-apply run here, through the
session's tools rebuilt by this process (`HeldTools`: Python tools by their
recorded paths, MCP servers started again from its task file).

```
running ─s─► stopping (grant revoked; waiting for c3 memory.create_entities: 1.2 s of 2 s grace)
                 │ s again: escalated (grace skipped, commits cancelled)
                 └─► ended (read from the journal) ─► the report, with undo
```

What the journal says moves the phase too (`events` reads it): a revoke by
anyone makes the session stopping, its end makes it ended.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import anyio

from agentstop.errors import AgentstopError
from agentstop.grant import GrantSpec
from agentstop.journal import (
    Event,
    EventKind,
    Journal,
    SessionRecord,
    SessionStatus,
    escalate_stop,
    request_stop_after_step,
    revoke,
)
from agentstop.report import Report
from agentstop.supervisor import ReapplyResult, UndoResult, run_reapply, run_undo
from agentstop.tools import ToolRegistry

from .held import HeldTools
from .phase import Phased, SessionPhase
from .target import Target

__all__ = ["STOPPED_BY", "UNDONE_BY", "AttachedSession", "where_it_runs"]

STOPPED_BY = "you (TUI)"
"""Who the journal says stopped a session stopped from a viewer (attached, or from the sessions browser)."""

UNDONE_BY = "you (replay)"
"""Who the journal says undid or re-applied a call from a viewer of the journal."""


def where_it_runs(session: SessionRecord) -> str:
    """ "pid 4242 on build-3" (what is known of it)."""
    host = session.host or "an unknown host"
    return f"pid {session.pid} on {host}" if session.pid is not None else host


class AttachedSession(Phased):
    """The `SessionControl` of a session another process runs or ran.

    Args:
        target: the journal (a file, or a `postgresql://` URL).
        session: the session, as the journal had it when it was opened.
        tools: holds the session's tools for undo and re-apply (shared by a viewer's sessions:
            one session's at a time).
        clock: the wall clock.
        stopped_by: who the journal says stopped it.
        undone_by: who the journal says undid or re-applied its calls.
    """

    def __init__(
        self,
        target: Target,
        session: SessionRecord,
        tools: HeldTools,
        *,
        clock: Callable[[], float] = time.time,
        stopped_by: str = STOPPED_BY,
        undone_by: str = UNDONE_BY,
    ) -> None:
        super().__init__(SessionPhase.RUNNING if session.status == SessionStatus.RUNNING else SessionPhase.ENDED)
        self.target = target
        self.session = session
        self.held = tools
        self.clock = clock
        self.stopped_by = stopped_by
        self.undone_by = undone_by
        grace = session.meta.get("grace")
        self.grace: float | None = float(grace) if isinstance(grace, int | float) else None
        """The session's Stop grace in seconds, as its process recorded it (None: an older journal)."""
        self.revoked_by = ""
        """Who revoked the grant (by anyone), as far as this control knows; "" while it is live."""
        self._revoked_here: float | None = None
        self._stop_pressed = False
        """Stop was pressed from here (pressed again while stopping, it escalates; a first press never does)."""
        self._revoked_journaled: float | None = None
        self._journal: Journal | None = None

    @property
    def session_id(self) -> str:
        return self.session.session_id

    @property
    def revoked_at(self) -> float | None:
        """When the grant was revoked (by anyone): the journal's time once read, else when Stop here revoked it."""
        return self._revoked_journaled if self._revoked_journaled is not None else self._revoked_here

    @property
    def revoke_journaled(self) -> bool:
        """The revoke (by anyone) has been read back from the journal."""
        return self._revoked_journaled is not None

    @property
    def can_resume(self) -> bool:
        return False  # its agent runs in another process: resume it there

    @property
    def can_reapply(self) -> bool:
        return True

    # -- the journal, read live ------------------------------------------------------------

    async def connect(self) -> None:
        """Open a read-only connection for `report` and `events`, kept until `close` (else one per read)."""
        if self._journal is None:
            with anyio.CancelScope(shield=True):  # never half-opened: `close` closes what this made
                self._journal = await Journal.connect(self.target, readonly=True)

    @property
    def journal(self) -> Journal | None:
        """The read-only connection `connect` opened (None before, and after `close`)."""
        return self._journal

    async def close(self) -> None:
        """Close the connection `connect` opened (the session runs on where it runs)."""
        journal, self._journal = self._journal, None
        if journal is not None:
            await journal.close()

    async def report(self) -> Report:
        if self._journal is not None:
            return await Report.from_journal(self._journal, self.session_id, now=self.clock())
        async with Journal.open(self.target, readonly=True) as journal:
            return await Report.from_journal(journal, self.session_id, now=self.clock())

    async def events(self, after: int = 0, limit: int | None = None) -> list[Event]:
        """The session's events after `after`; a revoke moves the phase to stopping, the end to ended."""
        if self._journal is not None:
            events = await self._journal.events(self.session_id, after=after, limit=limit)
        else:
            async with Journal.open(self.target, readonly=True) as journal:
                events = await journal.events(self.session_id, after=after, limit=limit)
        self.heard(events)
        return events

    def heard(self, events: Sequence[Event]) -> None:
        """Follow what the journal says: a revoke (by anyone) begins Stop, the session's end ends it."""
        for event in events:
            if event.kind == EventKind.REVOKED:
                self._revoked_journaled = event.at  # the journal's time replaces this control's guess
                self.revoked_by = str(event.data.get("by", ""))
                if self.phase is SessionPhase.RUNNING:
                    self._move(SessionPhase.STOPPING)
            elif event.kind == EventKind.SESSION_ENDED and self.phase is not SessionPhase.ENDED:
                self._move(SessionPhase.ENDED)

    # -- Stop ---------------------------------------------------------------------------------

    async def revoke(self, reason: str) -> list[int]:
        """Revoke the session's grant durably, in a thread (the journal may be a server far away).

        Returns the grant ids revoked (empty: it had no live grant left).

        Raises:
            AgentstopError: the journal could not be written (unreachable, busy).
        """
        return await anyio.to_thread.run_sync(
            functools.partial(revoke, self.target, self.session_id, by=self.stopped_by, reason=reason)
        )

    async def stop(self, reason: str = "stopped from agentstop tui") -> str:
        """Stop pressed: revoke the grant (while running) or, pressed again from here while stopping, ask the
        session to skip its grace. A first press that finds a Stop from elsewhere under way only says so.

        Raises:
            AgentstopError: the journal could not be written (unreachable, busy); the phase is as before,
                so pressing again tries again.
        """
        if self.phase is SessionPhase.ENDED:
            return "The session has ended; there is nothing to stop."
        if self.phase is SessionPhase.ESCALATED:
            return "Already asked to skip the grace; waiting for its process to settle the calls in flight."
        if self.phase is SessionPhase.STOPPING:
            if not self._stop_pressed:  # a Stop from elsewhere got there first: a first press from here waits for it
                by = self.revoked_by or "another process"
                return f"Session {self.session_id} is already stopping (revoked by {by}); Stop again skips its grace."
            return await self.escalate()
        self._move(SessionPhase.STOPPING)
        self._stop_pressed = True
        try:
            revoked = await self.revoke(reason)
        except BaseException:
            if self._revoked_journaled is None:  # not revoked by anyone yet: running, Stop may be pressed again
                self._back(SessionPhase.STOPPING, SessionPhase.RUNNING)
                self._stop_pressed = False
            raise
        if self.revoked_at is None:
            self._revoked_here = self.clock()
            self.revoked_by = self.stopped_by
        if revoked:
            return (
                f"Grant revoked: nothing new of session {self.session_id} can commit. "
                f"Its process ({where_it_runs(self.session)}) stops itself within a second."
            )
        return f"Session {self.session_id} had no live grant left; it is ending by itself."

    async def stop_after_step(self, reason: str) -> None:
        """Ask its process to stop once the current step's calls have finished (it hears within 100 ms)."""
        await anyio.to_thread.run_sync(
            functools.partial(request_stop_after_step, self.target, self.session_id, by=self.stopped_by, reason=reason)
        )

    async def escalate(self) -> str:
        """Stop pressed again: write the escalation event; its process skips the rest of its grace.

        Raises:
            AgentstopError: the journal could not be written; still stopping, so pressing again asks again.
        """
        if self.phase is SessionPhase.STOPPING:
            self._move(SessionPhase.ESCALATED)
        try:
            await anyio.to_thread.run_sync(
                functools.partial(escalate_stop, self.target, self.session_id, by=self.stopped_by)
            )
        except BaseException:
            self._back(SessionPhase.ESCALATED, SessionPhase.STOPPING)
            raise
        return (
            "Stop pressed again: the session skips the rest of its grace and cancels its commits in flight; "
            "their outcome is checked with the upstream."
        )

    # -- undo, re-apply --------------------------------------------------------------------------

    @property
    def tools_start_programs(self) -> bool:
        """True when loading the session's tools starts programs (its MCP servers) not running yet."""
        return self.held.session_id != self.session_id and HeldTools.needs_start(self.session)

    async def tools(self) -> tuple[ToolRegistry, list[str]]:
        """The session's tools, rebuilt here, and the problems loading them; held until another session's are.

        Raises:
            AgentstopError: they could not be loaded (an MCP task file gone or wrong, a server that did
                not start); asking again tries again.
        """
        return await self.held.get(self.session)

    async def undo(self, call_ids: Sequence[str], *, force: bool = False) -> list[UndoResult]:
        """Run the compensations through the tools rebuilt here, latest commit first."""
        registry, _ = await self.tools()
        async with Journal.open(self.target) as journal:
            return await run_undo(journal, registry, self.session_id, list(call_ids), by=self.undone_by, force=force)

    async def reapply(self, call_ids: Sequence[str]) -> list[ReapplyResult]:
        """Carry the undone effects out again through the tools rebuilt here, earliest commit first."""
        registry, _ = await self.tools()
        async with Journal.open(self.target) as journal:
            return await run_reapply(journal, registry, self.session_id, list(call_ids), by=self.undone_by)

    async def resume(self, grant: GrantSpec, instruction: str) -> None:
        """Not here: the session's agent runs in another process.

        Raises:
            AgentstopError: always, saying where to resume it.
        """
        raise AgentstopError(
            f"session {self.session_id} was run by another process ({where_it_runs(self.session)}); "
            f"resume it where its task file is: agentstop run TASK.yaml --resume {self.session_id}"
        )
