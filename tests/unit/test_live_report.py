"""A live report, kept up to date from journal events, is the report a full build makes.

`LiveReport` reads a session once and then takes its journal events batch by
batch, re-reading only what they touched. The property drives random sessions
through a real journal (its own write API, so every state and move is one the
journal allows): calls planned, prepared, fenced, committed, failed, rejected,
discarded, cut off and settled, undone, undo failed, re-applied; revokes,
sessions ending, crashing (and their calls settled as recovery does) and
resuming in new epochs; the clock moving past undo windows. After every step
the journal's new events go to the live report in batches of random sizes, and
its report must equal `Report.build` over the same journal at the same moment:
every list, in order, item by item, field by field, and its summary line.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstop import GrantSpec, Journal, Report
from agentstop.journal import CallState, EventKind, SessionStatus
from agentstop.live_report import LiveReport
from agentstop.ordered_items import OrderedItems
from agentstop.report import Bucket, UndoStatus

S = CallState
T0 = 1_700_000_000.0
LISTS = ("done", "interrupted", "in_flight", "undoable", "reappliable")


class Op(enum.Enum):
    """One thing a step does to the session (skipped when no call is in a state it applies to)."""

    PLAN = "plan"
    PREPARE = "prepare"
    FENCE = "fence"
    FENCE_PREPARED = "fence_prepared"
    COMMIT = "commit"
    FAIL = "fail"
    REJECT = "reject"
    DISCARD = "discard"
    CUT_OFF = "cut_off"
    UNDO = "undo"
    UNDO_DONE = "undo_done"
    UNDO_FAILED = "undo_failed"
    REAPPLY = "reapply"
    REAPPLY_DONE = "reapply_done"
    REAPPLY_FAILED = "reapply_failed"
    APPROVAL = "approval"
    TRANSCRIPT = "transcript"
    REVOKE = "revoke"
    END = "end"
    CRASH = "crash"
    RESUME = "resume"


# Which calls each call operation applies to, and the state it moves them into.
MOVES: dict[Op, tuple[frozenset[CallState], CallState]] = {
    Op.PREPARE: (frozenset({S.PLANNED}), S.PREPARED),
    Op.COMMIT: (frozenset({S.COMMITTING, S.UNKNOWN}), S.COMMITTED),
    Op.FAIL: (frozenset({S.PLANNED, S.PREPARED, S.COMMITTING, S.UNKNOWN}), S.FAILED),
    Op.REJECT: (frozenset({S.PLANNED, S.PREPARED}), S.REJECTED),
    Op.DISCARD: (frozenset({S.PLANNED, S.PREPARED}), S.DISCARDED),
    Op.CUT_OFF: (frozenset({S.COMMITTING}), S.UNKNOWN),
    Op.UNDO: (frozenset({S.COMMITTED, S.COMPENSATION_FAILED}), S.COMPENSATING),
    Op.UNDO_DONE: (frozenset({S.COMPENSATING}), S.COMPENSATED),
    Op.UNDO_FAILED: (frozenset({S.COMPENSATING}), S.COMPENSATION_FAILED),
    Op.REAPPLY: (frozenset({S.COMPENSATED, S.REAPPLY_FAILED}), S.REAPPLYING),
    Op.REAPPLY_DONE: (frozenset({S.REAPPLYING}), S.COMMITTED),
    Op.REAPPLY_FAILED: (frozenset({S.REAPPLYING}), S.REAPPLY_FAILED),
}

# What recovery does to a crashed session's unfinished calls (agentstop/supervisor/recovery.py, no lookup).
RECOVERED = {
    S.PLANNED: S.DISCARDED,
    S.PREPARED: S.DISCARDED,
    S.COMMITTING: S.UNKNOWN,
    S.COMPENSATING: S.COMPENSATION_FAILED,
    S.REAPPLYING: S.REAPPLY_FAILED,
}

ALL = frozenset(CallState)
REVERSIBILITIES = ("reversible", "compensable", "irreversible", "read_only")


def receipt(choice: int, now: float) -> dict[str, Any]:
    """A receipt with or without undo windows around `now` (some already closed)."""
    receipts: list[dict[str, Any]] = [
        {"id": choice},
        {"id": choice, "undo_deadline": now + 5},
        {"id": choice, "undo_deadline": now + 25, "reversible_until": now + 8},
        {"id": choice, "reversible_until": now + 3},
        {"id": choice, "no_undo": "the server has no delete"},
        {"id": choice, "undo_deadline": now - 1},
    ]
    return receipts[choice % len(receipts)]


@dataclass
class Session:
    """One session driven through the journal's write API, with each call's state as last written."""

    journal: Journal
    session_id: str
    clock: list[float]
    grant_id: int = 0
    states: dict[str, CallState] = field(default_factory=dict)
    status: SessionStatus = SessionStatus.RUNNING

    @property
    def now(self) -> float:
        return self.clock[0]

    def pick(self, states: frozenset[CallState], which: int) -> str | None:
        found = [c for c, s in self.states.items() if s in states]
        return found[which % len(found)] if found else None

    async def move(self, call_id: str, state: CallState, **fields: Any) -> None:
        await self.journal.transition(self.session_id, call_id, state, durable=False, **fields)
        self.states[call_id] = state

    async def run(self, op: Op, which: int, detail: int) -> None:
        if op is Op.PLAN:
            await self.plan(detail)
        elif op is Op.FENCE:
            await self.fence(self.pick(frozenset({S.PLANNED, S.PREPARED}), which), detail, prepared_at_fence=False)
        elif op is Op.FENCE_PREPARED:
            await self.fence(self.pick(frozenset({S.PLANNED}), which), detail, prepared_at_fence=True)
        elif op in MOVES:
            await self.call_move(op, which, detail)
        else:
            await self.session_op(op, which, detail)

    async def plan(self, detail: int) -> None:
        call_id = await self.journal.plan_call(
            self.session_id,
            tool=f"tool{detail % 3}",
            summary=f"call with detail {detail}",
            resource="r",
            args={"detail": detail},
            reversibility=REVERSIBILITIES[detail % 4],
            on_stop="wait",
            can_compensate=detail % 5 != 0,
            can_lookup=False,
            undo_hint="" if detail % 2 else "ask the bank",
            idempotency_key=f"{self.session_id}-{len(self.states)}",
            grant_id=self.grant_id if detail % 7 else None,
            can_reapply=detail % 3 != 0,
        )
        self.states[call_id] = S.PLANNED

    async def fence(self, call_id: str | None, detail: int, *, prepared_at_fence: bool) -> None:
        if call_id is None:
            return
        j, sid = self.journal, self.session_id
        if prepared_at_fence:
            refused = await j.fence(sid, call_id, self.grant_id, "tool", "r", prepared={"built": detail})
        else:
            if self.states[call_id] is S.PLANNED:
                await self.move(call_id, S.PREPARED, prepared={"built": detail})
            refused = await j.fence(sid, call_id, self.grant_id, "tool", "r")
        self.states[call_id] = S.COMMITTING if refused is None else S.REJECTED

    async def call_move(self, op: Op, which: int, detail: int) -> None:
        sources, target = MOVES[op]
        call_id = self.pick(sources, which)
        if call_id is None:
            return
        fields: dict[str, Any] = {}
        if target is S.COMMITTED:
            fields["receipt"] = receipt(detail, self.now)
        elif target is S.PREPARED:
            fields["prepared"] = {"built": detail}
        elif target in (S.FAILED, S.REJECTED):
            fields["reason"] = f"refused ({detail})"
        elif target in (S.DISCARDED, S.UNKNOWN):
            fields["reason"] = None if detail % 2 else "stopped"
        elif target is S.COMPENSATION_FAILED:
            fields["undo_error"] = f"undo error {detail}"
        elif target is S.REAPPLY_FAILED:
            fields["reapply_error"] = f"re-apply error {detail}"
        elif target in (S.COMPENSATING, S.REAPPLYING):
            fields["undo_by"] = "test"
        await self.move(call_id, target, **fields)

    async def session_op(self, op: Op, which: int, detail: int) -> None:
        j, sid = self.journal, self.session_id
        if op is Op.APPROVAL:
            await j.append(sid, EventKind.APPROVAL_REQUESTED, {"effect": "x"}, call_id=self.pick(ALL, which))
        elif op is Op.TRANSCRIPT:
            await j.append(sid, EventKind.TRANSCRIPT, {"text": f"thinking {detail}"})
        elif op is Op.REVOKE:
            await j.revoke(sid, by=f"person {detail % 2}", reason="stop pressed")
        elif op is Op.END and self.status is SessionStatus.RUNNING:
            self.status = (SessionStatus.STOPPED, SessionStatus.COMPLETED)[detail % 2]
            await j.end_session(sid, self.status, stopped_by="person" if detail % 2 == 0 else None)
        elif op is Op.CRASH and self.status is SessionStatus.RUNNING:
            self.status = SessionStatus.CRASHED
            await j.end_session(sid, SessionStatus.CRASHED, stopped_by="crash", stop_reason="process died")
            for call_id, state in list(self.states.items()):  # settled as recovery settles them
                if state in RECOVERED:
                    errors = {S.COMPENSATING: {"undo_error": "crash"}, S.REAPPLYING: {"reapply_error": "crash"}}
                    await self.move(
                        call_id, RECOVERED[state], reason="recovered after a crash", **errors.get(state, {})
                    )
        elif op is Op.RESUME and self.status is not SessionStatus.RUNNING:
            resumed = await j.resume_session(sid, GrantSpec(), by="person")
            self.grant_id, self.status = resumed.grant_id, SessionStatus.RUNNING


Step = tuple[list[tuple[Op, int, int]], list[int], int]
"""A step: its operations (op, which call, a detail), the sizes the new events are cut into, seconds it lasts."""

steps = st.lists(
    st.tuples(
        st.lists(st.tuples(st.sampled_from(list(Op)), st.integers(0, 99), st.integers(0, 99)), max_size=8),
        st.lists(st.integers(1, 7), min_size=1, max_size=4),
        st.sampled_from([0, 0, 1, 4, 10, 30]),
    ),
    min_size=1,
    max_size=12,
)


async def full_report(journal: Journal, session_id: str, now: float) -> Report:
    """`Report.build` over the journal's rows as they are now."""
    session = await journal.session(session_id)
    return Report.build(session, await journal.calls(session_id), await journal.grants(session_id), now)


