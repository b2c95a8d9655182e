"""Stop: revoke first, cancel the planner, discard what had not reached the fence,
and treat commits in flight by their tool's on_stop policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from agentstop import (
    Agent,
    AgentstopError,
    GrantSpec,
    Interrupted,
    Journal,
    OutcomeUnknown,
    Report,
    Reversibility,
    StopPolicy,
    Supervisor,
    Tool,
    ToolContext,
)
from agentstop.journal.records import GrantRecord
from tests.support.tools import WriteNote

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


async def _call_in_background(sup: Supervisor, args: dict[str, Any], out: list[Any]) -> None:
    try:
        out.append(await sup.call("write_note", args))
    except AgentstopError as exc:
        out.append(exc)


async def _wait_for_state(journal: Journal, session_id: str, call_id: str, state: str) -> None:
    with anyio.fail_after(5):
        while not [c for c in await journal.calls(session_id) if c.call_id == call_id and c.state == state]:
            await anyio.sleep(0.005)


async def test_stop_revokes_before_anything_else(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "a"})
    report = await sup.stop("misread the goal")
    kinds = [e.kind for e in await journal.events(sup.session_id)]
    assert kinds[-2:] == ["revoked", "session_ended"]
    assert report.session.status == "stopped" and report.session.stop_reason == "misread the goal"
    assert report.revoked is not None and report.revoked.revoked_by == "user"


async def test_call_still_preparing_is_discarded_by_stop(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    out: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call_in_background, sup, {"name": "slowprep", "prepare_delay": 5}, out)
        await _wait_for_state(journal, sup.session_id, "c1", "planned")
        with anyio.fail_after(10):  # the moment this test means: its prepare has begun (planned comes first)
            while not notes.preparing:
                await anyio.sleep(0.005)
        report = await sup.stop()
    assert isinstance(out[0], Interrupted)
    assert [(i.call_id, i.state) for i in report.interrupted] == [("c1", "discarded")]
    assert "stopped before the fence" in (report.interrupted[0].reason or "")
    assert notes.landed() == set() and list(notes.root.glob(".*.tmp")) == []  # discard released it


async def test_wait_policy_lets_the_commit_finish(journal: Journal, world: Path) -> None:
    notes = WriteNote(world, on_stop=StopPolicy.WAIT)
    sup = Supervisor(journal, [notes], GrantSpec(), grace=0.05)
    out: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call_in_background, sup, {"name": "slow", "commit_delay": 0.4}, out)
        await _wait_for_state(journal, sup.session_id, "c1", "committing")
        report = await sup.stop()
    assert [i.state for i in report.done] == ["committed"]
    assert notes.landed() == {"slow"}
    assert out[0]["name"] == "slow"


async def test_try_cancel_policy_cancels_and_reconciles_by_lookup(journal: Journal, world: Path) -> None:
    notes = WriteNote(world, on_stop=StopPolicy.TRY_CANCEL)
    sup = Supervisor(journal, [notes], GrantSpec(), grace=0.05)
    out: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call_in_background, sup, {"name": "hang", "commit_delay": 30}, out)
        await _wait_for_state(journal, sup.session_id, "c1", "committing")
        with anyio.fail_after(5):
            report = await sup.stop()
    # Cancelled before the rename: lookup finds nothing, so it is honestly "failed", not "unknown".
    assert [(i.state, i.bucket) for i in report.all_calls] == [("failed", "interrupted")]
    assert "lookup found no effect" in (report.all_calls[0].reason or "")
    assert isinstance(out[0], Interrupted)
    kinds = [e.kind for e in await journal.events(sup.session_id) if e.call_id == "c1"]
    assert kinds == ["planned", "prepared", "committing", "unknown", "failed"]


class NoLookupNote(WriteNote):
    lookup: Any = None  # declared as Tool declares it: None means the tool has no lookup


async def test_try_cancel_without_lookup_stays_unknown_in_flight(journal: Journal, world: Path) -> None:
    notes = NoLookupNote(world, on_stop=StopPolicy.TRY_CANCEL)
    sup = Supervisor(journal, [notes], GrantSpec(), grace=0.05)
    out: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call_in_background, sup, {"name": "hang", "commit_delay": 30}, out)
        await _wait_for_state(journal, sup.session_id, "c1", "committing")
        report = await sup.stop()
    assert [(i.state, i.bucket) for i in report.all_calls] == [("unknown", "in_flight")]
    assert isinstance(out[0], OutcomeUnknown)


async def test_abandon_policy_returns_at_once_and_the_outcome_lands_later(journal: Journal, world: Path) -> None:
    notes = WriteNote(world, on_stop=StopPolicy.ABANDON)
    sup = Supervisor(journal, [notes], GrantSpec(), grace=0.05)
    out: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call_in_background, sup, {"name": "slow", "commit_delay": 0.5}, out)
        await _wait_for_state(journal, sup.session_id, "c1", "committing")
        report = await sup.stop()
        assert [(i.state, i.bucket) for i in report.all_calls] == [("committing", "in_flight")]
    # Still watched: when it lands, the journal says so.
    final = await sup.report()
    assert [(i.state, i.bucket) for i in final.all_calls] == [("committed", "done")]
    assert notes.landed() == {"slow"}


class TwoStepPlanner:
    def __init__(self) -> None:
        self.started_second = anyio.Event()

    async def run(self, agent: Agent) -> None:
        await agent.say("writing the first note")
        await agent.end_thought()
        await agent.call("write_note", {"name": "one"})
        self.started_second.set()
        await agent.call("write_note", {"name": "two", "prepare_delay": 10})
        await agent.call("write_note", {"name": "three"})


async def test_stop_cancels_the_planner_and_run_returns_the_report(journal: Journal, notes: WriteNote) -> None:
    planner = TwoStepPlanner()
    sup = Supervisor(journal, [notes], GrantSpec(), planner=planner)
    async with anyio.create_task_group() as tg:
        reports: list[Any] = []

        async def run() -> None:
            reports.append(await sup.run())

        tg.start_soon(run)
        await planner.started_second.wait()
        await sup.stop("wrong goal")
    report = reports[0]
    assert [(i.summary, i.state) for i in report.all_calls] == [
        ("note 'one'", "committed"),
        ("note 'two'", "discarded"),
    ]
    assert notes.landed() == {"one"}
    transcript = [e.data["text"] for e in await journal.events(sup.session_id) if e.kind == "transcript"]
    assert transcript == ["writing the first note"]


async def test_a_planner_that_finishes_completes_the_session(journal: Journal, notes: WriteNote) -> None:
    class Done:
        async def run(self, agent: Agent) -> None:
            await agent.call("write_note", {"name": "only"})

    report = await Supervisor(journal, [notes], GrantSpec(), planner=Done()).run()
    assert report.session.status == "completed"
    assert report.summary_line() == "completed: 1 done, 0 interrupted, 0 in flight, 1 undoable"


async def test_a_planner_that_crashes_stops_the_session_and_raises(journal: Journal, notes: WriteNote) -> None:
    class Broken:
        async def run(self, agent: Agent) -> None:
            await agent.call("write_note", {"name": "only"})
            raise RuntimeError("model went away")

    sup = Supervisor(journal, [notes], GrantSpec(), planner=Broken())
    with pytest.raises(RuntimeError, match="model went away"):
        await sup.run()
    report = await sup.report()
    assert report.session.status == "stopped" and report.session.stopped_by == "agentstop"
    assert "model went away" in (report.session.stop_reason or "")


async def test_grant_expiry_stops_the_session(journal: Journal, notes: WriteNote) -> None:
    async with Supervisor(journal, [notes], GrantSpec(ttl=0.2)) as sup:
        await sup.call("write_note", {"name": "early"})
        with anyio.fail_after(3):
            while not sup.stopping:
                await anyio.sleep(0.01)
    report = await sup.report()
    assert report.session.stopped_by == "expiry"


async def test_stop_twice_returns_the_same_report(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "a"})
    first = await sup.stop()
    second = await sup.stop("again")
    assert first.to_json() == second.to_json()


async def test_pressing_stop_again_escalates_a_waiting_commit_to_cancel(journal: Journal, world: Path) -> None:
    notes = WriteNote(world, on_stop=StopPolicy.WAIT)
    sup = Supervisor(journal, [notes], GrantSpec(), grace=30)
    out: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_call_in_background, sup, {"name": "hang", "commit_delay": 30}, out)
        await _wait_for_state(journal, sup.session_id, "c1", "committing")
        tg.start_soon(sup.stop)
        with anyio.fail_after(5):
            while not sup.stopping:
                await anyio.sleep(0.01)
            report = await sup.stop("again")  # the second press: skip the grace, cancel
    assert sup.escalated
    assert [(i.state, i.bucket) for i in report.all_calls] == [("failed", "interrupted")]
    assert notes.landed() == set()


class _HeldCommit(Tool):
    """A tool whose commit runs until the test lets it finish (`release`)."""

    name = "held"
    reversibility = Reversibility.REVERSIBLE

    class Args(BaseModel):
        pass

    def __init__(self) -> None:
        self.committing = anyio.Event()
        self.release = anyio.Event()

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        self.committing.set()
        await self.release.wait()
        return {"landed": True}

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        pass


async def test_the_watcher_reading_stops_own_revoke_does_not_escalate_it(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit in flight at Stop keeps its grace, though the watcher reads the revoke Stop just wrote.

    The race this holds still: the supervisor's watcher (it notices a revoke from
    another process) began reading the grant before Stop, and its read came back
    after Stop's own revoke was committed. It used to take that revoke for a second
    Stop and escalate: the commit was cancelled at once, with no grace.
    """
    tool = _HeldCommit()
    entered, revoked, answered = anyio.Event(), anyio.Event(), anyio.Event()
    armed = False
    grants, revoke = journal.grants, journal.revoke

    async def gated_grants(session_id: str) -> list[GrantRecord]:
        if not armed or entered.is_set():
            return await grants(session_id)
        # The watcher's read, begun before Stop, read after Stop's revoke: the watcher then acts on
        # it before its next await, so once `answered` wakes the test, it has.
        entered.set()
        await revoked.wait()
        read = await grants(session_id)
        answered.set()
        return read

    async def revoke_then_say_so(session_id: str, **kwargs: Any) -> list[int]:
        ids = await revoke(session_id, **kwargs)
        revoked.set()
        return ids

    monkeypatch.setattr(journal, "grants", gated_grants)
    monkeypatch.setattr(journal, "revoke", revoke_then_say_so)
    out: list[Any] = []
    async with Supervisor(journal, [tool], GrantSpec(), grace=30) as sup, anyio.create_task_group() as tg:

        async def call() -> None:
            out.append(await sup.call("held", {}))

        tg.start_soon(call)
        with anyio.fail_after(10):
            await tool.committing.wait()
            armed = True
            await entered.wait()  # the watcher is reading the grant, Stop not yet begun
            tg.start_soon(sup.stop)
            await answered.wait()
        assert not sup.escalated
        tool.release.set()
    report = await Report.from_journal(journal, sup.session_id)
    assert out == [{"landed": True}]
    assert [(i.call_id, i.state) for i in report.done] == [("c1", "committed")]


async def test_a_stop_that_does_not_escalate_waits_for_the_stop_under_way(journal: Journal) -> None:
    """`stop(escalate=False)` (a host gone, a revoke read) during a Stop: the commit keeps its grace and lands."""
    tool = _HeldCommit()
    sup = Supervisor(journal, [tool], GrantSpec(), grace=30)
    out: list[Any] = []
    reports: list[Report] = []

    async def stop(reason: str, escalate: bool) -> None:
        reports.append(await sup.stop(reason, escalate=escalate))

    async with anyio.create_task_group() as tg:

        async def call() -> None:
            out.append(await sup.call("held", {}))

        tg.start_soon(call)
        with anyio.fail_after(10):
            await tool.committing.wait()
        tg.start_soon(stop, "first", True)
        await anyio.wait_all_tasks_blocked()  # Stop waits out the grace for the commit
        assert sup.stopping
        tg.start_soon(stop, "the host went away", False)
        await anyio.wait_all_tasks_blocked()
        assert not sup.escalated
        tool.release.set()
    assert out == [{"landed": True}]
    assert [r.session.stop_reason for r in reports] == ["first", "first"]
    assert [(i.call_id, i.state) for i in reports[0].done] == [("c1", "committed")]
