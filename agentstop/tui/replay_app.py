"""The replay app: browse a journal's sessions, scrub a timeline, see the report, undo afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding

from agentstop.journal import Journal
from agentstop.replay import Timeline
from agentstop.report import Report
from agentstop.supervisor.undo import run_undo
from agentstop.tools import ToolRegistry

from .screens.confirm import undo_confirmation
from .screens.report import ReportScreen
from .screens.sessions import SessionRow, SessionsScreen
from .screens.timeline import TimelineScreen
from .widgets.status import StatusLine

__all__ = ["ReplayApp"]

ToolLoader = Callable[[str], tuple[ToolRegistry, list[str]]]


class ReplayApp(App[None]):
    """Read-only views of past sessions; the journal is written only to undo."""

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

    def on_mount(self) -> None:
        self.push_screen(SessionsScreen(self.rows, self.clock()))
        if self.initial_session:
            self.open_session(self.initial_session)

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
        title = f"{s.task_name} · session {session_id} · {self.report.summary_line()}"
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
                self.report_screen.show_report(self.report, self.report.summary_line())

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
            self.report_screen.show_report(self.report, self.report.summary_line())
            self.report_screen.undo_finished(results)