def assert_same(live: Report, full: Report) -> None:
    """Every list in the same order with the same items, field by field; the same summary line."""
    for name in LISTS:
        got, wanted = getattr(live, name), getattr(full, name)
        assert [i.call_id for i in got] == [i.call_id for i in wanted], name
        for a, b in zip(got, wanted, strict=True):
            assert a == b, (name, a.call_id)
            assert a.to_json() == b.to_json(), (name, a.call_id)
    assert live.summary_line() == full.summary_line()
    assert live == full  # the session row, the grants and the moment too


async def drive(journal: Journal, session_id: str, plan: list[Step], load_after: int, clock: list[float]) -> None:
    """Run the steps; after each, hand the new events to the live report and compare it with a full build."""
    await journal.create_session(session_id, task_name="live")
    session = Session(journal, session_id, clock)
    session.grant_id = await journal.issue_grant(session_id, GrantSpec())
    live: LiveReport | None = None
    after = 0
    for number, (ops, sizes, seconds) in enumerate(plan):
        if live is None and number >= load_after:
            after = (await journal.events(session_id))[-1].seq
            live = await LiveReport.load(journal, session_id, now=clock[0])
            assert_same(live.report(), await full_report(journal, session_id, clock[0]))
        for op, which, detail in ops:
            await session.run(op, which, detail)
        clock[0] += seconds
        if live is None:
            continue
        events = await journal.events(session_id, after=after)
        if events:
            after = events[-1].seq
        at, turn = 0, 0
        while at < len(events) or turn == 0:
            size = sizes[turn % len(sizes)]
            await live.apply(events[at : at + size], now=clock[0] if turn == 0 else None)
            at, turn = at + size, turn + 1
        assert_same(live.report(), await full_report(journal, session_id, clock[0]))


