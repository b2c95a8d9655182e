"""The sessions browser kept live (the fleet view), and Stop from it.

While any session of the journal runs, the browser's rows are read again every
second: the sessions, and the calls of each running one (for its counts). A
running session can be stopped from here, after a question naming it, its task
and where it runs: its grant is revoked in the journal, and its row says
"revoking…", then "stopping…", until the session has ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import anyio
from textual.worker import Worker

from agentstop.errors import AgentstopError
from agentstop.journal import Journal, SessionStatus
from agentstop.report_counts import ReportCounts
from agentstop.session import AttachedSession, HeldTools

from ..screens.confirm import ConfirmScreen
from ..screens.sessions import SessionRow, SessionsScreen
from ..workers import run_later
from .base import Mode

__all__ = ["Fleet"]


class Fleet:
    """The sessions browser's rows, read again while a session runs, and Stop from the browser.

    Args:
        mode: the journal mode whose app shows the browser.
        screen: the sessions browser.
        journal_path: the journal.
        rows: the browser's first rows.
        held_tools: the tools held for undo (a control made here to revoke shares them).
        clock: the wall clock.
    """

    INTERVAL = 1.0
    """Seconds between two reads of the sessions list while a session runs."""

    def __init__(
        self,
        mode: Mode,
        screen: SessionsScreen,
        journal_path: Path | str,
        rows: list[SessionRow],
        held_tools: HeldTools,
        clock: Callable[[], float],
    ) -> None:
        self.mode = mode
        self.screen = screen
        self.journal_path = journal_path
        self.rows = rows
        self.held_tools = held_tools
        self.clock = clock
        self.stopping: dict[str, str] = {}
        """Sessions stopped from here that have not ended yet -> what their row says meanwhile."""
        self._journal: Journal | None = None
        self._failed = False
        self._reading: Worker[None] | None = None
        """The latest read of the rows (a tick does not cut it off)."""

    def tick(self) -> None:
        """Every `INTERVAL`: read the rows again while the browser shows and some session runs (or stops).

        Not while a read still runs: it is not cut off for a newer one (on a loaded machine or a large
        fleet a read can take longer than the interval, and each would cut off the last: no row would
        ever come).
        """
        if self._reading is not None and self._reading.is_running:
            return
        if self.mode.app.screen is self.screen and (
            self.stopping or any(s.status == SessionStatus.RUNNING for s, _ in self.rows)
        ):
            self.refresh()

    def fill(self) -> None:
        """Opened with a session and no rows (the command skipped them): read the browser's rows now, behind it."""
        if not self.rows:
            self.refresh()

    def refresh(self) -> None:
        """Read the sessions again, in a worker (one asked for now replaces a read still running)."""
        self._reading = run_later(self.mode.app, self._refresh, group="fleet", exclusive=True)

    async def _refresh(self) -> None:
        """Read the sessions again; each running one's calls (for its counts) too, and any that changed."""
        try:
            journal = self._journal
            if journal is None:
                with anyio.CancelScope(shield=True):  # never half-opened: `close` closes what this made
                    self._journal = journal = await Journal.connect(self.journal_path, readonly=True)
            assert journal is not None  # the shielded connect returned (or raised)
            before = {s.session_id: (s, r) for s, r in self.rows}
            now = self.clock()
            rows: list[SessionRow] = []
            for session in await journal.sessions():
                old = before.get(session.session_id)
                if old is not None and old[0] == session and session.status != SessionStatus.RUNNING:
                    rows.append(old)  # ended and unchanged: its counts cannot have changed either
                    continue
                # Counts only (the browser shows nothing else), never the session's calls all at once.
                rows.append((session, await ReportCounts.read(journal, session.session_id, now)))
        except AgentstopError as exc:
            if not self._failed:  # say it once, not every second
                self._failed = True
                self.mode.app.notify(f"Cannot refresh the sessions: {exc}", severity="error", timeout=10)
            return
        self._failed = False
        ended = {s.session_id for s, _ in rows if s.status != SessionStatus.RUNNING}
        for session_id in [sid for sid in self.stopping if sid in ended]:
            del self.stopping[session_id]
        self.rows = rows
        self.screen.show_rows(rows, now, self.stopping)

    async def close(self) -> None:
        """The app is closing: let a read in progress finish (or stop), then close the connection it made."""
        for worker in self.mode.app.workers.cancel_group(self.mode.app, "fleet"):
            with contextlib.suppress(Exception):
                await worker.wait()
        if self._journal is not None:
            await self._journal.close()
            self._journal = None

    # -- Stop from the browser ------------------------------------------------------------------

    def request_stop(self, session_id: str) -> None:
        """Ask, naming the session, its task and where it runs, then revoke its grant."""
        session = self.screen.session(session_id)
        if session is None:
            return
        if session.status != SessionStatus.RUNNING:
            self.mode.app.notify(
                f"Session {session_id} already ended ({session.status}); there is nothing to stop.", severity="warning"
            )
            return
        where = f"{session.host or 'an unknown host'}" + (f", pid {session.pid}" if session.pid is not None else "")
        body = [
            f"{session.task_name}",
            f"session {session_id} on {where}",
            "",
            "Its grant is revoked first: from then on nothing new of it can commit, from any machine. "
            "It stops itself within a second; its row says when it has.",
        ]
        self.mode.app.push_screen(
            ConfirmScreen(f"Stop “{session.task_name}” on {session.host or '?'}?", body, "Stop it", danger=True),
            lambda yes: self._stop_if(yes, session_id),
        )

    def _stop_if(self, yes: bool | None, session_id: str) -> None:
        if yes:
            self.stopping[session_id] = "revoking…"
            self.screen.show_rows(self.rows, self.clock(), self.stopping)
            run_later(self.mode.app, self._revoke, session_id, group="stop")

    async def _revoke(self, session_id: str) -> None:
        """Revoke the session's grant durably, in a thread (the journal may be a server far away)."""
        session = self.screen.session(session_id)
        try:
            if session is None:
                raise AgentstopError(f"session {session_id} is no longer listed; refresh the sessions and try again")
            control = AttachedSession(self.journal_path, session, self.held_tools, clock=self.clock)
            revoked = await control.revoke("stopped from the sessions browser")
        except AgentstopError as exc:
            self.stopping.pop(session_id, None)
            self.mode.app.notify(f"Could not stop session {session_id}: {exc}", severity="error", timeout=15)
        else:
            self.stopping[session_id] = "stopping…"
            self.mode.app.notify(
                f"Session {session_id}: grant revoked; nothing new of it can commit. It stops within a second."
                if revoked
                else f"Session {session_id} had no live grant left; it is ending by itself."
            )
        self.screen.show_rows(self.rows, self.clock(), self.stopping)
        self.refresh()
