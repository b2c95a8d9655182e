"""The vocabulary is typed where it is read, and stored as the same text as ever.

A call's state, reversibility and stop policy, a session's status and an event's
kind come back from the journal as enum members; the file holds their plain
values (no schema change), and JSON output shows the same strings as before.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal
from agentstop.grant import FenceRefusal
from agentstop.journal import CallState, EventKind, Reversibility, SessionStatus, StopPolicy, parse_kind
from agentstop.report import (
    BUCKET_OF,
    BUCKETS,
    IN_EFFECT,
    IN_FLIGHT,
    LANDED,
    REAPPLIABLE,
    TAKEN_BACK,
    UNSETTLED,
    Bucket,
    Report,
)

pytestmark = pytest.mark.anyio


def test_event_kinds_and_call_states_never_share_a_value() -> None:
    # An event's kind is read back as one or the other: a shared value would be ambiguous.
    assert not {s.value for s in CallState} & {k.value for k in EventKind}


def test_a_kind_is_parsed_to_its_member_and_an_unknown_one_stays_text() -> None:
    assert parse_kind("committed") is CallState.COMMITTED
    assert parse_kind("revoked") is EventKind.REVOKED
    note = parse_kind("my_tool_note")  # a tool's own note kind
    assert note == "my_tool_note" and type(note) is str


def test_the_state_groups_agree_with_the_buckets() -> None:
    assert set(BUCKET_OF) == set(CallState)
    assert BUCKETS[Bucket.DONE] == LANDED and BUCKETS[Bucket.IN_FLIGHT] == IN_FLIGHT
    assert IN_EFFECT | TAKEN_BACK | {CallState.REAPPLYING} == LANDED
    assert not IN_EFFECT & TAKEN_BACK
    assert REAPPLIABLE <= TAKEN_BACK and IN_FLIGHT | {CallState.REAPPLYING} == UNSETTLED


def test_members_dump_to_json_as_their_plain_values() -> None:
    values = [CallState.COMMITTED, EventKind.REVOKED, SessionStatus.STOPPED, Bucket.IN_FLIGHT, FenceRefusal.SCOPE]
    assert json.dumps(values) == '["committed", "revoked", "stopped", "in_flight", "scope"]'
    assert json.dumps({Bucket.DONE: 1}) == '{"done": 1}'


async def test_rows_read_back_as_members_and_are_stored_as_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal.open(path) as journal:
        await journal.create_session("s1", task_name="t")
        grant_id = await journal.issue_grant("s1", GrantSpec(tools=["other"]))
        call_id = await journal.plan_call(
            "s1",
            tool="book",
            summary="book it",
            resource="book",
            args={},
            reversibility=Reversibility.REVERSIBLE.value,
            on_stop=StopPolicy.TRY_CANCEL.value,
            can_compensate=True,
            can_lookup=False,
            undo_hint="",
            idempotency_key="k",
            grant_id=grant_id,
        )
        verdict = await journal.fence("s1", call_id, grant_id, "book", "book", prepared=None)
        await journal.append("s1", "my_tool_note", {"call_id": call_id})
        call = await journal.call("s1", call_id)
        session = await journal.session("s1")
        events = await journal.events("s1")
        report = await Report.from_journal(journal, "s1")

    assert verdict is not None and verdict[0] is FenceRefusal.SCOPE
    assert call.state is CallState.REJECTED
    assert call.reversibility is Reversibility.REVERSIBLE and call.on_stop is StopPolicy.TRY_CANCEL
    assert session.status is SessionStatus.RUNNING
    kinds = [e.kind for e in events]
    assert kinds[:2] == [EventKind.SESSION_STARTED, EventKind.GRANT_ISSUED]
    assert kinds[2:5] == [CallState.PLANNED, CallState.PREPARED, CallState.REJECTED]
    assert all(type(k) is not str for k in kinds[:5]) and type(kinds[5]) is str
    assert report.interrupted[0].state is CallState.REJECTED and report.interrupted[0].bucket is Bucket.INTERRUPTED
    shown = json.loads(json.dumps(report.to_json()))
    assert shown["interrupted"][0]["state"] == "rejected" and shown["session"]["status"] == "running"

    with sqlite3.connect(path) as db:
        stored = db.execute("SELECT state, reversibility, on_stop FROM calls").fetchone()
        status = db.execute("SELECT status FROM sessions").fetchone()
        fence = db.execute("SELECT data FROM events WHERE kind = 'rejected'").fetchone()
    db.close()
    assert stored == ("rejected", "reversible", "try_cancel") and status == ("running",)
    assert json.loads(fence[0])["fence"] == "scope"
