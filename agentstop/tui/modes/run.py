"""Running a session in this process (`agentstop run`, `agentstop demo`): the run mode of the app.

The session runs here, through a `LocalSession` over the supervisor of the
epoch that runs; its phase decides what Stop, Stop after this step, Resume and
Quit do. What this mode adds to what every mode does (`Mode`): the session
worker, approvals asked at the fence, Resume as a new epoch, and quitting
while the agent runs (stop first, then exit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import anyio
from textual.app import SystemCommand
from textual.screen import Screen

from agentstop.errors import AgentstopError, PlannerError
from agentstop.formatting import duration
from agentstop.grant import GrantSpec
from agentstop.journal import Event, EventKind, Journal, SessionStatus
from agentstop.planners import Planner, TranscriptChunk
from agentstop.report import Bucket
from agentstop.session import LocalSession, SessionPhase
from agentstop.supervisor import Supervisor
from agentstop.supervisor.approval import Allow, ApprovalRequest
from agentstop.tools import ToolRegistry

from ..bridge import JournalBridge
from ..config import SessionConfig
from ..keys import KeyId, key_text
from ..messages import SessionEnded, Transcript
from ..screens.approval import ApprovalScreen
from ..screens.confirm import ConfirmScreen
from ..screens.report import ReportScreen
from ..screens.resume import ResumeChoice, ResumeScreen
from ..screens.run import RunPhase, RunScreen
from ..widgets.status import GrantShown
from ..wording import counted, standing
from ..workers import run_later
from .base import Mode, QuitQuestion

__all__ = ["RunMode"]

BY = "you (TUI)"
"""Who the journal says stopped, undid or resumed the session run here."""


class RunMode(Mode):
    """Supervise one agent session run here: watch it, Stop it, see the report, undo, resume.

    Resume runs the same session on in this app, as a new epoch: a new
    supervisor (under a new, possibly narrower grant) replaces the one that
    stopped, the run screen comes back, and Stop works as before.

    Args:
        config: the session to run.
    """

    TITLE = "agentstop"
    TICK = 0.1
    SHOWS_STOP_KEY = True

    def __init__(self, config: SessionConfig) -> None:
        super().__init__(config.clock, ReportScreen(config.clock, config.tools))
        self.config = config
        self.report_screen.can_reapply = True  # through the supervisor
        self.run_screen = RunScreen(config.goal, config.clock)
        self.journal: Journal | None = None
        self.control: LocalSession | None = None
        """The session run here: Stop, undo, re-apply and Resume go through it (None until it starts)."""
        self.grant: GrantSpec = config.grant
        """The grant of the epoch that runs (or ran last); a Resume may narrow it."""
        self.stop_pressed_at: float | None = None
        """When Stop was pressed here (its grace counts down from then); None before, and after a Resume."""
        self._reversibility = {t.name: t.reversibility.value for t in config.tools}

    @property
    def sup(self) -> Supervisor | None:
        """The supervisor of the epoch that runs (or ran last)."""
        return self.control.supervisor if self.control is not None else None

    @property
    def can_resume(self) -> bool:
        """True when the session has ended (stopped or completed) and no Resume is starting."""
        return self.control is not None and self.control.can_resume

    # -- lifecycle ---------------------------------------------------------------------------

    def mount(self) -> None:
        # Installed: popping the report (Esc) must not destroy it, or pushing it again (Tab) shows a dead
        # screen whose clock is frozen while keys act on it.
        self.app.install_screen(self.run_screen, "run")
        self.app.install_screen(self.report_screen, "report")
        self.app.push_screen(self.run_screen)
        self.status(task_name=self.config.task_name)
        run_later(self.app, self._run_session, group="session", exclusive=True)

    async def _run_session(self) -> None:
        """Open the journal and run the supervisor in this worker; the UI never waits on it."""
        cfg = self.config
        # Every write on the journal's own thread: this loop draws the screen, which never waits on the disk.
        self.journal = await Journal.connect(cfg.journal_path, clock=cfg.clock, inline_writes=False)
        sup = self._supervisor(cfg.grant, cfg.planner, resume=cfg.resume, instruction=cfg.instruction)
        self.control = control = LocalSession(self.journal, sup, self._next_epoch, by=BY, clock=cfg.clock)
        control.on_phase(self._phase_changed)
        try:
            await control.start()
        except AgentstopError as exc:  # e.g. the session to resume was resumed elsewhere meanwhile
            self.app.exit(2, message=f"agentstop: {exc}")
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
            resumed_by=BY,
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
            self.bridge = JournalBridge(control, self.app)
            self.bridge.start()
        if stop_after is not None:
            self.app.set_timer(max(0.0, began + stop_after - cfg.clock()), self.stop)
        try:
            report = await control.run()
        except PlannerError as exc:
            # The supervisor already stopped the session with this reason; say it on screen.
            self.app.notify(str(exc), severity="error", timeout=15)
            report = await control.report()
        self.app.post_message(SessionEnded(report.session.status))

    def _post_transcript(self, chunk: TranscriptChunk) -> None:
        self.app.post_message(Transcript(chunk))

    async def unmount(self) -> None:
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

    # -- what the app hands on -----------------------------------------------------------------

    def transcript(self, chunk: TranscriptChunk) -> None:
        if self.run_screen.is_attached:  # not while the app closes: its screens are being taken down
            self.run_screen.transcript.add(chunk)

    async def journal_events(self, events: list[Event]) -> None:
        if not self.run_screen.is_attached:
            return  # the app is closing
        self.run_screen.effects.apply(events, self._reversibility)
        for event in events:
            if event.kind == EventKind.REVOKED:
                self.status(grant=GrantShown.REVOKED, revoked_by=str(event.data.get("by", "")))
            elif event.kind == EventKind.SESSION_ENDED:
                if self.status_field("grant") != GrantShown.REVOKED:
                    self.status(grant=GrantShown.ENDED)
                self.status(ended_at=event.at)
            elif event.kind == EventKind.APPROVAL_REQUESTED:
                self.app.bell()
        await self.take_in(events)

    def session_ended(self, status: str) -> None:
        self.run_screen.phase = RunPhase.ENDED
        if status == SessionStatus.COMPLETED:
            self.app.notify("The agent finished. Here is what it did; undo what you do not want.")
        self.show_report()
        self._tell_resumable()
        self.app.refresh_bindings()
        self.app.call_later(self.app.refresh_report)

    def report_changed(self) -> None:
        """While the quit question is open, say on it what the agent has done (it does not pause)."""
        question = self.quit_question
        if question is None or self.report is None or self.finished:
            return
        lists = self.lists()
        # Each list is in planning order: the latest call is the last of one of them.
        lasts = [lists[b][-1] for b in (Bucket.DONE, Bucket.INTERRUPTED, Bucket.IN_FLIGHT) if lists[b]]
        latest = max(lasts, key=lambda i: i.n, default=None)
        last = f" · latest: {latest.call_id} {latest.tool} {latest.state}" if latest is not None else ""
        done, flights = len(lists[Bucket.DONE]), len(lists[Bucket.IN_FLIGHT])
        question.set_note(f"Meanwhile, live: {done:,} done, {flights:,} in flight{last}")

    # -- what differs from the journal viewer ----------------------------------------------------

    def is_session_view(self, screen: Screen[Any]) -> bool:
        return screen is self.run_screen

    def live_journal(self) -> Journal | None:
        return self.journal

    def live_screens(self) -> Sequence[RunScreen]:
        return (self.run_screen,)

    def ready_tools(self) -> ToolRegistry | None:
        return self.config.tools

    def stopping_summary(self) -> str | None:
        control = self.control
        if self.report is None or self.stop_pressed_at is None or control is None or self.finished:
            return None
        waited = self.config.clock() - self.stop_pressed_at
        flights = control.in_flight
        if flights:
            names = ", ".join(f"{f.call_id} {f.tool.name} ({f.phase.value})" for f in flights)
            left = max(0.0, self.config.grace - waited)
            return (
                f"Stopping… grant revoked; waiting for {counted(len(flights), 'call')} in flight: {names} · "
                f"{duration(left)} of {duration(self.config.grace)} grace left"
            )
        return "Stopping… grant revoked; cancelling the agent"

    def back_from_view(self) -> None:
        if (
            self.app.screen is self.run_screen
            and self.control is not None
            and self.control.phase is SessionPhase.RUNNING
        ):
            self.app.notify(
                f"Esc goes back; the agent keeps running. Press {key_text(self.app, KeyId.STOP)} or Ctrl+C to stop it.",
                timeout=4,
            )

    def exit_code(self) -> int:
        return 0 if self.report is not None and self.report.clean else 1

    # -- Stop -----------------------------------------------------------------------------------

    def check_action(self, action: str) -> bool | None:
        # "Stop after this step" means something only while the agent runs.
        if action == "stop_after_step":
            return self.control is None or self.control.phase is SessionPhase.RUNNING
        if action == "stop":  # shown dimmed once there is nothing left to stop
            return None if self.finished else True
        return True

    def stop(self) -> None:
        """Stop at once: the header says so in this frame; the grant is revoked first."""
        control = self.control
        if control is not None and control.phase in (SessionPhase.STOPPING, SessionPhase.ESCALATED):
            run_later(self.app, self._escalate, control, group="stop")
            return
        if control is None or control.phase is not SessionPhase.RUNNING:
            if self.finished:
                self.show_report()
            return
        self.stop_pressed_at = self.config.clock()
        self.status(grant=GrantShown.REVOKING)
        self.run_screen.phase = RunPhase.STOPPING
        self.app.refresh_bindings()
        self._close_dialogs_on_stop()
        run_later(self.app, self._stop, control, group="stop")
        self.show_report()

    def _close_dialogs_on_stop(self) -> None:
        """Stop denies every approval waiting on top, and answers "stop and quit?" (it is stopping) with no."""
        while True:
            top = self.app.screen
            if isinstance(top, ApprovalScreen):
                top.dismiss("denied: stopped")
            elif self.quit_question is not None and top is self.quit_question:
                self.dismiss_quit_question()
            else:
                return

    async def _stop(self, control: LocalSession) -> None:
        await control.stop("stopped in the TUI")
        await self.app.refresh_report()

    async def _escalate(self, control: LocalSession) -> None:
        """Stop pressed again: the grace is skipped and commits in flight are cancelled."""
        self.app.notify(await control.escalate(), severity="warning")

    def stop_after_step(self) -> None:
        """Let the current step's calls finish, start no new step, then stop."""
        control = self.control
        if control is None or control.phase is not SessionPhase.RUNNING:
            return
        self.status(note="stopping after this step…")
        stop = key_text(self.app, KeyId.STOP)
        self.app.notify(f"The calls of this step may still finish; no new step starts. Press {stop} to stop now.")
        run_later(self.app, control.stop_after_step, "stopped after the step, in the TUI", group="stop-after-step")

    # -- approvals --------------------------------------------------------------------------------

    async def approve(self, request: ApprovalRequest) -> bool | str | Allow:
        """Ask the person at the terminal (the supervisor awaits this at the fence).

        The answer comes from the approval screen's dismiss callback; an anyio event wakes this task,
        whatever the supervisor's task runs on.
        """
        answered = anyio.Event()
        answer: list[bool | str | Allow] = []
        screen = ApprovalScreen(request)

        def done(value: bool | str | Allow | None) -> None:
            if not answered.is_set():
                answer.append(value if value is not None else "denied by the user")
                answered.set()

        self.app.push_screen(screen, done)
        try:
            await answered.wait()
            return answer[0]
        finally:
            if screen in self.app.screen_stack and screen.is_current:
                screen.dismiss("denied: stopped")

    # -- Resume -----------------------------------------------------------------------------------

    def _tell_resumable(self) -> None:
        """Tell the report screen whether it may offer Resume (`can_resume` has changed)."""
        self.report_screen.resumable = self.can_resume

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
        self.app.push_screen(screen, self._resume_if)

    def _resume_if(self, choice: ResumeChoice | None) -> None:
        if choice is None or not self.can_resume:
            return
        grant = self.grant
        if choice.tools is not None:
            grant = GrantSpec(tools=choice.tools, scopes=list(grant.scopes), ttl=grant.ttl, max_calls=grant.max_calls)
        narrowed = choice.tools is not None
        run_later(self.app, self._resume, grant, choice.instruction, narrowed, group="session", exclusive=True)

    async def _resume(self, grant: GrantSpec, instruction: str, narrowed: bool) -> None:
        """Reopen the session as a new epoch under `grant`, show the run screen, and run it."""
        assert self.control is not None
        try:
            await self.control.resume(grant, instruction)
        except AgentstopError as exc:  # resumed from another terminal meanwhile, the journal unreachable, ...
            self.app.notify(f"Could not resume: {exc}", severity="error", timeout=15)
            return
        sup = self.control.supervisor
        self.grant = grant
        self.stop_pressed_at = None
        self.status(grant=GrantShown.ACTIVE)
        self.app.refresh_bindings()
        while self.app.screen is not self.run_screen and len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        tools = f" It may use only: {', '.join(grant.tools) or 'no gated tool'}." if narrowed else ""
        stop = key_text(self.app, KeyId.STOP)
        self.app.notify(f"Resumed as epoch {sup.epoch} under a new grant.{tools} Press {stop} to stop.")
        await self._run_epoch(None)

    # -- quitting ----------------------------------------------------------------------------------

    def running_question(self) -> QuitQuestion | None:
        if self.control is None or self.control.phase is not SessionPhase.RUNNING:
            return None
        question = ConfirmScreen(
            "The agent is still running: it goes on working while this question is open.",
            [
                "Quit stops it first: the grant is revoked, nothing new is committed; then the app exits.",
                f"Cancel goes back with the agent still running. {key_text(self.app, KeyId.STOP)} stops it now "
                "without quitting.",
            ],
            "Stop and quit",
            danger=True,
        )
        self.app.call_later(self.app.refresh_report)  # the note says how it stands now
        return question, self._stop_and_quit

    def _stop_and_quit(self, yes: bool | None) -> None:
        self.quit_question = None
        if not yes:
            return
        if self.finished:  # the agent finished while it was asked: nothing to stop
            self.exit()
            return
        if self.control is None or self.control.phase is SessionPhase.RUNNING:
            self.stop()
        # Else a Stop from elsewhere began while it was asked: it is waited for, not pressed again (that
        # would skip its grace and cancel the commits it is waiting for).
        run_later(self.app, self._exit_after_stop, group="quit")

    async def _exit_after_stop(self) -> None:
        if self.control is not None:
            await self.control.wait_ended()
        self.exit()

    def system_commands(self) -> Iterable[SystemCommand]:
        return (
            SystemCommand("Stop", "Revoke the grant and stop the agent now", self.stop),
            SystemCommand("Undo all", "Undo every undoable call, latest first", self.report_screen.action_undo_all),
            SystemCommand("Open journal", "Show where this session's journal is", self._show_journal),
            SystemCommand("Quit", "Quit (asks first if something can still be undone)", self.quit),
        )

    def _show_journal(self) -> None:
        sid = self.control.session_id if self.control is not None else "?"
        where = self.journal.location if self.journal is not None else str(self.config.journal_path)
        self.app.notify(
            f"Journal: {where}\nSession: {sid}\nLater: agentstop report --journal '{where}' --session {sid}", timeout=10
        )