_COUNTER = iter(range(1_000_000))


@pytest.mark.both_backends
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=steps, load_after=st.integers(0, 2))
def test_the_live_report_equals_the_full_build_after_every_batch(
    journal_target: str, plan: list[Step], load_after: int
) -> None:
    """Each example is a new session in the test's journal (other sessions' events never reach it)."""

    async def main() -> None:
        clock = [T0]
        async with Journal.open(journal_target, clock=lambda: clock[0]) as journal:
            await drive(journal, f"s{next(_COUNTER)}", plan, load_after, clock)

    anyio.run(main)


# -- examples ---------------------------------------------------------------------------------------


async def plan(journal: Journal, session_id: str, grant_id: int, n: int, **fields: Any) -> str:
    values: dict[str, Any] = {
        "tool": "mail",
        "summary": f"mail {n}",
        "resource": "r",
        "args": {"n": n},
        "reversibility": "reversible",
        "on_stop": "wait",
        "can_compensate": True,
        "can_lookup": False,
        "undo_hint": "",
        "idempotency_key": f"k{n}",
        "grant_id": grant_id,
        "can_reapply": True,
        **fields,
    }
    return await journal.plan_call(session_id, **values)


async def committed(journal: Journal, session_id: str, grant_id: int, n: int, receipt: dict[str, Any]) -> str:
    call_id = await plan(journal, session_id, grant_id, n)
    assert await journal.fence(session_id, call_id, grant_id, "mail", "r", prepared={"n": n}) is None
    await journal.transition(session_id, call_id, S.COMMITTED, durable=False, receipt=receipt)
    return call_id


