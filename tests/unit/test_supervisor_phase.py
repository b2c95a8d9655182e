"""A supervisor's lifecycle is one phase with a table of allowed moves; an illegal move is refused."""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.supervisor.phase import TRANSITIONS, Lifecycle, SupervisorPhase, can_move
from tests.support.tools import WriteNote

P = SupervisorPhase


def phase_of(sup: Supervisor) -> SupervisorPhase:
    """The phase now (a call, so a type checker does not carry one reading over an await)."""
    return sup.phase


def test_every_phase_has_a_row_and_only_stopped_goes_nowhere() -> None:
    assert set(TRANSITIONS) == set(SupervisorPhase)
    assert [p for p, moves in TRANSITIONS.items() if not moves] == [P.STOPPED]


def test_the_drawn_paths_are_allowed() -> None:
    for path in (
        [P.NEW, P.RUNNING, P.STOP_AFTER_STEP, P.STOPPING, P.ESCALATED, P.STOPPED],
        [P.NEW, P.RUNNING, P.ENDING, P.ENDED, P.STOPPING, P.STOPPED],
        [P.NEW, P.RUNNING, P.ENDING, P.STOPPING, P.STOPPED],
        [P.NEW, P.STOPPING, P.STOPPED],
        [P.NEW, P.STOPPED],
    ):
        for a, b in itertools.pairwise(path):
            assert can_move(a, b), (a, b)


@pytest.mark.parametrize(
    ("start", "wanted"),
    [
        (P.STOPPED, P.RUNNING),  # a Resume is a new supervisor, never this one again
        (P.ENDED, P.RUNNING),
        (P.NEW, P.ENDED),  # nothing ends that was not recorded
        (P.RUNNING, P.ESCALATED),  # only a Stop in progress escalates
        (P.ESCALATED, P.STOPPING),
        (P.STOPPING, P.ENDING),  # once Stop began, only Stop writes the end
    ],
)
def test_an_illegal_move_is_refused_and_the_phase_stays(start: SupervisorPhase, wanted: SupervisorPhase) -> None:
    life = Lifecycle()
    path = {
        P.NEW: [],
        P.RUNNING: [P.RUNNING],
        P.ENDED: [P.RUNNING, P.ENDING, P.ENDED],
        P.STOPPING: [P.RUNNING, P.STOPPING],
        P.ESCALATED: [P.RUNNING, P.STOPPING, P.ESCALATED],
        P.STOPPED: [P.RUNNING, P.STOPPING, P.STOPPED],
    }[start]
    for phase in path:
        life.move(phase)
    with pytest.raises(RuntimeError, match=f"from {start.value} to {wanted.value}"):
        life.move(wanted)
    assert life.phase is start


@pytest.mark.anyio
async def test_the_lifecycle_remembers_an_escalation_and_announces_the_stop() -> None:
    life = Lifecycle()
    for phase in (P.RUNNING, P.STOPPING, P.ESCALATED):
        life.move(phase)
    assert life.stop_begun
    with anyio.fail_after(1):
        async with anyio.create_task_group() as tg:
            tg.start_soon(life.wait_stopped)
            await anyio.wait_all_tasks_blocked()
            life.move(P.STOPPED)
    assert life.passed(P.ESCALATED) and life.phase is P.STOPPED


@pytest.mark.anyio
async def test_a_supervisor_moves_through_its_phases_and_its_state_is_read_only(tmp_path: Path) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [WriteNote(tmp_path)], GrantSpec(tools=["write_note"], ttl=60))
        assert phase_of(sup) is P.NEW
        await sup.start()
        assert phase_of(sup) is P.RUNNING and sup.epoch == 1
        sup.escalate()  # no Stop to escalate: nothing happens
        assert phase_of(sup) is P.RUNNING and not sup.escalated
        await sup.close()
        assert phase_of(sup) is P.ENDED
        report = await sup.stop("after the end", "ada")  # a Stop after the end only revokes
        assert phase_of(sup) is P.STOPPED and sup.stopping and not sup.escalated
        assert report.session.status == "completed"
        with anyio.fail_after(1):
            await sup.wait_stopped()
        for name in ("epoch", "session_id", "escalated", "stopping", "journal", "grace", "phase"):
            with pytest.raises(AttributeError):
                setattr(sup, name, getattr(sup, name))
