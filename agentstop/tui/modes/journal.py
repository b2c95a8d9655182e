"""Viewing a journal (`agentstop replay`, `agentstop tui`): the journal mode of the app.

Its sessions browser is also the fleet view: while any session of the journal
runs, the list is read again every second (the sessions, and the calls of each
running one), and a running session can be stopped from here (`Fleet`).

Opening a session that has ended shows its timeline to scrub; opening one that
runs attaches to it (`Attachment`): its calls live as the journal gets them,
Stop at one key without asking, what Stop still waits for, then the report.
Either way the open session is driven through its `AttachedSession` (Stop,
undo, re-apply, its report and events). Undo works for any session whose tools
this process can load again, MCP tools included: their servers are started
from the session's task file and kept running while the session is open here
(`HeldTools`, held by a worker of this app).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from textual.screen import Screen

from agentstop.errors import AgentstopError
from agentstop.journal import Event, Journal, SessionRecord, SessionStatus
from agentstop.journal.liveness import is_alive
from agentstop.replay import JournalTimeline
from agentstop.report import Bucket, Report
from agentstop.report_stream import StreamedReport
from agentstop.session import AttachedSession, HeldTools, SessionPhase, ToolLoader, where_it_runs
from agentstop.tools import ToolRegistry

from ..attachment import Attachment, Change
from ..bridge import JournalBridge
from ..keys import KeyId, key_text
from ..screens.confirm import ConfirmScreen
from ..screens.report import ReportScreen, with_epochs
from ..screens.run import RunPhase, RunScreen
from ..screens.sessions import SessionRow, SessionsScreen
from ..screens.timeline import TimelineScreen
from ..widgets.status import GrantShown
from ..wording import counted, standing
from ..workers import run_later
from .base import Mode, QuitQuestion
from .fleet import Fleet

__all__ = ["JournalMode"]


class JournalMode(Mode):
    """Views of past and running sessions; the journal is written only to undo and to stop.

    Args:
        journal_path: the journal: a file, or a `postgresql://` URL.
        rows: the sessions browser's first rows.
        tool_loader: loads a session's tools for undo (the command line's
            `tools_from_session`, which starts MCP servers from the task file).
        session_id: open this session at once (attached, when it runs).
        clock: the wall clock (tests freeze it).
        title: the header's title ("agentstop replay", "agentstop tui").
    """

    TITLE = "agentstop replay"
    TICK = 0.25

    def __init__(
        self,
        journal_path: Path | str,
        rows: list[SessionRow],
        tool_loader: ToolLoader,
        session_id: str | None = None,
        clock: Callable[[], float] = time.time,
        title: str | None = None,
    ) -> None:
        super().__init__(clock, ReportScreen(clock))
        if title is not None:
            self.title = title
        self.journal_path = journal_path
        self.held_tools = HeldTools(tool_loader)
        """The open session's tools for undo, held (MCP servers running) by a worker of this app."""
        self.initial_session = session_id
        self.sessions_screen = SessionsScreen(rows, clock())
        self.fleet = Fleet(self, self.sessions_screen, journal_path, rows, self.held_tools, clock)
        """The sessions browser's rows, read again while a session runs; Stop from the browser."""
        self.control: AttachedSession | None = None
        """The session open here (live or past): Stop, undo and re-apply go through it."""
        self.attachment: Attachment | None = None
        """The running session open here, watched live (None: none, or the open one has ended)."""
        self.past_counts: dict[Bucket, int] | None = None
        """A long past session's four counts, read without its calls (its report is read when shown)."""

    @property
    def session_id(self) -> str | None:
        """The session open here (None before one is opened)."""
        return self.control.session_id if self.control is not None else None

    def mount(self) -> None:
        # Installed screens survive being popped: the browser and each report are shown again and again.
        self.app.install_screen(self.sessions_screen, "sessions")
        self.app.push_screen(self.sessions_screen)
        self.app.set_interval(self.fleet.INTERVAL, self.fleet.tick, name="fleet")
        run_later(self.app, self.held_tools.run, name="held tools", group="held-tools")
        if self.initial_session:
            self.open_session(self.initial_session)

    async def unmount(self) -> None:
        await self.fleet.close()
        await self._stop_watching()
        await self.held_tools.close()

    # -- the sessions browser -------------------------------------------------------------------

    def request_stop(self, session_id: str) -> None:
        self.fleet.request_stop(session_id)

    def open_session(self, session_id: str) -> None:
        """Attach to the session when it runs; else show its timeline (read-only)."""
        run_later(self.app, self._open, session_id, group="open", exclusive=True)

    async def _open(self, session_id: str) -> None:
        await self._stop_watching()
        async with Journal.open(self.journal_path, readonly=True) as journal:
            session = await journal.session(session_id)
            live = session.status == SessionStatus.RUNNING and is_alive(session, self.clock())
        if live:
            await self._watch_live(session)
            self.fleet.fill()
            return
        self.control = AttachedSession(self.journal_path, session, self.held_tools, clock=self.clock)
        self.live = None
        self.report = None
        self.past_counts = None
        self._fresh_report_screen()
        timeline = await JournalTimeline.open(self.journal_path, session_id)
        title = f"{session.task_name} · session {session_id}"
        if not timeline.is_long:  # its report first (milliseconds): the screen opens whole
            report = await self._past_report(session_id)
            await self.app.push_screen(TimelineScreen(f"{title} · {with_epochs(report)}", timeline))
        else:
            # Its first moment shows now, its counts after it; its calls are read when its report is
            # shown: a session of a million events holds none of them while its timeline is looked at.
            screen = TimelineScreen(title, timeline)
            await self.app.push_screen(screen)
            screen.set_title(f"{title} · {await self._past_line(session_id)}")
        self._describe_undos(self.control)
        self.fleet.fill()

    async def _past_report(self, session_id: str) -> Report:
        """Read a past session's report: the status line's grant and times, the report screen's lists."""
        async with Journal.open(self.journal_path, readonly=True) as journal:
            report = await Report.from_journal(journal, session_id, now=self.clock())
        self.report = report
        self._past_status(report)
        return report

    async def _past_line(self, session_id: str) -> str:
        """A long past session's report line and status, read without its calls (`past_counts`)."""
        async with Journal.open(self.journal_path, readonly=True) as journal, journal.read_snapshot():
            streamed = await StreamedReport.open(journal, session_id, now=self.clock())
            counts = await streamed.list_counts()
        if self.session_id != session_id:
            return ""  # another session was opened meanwhile
        self.past_counts = counts
        self._past_status(streamed.head)
        return with_epochs(streamed.head, standing(streamed.head, counts), streamed.epoch_counts())

    def _past_status(self, report: Report) -> None:
        """The status line of a past session, from its report (its lists may be empty: only its head is read)."""
        s = report.session
        self.reset_status(
            task_name=s.task_name,
            started_at=s.started_at,
            ended_at=s.ended_at or s.started_at,
            grant=GrantShown.REVOKED if report.revoked else GrantShown.ENDED,
            revoked_by=report.revoked.revoked_by if report.revoked else "",
        )
        self.status()

    def undoable_now(self) -> int:
        """How many calls can still be undone (the quit question): a long past session's counted ones too."""
        if self.report is None and self.past_counts is not None:
            return self.past_counts[Bucket.UNDOABLE]
        return super().undoable_now()

    def _describe_undos(self, control: AttachedSession) -> None:
        run_later(self.app, self._load_for_descriptions, control, group="describe")

    async def _load_for_descriptions(self, control: AttachedSession) -> None:
        """Load the session's tools when that starts nothing (no MCP server), so each undo says what it does."""
        if HeldTools.needs_start(control.session):
            return  # its tools load when an undo asks for them
        try:
            tools, problems = await control.tools()
        except AgentstopError:
            return  # said when an undo asks for them
        if not problems and self.session_id == control.session_id:
            self.report_screen.tools = tools
            self.status()

    def _fresh_report_screen(self) -> None:
        """A new session's report screen, installed (Esc then Tab shows it again, alive) in place of the last."""
        old = self.report_screen
        if old not in self.app.screen_stack:
            if self.app.is_screen_installed(old):
                self.app.uninstall_screen(old)
            if old.is_mounted:
                old.remove()
        screen = ReportScreen(self.clock)
        screen.can_reapply = True  # no supervisor here: re-apply loads the session's tools again
        self.app.install_screen(screen, f"report-{id(screen)}")
        self.new_report_screen(screen)

    # -- attached: a running session, live --------------------------------------------------------

    async def _watch_live(self, session: SessionRecord) -> None:
        """Watch a running session live: its run screen fed by the journal, Stop, then its report."""
        self.control = control = AttachedSession(self.journal_path, session, self.held_tools, clock=self.clock)
        await control.connect()  # never half-opened: `_stop_watching` closes what this made
        self.attachment = attachment = Attachment(control, self.clock)
        self.live = None
        await self.app.refresh_report()
        self._fresh_report_screen()
        self.reset_status(
            task_name=session.task_name,
            started_at=session.started_at,
            ended_at=None,
            grant=GrantShown.ACTIVE,
            revoked_by="",
            note=f"attached · {session.session_id}",
        )
        self.status()  # handed to the run screen and the report screen now; shown as they compose
        await self.app.push_screen(attachment.run_screen)  # mounted: its transcript can be written to
        attachment.introduce()
        self._describe_undos(control)
        self.bridge = JournalBridge(control, self.app)
        self.bridge.start()

    async def _stop_watching(self) -> None:
        """Stop watching the attached session (it keeps running where it runs)."""
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        self.attachment = None
        if self.control is not None:
            await self.control.close()  # kept for undo: it reads and writes through a journal of its own

    async def journal_events(self, events: list[Event]) -> None:
        attachment = self.attachment
        if attachment is None or attachment.control is not self.control:
            return
        control = attachment.control
        await self.take_in(events)
        changes = attachment.apply(events, self.report)
        if Change.REVOKED in changes:
            self.status(grant=GrantShown.REVOKED, revoked_by=control.revoked_by)
            if control.phase is not SessionPhase.ENDED:
                attachment.run_screen.phase = RunPhase.STOPPING
            self.show_report()  # Stop from anywhere: show what it waits for
        if Change.ENDED in changes and self.report is not None:
            s = self.report.session
            attachment.run_screen.phase = RunPhase.ENDED
            if control.revoked_at is None:
                self.status(grant=GrantShown.ENDED)
            self.status(ended_at=s.ended_at, note=f"{s.status} · {s.session_id}")
            self.app.notify(
                f"Session {s.session_id} has ended ({s.status}). Here is what it did; undo what you do not want."
                if s.status == SessionStatus.COMPLETED
                else f"Session {s.session_id} has stopped. What was done, interrupted, and still in flight "
                "is below; undo what you do not want."
            )
            self.show_report()

    def check_action(self, action: str) -> bool | None:
        if action == "stop":  # Ctrl+C stops only a session watched live; elsewhere it does what it always does
            return self.attachment is not None and self.attachment.run_screen in self.app.screen_stack
        return action != "stop_after_step"  # the session's own process decides its steps

    def stop(self) -> None:
        """Stop the attached session at once (no question: Stop must be instant); again: skip its grace."""
        attachment = self.attachment
        if attachment is None or attachment.control.phase is SessionPhase.ENDED:
            if attachment is not None:
                self.app.notify("The session has ended; there is nothing to stop.")
            return
        # Decided at the key, by what the person saw: stopping already, this press skips the grace. A first press
        # stays one even if a Stop from elsewhere is heard before its worker runs (it then only says so).
        escalating = attachment.control.phase is not SessionPhase.RUNNING
        if not escalating:
            self.status(grant=GrantShown.REVOKING)
            attachment.run_screen.phase = RunPhase.STOPPING
            self.dismiss_quit_question()  # "quit and leave it running?" is moot now
            self.show_report()
        run_later(self.app, self._stop_attached, attachment.control, escalating, group="stop")

    async def _stop_attached(self, control: AttachedSession, escalating: bool) -> None:
        try:
            if escalating and control.phase is SessionPhase.STOPPING:
                said = await control.escalate()
            else:
                said = await control.stop("stopped from agentstop tui")
        except AgentstopError as exc:  # not done (the phase is as before): pressing again tries again
            self.status(grant=GrantShown.ACTIVE if control.revoked_at is None else GrantShown.REVOKED)
            self.app.notify(f"Could not stop session {control.session_id}: {exc}", severity="error", timeout=15)
            return
        if control.revoked_at is not None:
            self.status(grant=GrantShown.REVOKED, revoked_by=control.revoked_by)
        self.app.notify(said, severity="warning" if escalating else "information")

    # -- what differs from the run mode -------------------------------------------------------

    def is_session_view(self, screen: Screen[Any]) -> bool:
        return isinstance(screen, TimelineScreen) or (
            self.attachment is not None and screen is self.attachment.run_screen
        )

    def live_screens(self) -> Sequence[RunScreen]:
        return (self.attachment.run_screen,) if self.attachment is not None else ()

    def live_journal(self) -> Journal | None:
        """The attached session's journal connection (a past session is read once, in full)."""
        return self.control.journal if self.attachment is not None and self.control is not None else None

    def stopping_summary(self) -> str | None:
        return self.attachment.stopping_summary(self.report) if self.attachment is not None else None

    async def load_tools(self) -> ToolRegistry | None:
        """The open session's tools for undo, or None after saying why they cannot be loaded."""
        control = self.control
        if control is None:
            return None
        if control.tools_start_programs:
            session = control.session
            self.app.notify(
                f"Starting the MCP servers of session {session.session_id} from its task file "
                f"({session.task_path or 'none recorded'}), to undo through them…",
                timeout=5,
            )
        try:
            tools, problems = await control.tools()
        except AgentstopError as exc:
            self.app.notify(f"Cannot undo: {exc}", severity="error", timeout=15)
            return None
        if problems:
            self.app.notify("Read-only: cannot load " + "; ".join(problems), severity="error", timeout=10)
            return None
        self.report_screen.tools = tools
        return tools

    def back_from_view(self) -> None:
        if self.attachment is not None and self.app.screen is self.attachment.run_screen:
            self.sessions()

    def sessions(self) -> None:
        """Back to the sessions browser; a session watched live keeps running where it runs."""
        self.forget_report_wanted()
        run_later(self.app, self._back_to_sessions, group="open", exclusive=True)

    async def _back_to_sessions(self) -> None:
        if self.attachment is not None and self.attachment.control.phase is not SessionPhase.ENDED:
            self.app.notify(
                f"Session {self.attachment.session_id} keeps running; it is no longer watched here.", timeout=4
            )
        await self._stop_watching()
        while self.app.screen is not self.sessions_screen and len(self.app.screen_stack) > 2:
            await self.app.pop_screen()
        self.fleet.refresh()

    def running_question(self) -> QuitQuestion | None:
        attachment = self.attachment
        if (
            attachment is None
            or attachment.control.phase is SessionPhase.ENDED
            or attachment.control.revoked_at is not None
        ):
            return None
        title = f"Session {attachment.session_id} is still running ({where_it_runs(attachment.session)})."
        stop = key_text(self.app, KeyId.STOP)
        body = [
            f"Quitting leaves it running there: only this view closes. {stop} stops it first (Cancel, then {stop}).",
            f"Later: agentstop stop --journal '{self.journal_path}' --session {attachment.session_id}",
        ]
        return ConfirmScreen(title, body, "Quit, leave it running"), self._quit_if

    def undoable_question(self, undoable: int) -> str:
        return f"{counted(undoable, 'call')} of session {self.session_id} can still be undone."