Body = Callable[[Journal, str, int, list[float]], Any]


def run_in_session(journal_target: str, body: Body) -> None:
    """Run `body(journal, session_id, grant_id, clock)` in a new session whose journal reads `clock[0]`."""

    async def main() -> None:
        clock = [T0]
        async with Journal.open(journal_target, clock=lambda: clock[0]) as journal:
            await journal.create_session("s", task_name="live")
            grant_id = await journal.issue_grant("s", GrantSpec())
            await body(journal, "s", grant_id, clock)

    anyio.run(main)


@pytest.mark.both_backends
def test_report_rows_reads_only_the_calls_named_in_planned_order(journal_target: str) -> None:
    async def body(journal: Journal, sid: str, grant: int, clock: list[float]) -> None:
        ids = [await plan(journal, sid, grant, n) for n in range(1, 1201)]
        wanted = [ids[1100], ids[3], ids[600], "c999999"]  # more than one IN list, and an id it does not hold
        rows = await journal.report_rows(sid, call_ids=wanted + ids[:1001])
        assert [r[0] for r in rows] == [*ids[:1001], ids[1100]]
        assert await journal.report_rows(sid, call_ids=[]) == []
        assert [r[0] for r in await journal.report_rows(sid, call_ids=[ids[5]])] == [ids[5]]

    run_in_session(journal_target, body)


def test_a_commit_moves_its_call_from_in_flight_to_done_and_undoable(journal_target: str) -> None:
    async def body(journal: Journal, sid: str, grant: int, clock: list[float]) -> None:
        first = await committed(journal, sid, grant, 1, {"id": 1})
        live = await LiveReport.load(journal, sid, now=clock[0])
        after = (await journal.events(sid))[-1].seq
        second = await plan(journal, sid, grant, 2)
        assert await journal.fence(sid, second, grant, "mail", "r", prepared={"n": 2}) is None
        events = await journal.events(sid, after=after)
        change = await live.apply(events)
        assert change.calls == {second}
        assert [i.call_id for i in live.report().in_flight] == [second]
        await journal.transition(sid, second, S.COMMITTED, durable=False, receipt={"id": 2})
        change = await live.apply(await journal.events(sid, after=events[-1].seq))
        report = live.report()
        assert [i.call_id for i in report.done] == [first, second]
        assert [i.call_id for i in report.undoable] == [second, first]  # latest commit first
        assert report.in_flight == ()
        assert live.counts() == {Bucket.DONE: 2, Bucket.INTERRUPTED: 0, Bucket.IN_FLIGHT: 0, Bucket.UNDOABLE: 2}

    run_in_session(journal_target, body)


def test_an_undo_window_closes_with_the_clock_not_with_an_event(journal_target: str) -> None:
    async def body(journal: Journal, sid: str, grant: int, clock: list[float]) -> None:
        soon = await committed(journal, sid, grant, 1, {"id": 1, "undo_deadline": T0 + 10})
        later = await committed(journal, sid, grant, 2, {"id": 2, "reversible_until": T0 + 30})
        plain = await committed(journal, sid, grant, 3, {"id": 3})
        live = await LiveReport.load(journal, sid, now=T0)
        assert live.next_change_at() == T0 + 10
        assert live.tick(T0 + 5).calls == frozenset()  # nothing passed: nothing rebuilt
        change = live.tick(T0 + 10)
        assert change.calls == {soon}
        item = live.item(soon)
        assert item is not None and item.undo.status is UndoStatus.EXPIRED
        assert [i.call_id for i in live.report().undoable] == [plain, later]
        assert live.next_change_at() == T0 + 30
        assert live.tick(T0 + 40).calls == {later}
        exact = live.item(later)
        assert exact is not None and exact.undo.detail == "compensation (leaves a trace)"
        assert live.next_change_at() is None
        assert live.tick(T0).calls == {soon, later}  # a clock set back rebuilds every call with a window
        assert_same(live.report(), await full_report(journal, sid, T0))

    run_in_session(journal_target, body)


def test_a_stop_tells_the_planned_calls_why_they_never_ran(journal_target: str) -> None:
    async def body(journal: Journal, sid: str, grant: int, clock: list[float]) -> None:
        waiting = await plan(journal, sid, grant, 1)
        live = await LiveReport.load(journal, sid, now=T0)
        after = (await journal.events(sid))[-1].seq
        await journal.revoke(sid, by="person", reason="wrong goal")
        await journal.end_session(sid, SessionStatus.STOPPED, stopped_by="person")
        change = await live.apply(await journal.events(sid, after=after))
        assert change.session and change.calls == {waiting}
        item = live.item(waiting)
        assert item is not None and item.reason == "never reached the fence (session stopped)"
        assert live.report().summary_line().startswith("stopped by person: ")
        assert_same(live.report(), await full_report(journal, sid, T0))

    run_in_session(journal_target, body)


