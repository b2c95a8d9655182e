"""The agentstop app: composition, bindings, and the session worker.

The session runs in this process: the app holds its `LocalSession` (over the
supervisor of the epoch that runs) and calls its verbs; the session's phase
decides what Stop, Stop after this step, Resume and Quit do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from agentstop.errors import AgentstopError, PlannerError
from agentstop.formatting import duration
from agentstop.grant import GrantSpec
from agentstop.journal import Journal
from agentstop.planners import Planner, TranscriptChunk
from agentstop.report import Report
from agentstop.session import LocalSession, SessionPhase
from agentstop.supervisor import Supervisor
from agentstop.supervisor.approval import Allow, ApprovalRequest

from .bridge import JournalBridge
from .config import SessionConfig
from .messages import (
    ForceUndoRequested,
    JournalEvents,
    ReapplyRequested,
    ResumeRequested,
    SessionEnded,
    Transcript,
    UndoRequested,
)
from .screens.approval import ApprovalScreen
from .screens.confirm import ConfirmScreen, undo_confirmation
from .screens.report import ReportScreen, with_epochs
from .screens.resume import ResumeChoice, ResumeScreen
from .screens.run import RunPhase, RunScreen
from .widgets.status import GrantShown
from .wording import counted, standing

__all__ = ["AgentstopApp"]


class AgentstopApp(App[int]):
    """Supervise one agent session: watch it, Stop it, see the report, undo, resume.

    Resume runs the same session on in this app, as a new epoch: a new
    supervisor (under a new, possibly narrower grant) replaces the one that
    stopped, the run screen comes back, and Stop works as before.
    """

    CSS_PATH = "app.tcss"
    TITLE = "agentstop"
    BINDINGS = [
        Binding("ctrl+c", "stop", "Stop", priority=True),
        Binding("S", "stop_after_step", "Stop after step"),
        Binding("q", "quit_app", "Quit"),
        Binding("ctrl+q", "quit_app", "Quit", priority=True, show=False),
    ]

    def __init__(self, config: SessionConfig) -> None:
        super().__init__()
        self.config = config
        self.journal: Journal | None = None
        self.control: LocalSession | None = None
        """The session this app runs: Stop, undo, re-apply and Resume go through it (None until it starts)."""
        self.bridge: JournalBridge | None = None
        self.report: Report | None = None
        self.run_screen = RunScreen(config.goal, config.clock)
        self.report_screen = ReportScreen(config.clock, config.tools)
        self.report_screen.can_reapply = True  # through the supervisor (`on_reapply_requested`)
        self.stop_pressed_at: float | None = None
        self.grant: GrantSpec = config.grant
        """The grant of the epoch that runs (or ran last); a Resume may narrow it."""
        self._reversibility = {t.name: t.reversibility.value for t in config.tools}
        self._status_fields: dict[str, Any] = {}
        self._last_summary = ""
        self._last_deadline_refresh = 0.0
        self._report_wanted = False
        """The report should show as soon as the dialog open over the run view closes."""
        self._quit_question: ConfirmScreen | None = None
        """The "quit while the agent runs?" dialog while it is open: it says live what the agent does meanwhile."""

    @property
    def sup(self) -> Supervisor | None:
        """The supervisor of the epoch that runs (or ran last)."""
        return self.control.supervisor if self.control is not None else None

    @property
    def finished(self) -> bool:
        """True once the session (its epoch) has ended, and while a Resume starts the next."""
        return self.control is not None and self.control.phase in (SessionPhase.ENDED, SessionPhase.RESUMING)

    @property
    def stop_done(self) -> bool:
        """True once nothing is left to stop: the session has ended (Stop, if pressed, has settled)."""
        return self.finished

    # -- lifecycle ---------------------------------------------------------------

    def on_mount(self) -> None:
        # Installed: popping the report (Esc) must not destroy it, or pushing it again (Tab) shows a dead
        # screen whose clock is frozen while keys act on it.
        self.install_screen(self.run_screen, "run")
        self.install_screen(self.report_screen, "report")
        self.push_screen(self.run_screen)
        self.screen_change_signal.subscribe(self, self._screen_changed)
        self.status(task_name=self.config.task_name)
        self.set_interval(0.1, self._tick)
        self.run_session()

    @work(exclusive=True, group="session")
    async def run_session(self) -> None:
        """Open the journal and run the supervisor in this worker; the UI never waits on it."""
        cfg = self.config
        self.journal = await Journal.connect(cfg.journal_path, clock=cfg.clock)
        sup = self._supervisor(cfg.grant, cfg.planner, resume=cfg.resume, instruction=cfg.instruction)
        self.control = control = LocalSession(self.journal, sup, self._next_epoch, by="you (TUI)", clock=cfg.clock)
        control.on_phase(self._phase_changed)
        try:
            await control.start()
        except AgentstopError as exc:  # e.g. the session to resume was resumed elsewhere meanwhile
            self.exit(2, message=f"agentstop: {exc}")
            return
        await self._run_epoch(cfg.stop_after)

    def _next_epoch(self, grant: GrantSpec, instruction: str) -> Supervisor:
        """The supervisor of a Resume: the same session, a new planner, under `grant`."""
        return self._supervisor(grant, self.config.new_planner(), resume=True, instruction=instruction)

    def _phase_changed(self, phase: SessionPhase) -> None:
        if phase in (SessionPhase.ENDED, SessionPhase.RESUMING, SessionPhase.RUNNING):
            self._tell_resumable()  # Resume is offered only while the session has ended

    def _supervisor(self, grant: GrantSpec, planner: Planner, *, resume: bool, instruction: str) -> Supervisor:
        cfg = self.config
        assert self.journal is not None
        session_id = self.control.session_id if self.control is not None else cfg.session_id
        return Supervisor(
            self.journal,
            cfg.tools,
            grant,
            planner,
            task_name=cfg.task_name,
            goal=cfg.goal,
            task_path=cfg.task_path,
            grace=cfg.grace,
            approve=cfg.approve,
            approver=self.approve,
            session_id=session_id,
            resume=resume,
            instruction=instruction,
            resumed_by="you (TUI)",
            meta=cfg.meta,
        )

    async def _run_epoch(self, stop_after: float | None) -> None:
        """Run one epoch of the session (the first, or one after a Resume) until it ends."""
        assert self.journal is not None and self.control is not None
        cfg = self.config
        control = self.control
        sup = control.supervisor
        sup.on_transcript(self._post_transcript)
        session = await self.journal.session(sup.session_id)
        # The elapsed time counts from this epoch's start (a Resume reopens the session now).
        began = session.started_at if sup.epoch == 1 else cfg.clock()
        self.status(started_at=began, ended_at=None, grant=GrantShown.ACTIVE, revoked_by="", note="", epoch=sup.epoch)
        self.run_screen.phase = RunPhase.RUNNING
        if sup.epoch > 1:
            said = f": “{sup.instruction}”" if sup.instruction else ""
            self.run_screen.transcript.mark(f" ── resumed as epoch {sup.epoch}{said} ── ")
        if self.bridge is None:
            self.bridge = JournalBridge(control, self)
            self.bridge.start()
        if stop_after is not None:
            self.set_timer(max(0.0, began + stop_after - cfg.clock()), self.action_stop)
        try:
            report = await control.run()
        except PlannerError as exc:
            # The supervisor already stopped the session with this reason; say it on screen.
            self.notify(str(exc), severity="error", timeout=15)
            report = await control.report()
        self.post_message(SessionEnded(report.session.status))

    def _post_transcript(self, chunk: TranscriptChunk) -> None:
        self.post_message(Transcript(chunk))

    async def on_unmount(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()
        try:
            if self.control is not None:
                # Quitting while calls run (the quit dialog said so): they are cut off and journaled as such,
                # so closing the journal does not wait for a commit that may never end.
                await self.control.cut_off("you quit agentstop while it ran")
        finally:
            if self.journal is not None:
                await self.journal.close()

    # -- messages --------------------------------------------------------------------

    def on_transcript(self, message: Transcript) -> None:
        if self.run_screen.is_attached:  # not while the app closes: its screens are being taken down
            self.run_screen.transcript.add(message.chunk)

    async def on_journal_events(self, message: JournalEvents) -> None:
        if not self.run_screen.is_attached:
            return  # the app is closing
        self.run_screen.effects.apply(message.events, self._reversibility)
        for event in message.events:
            if event.kind == "revoked":
                self.status(grant=GrantShown.REVOKED, revoked_by=str(event.data.get("by", "")))
            elif event.kind == "session_ended":
                if self._status_fields.get("grant") != GrantShown.REVOKED:
                    self.status(grant=GrantShown.ENDED)
                self.status(ended_at=event.at)
            elif event.kind == "approval_requested":
                self.bell()
        await self.refresh_report()

    def on_session_ended(self, message: SessionEnded) -> None:
        self.run_screen.phase = RunPhase.ENDED
        if message.status == "completed":
            self.notify("The agent finished. Here is what it did; undo what you do not want.")
        self.show_report()
        self._tell_resumable()
        self.refresh_bindings()
        self.call_later(self.refresh_report)

    async def refresh_report(self) -> None:
        """Rebuild the report from the journal and sync the report screen with it."""
        if self.control is None:
            return
        self.report = await self.control.report()
        if self._report_shown():
            self.report_screen.show_report(self.report, self._summary())
        self._tell_quit_question()

    def _report_shown(self) -> bool:
        # On the stack, composed or not: a report handed over before it composes waits there for its on_mount.
        return self.report_screen in self.screen_stack

    # -- status ----------------------------------------------------------------------

    def status(self, **fields: Any) -> None:
        """Update the status fields and hand them to both screens (shown at once where composed, else on mount)."""
        self._status_fields.update(fields)
        for screen in (self.run_screen, self.report_screen):
            screen.show_status(self._status_fields)  # kept until it composes, if it has not yet
        if self.report is not None and self._report_shown():
            self.report_screen.show_report(self.report, self._summary())

    def _summary(self) -> str:
        summary = self._stopping_summary()
        if summary is not None:
            return summary
        return with_epochs(self.report) if self.report is not None else ""

    def _stopping_summary(self) -> str | None:
        if self.report is None:
            return None
        if self.stop_pressed_at is not None and not self.stop_done and self.control is not None:
            waited = self.config.clock() - self.stop_pressed_at
            flights = self.control.in_flight
            if flights:
                names = ", ".join(f"{f.call_id} {f.tool.name} ({f.phase.value})" for f in flights)
                left = max(0.0, self.config.grace - waited)
                return (
                    f"Stopping… grant revoked; waiting for {counted(len(flights), 'call')} in flight: {names} · "
                    f"{duration(left)} of {duration(self.config.grace)} grace left"
                )
            return "Stopping… grant revoked; cancelling the agent"
        return None

    def _tick(self) -> None:
        if not self._report_shown() or self.report is None:
            return
        summary = self._summary()
        if summary != self._last_summary:  # redraw only on change, so the app can go idle
            self._last_summary = summary
            self.report_screen.show_summary(summary)
        now = self.config.clock()
        if now - self._last_deadline_refresh >= 1.0 and any(
            i.undo.deadline is not None or i.undo.reversible_until is not None for i in self.report.undoable
        ):
            # Undo windows close with time, not with journal events: recount them every second.
            self._last_deadline_refresh = now
            self.call_later(self.refresh_report)

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "Stop after this step" means something only while the agent runs.
        if action == "stop_after_step":
            return self.control is None or self.control.phase is SessionPhase.RUNNING
        if action == "stop":  # shown dimmed once there is nothing left to stop
            return None if self.finished and self.stop_done else True
        return True

    def action_stop(self) -> None:
        """Stop at once: the header says so in this frame; the grant is revoked first."""
        control = self.control
        if control is not None and control.phase in (SessionPhase.STOPPING, SessionPhase.ESCALATED):
            self.escalate_stop()
            return
        if control is None or control.phase is not SessionPhase.RUNNING:
            if self.finished:
                self.show_report()
            return
        self.stop_pressed_at = self.config.clock()
        self.status(grant=GrantShown.REVOKING)
        self.run_screen.phase = RunPhase.STOPPING
        self.refresh_bindings()
        self._close_dialogs_on_stop()
        self.stop_session()
        self.show_report()

    def _close_dialogs_on_stop(self) -> None:
        """Stop denies every approval waiting on top, and answers "stop and quit?" (it is stopping) with no."""
        while True:
            top = self.screen
            if isinstance(top, ApprovalScreen):
                top.dismiss("denied: stopped")
            elif self._quit_question is not None and top is self._quit_question:
                top.dismiss(False)
            else:
                return

    def action_stop_after_step(self) -> None:
        """Let the current step's calls finish, start no new step, then stop."""
        control = self.control
        if control is None or control.phase is not SessionPhase.RUNNING:
            return
        self.status(note="stopping after this step…")
        self.notify("The calls of this step may still finish; no new step starts. Press s to stop now.")
        self.run_worker(control.stop_after_step("stopped after the step, in the TUI"), group="stop-after-step")

    @work(group="stop")
    async def stop_session(self) -> None:
        assert self.control is not None
        await self.control.stop("stopped in the TUI")
        await self.refresh_report()

    @work(group="stop")
    async def escalate_stop(self) -> None:
        """Stop pressed again: the grace is skipped and commits in flight are cancelled."""
        assert self.control is not None
        self.notify(await self.control.escalate(), severity="warning")

    def show_report(self) -> None:
        """Put the report over the run view; with a dialog open over the run view, as soon as it closes."""
        if self.report_screen in self.screen_stack:
            return
        if self.screen is not self.run_screen:
            self._report_wanted = True  # never bury a dialog (an approval, the quit question) under the report
            return
        self._report_wanted = False
        self.push_screen(self.report_screen)
        self.status()  # it was hidden: bring its status line and lists up to date
        self.call_later(self.refresh_report)

    def _screen_changed(self, screen: Screen[Any]) -> None:
        if self._report_wanted and screen is self.run_screen:
            self.call_later(self.show_report)

    def action_show_report(self) -> None:
        self.show_report()

    def action_show_run(self) -> None:
        if self.screen is self.report_screen:
            self.pop_screen()

    def action_go_back(self) -> None:
        """Esc: back from the report to the run view. It never stops the agent (s, Ctrl+C and the button do)."""
        if self.screen is self.report_screen:
            self.pop_screen()
        elif self.screen is self.run_screen and self.control is not None and self.control.phase is SessionPhase.RUNNING:
            self.notify("Esc goes back; the agent keeps running. Press s or Ctrl+C to stop it.", timeout=4)

    # -- resume ---------------------------------------------------------------------------

    @property
    def can_resume(self) -> bool:
        """True when the session has ended (stopped or completed) and no Resume is starting."""
        return self.control is not None and self.control.can_resume

    def request_resume(self) -> None:
        """Ask how to resume (instruction, tools), then run the session on as a new epoch."""
        if not self.can_resume or self.control is None:
            return
        sup = self.control.supervisor
        gated = [t for t in self.config.tools if not t.is_read_only]
        allowed = [(t.name, t.reversibility.value) for t in gated if self.grant.allows_tool(t.name)]
        read_only = [t.name for t in self.config.tools if t.is_read_only]
        summary = standing(self.report) if self.report is not None else ""
        screen = ResumeScreen(sup.session_id, sup.epoch + 1, summary, allowed, read_only, self.grant.scopes)
        self.push_screen(screen, self._resume_if)

    def _resume_if(self, choice: ResumeChoice | None) -> None:
        if choice is None or not self.can_resume:
            return
        grant = self.grant
        if choice.tools is not None:
            grant = GrantSpec(tools=choice.tools, scopes=list(grant.scopes), ttl=grant.ttl, max_calls=grant.max_calls)
        self.resume_session(grant, choice.instruction, narrowed=choice.tools is not None)

    @work(exclusive=True, group="session")
    async def resume_session(self, grant: GrantSpec, instruction: str, narrowed: bool = False) -> None:
        """Reopen the session as a new epoch under `grant`, show the run screen, and run it."""
        assert self.control is not None
        try:
            await self.control.resume(grant, instruction)
        except AgentstopError as exc:  # resumed from another terminal meanwhile, the journal unreachable, ...
            self.notify(f"Could not resume: {exc}", severity="error", timeout=15)
            return
        sup = self.control.supervisor
        self.grant = grant
        self.stop_pressed_at = None
        self.status(grant=GrantShown.ACTIVE)
        self.refresh_bindings()
        while self.screen is not self.run_screen and len(self.screen_stack) > 1:
            self.pop_screen()
        tools = f" It may use only: {', '.join(grant.tools) or 'no gated tool'}." if narrowed else ""
        self.notify(f"Resumed as epoch {sup.epoch} under a new grant.{tools} Press s to stop.")
        await self._run_epoch(None)

    def request_undo(self, call_ids: list[str], what: str) -> None:
        """Preview the compensations, ask once, then run them (latest commit first)."""
        if self.report is None:
            return
        screen, ids = undo_confirmation(self.report, call_ids, what, self.config.tools)
        self.push_screen(screen, lambda yes: self._undo_if(yes, ids))

    def _undo_if(self, yes: bool | None, call_ids: list[str]) -> None:
        if yes:
            self.run_undo(call_ids)

    def force_undo(self, call_ids: list[str]) -> None:
        """Undo calls refused for drift anyway (the report screen has asked)."""
        self.run_undo(call_ids, force=True)

    @work(group="undo", exclusive=True)
    async def run_undo(self, call_ids: list[str], force: bool = False) -> None:
        assert self.control is not None
        results = await self.control.undo(call_ids, force=force)
        await self.refresh_report()
        self.report_screen.undo_finished(results)

    # -- messages from screens ---------------------------------------------------------------
    # The screens never call into the app: they post what the person asked for, and the app hands
    # them what they show (`_tell_resumable`, `status`, the report, the outcome of an undo or re-apply).

    def on_undo_requested(self, message: UndoRequested) -> None:
        self.request_undo(message.call_ids, message.what)

    def on_force_undo_requested(self, message: ForceUndoRequested) -> None:
        self.force_undo(message.call_ids)

    def on_reapply_requested(self, message: ReapplyRequested) -> None:
        self.run_reapply(message.call_ids)

    def on_resume_requested(self, message: ResumeRequested) -> None:
        self.request_resume()

    @work(exclusive=True, group="reapply")
    async def run_reapply(self, call_ids: list[str]) -> None:
        """Re-apply (the report screen has asked), then show the report as the journal has it, and what happened."""
        if self.control is None:
            return
        try:
            results = await self.control.reapply(call_ids)
        except AgentstopError as exc:  # e.g. another terminal re-applied or undid it meanwhile
            self.notify(f"Could not re-apply: {exc}", severity="error", timeout=15)
            return
        await self.refresh_report()  # the bridge would too, a moment later; the outcome shows at once
        self.report_screen.reapply_finished(results)

    def _tell_resumable(self) -> None:
        """Tell the report screen whether it may offer Resume (`can_resume` has changed)."""
        self.report_screen.resumable = self.can_resume

    async def approve(self, request: ApprovalRequest) -> bool | str | Allow:
        """Ask the person at the terminal (the supervisor awaits this at the fence)."""
        answer: asyncio.Future[bool | str | Allow] = asyncio.get_running_loop().create_future()
        screen = ApprovalScreen(request)

        def done(value: bool | str | Allow | None) -> None:
            if not answer.done():
                answer.set_result(value if value is not None else "denied by the user")

        self.push_screen(screen, done)
        try:
            return await answer
        finally:
            if screen in self.screen_stack and screen.is_current:
                screen.dismiss("denied: stopped")

    def action_quit_app(self) -> None:
        """Quit; asks first while the agent runs or while something can still be undone."""
        if self._quit_question is not None and self._quit_question in self.screen_stack:
            return  # already asking
        if self.control is not None and self.control.phase is SessionPhase.RUNNING:
            self._quit_question = ConfirmScreen(
                "The agent is still running: it goes on working while this question is open.",
                [
                    "Quit stops it first: the grant is revoked, nothing new is committed; then the app exits.",
                    "Cancel goes back with the agent still running. s stops it now without quitting.",
                ],
                "Stop and quit",
                danger=True,
            )
            self.push_screen(self._quit_question, self._stop_and_quit)
            self.call_later(self.refresh_report)  # the note says how it stands now
            return
        undoable = len(self.report.undoable) if self.report else 0
        if undoable:
            self._quit_question = ConfirmScreen(
                f"{counted(undoable, 'call')} can still be undone.",
                ["They stay in the journal: `agentstop undo` can undo them later while the tools allow."],
                "Quit anyway",
            )
            self.push_screen(self._quit_question, self._quit_if)
            return
        self._quit()

    def _tell_quit_question(self) -> None:
        """While the quit question is open, say on it what the agent has done (it does not pause)."""
        question = self._quit_question
        if question is None or self.report is None or self.finished:
            return
        r = self.report
        latest = max(r.all_calls, key=lambda i: i.n, default=None)
        last = f" · latest: {latest.call_id} {latest.tool} {latest.state}" if latest is not None else ""
        question.set_note(f"Meanwhile, live: {len(r.done):,} done, {len(r.in_flight):,} in flight{last}")

    def _stop_and_quit(self, yes: bool | None) -> None:
        self._quit_question = None
        if yes:
            self.action_stop()
            self._exit_after_stop()

    @work(group="quit")
    async def _exit_after_stop(self) -> None:
        while not self.stop_done:
            await asyncio.sleep(0.05)
        self._quit()

    def _quit_if(self, yes: bool | None) -> None:
        self._quit_question = None
        if yes:
            self._quit()

    def _quit(self) -> None:
        self.exit(0 if self.report is not None and self.report.clean else 1)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield SystemCommand("Stop", "Revoke the grant and stop the agent now", self.action_stop)
        yield SystemCommand("Undo all", "Undo every undoable call, latest first", self.report_screen.action_undo_all)
        yield SystemCommand("Open journal", "Show where this session's journal is", self._show_journal)
        yield SystemCommand("Quit", "Quit (asks first if something can still be undone)", self.action_quit_app)

    def _show_journal(self) -> None:
        sid = self.control.session_id if self.control is not None else "?"
        where = self.journal.location if self.journal is not None else str(self.config.journal_path)
        self.notify(
            f"Journal: {where}\nSession: {sid}\nLater: agentstop report --journal '{where}' --session {sid}", timeout=10
        )
