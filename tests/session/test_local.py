"""`LocalSession`: Stop, Stop again, undo, re-apply and Resume of a session this process runs, on a real journal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.errors import AgentstopError
from agentstop.journal import revoke
from agentstop.planners import ScriptedPlanner, ScriptedStep
from agentstop.session import IllegalPhaseChange, LocalSession, SessionControl, SessionPhase
from agentstop.tools import Tool
from tests.support.reapply_tools import ReapplyNote
from tests.tui.helpers import GatedNote

pytestmark = pytest.mark.anyio

SID = "20270301T090000-local"
P = SessionPhase


def planner(*names: str) -> ScriptedPlanner:
    return ScriptedPlanner([ScriptedStep(f"note {n}", (("write_note", {"name": n}),)) for n in names], 0)


def control_for(
    journal: Journal, tools: list[Tool], *names: str, grace: float = 30.0, sid: str = SID, resume_as: str = SID
) -> LocalSession:
    """A session of `names` notes; a Resume resumes `resume_as` (another id: one that cannot start)."""

    def next_epoch(grant: GrantSpec, instruction: str) -> Supervisor:
        return Supervisor(
            journal, tools, grant, planner(), grace=grace, session_id=resume_as, resume=True, instruction=instruction
        )

    return LocalSession(
        journal, Supervisor(journal, tools, GrantSpec(), planner(*names), grace=grace, session_id=sid), next_epoch
    )


def phase(control: SessionControl) -> SessionPhase:
    """The control's phase now (read afresh: it moves while the test awaits)."""
    return control.phase


async def until(check: Callable[[], bool], what: str) -> None:
    with anyio.fail_after(10, shield=False):
        while not check():
            await anyio.sleep(0.01)
    assert check(), what


async def test_stop_then_stop_again_moves_running_stopping_escalated_ended(tmp_path: Path, world: Path) -> None:
    notes = GatedNote(world)
    notes.hold_commit("slow")
    async with Journal.open(tmp_path / "journal.db") as journal:
        control = control_for(journal, [notes], "a", "slow")
        assert isinstance(control, SessionControl)
        heard: list[SessionPhase] = []
        control.on_phase(heard.append)
        await control.start()
        async with anyio.create_task_group() as tg:
            tg.start_soon(control.run)
            await until(lambda: notes.parked("slow"), "the commit of 'slow' waits at its gate")
            assert phase(control) is P.RUNNING and not control.can_resume
            tg.start_soon(control.stop, "enough")
            await until(lambda: phase(control) is P.STOPPING, "Stop began")
            assert [f.call_id for f in control.in_flight] == ["c2"]  # the grace (30 s) waits for it
            said = await control.escalate()
            assert "grace is skipped" in said and phase(control) is P.ESCALATED
        assert heard == [P.STOPPING, P.ESCALATED, P.ENDED]
        report = await control.report()
        assert report.session.status == "stopped" and report.session.stopped_by == "you (TUI)"
        assert [i.call_id for i in report.done] == ["c1"]
        assert control.can_resume


async def test_a_revoke_from_another_process_makes_it_stopping(tmp_path: Path, world: Path) -> None:
    notes = GatedNote(world)
    notes.hold_commit("slow")
    path = tmp_path / "journal.db"
    async with Journal.open(path) as journal:
        control = control_for(journal, [notes], "slow", grace=0.1)
        await control.start()
        async with anyio.create_task_group() as tg:
            tg.start_soon(control.run)
            await until(lambda: notes.parked("slow"), "the commit waits at its gate")
            await anyio.to_thread.run_sync(lambda: revoke(path, SID, by="ops", reason="incident"))
            await until(lambda: phase(control) is not P.RUNNING, "the supervisor heard the revoke")
            assert control.phase in (P.STOPPING, P.ENDED)
            notes.release_all()
        assert phase(control) is P.ENDED


async def test_a_first_press_while_a_stop_from_elsewhere_is_under_way_waits_for_it_and_escalates_nothing(
    tmp_path: Path, world: Path
) -> None:
    """The TUI decides "first press" when the key comes and asks in a worker: a revoke from another terminal the
    supervisor heard in between must not turn that first press into a second one (no grace skipped)."""
    notes = GatedNote(world)
    notes.hold_commit("slow")
    path = tmp_path / "journal.db"
    async with Journal.open(path) as journal:
        control = control_for(journal, [notes], "slow")
        await control.start()
        async with anyio.create_task_group() as tg:
            tg.start_soon(control.run)
            await until(lambda: notes.parked("slow"), "the commit waits at its gate")
            await anyio.to_thread.run_sync(lambda: revoke(path, SID, by="ops", reason="incident"))
            await until(lambda: control.supervisor.stopping, "the supervisor heard the revoke and began Stop")
            tg.start_soon(control.stop, "stopped in the TUI")  # the key came before the TUI saw it stopping
            await anyio.wait_all_tasks_blocked()
            assert not control.supervisor.escalated, "a first press escalated a Stop begun elsewhere"
            assert [f.call_id for f in control.in_flight] == ["c1"], "the commit keeps its grace"
            notes.release_all()
        report = await control.report()
        assert [(i.call_id, i.state) for i in report.done] == [("c1", "committed")]
        assert phase(control) is P.ENDED and not control.supervisor.escalated


async def test_undo_and_reapply_go_through_the_supervisor(tmp_path: Path, world: Path) -> None:
    again = ReapplyNote(world)
    async with Journal.open(tmp_path / "journal.db") as journal:
        control = control_for(journal, [again])
        await control.supervisor.call("reapply_note", {"name": "minutes"})
        assert again.landed() == {"minutes"} and control.can_reapply
        [undone] = await control.undo(["c1"])
        assert undone.status == "compensated" and again.landed() == set()
        [redone] = await control.reapply(["c1"])
        assert redone.status == "reapplied" and again.landed() == {"minutes"}
        kinds = [(e.kind, e.data.get("by")) for e in await control.events() if e.call_id == "c1"]
        assert ("compensating", "you (TUI)") in kinds and ("reapplying", "you (TUI)") in kinds
        await control.supervisor.close()


async def test_resume_runs_the_next_epoch_and_one_that_cannot_start_stays_ended(tmp_path: Path, world: Path) -> None:
    notes = GatedNote(world)
    async with Journal.open(tmp_path / "journal.db") as journal:
        control = control_for(journal, [notes], "a")
        await control.start()
        await control.run()
        assert phase(control) is P.ENDED
        await control.escalate()  # nothing left to escalate: still ended
        assert phase(control) is P.ENDED
        with pytest.raises(IllegalPhaseChange):
            await control.run()  # an ended epoch does not run again without a Resume

        heard: list[SessionPhase] = []
        control.on_phase(heard.append)
        await control.resume(GrantSpec(tools=["write_note"]), "go on")
        assert heard == [P.RESUMING, P.RUNNING] and control.supervisor.epoch == 2
        await control.run()
        assert phase(control) is P.ENDED

        failing = control_for(journal, [notes], "b", sid="other", resume_as="no-such-session")
        await failing.start()
        await failing.run()
        with pytest.raises(AgentstopError):
            await failing.resume(GrantSpec(), "again")
        assert phase(failing) is P.ENDED and failing.can_resume
