"""A session's phase is one value moved along one table: every allowed move passes, every other is a bug."""

from __future__ import annotations

import itertools

import pytest

from agentstop.session import TRANSITIONS, IllegalPhaseChange, SessionPhase
from agentstop.session.phase import Phased, move

P = SessionPhase

ALLOWED = {
    (P.RUNNING, P.STOPPING),
    (P.RUNNING, P.ENDED),
    (P.STOPPING, P.ESCALATED),
    (P.STOPPING, P.ENDED),
    (P.STOPPING, P.RUNNING),
    (P.ESCALATED, P.ENDED),
    (P.ESCALATED, P.STOPPING),
    (P.ENDED, P.RESUMING),
    (P.RESUMING, P.RUNNING),
    (P.RESUMING, P.ENDED),
}


def test_every_phase_has_its_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(SessionPhase)


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(SessionPhase, SessionPhase)))
def test_only_the_moves_the_table_names_are_allowed(current: SessionPhase, wanted: SessionPhase) -> None:
    if (current, wanted) in ALLOWED:
        assert move(current, wanted) is wanted
    else:
        with pytest.raises(IllegalPhaseChange) as caught:
            move(current, wanted)
        assert (caught.value.current, caught.value.wanted) == (current, wanted)
        assert f"from {current} to {wanted}" in str(caught.value)


def test_a_stopped_session_resumed_runs_again_through_each_phase_and_announces_each() -> None:
    phased = Phased(P.RUNNING)
    heard: list[SessionPhase] = []
    phased.on_phase(heard.append)
    for wanted in (P.STOPPING, P.ESCALATED, P.ENDED, P.RESUMING, P.RUNNING):
        phased._move(wanted)
    assert heard == [P.STOPPING, P.ESCALATED, P.ENDED, P.RESUMING, P.RUNNING]
    assert phased.phase is P.RUNNING


def test_an_illegal_move_leaves_the_phase_as_it_was_and_announces_nothing() -> None:
    phased = Phased(P.ENDED)
    heard: list[SessionPhase] = []
    phased.on_phase(heard.append)
    with pytest.raises(IllegalPhaseChange):
        phased._move(P.STOPPING)  # an ended session cannot be stopped
    assert phased.phase is P.ENDED and heard == []


def test_falling_back_happens_only_from_the_phase_it_names() -> None:
    phased = Phased(P.STOPPING)
    phased._back(P.STOPPING, P.RUNNING)
    assert phased.phase is P.RUNNING
    phased._back(P.STOPPING, P.RUNNING)  # no longer stopping: nothing to undo
    assert phased.phase is P.RUNNING
