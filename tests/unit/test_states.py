"""The lifecycle table and the buckets agree with DESIGN.md."""

from __future__ import annotations

import itertools

from agentstop import CallState
from agentstop.journal import TRANSITIONS, can_move
from agentstop.report import BUCKETS, bucket_of


def test_every_state_is_in_exactly_one_bucket() -> None:
    for state in CallState:
        assert sum(state in states for states in BUCKETS.values()) == 1, state


def test_design_md_paths_are_allowed() -> None:
    path = ["planned", "prepared", "committing", "committed", "compensating", "compensated"]
    for a, b in itertools.pairwise(path):
        assert can_move(CallState(a), CallState(b))
    assert can_move(CallState.COMMITTING, CallState.UNKNOWN)
    assert can_move(CallState.UNKNOWN, CallState.COMMITTED)
    assert can_move(CallState.PREPARED, CallState.REJECTED)
    assert can_move(CallState.COMPENSATION_FAILED, CallState.COMPENSATING)


def test_terminal_states_go_nowhere_and_nothing_skips_the_fence() -> None:
    # compensated is not terminal: a re-apply may carry the effect out again (tests/unit/test_reapply_states.py).
    for state in (CallState.FAILED, CallState.REJECTED, CallState.DISCARDED):
        assert TRANSITIONS[state] == frozenset()
    assert not can_move(CallState.PLANNED, CallState.COMMITTING)
    assert not can_move(CallState.PREPARED, CallState.COMMITTED)
    assert not can_move(None, CallState.PREPARED)


def test_bucket_names() -> None:
    assert bucket_of("committing") == "in_flight"
    assert bucket_of("discarded") == "interrupted"
    assert bucket_of("compensation_failed") == "done"
