"""The journal viewer (`agentstop replay`, `agentstop tui`): sessions, timelines, live sessions, Stop, undo.

Its sessions browser is also the fleet view: while any session of the journal
runs, the list is read again every second (the sessions, and the calls of each
running one), and a running session can be stopped from here.

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

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from agentstop.errors import AgentstopError
from agentstop.journal import Journal, SessionRecord
from agentstop.replay import JournalTimeline
from agentstop.report import Report
from agentstop.session import (
    AttachedSession,
    HeldTools,
    SessionPhase,
    ToolLoader,
    where_it_runs,
)
from agentstop.supervisor import ReapplyResult, is_alive
from agentstop.tools import ToolRegistry

from .attachment import Attachment
from .bridge import JournalBridge
from .messages import (
    ForceUndoRequested,
    JournalEvents,
    OpenSessionRequested,
    ReapplyRequested,
    StopSessionRequested,
    UndoRequested,
)
from .screens.confirm import ConfirmScreen, undo_confirmation
from .screens.report import ReportScreen, with_epochs
from .screens.run import RunPhase
from .screens.sessions import SessionRow, SessionsScreen
from .screens.timeline import TimelineScreen
from .widgets.status import GrantShown
from .wording import counted

__all__ = ["FLEET_INTERVAL", "ReplayApp"]

FLEET_INTERVAL = 1.0
"""Seconds between two reads of the sessions list while a session runs."""

LIVE_INTERVAL = 0.25
"""Seconds between two redraws of what Stop waits for, while an attached session stops."""


class ReplayApp(App[None]):
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

    CSS_PATH = "app.tcss"
    TITLE = "agentstop replay"
    BINDINGS = [
        Binding("q", "quit_app", "Quit"),
        Binding("ctrl+c", "stop", "Stop", priority=True, show=False),
    ]

    def __init__(
        self,
        journal_path: Path | str,
        rows: list[SessionRow],
        tool_loader: ToolLoader,
        session_id: str | None = None,
        clock: Callable[[], float] = time.time,
        title: str | None = None,
    ) -> None:
        super().__init__()
        if title is not None:
            self.title = title
        self.journal_path = journal_path
        self.rows = rows
        self.held_tools = HeldTools(tool_loader)
        """The open session's tools for undo, held (MCP servers running) by a worker of this app."""
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
        self.control: AttachedSession | None = None
        """The session open here (live or past): Stop, undo and re-apply go through it."""
        self.attachment: Attachment | None = None
        """The running session open here, watched live (None: none, or the open one has ended)."""
        self._bridge: JournalBridge | None = None
        self._last_summary = ""
        self._live_report: ReportScreen | None = None
        self._report_wanted = False
        """The report should show as soon as the dialog open over the session's view closes."""
        self._last_countdown = 0.0
        self._quit_question: ConfirmScreen | None = None

    def on_mount(self) -> None:
        # Installed screens survive being popped: the browser and each report are shown again and again.
        self.install_screen(self.sessions_screen, "sessions")
        self.screen_change_signal.subscribe(self, self._screen_changed)
        self.push_screen(self.sessions_screen)
        self.set_interval(FLEET_INTERVAL, self._tick, name="fleet")
        self.set_interval(LIVE_INTERVAL, self._live_tick, name="live")
        self.run_worker(self.held_tools.run(), name="held tools", group="held-tools")
        if self.initial_session:
            self.open_session(self.initial_session)

    async def on_unmount(self) -> None:
        # The fleet's refresh may be opening its journal right now: let it finish (or stop) first, so the
        # connection it makes is closed below rather than left to the garbage collector.
        for worker in self.workers.cancel_group(self, "fleet"):
            with contextlib.suppress(Exception):
                await worker.wait()
        await self._stop_watching()
        await self.held_tools.close()
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
            journal = self._fleet
            if journal is None:
                with anyio.CancelScope(shield=True):  # never half-opened: on_unmount closes what this made
                    self._fleet = journal = await Journal.connect(self.journal_path, readonly=True)
            assert journal is not None  # the shielded connect returned (or raised)
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
            self.notify(
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
        self.push_screen(
            ConfirmScreen(f"Stop “{session.task_name}” on {session.host or '?'}?", body, "Stop it", danger=True),
            lambda yes: self._stop_if(yes, session_id),
        )

    def _stop_if(self, yes: bool | None, session_id: str) -> None:
        if yes:
            self.stopping[session_id] = "revoking…"
            self.sessions_screen.show_rows(self.rows, self.clock(), self.stopping)
            self.stop_remote(session_id)

    @work(group="stop")
    async def stop_remote(self, session_id: str) -> None:
        """Revoke the session's grant durably, in a thread (the journal may be a server far away)."""
        session = self.sessions_screen.session(session_id)
        try:
            if session is None:
                raise AgentstopError(f"session {session_id} is no longer listed; refresh the sessions and try again")
            control = AttachedSession(self.journal_path, session, self.held_tools, clock=self.clock)
            revoked = await control.revoke("stopped from the sessions browser")
        except AgentstopError as exc:
            self.stopping.pop(session_id, None)
            self.notify(f"Could not stop session {session_id}: {exc}", severity="error", timeout=15)
            revoked = []
        else:
            self.stopping[session_id] = "stopping…"
            self.notify(
                f"Session {session_id}: grant revoked; nothing new of it can commit. It stops within a second."
                if revoked
                else f"Session {session_id} had no live grant left; it is ending by itself."
            )
        self.sessions_screen.show_rows(self.rows, self.clock(), self.stopping)
        self.refresh_sessions()

    @work(exclusive=True, group="open")
    async def open_session(self, session_id: str) -> None:
        """Attach to the session when it runs; else load its events (read-only) and show its timeline."""
        await self._stop_watching()
        async with Journal.open(self.journal_path, readonly=True) as journal:
            session = await journal.session(session_id)
            if session.status == "running" and is_alive(session, self.clock()):
                live = True
            else:
                live = False
                report = await Report.from_journal(journal, session_id, now=self.clock())
        if live:
            await self._watch_live(session)
            self._fill_sessions()
            return
        self.control = AttachedSession(self.journal_path, session, self.held_tools, clock=self.clock)
        self.report = report
        self.session_id = session_id
        s = report.session
        self._status = {
            "task_name": s.task_name,
            "started_at": s.started_at,
            "ended_at": s.ended_at or s.started_at,
            "grant": GrantShown.REVOKED if report.revoked else GrantShown.ENDED,
            "revoked_by": report.revoked.revoked_by if report.revoked else "",
        }
        self.report_screen = self._report_screen()
        title = f"{s.task_name} · session {session_id} · {with_epochs(report)}"
        timeline = await JournalTimeline.open(self.journal_path, session_id)
        await self.push_screen(TimelineScreen(title, timeline))
        self._describe_undos(self.control)
        self._fill_sessions()

    @work(group="describe")
    async def _describe_undos(self, control: AttachedSession) -> None:
        """Load the session's tools when that starts nothing (no MCP server), so each undo says what it does."""
        if HeldTools.needs_start(control.session):
            return  # its tools load when an undo asks for them
        try:
            tools, problems = await control.tools()
        except AgentstopError:
            return  # said when an undo asks for them
        if not problems and self.report_screen is not None and self.session_id == control.session_id:
            self.report_screen.tools = tools
            self.status()

    def _fill_sessions(self) -> None:
        """Opened with a session and no rows (the command skipped them): read the browser's rows now, behind it."""
        if not self.rows:
            self.refresh_sessions()

    # -- attached: a running session, live -------------------------------------------------

    async def _watch_live(self, session: SessionRecord) -> None:
        """Watch a running session live: its run screen fed by the journal, Stop, then its report."""
        self.control = control = AttachedSession(self.journal_path, session, self.held_tools, clock=self.clock)
        await control.connect()  # never half-opened: `_stop_watching` closes what this made
        self.attachment = attachment = Attachment(control, self.clock)
        self.session_id = session.session_id
        self.report = await control.report()
        self.report_screen = self._live_report = self._report_screen()
        self._status = {
            "task_name": session.task_name,
            "started_at": session.started_at,
            "ended_at": None,
            "grant": GrantShown.ACTIVE,
            "revoked_by": "",
            "note": f"attached · {session.session_id}",
        }
        self.status()  # handed to the run screen and the report screen now; shown as they compose
        await self.push_screen(attachment.run_screen)  # mounted: its transcript can be written to
        attachment.introduce()
        self._describe_undos(control)
        self._bridge = JournalBridge(control, self)
        self._bridge.start()

    async def _stop_watching(self) -> None:
        """Stop watching the attached session (it keeps running where it runs)."""
        if self._bridge is not None:
            self._bridge.stop()
            self._bridge = None
        self.attachment = None
        if self.control is not None:
            await self.control.close()  # kept for undo: it reads and writes through a journal of its own

    async def on_journal_events(self, message: JournalEvents) -> None:
        attachment = self.attachment
        if attachment is None or attachment.session_id != self.session_id:
            return
        control = attachment.control
        self.report = await control.report()
        changes = attachment.apply(message.events, self.report)
        if "revoked" in changes:
            self.status(grant=GrantShown.REVOKED, revoked_by=control.revoked_by)
            if control.phase is not SessionPhase.ENDED:
                attachment.run_screen.phase = RunPhase.STOPPING
            self.show_report()  # Stop from anywhere: show what it waits for
        if "ended" in changes:
            s = self.report.session
            attachment.run_screen.phase = RunPhase.ENDED
            if control.revoked_at is None:
                self.status(grant=GrantShown.ENDED)
            self.status(ended_at=s.ended_at, note=f"{s.status} · {s.session_id}")
            self.notify(
                f"Session {s.session_id} has ended ({s.status}). Here is what it did; undo what you do not want."
                if s.status == "completed"
                else f"Session {s.session_id} has stopped. What was done, interrupted, and still in flight "
                "is below; undo what you do not want."
            )
            self.show_report()
        self.status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":  # Ctrl+C stops only a session watched live; elsewhere it does what it always does
            return self.attachment is not None and self.attachment.run_screen in self.screen_stack
        return True

    def action_stop(self) -> None:
        """Stop the attached session at once (no question: Stop must be instant); again: skip its grace."""
        attachment = self.attachment
        if attachment is None or attachment.control.phase is SessionPhase.ENDED:
            if attachment is not None:
                self.notify("The session has ended; there is nothing to stop.")
            return
        if attachment.control.phase is SessionPhase.RUNNING:
            self.status(grant=GrantShown.REVOKING)
            attachment.run_screen.phase = RunPhase.STOPPING
            if self._quit_question is not None and self.screen is self._quit_question:
                self._quit_question.dismiss(False)  # "quit and leave it running?" is moot now
            self.show_report()
        self._stop_attached(attachment.control)

    @work(group="stop")
    async def _stop_attached(self, control: AttachedSession) -> None:
        escalating = control.phase is not SessionPhase.RUNNING
        try:
            said = await control.stop("stopped from agentstop tui")  # stopping already: it escalates
        except AgentstopError as exc:  # not done (the phase is as before): pressing again tries again
            self.status(grant=GrantShown.ACTIVE if control.revoked_at is None else GrantShown.REVOKED)
            self.notify(f"Could not stop session {control.session_id}: {exc}", severity="error", timeout=15)
            return
        if control.revoked_at is not None:
            self.status(grant=GrantShown.REVOKED, revoked_by=control.revoked_by)
        self.notify(said, severity="warning" if escalating else "information")

    def _live_tick(self) -> None:
        """Redraw what Stop waits for (its grace counts down between journal events), and undo windows."""
        self._count_down()
        attachment = self.attachment
        if attachment is None or self.report_screen is None or not self.report_screen.is_mounted:
            return
        summary = self._summary()
        if summary != self._last_summary:
            self._last_summary = summary
            self.report_screen.show_summary(summary)

    def _count_down(self) -> None:
        """Every second while the report shows an undo window: recount it (windows close with time, not events)."""
        now = self.clock()
        report, screen = self.report, self.report_screen
        if report is None or screen is None or screen is not self.screen or now - self._last_countdown < 1.0:
            return
        if not any(i.undo.deadline is not None or i.undo.reversible_until is not None for i in report.undoable):
            return
        self._last_countdown = now
        if self.attachment is not None:
            self._recount_live()
        else:
            screen.show_report(report, self._summary())  # the cells count down with the clock

    @work(exclusive=True, group="countdown")
    async def _recount_live(self) -> None:
        attachment = self.attachment
        if attachment is None:
            return
        self.report = await attachment.control.report()
        self.status()

    def _summary(self) -> str:
        if self.report is None:
            return ""
        if self.attachment is not None:
            stopping = self.attachment.stopping_summary(self.report)
            if stopping is not None:
                return stopping
        return with_epochs(self.report)

    # What the screens show, handed to them.

    def status(self, **fields: Any) -> None:
        """Fill the status lines (the report screen's; an attached session's run screen's too)."""
        self._status.update(fields)
        if self.report_screen is not None:
            self.report_screen.show_status(self._status)  # kept until it composes, if it has not yet
        if self.attachment is not None:
            self.attachment.run_screen.show_status(self._status)
        if self.report_screen is not None and self._report_shown() and self.report is not None:
            self.report_screen.show_report(self.report, self._summary())

    def _report_shown(self) -> bool:
        # On the stack, composed or not: a report handed over before it composes waits there for its on_mount.
        return self.report_screen is not None and self.report_screen in self.screen_stack

    def show_report(self) -> None:
        """Put the open session's report over its view; with a dialog open over that view, once it closes."""
        screen = self.report_screen
        if screen is None or screen in self.screen_stack:
            return
        if not isinstance(self.screen, TimelineScreen) and not (
            self.attachment is not None and self.screen is self.attachment.run_screen
        ):
            self._report_wanted = True  # never bury a dialog under the report
            return
        self._report_wanted = False
        self.push_screen(screen)
        self.status()  # it was hidden: bring it up to date

    def _screen_changed(self, screen: Screen[Any]) -> None:
        if self._report_wanted and (
            isinstance(screen, TimelineScreen) or (self.attachment is not None and screen is self.attachment.run_screen)
        ):
            self.call_later(self.show_report)

    def action_show_report(self) -> None:
        self.show_report()

    def action_show_run(self) -> None:
        if self.screen is self.report_screen:
            self.pop_screen()

    def action_go_back(self) -> None:
        """Esc: from the report back to the session's view; from there back to the sessions. Never a Stop."""
        if self.report_screen is not None and self.screen is self.report_screen:
            self.pop_screen()
        elif self.attachment is not None and self.screen is self.attachment.run_screen:
            self.action_sessions()

    def action_sessions(self) -> None:
        """Back to the sessions browser; a session watched live keeps running where it runs."""
        self._report_wanted = False
        self._back_to_sessions()

    @work(exclusive=True, group="open")
    async def _back_to_sessions(self) -> None:
        if self.attachment is not None and self.attachment.control.phase is not SessionPhase.ENDED:
            self.notify(f"Session {self.attachment.session_id} keeps running; it is no longer watched here.", timeout=4)
        await self._stop_watching()
        while self.screen is not self.sessions_screen and len(self.screen_stack) > 2:
            await self.pop_screen()
        self.refresh_sessions()

    def action_quit_app(self) -> None:
        """Quit; asks first while a session watched here runs on, or while something can still be undone."""
        if self._quit_question is not None and self._quit_question in self.screen_stack:
            return
        attachment = self.attachment
        undoable = len(self.report.undoable) if self.report is not None and self.session_id is not None else 0
        if (
            attachment is not None
            and attachment.control.phase is not SessionPhase.ENDED
            and attachment.control.revoked_at is None
        ):
            title = f"Session {attachment.session_id} is still running ({where_it_runs(attachment.session)})."
            body = [
                "Quitting leaves it running there: only this view closes. s stops it first (Cancel, then s).",
                f"Later: agentstop stop --journal '{self.journal_path}' --session {attachment.session_id}",
            ]
            confirm = "Quit, leave it running"
        elif undoable:
            title = f"{counted(undoable, 'call')} of session {self.session_id} can still be undone."
            body = ["They stay in the journal: `agentstop undo` can undo them later while the tools allow."]
            confirm = "Quit anyway"
        else:
            self.exit()
            return
        self._quit_question = ConfirmScreen(title, body, confirm)
        self.push_screen(self._quit_question, self._quit_if)

    def _quit_if(self, yes: bool | None) -> None:
        self._quit_question = None
        if yes:
            self.exit()

    def request_undo(self, call_ids: list[str], what: str) -> None:
        """Undo afterwards: loads the session's tools (starting its MCP servers), previews, asks first."""
        if self.report is None or self.session_id is None or self.control is None:
            return
        self._confirm_undo(self.control, call_ids, what)

    @work(exclusive=True, group="undo")
    async def _confirm_undo(self, control: AttachedSession, call_ids: list[str], what: str) -> None:
        tools = await self._tools(control)
        if tools is None or self.report is None:
            return
        screen, ids = undo_confirmation(self.report, call_ids, what, tools)
        self.push_screen(screen, lambda yes: self._undo_if(yes, control, ids))

    async def _tools(self, control: AttachedSession) -> ToolRegistry | None:
        """The session's tools for undo, or None after saying why they cannot be loaded."""
        if control.tools_start_programs:
            session = control.session
            self.notify(
                f"Starting the MCP servers of session {session.session_id} from its task file "
                f"({session.task_path or 'none recorded'}), to undo through them…",
                timeout=5,
            )
        try:
            tools, problems = await control.tools()
        except AgentstopError as exc:
            self.notify(f"Cannot undo: {exc}", severity="error", timeout=15)
            return None
        if problems:
            self.notify("Read-only: cannot load " + "; ".join(problems), severity="error", timeout=10)
            return None
        if self.report_screen is not None:
            self.report_screen.tools = tools
        return tools

    def _undo_if(self, yes: bool | None, control: AttachedSession, call_ids: list[str]) -> None:
        if yes:
            self._undo(control, call_ids)

    def force_undo(self, call_ids: list[str]) -> None:
        """Undo calls refused for drift anyway (the report screen has asked)."""
        if self.report is None or self.control is None:
            return
        self._force(self.control, call_ids)

    @work(exclusive=True, group="undo")
    async def _force(self, control: AttachedSession, call_ids: list[str]) -> None:
        tools = await self._tools(control)
        if tools is not None:
            self._undo(control, call_ids, force=True)

    def _report_screen(self) -> ReportScreen:
        """A new session's report screen, installed (Esc then Tab shows it again, alive) in place of the last."""
        old = self.report_screen
        if old is not None and old not in self.screen_stack:
            self.uninstall_screen(old)
            if old.is_mounted:
                old.remove()
        screen = ReportScreen(self.clock)
        screen.can_reapply = True  # no supervisor here: `_reapply` loads the session's tools again
        if not self.is_screen_installed(screen):
            self.install_screen(screen, f"report-{id(screen)}")
        return screen

    async def _reapply(self, call_ids: list[str]) -> list[ReapplyResult]:
        """Re-apply (the report screen has asked), with the session's tools loaded again, like undo."""
        control = self.control
        if self.report is None or self.session_id is None or control is None:
            return []
        tools = await self._tools(control)
        if tools is None:
            return []
        results = await control.reapply(call_ids)
        self.report = await control.report()
        if self.report_screen is not None and self.report_screen in self.screen_stack:
            self.report_screen.show_report(self.report, self._summary())
        return results

    @work(exclusive=True, group="run-undo")
    async def _undo(self, control: AttachedSession, call_ids: list[str], force: bool = False) -> None:
        results = await control.undo(call_ids, force=force)
        self.report = await control.report()
        if self.report_screen is not None and self.report_screen in self.screen_stack:
            self.report_screen.show_report(self.report, self._summary())
            self.report_screen.undo_finished(results)

    # -- messages from screens ---------------------------------------------------------------
    # The screens never call into the app: they post what the person asked for, and the app hands
    # them what they show (`status`, the report, the rows, the outcome of an undo or re-apply).

    def on_open_session_requested(self, message: OpenSessionRequested) -> None:
        self.open_session(message.session_id)

    def on_stop_session_requested(self, message: StopSessionRequested) -> None:
        self.request_stop(message.session_id)

    def on_undo_requested(self, message: UndoRequested) -> None:
        self.request_undo(message.call_ids, message.what)

    def on_force_undo_requested(self, message: ForceUndoRequested) -> None:
        self.force_undo(message.call_ids)

    def on_reapply_requested(self, message: ReapplyRequested) -> None:
        self.run_reapply(message.call_ids)

    @work(exclusive=True, group="reapply")
    async def run_reapply(self, call_ids: list[str]) -> None:
        """Re-apply (the report screen has asked), then say on the report screen what happened."""
        try:
            results = await self._reapply(call_ids)
        except AgentstopError as exc:  # e.g. another terminal re-applied or undid it meanwhile
            self.notify(f"Could not re-apply: {exc}", severity="error", timeout=15)
            return
        if self.report_screen is not None:
            self.report_screen.reapply_finished(results)
