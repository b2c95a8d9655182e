"""Re-apply in the lifecycle table, in the journal's refusals, and in the report built from the rows."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from pydantic import BaseModel

from agentstop import CallState, Journal, Report, Reversibility, Tool, ToolContext
from agentstop.errors import IllegalTransition
from agentstop.journal import TRANSITIONS, can_move
from agentstop.report import bucket_of
from tests.support.plans import plan

pytestmark = pytest.mark.anyio

S = CallState


def test_undo_then_reapply_then_undo_is_a_path_of_legal_moves() -> None:
    path = [
        "planned",
        "prepared",
        "committing",
        "committed",
        "compensating",
        "compensated",
        "reapplying",
        "committed",
        "compensating",
        "compensated",
        "reapplying",
        "reapply_failed",
        "reapplying",
        "committed",
    ]
    for a, b in itertools.pairwise(path):
        assert can_move(CallState(a), CallState(b)), (a, b)


def test_reapply_comes_only_after_an_undo_and_ends_committed_or_failed() -> None:
    assert TRANSITIONS[S.COMPENSATED] == frozenset({S.REAPPLYING})
    assert TRANSITIONS[S.REAPPLYING] == frozenset({S.COMMITTED, S.REAPPLY_FAILED})
    assert TRANSITIONS[S.REAPPLY_FAILED] == frozenset({S.REAPPLYING}), "a failed re-apply is only retried"
    for state in CallState:
        if state not in (S.COMPENSATED, S.REAPPLY_FAILED):
            assert not can_move(state, S.REAPPLYING), f"{state} cannot be re-applied"
    assert [s for s in CallState if can_move(s, S.REAPPLY_FAILED)] == [S.REAPPLYING]
    # Nothing but a landed re-apply leads from an undone call back to committed, and never past the fence twice.
    assert not can_move(S.COMPENSATED, S.COMMITTED)
    assert not can_move(S.REAPPLY_FAILED, S.COMMITTED)
    assert not can_move(S.REAPPLYING, S.COMMITTING)


def test_the_reapply_states_are_done() -> None:
    assert bucket_of("reapplying") == "done"
    assert bucket_of("reapply_failed") == "done"


class Booking(Tool):
    name = "book"
    reversibility = Reversibility.REVERSIBLE

    class Args(BaseModel):
        what: str

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        return {}

    async def compensate(self, receipt: Any, ctx: ToolContext) -> None:
        pass

    async def reapply(self, receipt: Any, ctx: ToolContext) -> dict[str, Any]:
        return {}


class UndoOnly(Booking):
    name = "undo_only"
    reapply: Any = None  # declared as Tool declares it: None means the tool has no such hook


class NoUndo(Booking):
    name = "no_undo"
    compensate: Any = None  # declared as Tool declares it: None means the tool has no such hook


def test_can_reapply_needs_both_reapply_and_compensate() -> None:
    assert Booking.can_reapply()
    assert not UndoOnly.can_reapply()
    assert not NoUndo.can_reapply(), "only what was undone can be re-applied"
    assert not Tool.can_reapply()


async def planned(journal: Journal, tool: str = "book", *, can_reapply: bool = True) -> str:
    return await plan(journal, "s1", tool, f"k-{tool}", summary=f"{tool} it", can_reapply=can_reapply)


async def move(journal: Journal, call_id: str, *states: CallState, **fields: Any) -> None:
    for state in states:
        await journal.transition("s1", call_id, state, durable=False, **(fields if state is states[-1] else {}))


UNDONE = (S.PREPARED, S.COMMITTING, S.COMMITTED, S.COMPENSATING, S.COMPENSATED)


async def test_the_journal_refuses_a_reapply_of_a_call_that_was_not_undone(journal: Journal) -> None:
    await journal.create_session("s1", task_name="t")
    cid = await planned(journal)
    await move(journal, cid, S.PREPARED, S.COMMITTING, S.COMMITTED)
    with pytest.raises(IllegalTransition):
        await journal.transition("s1", cid, S.REAPPLYING, durable=False)
    await move(journal, cid, S.COMPENSATING, S.COMPENSATION_FAILED)
    with pytest.raises(IllegalTransition):
        await journal.transition("s1", cid, S.REAPPLYING, durable=False)
    assert (await journal.call("s1", cid)).state == "compensation_failed"


async def test_a_landed_reapply_is_the_latest_commit_counted_with_its_receipt(journal: Journal) -> None:
    await journal.create_session("s1", task_name="t")
    first, second = await planned(journal, "book"), await planned(journal, "other")
    await move(journal, first, *UNDONE[:3], receipt={"v": 1})
    await move(journal, second, *UNDONE[:3], receipt={"v": 1})
    before = await journal.call("s1", second)
    await move(journal, first, S.COMPENSATING, undo_by="ada")
    await move(journal, first, S.COMPENSATED)
    assert (await journal.call("s1", first)).undo_by == "ada"
    await move(journal, first, S.REAPPLYING, S.REAPPLY_FAILED, reapply_error="calendar down")
    failed = await journal.call("s1", first)
    assert (failed.state, failed.reapply_error, failed.reapplies, failed.reason) == (
        "reapply_failed",
        "calendar down",
        0,
        None,
    ), "the failure is kept for the report, not as the call's reason"
    await move(journal, first, S.REAPPLYING, S.COMMITTED, receipt={"v": 2})

    call = await journal.call("s1", first)
    assert (call.state, call.receipt, call.reapplies, call.reapply_error) == ("committed", {"v": 2}, 1, None)
    assert (call.undo_attempts, call.undo_error, call.undo_by) == (0, None, None), "the new effect is not undone yet"
    assert call.commit_seq is not None and before.commit_seq is not None
    assert call.commit_seq > before.commit_seq, "the re-applied call is now the latest commit (undone first)"
    report = await Report.from_journal(journal, "s1")
    assert [i.call_id for i in report.undoable] == [first, second]


async def test_the_report_says_what_can_be_reapplied_and_how_it_stands(journal: Journal) -> None:
    await journal.create_session("s1", task_name="t")
    undone = await planned(journal, "book")
    not_undone = await planned(journal, "kept")
    cannot = await planned(journal, "undo_only", can_reapply=False)
    running = await planned(journal, "running")
    failed = await planned(journal, "failed")
    for cid in (undone, not_undone, cannot, running, failed):
        await move(journal, cid, *UNDONE[:3], receipt={"undo_deadline": 1.0})
    for cid in (undone, cannot, running, failed):
        await move(journal, cid, S.COMPENSATING, S.COMPENSATED)
    await move(journal, running, S.REAPPLYING)
    await move(journal, failed, S.REAPPLYING, S.REAPPLY_FAILED, reapply_error="ConnectionError: down")

    report = await Report.from_journal(journal, "s1", now=0.0)
    items = {i.call_id: i for i in report.all_calls}

    assert {i.call_id for i in report.done} == set(items), "undone, re-applying or not, it reached the world"
    assert [i.call_id for i in report.reappliable] == [undone, failed], "earliest commit first"
    assert {cid for cid, i in items.items() if i.reappliable} == {undone, failed}
    assert (items[undone].undo.status, items[undone].undo.detail) == ("done", "undone")
    assert (items[running].undo.status, items[running].undo.available) == ("pending", False)
    assert items[running].undo.detail == "re-apply in progress; undo possible once it lands"
    assert items[running].undo.deadline is None, "the undone effect's deadline is not the re-apply's"
    assert items[failed].undo.detail == "undone; re-apply failed: ConnectionError: down; it can be retried"
    assert not items[cannot].reappliable and not items[not_undone].reappliable
    assert [i.call_id for i in report.undoable] == [not_undone]

    as_json = {i["call_id"]: i for i in report.to_json()["done"]}
    assert (as_json[undone]["reappliable"], as_json[undone]["reapplies"]) == (True, 0)
    assert as_json[cannot]["reappliable"] is False
    assert set(report.to_json()) == {"session", "done", "interrupted", "in_flight", "undoable"}, (
        "the four lists stay the JSON's shape; re-appliable is a flag of each item"
    )
