"""The report built straight from journal rows is the report of the straightforward build.

`Report.from_journal` reads only the columns a report shows and builds its items
from the rows in one loop, leaving the calls' arguments and prepared effects as
JSON text until asked for. These properties hold it to the report as it was
first written (one `CallRecord` at a time, kept below as the reference) over
random rows: every call in the same bucket with the same fields, Undo all and
Re-apply in the same order.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstop import CallState, GrantSpec, Journal, Report, ReportItem, Supervisor, UndoInfo
from agentstop.journal import SessionStatus
from agentstop.journal.records import CallRecord, GrantRecord, SessionRecord, record
from agentstop.report import BUCKETS, UndoStatus

S = CallState

# -- the reference: the report as first written, one record at a time ----------------------------

_BUCKET_OF = {state.value: name for name, states in BUCKETS.items() for state in states}
_REAPPLIABLE = frozenset({S.COMPENSATED, S.REAPPLY_FAILED})


def _undo(available: bool, status: str, deadline: float | None, until: float | None, detail: str) -> UndoInfo:
    return UndoInfo(available, UndoStatus(status), deadline, until, detail)


def _deadline(receipt: Any, key: str) -> float | None:
    if isinstance(receipt, dict):
        value = receipt.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


def _undo_info(call: CallRecord, state: CallState, bucket: str, now: float) -> UndoInfo:
    if call.reversibility == "read_only":
        return _undo(False, "not_undoable", None, None, "read-only: nothing to undo")
    if not call.can_compensate or call.reversibility == "irreversible":
        return _undo(
            False,
            "not_undoable",
            None,
            None,
            f"{call.reversibility}: {call.undo_hint or 'the tool defines no compensation'}",
        )
    if bucket == "interrupted":
        return _undo(False, "not_undoable", None, None, "never reached the world: nothing to undo")
    no_undo = call.receipt.get("no_undo") if isinstance(call.receipt, dict) else None
    if isinstance(no_undo, str) and no_undo:
        return _undo(False, "not_undoable", None, None, f"not undoable: {no_undo}")
    deadline = _deadline(call.receipt, "undo_deadline")
    exact_until = _deadline(call.receipt, "reversible_until")
    if state is S.COMPENSATED:
        return _undo(False, "done", deadline, exact_until, "undone")
    if state is S.REAPPLYING:
        return _undo(False, "pending", None, None, "re-apply in progress; undo possible once it lands")
    if state is S.REAPPLY_FAILED:
        return _undo(False, "done", None, None, f"undone; re-apply failed: {call.reapply_error}; it can be retried")
    if state is S.COMPENSATING:
        return _undo(False, "running", deadline, exact_until, f"undo in progress (attempt {call.undo_attempts})")
    if bucket == "in_flight":
        return _undo(False, "pending", deadline, exact_until, "undo possible once it lands")
    if deadline is not None and now >= deadline:
        return _undo(False, "expired", deadline, exact_until, "the undo window has closed")
    if state is S.COMPENSATION_FAILED:
        return _undo(True, "failed", deadline, exact_until, f"undo failed: {call.undo_error}; retry possible")
    kind = "exact undo" if exact_until is None or now < exact_until else "compensation (leaves a trace)"
    if call.reversibility == "compensable" and exact_until is None:
        kind = "compensation (leaves a trace)"
    return _undo(True, "available", deadline, exact_until, kind)


def _reason(call: CallRecord, state: CallState, session: SessionRecord) -> str | None:
    if call.reason:
        return call.reason
    if state in (S.PLANNED, S.PREPARED) and session.status != "running":
        return f"never reached the fence (session {session.status})"
    if state is S.UNKNOWN:
        return "outcome unknown; being checked"
    return None


def reference(session: SessionRecord, calls: list[CallRecord], grants: list[GrantRecord], now: float) -> Report:
    epochs = {g.grant_id: n for n, g in enumerate(sorted(grants, key=lambda g: g.grant_id), 1)}
    items = []
    for c in calls:
        state, bucket = CallState(c.state), _BUCKET_OF[c.state]
        items.append(
            ReportItem(
                call_id=c.call_id,
                n=c.n,
                tool=c.tool,
                summary=c.summary,
                resource=c.resource,
                args=c.args,
                reversibility=c.reversibility,
                state=c.state,
                bucket=bucket,
                reason=_reason(c, state, session),
                prepared=c.prepared,
                receipt=c.receipt,
                undo=_undo_info(c, state, bucket, now),
                planned_at=c.planned_at,
                fence_at=c.fence_at,
                committed_at=c.committed_at,
                ended_at=c.ended_at,
                updated_at=c.updated_at,
                epoch=epochs.get(c.grant_id or 0, 1),
                reappliable=c.can_reapply and state in _REAPPLIABLE,
                reapplies=c.reapplies,
            )
        )
    by_commit = sorted((c for c in calls if c.commit_seq is not None), key=lambda c: c.commit_seq or 0, reverse=True)
    lookup = {i.call_id: i for i in items}
    return Report(
        session=session,
        grants=tuple(grants),
        done=tuple(i for i in items if i.bucket == "done"),
        interrupted=tuple(i for i in items if i.bucket == "interrupted"),
        in_flight=tuple(i for i in items if i.bucket == "in_flight"),
        undoable=tuple(lookup[c.call_id] for c in by_commit if lookup[c.call_id].undo.available),
        generated_at=now,
        reappliable=tuple(lookup[c.call_id] for c in reversed(by_commit) if lookup[c.call_id].reappliable),
    )


# -- random rows ----------------------------------------------------------------------------------

NOW = 1_700_000_000.0

_json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4,
)
_moment = st.one_of(st.none(), st.floats(NOW - 100, NOW + 100), st.integers(int(NOW) - 100, int(NOW) + 100))
_receipt = st.one_of(
    st.none(),
    _json_value,
    st.fixed_dictionaries(
        {},
        optional={
            "undo_deadline": _moment,
            "reversible_until": _moment,
            "no_undo": st.one_of(st.none(), st.just(""), st.text(max_size=5)),
            "id": st.integers(0, 9),
        },
    ),
)


@st.composite
def calls(draw: Any) -> list[CallRecord]:
    out = []
    seqs = draw(st.lists(st.integers(1, 10_000), unique=True, min_size=30, max_size=30))
    for n in range(1, draw(st.integers(0, 25)) + 1):
        committed = draw(st.booleans())
        out.append(
            record(
                CallRecord,
                {
                    "session_id": "s",
                    "call_id": f"c{n}",
                    "n": n,
                    "tool": draw(st.sampled_from(["mail", "cal"])),
                    "summary": f"call {n}",
                    "resource": "r",
                    "args": draw(_json_value),
                    "reversibility": draw(st.sampled_from(["read_only", "reversible", "compensable", "irreversible"])),
                    "on_stop": "wait",
                    "can_compensate": draw(st.booleans()),
                    "can_lookup": False,
                    "undo_hint": draw(st.sampled_from(["", "call the bank"])),
                    "idempotency_key": f"k{n}",
                    "grant_id": draw(st.sampled_from([None, 1, 2, 3, 7])),
                    "state": draw(st.sampled_from([s.value for s in CallState])),
                    "reason": draw(st.sampled_from([None, "", "refused"])),
                    "prepared": draw(_json_value),
                    "receipt": draw(_receipt),
                    "planned_at": NOW - 50,
                    "fence_at": draw(st.sampled_from([None, NOW - 40])),
                    "committed_at": NOW - 30 if committed else None,
                    "commit_seq": seqs[n] if committed else None,
                    "ended_at": None,
                    "updated_at": NOW - 20,
                    "undo_attempts": draw(st.integers(0, 3)),
                    "undo_error": draw(st.sampled_from([None, "boom"])),
                    "undo_by": None,
                    "can_reapply": draw(st.booleans()),
                    "reapplies": draw(st.integers(0, 2)),
                    "reapply_error": draw(st.sampled_from([None, "nope"])),
                    "worker": None,
                    "lease_until": None,
                },
            )
        )
    return out


def _session(status: str) -> SessionRecord:
    return SessionRecord(
        session_id="s",
        task_name="t",
        goal="g",
        task_path=None,
        tools=[],
        started_at=NOW - 60,
        ended_at=None,
        status=SessionStatus(status),
        stopped_by=None,
        stop_reason=None,
        pid=1,
        host="h",
        heartbeat_at=None,
        meta={},
    )


def _grants(ids: list[int]) -> list[GrantRecord]:
    return [
        GrantRecord(
            grant_id=i,
            session_id="s",
            tools=[],
            scopes=[],
            issued_at=NOW - 60,
            expires_at=None,
            max_calls=None,
            calls_used=0,
            revoked_at=None,
            revoked_by=None,
            revoke_reason=None,
        )
        for i in ids
    ]


def _as_stored(c: CallRecord) -> tuple[Any, ...]:
    """The row `Journal.report_rows` reads for the call: JSON columns as text, booleans as integers."""

    def text(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    return (
        c.call_id,
        c.n,
        c.tool,
        c.summary,
        c.resource,
        text(c.args),
        c.reversibility,
        c.state,
        c.reason,
        text(c.prepared),
        None if c.receipt is None else text(c.receipt),
        c.planned_at,
        c.fence_at,
        c.committed_at,
        c.ended_at,
        c.updated_at,
        c.grant_id,
        int(c.can_compensate),
        c.undo_hint,
        c.undo_attempts,
        c.undo_error,
        c.reapply_error,
        int(c.can_reapply),
        c.reapplies,
        c.commit_seq,
    )


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(
    calls(),
    st.sampled_from(["running", "completed", "stopped", "crashed"]),
    st.sampled_from([[], [1], [1, 2], [3, 7, 2]]),
)
def test_build_equals_the_reference_over_random_rows(rows: list[CallRecord], status: str, grants: list[int]) -> None:
    session, granted = _session(status), _grants(grants)
    assert Report.build(session, rows, granted, NOW) == reference(session, rows, granted, NOW)


@_SETTINGS
@given(calls(), st.sampled_from(["running", "stopped"]), st.sampled_from([[1], [1, 2]]))
def test_the_report_from_stored_rows_equals_the_reference(
    rows: list[CallRecord], status: str, grants: list[int]
) -> None:
    session, granted = _session(status), _grants(grants)
    fast = Report._build(session, [_as_stored(c) for c in rows], granted, NOW, raw_json=True)
    assert fast == reference(session, rows, granted, NOW)
    assert [i.to_json() for i in fast.all_calls] == [
        i.to_json() for i in reference(session, rows, granted, NOW).all_calls
    ]


def test_from_journal_equals_build_over_the_journals_calls(tmp_path: Any) -> None:
    """On a real journal, with calls in several states: the read that skips `CallRecord` tells the same."""

    async def main() -> None:
        async with Journal.open(tmp_path / "j.db") as journal:
            sup = Supervisor(journal, [], GrantSpec())
            await sup.start()
            sid = sup.session_id
            grant = (await journal.grants(sid))[0].grant_id
            for i in range(40):
                call_id = await journal.plan_call(
                    sid,
                    tool="mail",
                    summary=f"mail {i}",
                    resource="r",
                    args={"n": i},
                    reversibility="reversible",
                    on_stop="wait",
                    can_compensate=i % 3 > 0,
                    can_lookup=False,
                    undo_hint="",
                    idempotency_key=f"k{i}",
                    grant_id=grant,
                )
                if i % 5 == 0:
                    continue  # planned
                await journal.transition(sid, call_id, S.PREPARED, durable=False, prepared={"to": [i]})
                if i % 5 == 1:
                    await journal.transition(sid, call_id, S.DISCARDED, durable=False, reason="stopped")
                    continue
                assert await journal.fence(sid, call_id, grant, "mail", "r") is None
                if i % 5 == 2:
                    continue  # committing
                await journal.transition(
                    sid, call_id, S.COMMITTED, durable=False, receipt={"id": i, "undo_deadline": NOW + 60 * (i % 2)}
                )
            built = Report.build(await journal.session(sid), await journal.calls(sid), await journal.grants(sid), NOW)
            read = await Report.from_journal(journal, sid, NOW)
            assert read == built
            assert read.to_json() == built.to_json()
            assert len(read.done) + len(read.interrupted) + len(read.in_flight) == 40
            await sup.close()

    anyio.run(main)