def test_the_report_handed_out_stays_as_it_was_while_the_live_one_moves_on(journal_target: str) -> None:
    async def body(journal: Journal, sid: str, grant: int, clock: list[float]) -> None:
        await committed(journal, sid, grant, 1, {"id": 1})
        live = await LiveReport.load(journal, sid, now=T0)
        before = live.report()
        assert live.report() is before  # nothing changed: the same report
        after = (await journal.events(sid))[-1].seq
        await committed(journal, sid, grant, 2, {"id": 2})
        await live.apply(await journal.events(sid, after=after))
        assert len(before.done) == 1 and len(live.report().done) == 2

    run_in_session(journal_target, body)


def test_ordered_items_keep_key_order_through_splits_and_merges() -> None:
    items: OrderedItems[int] = OrderedItems.of_sorted((k, k) for k in range(0, 3000, 2))
    for k in range(1, 3000, 2):
        items.put(k, k)
    snapshot = items.view()
    for k in range(0, 2900):
        items.remove(k)
    items.put(5000, 5000)
    items.put(2950, -1)  # replaces
    assert list(items.view()) == [*range(2900, 2950), -1, *range(2951, 3000), 5000]
    assert list(snapshot) == list(range(3000)) and snapshot[1234] == 1234 and snapshot[-1] == 2999
    with pytest.raises(KeyError):
        items.remove(7)


@pytest.mark.both_backends
def test_a_batch_that_reads_a_session_row_ahead_of_it_takes_in_the_events_that_led_there(journal_target: str) -> None:
    """The session row is read when a batch says it changed, and by then it can be further on.

    Here the batch ends at epoch 2's start, and the row read for it already says epoch 2 has ended.
    The report does not say "completed" without the call that epoch made: it takes in the events
    up to that end (on a loaded machine the UI showed such a report for one poll).
    """

    async def body(journal: Journal, session_id: str, grant_id: int, clock: list[float]) -> None:
        await committed(journal, session_id, grant_id, 1, {})
        await journal.end_session(session_id, SessionStatus.STOPPED, stopped_by="ada", stop_reason="wrong goal")
        live = await LiveReport.load(journal, session_id, now=clock[0])
        seen = (await journal.events(session_id))[-1].seq
        resumed = await journal.resume_session(session_id, GrantSpec(), by="ada")
        await committed(journal, session_id, resumed.grant_id, 2, {})
        await journal.end_session(session_id, SessionStatus.COMPLETED)
        events = await journal.events(session_id, after=seen)
        at = next(i for i, e in enumerate(events) if e.kind == EventKind.SESSION_RESUMED)
        await live.apply(events[: at + 1])
        report = live.report()
        assert report.session.status == SessionStatus.COMPLETED
        assert [i.call_id for i in report.done] == ["c1", "c2"]
        assert_same(report, await full_report(journal, session_id, clock[0]))

    run_in_session(journal_target, body)


@pytest.mark.both_backends
def test_a_catch_up_that_reads_the_session_ended_takes_in_what_happened_before_the_end(journal_target: str) -> None:
    """`catch_up` reads the session row after the events it was handed, and by then the session can have ended.

    Here the events it is handed stop before a call was denied and the session ended. The report does
    not say "completed" with the call still waiting ("never reached the fence"): it takes in the events
    up to the end (under load the UI showed the denied call as prepared, after the end, for one poll).
    """

    async def body(journal: Journal, session_id: str, grant_id: int, clock: list[float]) -> None:
        waiting = await plan(journal, session_id, grant_id, 1)
        live = await LiveReport.load(journal, session_id, now=clock[0])
        handed = await journal.events(session_id, after=(await journal.events(session_id))[-1].seq)
        assert handed == []  # the caller read its events here; then the journal moved on
        await journal.transition(session_id, waiting, S.REJECTED, durable=False, reason="denied by the user")
        await journal.end_session(session_id, SessionStatus.COMPLETED)
        change = await live.catch_up(handed)
        assert waiting in change.calls
        report = live.report()
        assert report.session.status == SessionStatus.COMPLETED
        assert [(i.call_id, i.state, i.reason) for i in report.interrupted] == [
            (waiting, S.REJECTED, "denied by the user")
        ]
        assert_same(report, await full_report(journal, session_id, clock[0]))

    run_in_session(journal_target, body)
