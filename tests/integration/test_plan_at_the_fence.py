"""A call with nothing to journal before the fence writes its plan in the fence's transaction; others do not.

A tool that keeps `Tool`'s own prepare (it returns the arguments: nothing is
issued, nothing can be cut off) has its `planned`, `prepared` and `committing`
written in one durable transaction: the same events and row as two
transactions would write. A tool with a prepare of its own still finds its
call `planned` on record before that prepare runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from agentstop import GrantRevoked, GrantSpec, Journal, Reversibility, Supervisor, Tool, ToolContext

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


class EchoArgs(BaseModel):
    text: str = ""


class Echo(Tool):
    """Keeps `Tool.prepare`: its prepared effect is its arguments."""

    name = "echo"
    reversibility = Reversibility.REVERSIBLE
    Args = EchoArgs

    def __init__(self) -> None:
        self.committed: list[Any] = []

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        self.committed.append(prepared)
        return {"echoed": prepared["text"]}


class Composed(Echo):
    """Prepares on its own, and looks in the journal while it does."""

    name = "composed"

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal
        self.state_seen_in_prepare = ""

    async def prepare(self, args: EchoArgs, ctx: ToolContext) -> dict[str, Any]:
        self.state_seen_in_prepare = (await self.journal.call(ctx.session_id, ctx.call_id)).state
        return {"text": args.text}


class Transactions:
    """Counts the writer's transactions (a batch on its thread, or one unit run inline on the caller's)."""

    def __init__(self, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        writer = journal._writer
        assert writer is not None
        run_begun = writer._run_begun

        def counted(conn: Any, work: list[Any]) -> list[tuple[bool, Any]]:
            self.count += 1
            return run_begun(conn, work)

        monkeypatch.setattr(writer, "_run_begun", counted)


async def test_a_call_with_the_default_prepare_is_planned_and_fenced_in_one_transaction(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    echo = Echo()
    sup = Supervisor(journal, [echo], GrantSpec())
    await sup.start()
    transactions = Transactions(journal, monkeypatch)
    receipt = await sup.call("echo", {"text": "hi"})
    assert receipt == {"echoed": "hi"}
    assert transactions.count == 2, "plan + prepared + fence, then the outcome"
    assert echo.committed == [{"text": "hi"}]
    events = [(e.kind, e.data) for e in await journal.events(sup.session_id) if e.call_id == "c1"]
    assert [kind for kind, _ in events] == ["planned", "prepared", "committing", "committed"]
    assert events[0][1]["args"] == {"text": "hi"} and events[1][1] == {"prepared": {"text": "hi"}}
    call = await journal.call(sup.session_id, "c1")
    assert call.state == "committed" and call.args == {"text": "hi"} and call.prepared == {"text": "hi"}
    assert call.fence_at is not None and call.planned_at <= call.fence_at
    assert (await journal.grants(sup.session_id))[0].calls_used == 1
    await sup.close()


async def test_a_call_refused_at_the_fence_reads_as_it_did_in_two_transactions(journal: Journal) -> None:
    sup = Supervisor(journal, [Echo()], GrantSpec())
    await sup.start()
    await journal.revoke(sup.session_id, by="test", reason="enough")
    with pytest.raises(GrantRevoked):
        await sup.call("echo", {"text": "late"})
    events = [e.kind for e in await journal.events(sup.session_id) if e.call_id == "c1"]
    assert events == ["planned", "prepared", "rejected"]
    call = await journal.call(sup.session_id, "c1")
    assert call.state == "rejected" and call.prepared == {"text": "late"} and "revoked" in (call.reason or "")
    assert (await journal.grants(sup.session_id))[0].calls_used == 0
    await sup.close()


async def test_a_tool_with_its_own_prepare_finds_its_call_planned_before_it_runs(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    composed = Composed(journal)
    sup = Supervisor(journal, [composed], GrantSpec())
    await sup.start()
    transactions = Transactions(journal, monkeypatch)
    assert await sup.call("composed", {"text": "hi"}) == {"echoed": "hi"}
    assert composed.state_seen_in_prepare == "planned"
    assert transactions.count == 3, "plan; prepared + fence; the outcome"
    await sup.close()


async def test_on_postgresql_the_merged_transaction_saves_a_round_trip(journal: Journal) -> None:
    """Plan and fence in one transaction, in one round trip (its statements and COMMIT sent together, the
    grant confirmed under its lock as last seen), where two transactions took four; the outcome in one."""
    if journal.kind != "postgresql":
        pytest.skip("SQLite runs in-process: no round trips")
    sup = Supervisor(journal, [Echo()], GrantSpec())
    await sup.start()
    await sup.call("echo", {"text": "first"})  # the session's first call also makes its counter row
    before = journal.round_trips
    for i in range(5):
        await sup.call("echo", {"text": f"n{i}"})
    assert (journal.round_trips - before) / 5 == 1 + 1, "plan_and_fence, then the outcome"
    await sup.close()
