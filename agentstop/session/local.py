"""A session this process runs, under a `Supervisor` it holds: the TUI's `agentstop run`.

Stop, undo and re-apply go through the supervisor; Resume builds the next
epoch's supervisor (a new grant, perhaps narrower) with the factory the
holder gave, and runs on with it. The phase follows the supervisor: a revoke
from another process, the grant's expiry or "stop after this step" reaching
its step all begin Stop there, and `phase` says stopping from then on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import anyio

from agentstop.grant import GrantSpec
from agentstop.journal import Event, Journal
from agentstop.report import Report
from agentstop.supervisor import ReapplyResult, Supervisor, UndoResult
from agentstop.supervisor.calls import Flight

from .phase import IllegalPhaseChange, Phased, SessionPhase

__all__ = ["LocalSession", "SupervisorFactory"]

SupervisorFactory = Callable[[GrantSpec, str], Supervisor]
"""Builds the supervisor of the session's next epoch: (its grant, what to tell the agent) -> a Supervisor
that resumes the same session."""


class LocalSession(Phased):
    """The `SessionControl` of a session run here.

    Args:
        journal: the open journal the supervisor writes (the holder closes it).
        supervisor: the first epoch's supervisor, not started yet.
        next_epoch: builds a supervisor for a Resume.
        by: who the journal says stopped, undid or resumed it ("you (TUI)").
        clock: the wall clock, for the report's undo windows.
    """

    def __init__(
        self,
        journal: Journal,
        supervisor: Supervisor,
        next_epoch: SupervisorFactory,
        *,
        by: str = "you (TUI)",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(SessionPhase.RUNNING)
        self.journal = journal
        self._sup = supervisor
        self._next_epoch = next_epoch
        self.by = by
        self.clock = clock
        self._epoch_ended: anyio.Event | None = None
        """Set when the epoch ends (made by the first `wait_ended`, inside the event loop)."""
        self._stop_pressed = False
        """Stop was asked for from here in this epoch (asked again, it escalates)."""

    @property
    def supervisor(self) -> Supervisor:
        """The supervisor of the epoch that runs (or ran last)."""
        return self._sup

    @property
    def session_id(self) -> str:
        return self._sup.session_id

    @property
    def phase(self) -> SessionPhase:
        """Where the session is; stopping as soon as the supervisor has begun Stop, whoever asked."""
        if self._phase is SessionPhase.RUNNING and self._sup.stopping:
            self._move(SessionPhase.STOPPING)
        return self._phase

    @property
    def can_resume(self) -> bool:
        return self.phase is SessionPhase.ENDED

    @property
    def can_reapply(self) -> bool:
        return True

    @property
    def in_flight(self) -> list[Flight]:
        """The calls running right now, with their phase."""
        return self._sup.in_flight

    async def start(self) -> None:
        """Record the session (or, resuming, its new epoch) and its grant in the journal.

        Raises:
            AgentstopError: the session to resume was resumed elsewhere meanwhile, or the journal refused.
        """
        await self._sup.start()

    async def run(self) -> Report:
        """Run the epoch until the agent finishes or Stop ends it; the phase is ended afterwards.

        Raises:
            PlannerError: the planner failed (the supervisor has stopped the session with that reason).
            IllegalPhaseChange: the epoch has ended (a Resume starts the next) or is starting.
        """
        if self.phase in (SessionPhase.ENDED, SessionPhase.RESUMING):
            raise IllegalPhaseChange(self.phase, SessionPhase.RUNNING)
        try:
            return await self._sup.run()
        finally:
            self._end()

    def _end(self) -> None:
        """The epoch is over, whoever ended it (Stop here or elsewhere, the agent finishing, a failure)."""
        if self.phase is not SessionPhase.ENDED:
            self._move(SessionPhase.ENDED)
        if self._epoch_ended is not None:
            self._epoch_ended.set()

    async def wait_ended(self) -> None:
        """Wait until the epoch has ended: Stop done and its run returned, or the agent finished by itself.

        Not the supervisor's `wait_stopped` alone: that one waits for a Stop however long, so an
        epoch that ends by itself (the agent finished while Stop was being asked for) would never
        end the wait; and it returns before the epoch's `run` has, while the run still reads the
        journal. Returns at once while no epoch runs.
        """
        if self.phase in (SessionPhase.ENDED, SessionPhase.RESUMING):
            return
        if self._epoch_ended is None:
            self._epoch_ended = anyio.Event()
        await self._epoch_ended.wait()

    async def stop(self, reason: str) -> str:
        # Pressed again from here while stopping: the supervisor escalates. A first press never does, even when
        # a Stop begun elsewhere got there first (a revoke from another terminal the supervisor heard between
        # the key and this call): it waits for that Stop, whose calls in flight keep their grace.
        again, self._stop_pressed = self._stop_pressed, True
        if self.phase is SessionPhase.RUNNING:
            self._move(SessionPhase.STOPPING)
        await self._sup.stop(reason, self.by, escalate=again)
        return f"Session {self.session_id} stopped."

    async def stop_after_step(self, reason: str) -> None:
        await self._sup.stop_after_step(reason, self.by)

    async def escalate(self) -> str:
        if self.phase is SessionPhase.STOPPING:
            self._move(SessionPhase.ESCALATED)
        self._sup.escalate()
        return (
            "Stop pressed again: the grace is skipped and commits in flight are cancelled; "
            "their outcome is checked with the upstream."
        )

    async def undo(self, call_ids: Sequence[str], *, force: bool = False) -> list[UndoResult]:
        return await self._sup.undo(call_ids, by=self.by, force=force)

    async def reapply(self, call_ids: Sequence[str]) -> list[ReapplyResult]:
        return await self._sup.reapply(call_ids, by=self.by)

    async def resume(self, grant: GrantSpec, instruction: str) -> None:
        """Start the next epoch under `grant`: resuming at once, then running, or ended again if it cannot start.

        Raises:
            AgentstopError: it could not start (resumed from another terminal meanwhile, the journal
                unreachable); the session stays ended.
        """
        self._move(SessionPhase.RESUMING)
        try:
            sup = self._next_epoch(grant, instruction)
            await sup.start()
        except BaseException:  # AgentstopError, or the holder cancelled the Resume: still ended
            self._move(SessionPhase.ENDED)
            raise
        self._sup = sup
        self._epoch_ended = None
        self._stop_pressed = False
        self._move(SessionPhase.RUNNING)

    async def cut_off(self, why: str) -> None:
        """This process is going away (the person quit): cut off every call still running, journaled as such."""
        await self._sup.cut_off(why)

    async def report(self) -> Report:
        return await Report.from_journal(self.journal, self.session_id, now=self.clock())

    async def events(self, after: int = 0, limit: int | None = None) -> list[Event]:
        return await self.journal.events(self.session_id, after=after, limit=limit)
