"""Undo: compensation in reverse commit order, retried with backoff, failures kept visible."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Supervisor, UnknownTool
from agentstop.errors import UnknownCall
from tests.support.tools import Wire, WriteNote

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


async def test_a_compensation_that_fails_twice_then_succeeds_is_retried(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "flaky"})
    notes.compensate_failures["c1"] = 2
    [result] = await sup.undo(["c1"])
    assert (result.status, result.attempts) == ("compensated", 3)
    assert notes.landed() == set()


async def test_a_failed_compensation_stays_visible_and_can_be_retried(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "stubborn"})
    notes.compensate_failures["c1"] = 10
    [result] = await sup.undo(["c1"])
    assert result.status == "failed" and "notes service unavailable" in result.detail
    report = await sup.report()
    [item] = report.done
    assert item.state == "compensation_failed"
    assert item.undo.available and item.undo.status == "failed"
    assert [i.call_id for i in report.undoable] == ["c1"]
    notes.compensate_failures["c1"] = 0
    [retry] = await sup.undo(["c1"])
    assert retry.status == "compensated"
    assert notes.landed() == set()


async def test_a_tool_without_compensation_is_reported_not_undoable(journal: Journal, world: Path) -> None:
    sup = Supervisor(journal, [Wire(world)], GrantSpec())
    await sup.call("wire", {"amount": 100})
    report = await sup.report()
    [item] = report.done
    assert report.undoable == ()
    assert item.undo.to_json()["status"] == "not_undoable"
    assert item.undo.detail == "irreversible: call the bank to recall the wire"
    [result] = await sup.undo(["c1"])
    assert result.status == "skipped" and "call the bank" in result.detail


async def test_undo_after_stop_works_and_skips_what_never_landed(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec(scopes=["notes:a"]))
    await sup.call("write_note", {"name": "a"})
    with pytest.raises(Exception):  # noqa: B017, PT011
        await sup.call("write_note", {"name": "b"})
    await sup.stop()
    results = await sup.undo(["c1", "c2"])
    assert [(r.call_id, r.status) for r in results] == [("c1", "compensated"), ("c2", "skipped")]
    assert "never reached the world" in results[1].detail


async def test_undo_of_an_unknown_call_id_says_so(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "a"})
    with pytest.raises(UnknownCall, match="no call 'c9'"):
        await sup.undo(["c9"])


async def test_undo_twice_does_nothing_the_second_time(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "a"})
    await sup.undo_all()
    assert await sup.undo_all() == []
    [again] = await sup.undo(["c1"])
    assert (again.status, again.detail) == ("skipped", "undone")


async def test_undo_deadline_in_the_receipt_closes_the_undo(journal: Journal, world: Path) -> None:
    class Expiring(WriteNote):
        async def commit(self, prepared, ctx):  # type: ignore[no-untyped-def]
            receipt = await super().commit(prepared, ctx)
            return {**receipt, "undo_deadline": 0.0}

    sup = Supervisor(journal, [Expiring(world)], GrantSpec())
    await sup.call("write_note", {"name": "late"})
    report = await sup.report()
    assert report.undoable == () and report.done[0].undo.status == "expired"


def test_unknown_tool_lists_the_known_ones() -> None:
    from agentstop import ToolRegistry

    registry = ToolRegistry([Wire(Path("."))])
    with pytest.raises(UnknownTool, match=r"no tool named 'send' \(registered: wire\)"):
        registry.get("send")
