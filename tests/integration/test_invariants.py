"""The six invariants of DESIGN.md, one named test each (the fence race and the
crash drill have their own, heavier property tests beside this file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import (
    CallState,
    GrantRevoked,
    GrantSpec,
    Journal,
    Report,
    Supervisor,
    ToolContext,
    revoke,
)
from tests.support.tools import WriteNote

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


class WitnessNote(WriteNote):
    """Before committing, looks at the journal from a second connection of its own."""

    def __init__(self, root: Path, journal_target: str) -> None:
        super().__init__(root)
        self.journal_target = journal_target
        self.seen: list[str | None] = []

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        async with Journal.open(self.journal_target, readonly=True) as other:
            kinds = [e.kind for e in await other.events(ctx.session_id) if e.call_id == ctx.call_id]
        self.seen.append(kinds[-1] if kinds else None)
        return await super().commit(prepared, ctx)


async def test_no_commit_runs_without_a_committed_committing_event(
    journal: Journal, journal_target: str, world: Path
) -> None:
    tool = WitnessNote(world, journal_target)
    sup = Supervisor(journal, [tool], GrantSpec())
    for i in range(5):
        await sup.call("write_note", {"name": f"n{i}"})
    # Another connection (another process would see the same) already saw "committing"
    # when each commit started: it was committed to the journal before the effect.
    assert tool.seen == ["committing"] * 5


async def test_no_call_enters_committing_after_revoke_returns(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "before"})
    await journal.revoke(sup.session_id, by="test")
    with pytest.raises(GrantRevoked) as caught:
        await sup.call("write_note", {"name": "after"})
    assert "revoked by test" in caught.value.reason
    kinds = [(e.call_id, e.kind) for e in await journal.events(sup.session_id)]
    revoked_at = kinds.index((None, "revoked"))
    assert ("c2", "committing") not in kinds
    assert kinds.index(("c2", "rejected")) > revoked_at
    assert notes.landed() == {"before"}


async def test_report_partitions_calls_and_agrees_with_the_world(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec(scopes=["notes:ok*"]))
    await sup.call("write_note", {"name": "ok1"})
    for bad in ({"name": "nope"}, {"name": "ok2", "fail_in": "refuse"}, {"name": 3.5j}):
        with pytest.raises(Exception):  # noqa: B017, PT011 - each is a different rejection
            await sup.call("write_note", bad)
    await sup.call("write_note", {"name": "ok3"})
    report = await sup.stop()
    ids = [i.call_id for i in report.done + report.interrupted + report.in_flight]
    assert sorted(ids) == sorted({i.call_id for i in report.all_calls}) and len(ids) == len(set(ids)) == 5
    assert {i.summary for i in report.done} == {"note 'ok1'", "note 'ok3'"}
    assert notes.landed() == {"ok1", "ok3"}  # Done is what exists; Interrupted is what does not


async def test_retried_commit_with_the_same_key_never_duplicates(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    first = await sup.call("write_note", {"name": "once"}, key="k-1")
    again = await sup.call("write_note", {"name": "once"}, key="k-1")
    assert again == first
    assert len(list(notes.root.glob("*.json"))) == 1
    # A commit whose reply was lost is settled by lookup, not by a second commit.
    receipt = await sup.call("write_note", {"name": "lost", "fail_in": "commit_after_effect"}, key="k-2")
    assert receipt["name"] == "lost"
    call = (await journal.calls(sup.session_id))[-1]
    assert call.state == CallState.COMMITTED
    assert [e.kind for e in await journal.events(sup.session_id) if e.call_id == call.call_id][-2:] == [
        "unknown",
        "committed",
    ]
    assert sorted(notes.landed()) == ["lost", "once"]


async def test_journal_reopens_into_a_consistent_report(tmp_path: Path, world: Path) -> None:
    # The crash drill kills real processes; here the invariant at its simplest:
    # a session abandoned mid-flight by its process reopens into a full partition.
    path = tmp_path / "j.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.call("write_note", {"name": "a"})
        session_id = sup.session_id
    async with Journal.open(path, readonly=True) as journal:
        report = await Report.from_journal(journal, session_id)
        assert [i.state for i in report.done] == ["committed"]
        assert report.session.status == "running"


async def test_compensations_run_in_reverse_commit_order_and_are_journaled(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    for name in ("first", "second", "third"):
        await sup.call("write_note", {"name": name})
    results = await sup.undo_all()
    assert [r.call_id for r in results] == ["c3", "c2", "c1"]
    assert notes.landed() == set()
    undo_events = [
        (e.call_id, e.kind) for e in await journal.events(sup.session_id) if e.kind in ("compensating", "compensated")
    ]
    assert undo_events == [
        ("c3", "compensating"),
        ("c3", "compensated"),
        ("c2", "compensating"),
        ("c2", "compensated"),
        ("c1", "compensating"),
        ("c1", "compensated"),
    ]


async def test_revoke_from_another_process_stops_a_running_supervisor(
    journal: Journal, journal_target: str, notes: WriteNote
) -> None:
    async with Supervisor(journal, [notes], GrantSpec()) as sup:
        await sup.call("write_note", {"name": "a"})
        await anyio.to_thread.run_sync(lambda: revoke(journal_target, sup.session_id, by="terminal 2"))
        with anyio.fail_after(2):
            while not sup.stopping:
                await anyio.sleep(0.01)
    report = await sup.report()
    assert report.session.status == "stopped"
    assert report.session.stopped_by == "terminal 2"
