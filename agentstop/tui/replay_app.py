"""The replay app: browse a journal's sessions, scrub a timeline, see the report, undo afterwards.

Its sessions browser is also the fleet view: while any session of the journal
runs, the list is read again every second (the sessions, and the calls of each
running one), and a running session can be stopped from here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from textual import work
from textual.app import App
from textual.binding import Binding

from agentstop.errors import AgentstopError
from agentstop.journal import Journal, revoke
from agentstop.replay import Timeline
from agentstop.report import Report
from agentstop.supervisor.undo import run_undo
from agentstop.tools import ToolRegistry

from .screens.confirm import ConfirmScreen, undo_confirmation
from .screens.report import ReportScreen, with_epochs
from .screens.sessions import SessionRow, SessionsScreen
from .screens.timeline import TimelineScreen
from .widgets.status import StatusLine

__all__ = ["FLEET_INTERVAL", "STOPPED_BY", "ReplayApp"]

ToolLoader = Callable[[str], tuple[ToolRegistry, list[str]]]

FLEET_INTERVAL = 1.0
"""Seconds between two reads of the sessions list while a session runs."""

STOPPED_BY = "you (TUI)"
"""Who the journal says stopped a session stopped from the sessions browser."""


class ReplayApp(App[None]):
    """Views of past and running sessions; the journal is written only to undo and to stop."""

    CSS_PATH = "app.tcss"
    TITLE = "agentstop replay"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, journal_path: Path | str, rows: list[SessionRow], tool_loader: ToolLoader,
                 session_id: str | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.journal_path = journal_path
        self.rows = rows
        self.tool_loader = tool_loader
        self.initial_session = session_id
        self.clock = clock
        self.session_id: str | None = None
        self.report: Report | None = None
        self.report_screen: ReportScreen | None = None
        self._status: dict[str, Any] = {}
        self.sessions_screen = SessionsScreen(self.rows, self.clock())
        self.stopping: dict[str, str] = {}
        """Sessions stopped from here that have not ended yet -> what their row says meanwhile."""
        self._fleet: Journal | None = None
        self._fleet_failed = False

    def on_mount(self) -> None:
        self.push_screen(self.sessions_screen)
        self.set_interval(FLEET_INTERVAL, self._tick, name="fleet")
        if self.initial_session:
            self.open_session(self.initial_session)

    async def on_unmount(self) -> None:
        if self._fleet is not None:
            await self._fleet.close()
            self._fleet = None

    # -- the fleet: live rows, Stop ---------------------------------------------------

    def _tick(self) -> None:
        if self.screen is self.sessions_screen and (self.stopping or any(s.status == "running" for s, _ in self.rows)):
            self.refresh_sessions()

    @work(exclusive=True, group="fleet")
    async def refresh_sessions(self) -> None:
        """Read the sessions again; each running one's calls (for its counts) too, and any that changed."""
        try:
            if self._fleet is None:
                self._fleet = await Journal.connect(self.journal_path, readonly=True)
            journal = self._fleet
            before = {s.session_id: (s, r) for s, r in self.rows}
            now = self.clock()
            rows: list[SessionRow] = []
            for session in await journal.sessions():
                old = before.get(session.session_id)
                if old is not None and old[0] == session and session.status != "running":
                    rows.append(old)  # ended and unchanged: its counts cannot have changed either
                    continue
                # Counts only (the browser shows nothing else): the grants are not read.
                rows.append((session, Report.build(session, await journal.calls(session.session_id), [], now)))
        except AgentstopError as exc:
            if not self._fleet_failed:  # say it once, not every second
                self._fleet_failed = True
                self.notify(f"Cannot refresh the sessions: {exc}", severity="error", timeout=10)
            return
        self._fleet_failed = False
        ended = {s.session_id for s, _ in rows if s.status != "running"}
        for session_id in [sid for sid in self.stopping if sid in ended]:
            del self.stopping[session_id]
        self.rows = rows
        self.sessions_screen.show_rows(rows, now, self.stopping)

    def request_stop(self, session_id: str) -> None:
        """Ask, naming the session, its task and where it runs, then revoke its grant."""
        session = self.sessions_screen.session(session_id)
        if session is None:
            return
        if session.status != "running":
            self.notify(f"Session {session_id} already ended ({session.status}); there is nothing to stop.",
                        severity="warning")
            return
        where = f"{session.host or 'an unknown host'}" + (f", pid {session.pid}" if session.pid is not None else "")
        body = [f"{session.task_name}", f"session {session_id} on {where}", "",
                "Its grant is revoked first: from then on nothing new of it can commit, from any machine. "
                "It stops itself within a second; its row says when it has."]
        self.push_screen(ConfirmScreen(f"Stop “{session.task_name}” on {session.host or '?'}?", body,
                                       "Stop it", danger=True), lambda yes: self._stop_if(yes, session_id))

    def _stop_if(self, yes: bool | None, session_id: str) -> None:
        if yes:
            self.stopping[session_id] = "revoking…"
            self.sessions_screen.show_rows(self.rows, self.clock(), self.stopping)
            self.stop_remote(session_id)

    @work(group="stop")
    async def stop_remote(self, session_id: str) -> None:
        """Revoke the session's grant durably, in a thread (the journal may be a server far away)."""
        try:
            revoked = await anyio.to_thread.run_sync(functools.partial(
                revoke, self.journal_path, session_id, by=STOPPED_BY, reason="stopped from the sessions browser"))
        except AgentstopError as exc:
            self.stopping.pop(session_id, None)
            self.notify(f"Could not stop session {session_id}: {exc}", severity="error", timeout=15)
            revoked = []
        else:
            self.stopping[session_id] = "stopping…"
            self.notify(f"Session {session_id}: grant revoked; nothing new of it can commit. It stops within a second."
                        if revoked else f"Session {session_id} had no live grant left; it is ending by itself.")
        self.sessions_screen.show_rows(self.rows, self.clock(), self.stopping)
        self.refresh_sessions()

    @work(exclusive=True, group="open")
    async def open_session(self, session_id: str) -> None:
        """Load the session's events (read-only) and show its timeline."""
        async with Journal.open(self.journal_path, readonly=True) as journal:
            events = await journal.events(session_id)
            self.report = await Report.from_journal(journal, session_id, now=self.clock())
        self.session_id = session_id
        s = self.report.session
        self._status = {"task_name": s.task_name, "started_at": s.started_at, "ended_at": s.ended_at or s.started_at,
                        "grant": "revoked" if self.report.revoked else "expired or ended",
                        "revoked_by": self.report.revoked.revoked_by if self.report.revoked else ""}
        self.report_screen = ReportScreen(self.clock)
        title = f"{s.task_name} · session {session_id} · {with_epochs(self.report, self.report.summary_line())}"
        self.push_screen(TimelineScreen(title, Timeline(events)))

    # The report screen asks its app for these.

    def status(self, **fields: Any) -> None:
        """Fill the report screen's status line."""
        self._status.update(fields)
        if self.report_screen is not None and self.report_screen in self.screen_stack:
            for line in self.report_screen.query(StatusLine):
                for name, value in self._status.items():
                    setattr(line, name, value)
            if self.report is not None:
                self.report_screen.show_report(self.report, with_epochs(self.report, self.report.summary_line()))

    def action_show_report(self) -> None:
        if self.report_screen is not None and self.screen is not self.report_screen:
            self.push_screen(self.report_screen)

    def action_show_run(self) -> None:
        if self.screen is self.report_screen:
            self.pop_screen()

    def action_sessions(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def request_undo(self, call_ids: list[str], what: str) -> None:
        """Undo afterwards: only with the session's tools importable; asks first."""
        if self.report is None or self.session_id is None:
            return
        tools, problems = self.tool_loader(self.session_id)
        if problems:
            self.notify("Read-only: cannot load " + "; ".join(problems), severity="error", timeout=10)
            return
        if self.report_screen is not None:
            self.report_screen.tools = tools
        screen, ids = undo_confirmation(self.report, call_ids, what, tools)
        self.push_screen(screen, lambda yes: self._undo_if(yes, tools, ids))

    def _undo_if(self, yes: bool | None, tools: ToolRegistry, call_ids: list[str]) -> None:
        if yes:
            self._undo(tools, call_ids)

    def force_undo(self, call_ids: list[str]) -> None:
        """Undo calls refused for drift anyway (the report screen has asked)."""
        if self.session_id is None:
            return
        tools, problems = self.tool_loader(self.session_id)
        if problems:
            self.notify("Read-only: cannot load " + "; ".join(problems), severity="error", timeout=10)
            return
        self._undo(tools, call_ids, force=True)

    @work(exclusive=True, group="undo")
    async def _undo(self, tools: ToolRegistry, call_ids: list[str], force: bool = False) -> None:
        assert self.session_id is not None
        async with Journal.open(self.journal_path) as journal:
            results = await run_undo(journal, tools, self.session_id, call_ids, by="you (replay)", force=force)
            self.report = await Report.from_journal(journal, self.session_id, now=self.clock())
        if self.report_screen is not None and self.report_screen in self.screen_stack:
            self.report_screen.show_report(self.report, with_epochs(self.report, self.report.summary_line()))
            self.report_screen.undo_finished(results)
