"""Re-apply (undo an undo): the effect done again, journaled, retried, and undoable again, on both backends."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from agentstop import CallState, GrantSpec, Journal, Supervisor, ToolRegistry, Undone, recover
from agentstop.errors import UnknownCall
from agentstop.supervisor import run_reapply, run_undo
from tests.support.reapply_tools import ReapplyNote
from tests.support.tools import Wire, WriteNote

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


@pytest.fixture
def again(world: Path) -> ReapplyNote:
    return ReapplyNote(world)


def states(events: list[Any], call_id: str) -> list[str]:
    names = {s.value for s in CallState}
    return [e.kind for e in events if e.call_id == call_id and e.kind in names]


async def test_undo_then_reapply_then_undo_changes_the_world_each_time(journal: Journal, again: ReapplyNote) -> None:
    sup = Supervisor(journal, [again], GrantSpec())
    first = await sup.call("reapply_note", {"name": "minutes"})
    assert again.landed() == {"minutes"}

    [undone] = await sup.undo(["c1"], by="ada")
    assert undone.status == "compensated" and again.landed() == set()
    report = await sup.report()
    assert [i.call_id for i in report.reappliable] == ["c1"] and report.undoable == ()

    [redone] = await sup.reapply(["c1"], by="ada")
    assert (redone.status, redone.attempts) == ("reapplied", 1)
    assert redone.receipt == {"path": first["path"], "name": "minutes", "again": True}
    assert again.landed() == {"minutes"}, "the note is back"
    call = await journal.call(sup.session_id, "c1")
    assert (call.state, call.receipt, call.reapplies) == ("committed", redone.receipt, 1)
    report = await sup.report()
    assert [i.call_id for i in report.undoable] == ["c1"] and report.reappliable == ()

    [undone_again] = await sup.undo(["c1"], by="ada")
    assert undone_again.status == "compensated" and again.landed() == set()
    [redone_again] = await sup.reapply(["c1"], by="bob")
    assert redone_again.status == "reapplied" and again.landed() == {"minutes"}

    key = call.idempotency_key
    assert again.keys == [f"{key}:reapply1", f"{key}:reapply2"], "each re-apply has a key of its own"
    events = await journal.events(sup.session_id)
    assert states(events, "c1") == [
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
        "committed",
    ]
    reapplying = [e.data for e in events if e.kind == "reapplying"]
    assert [(d["by"], d["round"], d["key"]) for d in reapplying] == [
        ("ada", 1, f"{key}:reapply1"),
        ("bob", 2, f"{key}:reapply2"),
    ]
    landed = [e.data for e in events if e.kind == "committed" and e.data.get("reapplied")]
    assert [(d["by"], d["attempts"]) for d in landed] == [("ada", 1), ("bob", 1)]


async def test_a_failing_reapply_ends_reapply_failed_and_a_retry_lands_it(journal: Journal, again: ReapplyNote) -> None:
    sup = Supervisor(journal, [again], GrantSpec())
    await sup.call("reapply_note", {"name": "flaky"})
    await sup.undo(["c1"])
    again.reapply_failures["c1"] = 10

    [failed] = await run_reapply(journal, sup.registry, sup.session_id, ["c1"], by="ada", backoff=0.01)

    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.detail == "ConnectionError: notes service unavailable (after 3 attempts)"
    assert again.landed() == set(), "a failed re-apply leaves the effect undone"
    report = await sup.report()
    [item] = report.done
    assert (item.state, item.reappliable, item.undo.available) == ("reapply_failed", True, False)
    assert "re-apply failed: ConnectionError: notes service unavailable" in item.undo.detail
    assert (await journal.call(sup.session_id, "c1")).reapply_error == "ConnectionError: notes service unavailable"

    again.reapply_failures["c1"] = 2  # the service comes back during the retry
    [retried] = await run_reapply(journal, sup.registry, sup.session_id, ["c1"], backoff=0.01)

    assert (retried.status, retried.attempts) == ("reapplied", 3)
    assert again.landed() == {"flaky"}
    key = (await journal.call(sup.session_id, "c1")).idempotency_key
    assert set(again.keys) == {f"{key}:reapply1"}, "every attempt and the retry share the key of this re-apply"
    call = await journal.call(sup.session_id, "c1")
    assert (call.state, call.reapplies, call.reapply_error) == ("committed", 1, None)
    assert states(await journal.events(sup.session_id), "c1")[-5:] == [
        "compensated",
        "reapplying",
        "reapply_failed",
        "reapplying",
        "committed",
    ]


async def test_what_cannot_be_reapplied_is_skipped_with_the_reason(
    journal: Journal, world: Path, again: ReapplyNote
) -> None:
    notes = WriteNote(world / "plain")
    (world / "plain").mkdir()
    sup = Supervisor(journal, [again, notes, Wire(world)], GrantSpec())
    await sup.call("reapply_note", {"name": "kept"})  # c1: in effect, not undone
    await sup.call("write_note", {"name": "plain"})  # c2: undone, but its tool cannot re-apply
    await sup.call("wire", {"amount": 5})  # c3: irreversible
    await sup.undo(["c2"])

    results = await sup.reapply(["c1", "c2", "c3"])

    assert [(r.call_id, r.status) for r in results] == [("c1", "skipped"), ("c2", "skipped"), ("c3", "skipped")]
    assert results[0].detail == "not re-appliable: it is in effect (not undone); there is nothing to re-apply"
    assert results[1].detail == (
        "not re-appliable: its tool (write_note) cannot carry the effect out again "
        "(it defined no reapply when the call was made)"
    )
    assert results[2].detail == "not re-appliable: irreversible: it has no undo, so nothing was undone"
    assert await sup.reapply_all() == [], "nothing is re-appliable"
    with pytest.raises(UnknownCall, match="no call 'c9'"):
        await sup.reapply(["c9"])
    assert {c.call_id: c.state for c in await journal.calls(sup.session_id)} == {
        "c1": "committed",
        "c2": "compensated",
        "c3": "committed",
    }, "nothing was journaled for them"


async def test_reapply_needs_no_grant_and_runs_in_commit_order_after_stop(journal: Journal, again: ReapplyNote) -> None:
    sup = Supervisor(journal, [again], GrantSpec(ttl=3600))
    for name in ("branch", "tag", "notes"):
        await sup.call("reapply_note", {"name": name})
    await sup.stop("wrong goal")
    [grant] = await journal.grants(sup.session_id)
    assert grant.revoked_at is not None
    await sup.undo_all()

    results = await sup.reapply_all(by="ada")

    assert [r.call_id for r in results] == ["c1", "c2", "c3"], "earliest commit first: the reverse of the undo"
    assert {r.status for r in results} == {"reapplied"}
    assert again.landed() == {"branch", "tag", "notes"}
    assert (await journal.grants(sup.session_id))[0].calls_used == 3, "re-apply does not pass the fence"
    assert [r.call_id for r in await sup.undo_all()] == ["c3", "c2", "c1"]


def crash_in_reapply(journal: str, world: Path, boundary: str) -> tuple[str, dict[str, Any]]:
    """A session in a child process that books a note, undoes it, and is SIGKILLed during the re-apply."""
    plan = {
        "tool": "tests.support.reapply_tools:ReapplyNote",
        "init": [str(world)],
        "call": ["reapply_note", {"name": "cut"}],
        "boundary": boundary,
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.drills.reapply_child", journal, json.dumps(plan)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert done.returncode == -9 and lines.get("at") == boundary, done.stdout + done.stderr
    return lines["session"], json.loads(lines["receipt"])


@pytest.mark.parametrize("boundary", ["after_reapplying", "after_reapply_effect"])
async def test_a_reapply_cut_off_by_a_crash_is_recovered_as_failed_and_a_retry_does_it_once(
    journal_target: str, world: Path, boundary: str
) -> None:
    session_id, receipt = crash_in_reapply(journal_target, world, boundary)
    landed = boundary == "after_reapply_effect"
    note = ReapplyNote(world)
    assert note.landed() == ({"cut"} if landed else set()), "the kill came where it was meant to"

    async with Journal.open(journal_target) as journal:
        assert (await journal.call(session_id, "c1")).state == "reapplying", "durable before the tool ran"
        recovered = await recover(journal, ToolRegistry([note]), session_id)

        assert recovered.marked_crashed and recovered.reconciled == {"c1": "reapply_failed"}
        [item] = recovered.report.done
        assert (item.state, item.reappliable) == ("reapply_failed", True)
        assert "the process died during the re-apply: it may have landed or not (outcome unknown)" in (item.undo.detail)
        assert (await recover(journal, ToolRegistry([note]), session_id)).reconciled == {}, "idempotent"

        [retried] = await run_reapply(journal, ToolRegistry([note]), session_id, ["c1"], by="ada")

        assert retried.status == "reapplied"
        assert note.landed() == {"cut"}
        written = json.loads(Path(receipt["path"]).read_text())
        key = (await journal.call(session_id, "c1")).idempotency_key
        assert written["again"] == f"{key}:reapply1", "the retry had the cut-off re-apply's key"
        assert (await journal.call(session_id, "c1")).reapplies == 1
        [undone] = await run_undo(journal, ToolRegistry([note]), session_id, ["c1"])
        assert undone.status == "compensated" and note.landed() == set()


async def test_a_retried_call_that_was_undone_and_reapplied_is_not_issued_again(
    journal: Journal, again: ReapplyNote
) -> None:
    sup = Supervisor(journal, [again], GrantSpec())
    await sup.call("reapply_note", {"name": "once"}, key="once")
    await sup.undo(["c1"])
    again.reapply_failures["c1"] = 10
    await run_reapply(journal, sup.registry, sup.session_id, ["c1"], backoff=0.0)
    assert (await journal.call(sup.session_id, "c1")).state == "reapply_failed"

    with pytest.raises(Undone) as undone:
        await sup.call("reapply_note", {"name": "once"}, key="once")

    assert undone.value.receipt["name"] == "once"
    assert (undone.value.call_id, undone.value.by, undone.value.state) == ("c1", "user", "reapply_failed")
    assert [c.call_id for c in await journal.calls(sup.session_id)] == ["c1"], "answered from the journal"
    assert again.landed() == set(), "what the person undid is not done behind their back"


def make_version_2(target: str) -> None:
    """Make the journal look written by schema version 2 (before re-apply): no re-apply columns."""
    drop = [f"ALTER TABLE calls DROP COLUMN {c}" for c in ("can_reapply", "reapplies", "reapply_error")]
    # and those of version 4 (a worker and a lease for undos and re-applies, stop requests)
    drop += [
        f"ALTER TABLE calls DROP COLUMN {c}" for c in ("worker_pid", "worker_host", "worker_started_at", "lease_until")
    ]
    drop.append("ALTER TABLE sessions DROP COLUMN stop_requested_at")
    drop.append("DROP TABLE call_numbers")  # and that of version 5 (the call counters)
    drop.append("DROP TABLE timeline_checkpoints")  # and that of version 6 (replay's cached checkpoints)
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            for statement in drop:
                conn.execute(statement)
            conn.execute("UPDATE agentstop_schema SET version = 2")
        return
    with closing(sqlite3.connect(target)) as conn:
        for statement in drop:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
        conn.commit()


async def test_a_version_2_journal_is_migrated_and_its_undone_calls_are_not_reappliable(
    journal_target: str, world: Path
) -> None:
    async with Journal.open(journal_target) as journal:
        sup = Supervisor(journal, [ReapplyNote(world)], GrantSpec())
        await sup.call("reapply_note", {"name": "old"})
        await sup.undo(["c1"])
        session_id = sup.session_id
    make_version_2(journal_target)

    async with Journal.open(journal_target) as journal:
        call = await journal.call(session_id, "c1")
        assert (call.state, call.can_reapply, call.reapplies, call.reapply_error) == ("compensated", False, 0, None)
        [skipped] = await run_reapply(journal, ToolRegistry([ReapplyNote(world)]), session_id, ["c1"])
        assert skipped.status == "skipped", "the journal did not record that its tool could re-apply it"
        sup = Supervisor(journal, [ReapplyNote(world)], GrantSpec())
        await sup.call("reapply_note", {"name": "new"})
        await sup.undo(["c1"])
        [redone] = await sup.reapply(["c1"])
        assert redone.status == "reapplied", "a call made after the upgrade records it and can be"
