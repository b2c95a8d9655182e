"""Idempotency keys belong to their session; a running key is joined; a key used again after an undo says so.

The tool appends one line per commit to a log file (deliberately not deduplicating
on the key), so the log counts the effects that reached the world.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from agentstop import (
    GrantSpec,
    Interrupted,
    Journal,
    OutcomeUnknown,
    Reversibility,
    Supervisor,
    Tool,
    ToolContext,
    Undone,
)

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]


class AppendLine(Tool):
    """Appends `text` to `<world>/effects.log`; undo removes the line; commit can be held."""

    name = "append_line"
    reversibility = Reversibility.REVERSIBLE

    class Args(BaseModel):
        text: str

    def __init__(self, world: Path) -> None:
        self.log = world / "effects.log"
        self.hold: anyio.Event | None = None
        self.committing = anyio.Event()
        self.hold_prepare: anyio.Event | None = None
        self.preparing = anyio.Event()

    async def prepare(self, args: AppendLine.Args, ctx: ToolContext) -> dict[str, Any]:
        self.preparing.set()
        if self.hold_prepare is not None:
            await self.hold_prepare.wait()
        return {"text": args.text}

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        self.committing.set()
        if self.hold is not None:
            await self.hold.wait()
        with self.log.open("a") as f:
            f.write(prepared["text"] + "\n")
        return {"line": prepared["text"]}

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        lines = self.lines()
        lines.remove(receipt["line"])
        self.log.write_text("".join(f"{line}\n" for line in lines))

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


async def test_the_same_key_in_two_sessions_issues_both_effects(journal: Journal, world: Path) -> None:
    tool = AppendLine(world)
    first = Supervisor(journal, [tool], GrantSpec())
    second = Supervisor(journal, [tool], GrantSpec())
    # A framework's thread id + tool call id: both sessions start from the same values.
    assert await first.call("append_line", {"text": "one"}, key="thread-1:call_0") == {"line": "one"}
    assert await second.call("append_line", {"text": "two"}, key="thread-1:call_0") == {"line": "two"}
    assert tool.lines() == ["one", "two"]


async def test_a_journal_wide_key_scope_answers_from_any_session(journal: Journal, world: Path) -> None:
    tool = AppendLine(world)
    first = Supervisor(journal, [tool], GrantSpec(), key_scope="journal")
    second = Supervisor(journal, [tool], GrantSpec(), key_scope="journal")
    assert await first.call("append_line", {"text": "one"}, key="k") == {"line": "one"}
    assert await second.call("append_line", {"text": "one"}, key="k") == {"line": "one"}
    assert tool.lines() == ["one"]
    assert await journal.calls(second.session_id) == []


async def test_the_same_key_twice_at_once_is_one_effect_and_both_callers_get_the_receipt(
    journal: Journal, world: Path
) -> None:
    tool = AppendLine(world)
    tool.hold = anyio.Event()
    sup = Supervisor(journal, [tool], GrantSpec())
    results: list[Any] = []

    async def caller() -> None:
        results.append(await sup.call("append_line", {"text": "once"}, key="K"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller)
        await tool.committing.wait()
        tg.start_soon(caller)  # a framework re-running the node while the first is in its commit
        await anyio.wait_all_tasks_blocked()
        tool.hold.set()
    assert results == [{"line": "once"}, {"line": "once"}]
    assert tool.lines() == ["once"]
    assert [c.call_id for c in await journal.calls(sup.session_id)] == ["c1"]


async def test_a_key_joined_before_the_fence_is_issued_once_even_if_its_first_caller_left(
    journal: Journal, world: Path
) -> None:
    tool = AppendLine(world)
    tool.hold_prepare = anyio.Event()
    sup = Supervisor(journal, [tool], GrantSpec())
    first = asyncio.ensure_future(sup.call("append_line", {"text": "x"}, key="K"))
    await tool.preparing.wait()
    second = asyncio.ensure_future(sup.call("append_line", {"text": "x"}, key="K"))
    await anyio.wait_all_tasks_blocked()
    first.cancel()  # the first caller goes away before the fence: its call is discarded
    with pytest.raises(asyncio.CancelledError):
        await first
    tool.hold_prepare.set()
    assert await second == {"line": "x"}  # the second still wanted it: issued, once
    assert tool.lines() == ["x"]
    states = [(c.call_id, c.state) for c in await journal.calls(sup.session_id)]
    assert states == [("c1", "discarded"), ("c2", "committed")]
    await sup.close()


async def test_a_key_used_again_after_an_undo_says_it_was_undone(journal: Journal, world: Path) -> None:
    tool = AppendLine(world)
    sup = Supervisor(journal, [tool], GrantSpec())
    await sup.call("append_line", {"text": "note"}, key="K")
    [undone] = await sup.undo(["c1"], by="ada")
    assert undone.status == "compensated" and tool.lines() == []

    with pytest.raises(Undone) as again:
        await sup.call("append_line", {"text": "note"}, key="K")

    assert (again.value.call_id, again.value.by, again.value.receipt) == ("c1", "ada", {"line": "note"})
    assert "landed and was undone by ada since; not issued again" in str(again.value)
    assert tool.lines() == [], "what the person undid is not done again behind their back"
    # A new key does it again.
    assert await sup.call("append_line", {"text": "note"}, key="K2") == {"line": "note"}


async def test_a_keyed_replay_of_a_call_still_in_flight_from_before_is_not_issued(
    journal: Journal, world: Path
) -> None:
    tool = AppendLine(world)
    sup = Supervisor(journal, [tool], GrantSpec())
    await sup.start()
    # A call that passed the fence in a process that died before its outcome was written.
    grant = (await journal.grants(sup.session_id))[-1].grant_id
    call_id = await journal.plan_call(
        sup.session_id,
        tool="append_line",
        summary="append",
        resource="append_line",
        args={"text": "t"},
        reversibility="reversible",
        on_stop="wait",
        can_compensate=True,
        can_lookup=False,
        undo_hint="",
        idempotency_key="K",
        grant_id=grant,
        can_reapply=False,
    )
    assert (
        await journal.fence(sup.session_id, call_id, grant, "append_line", "append_line", prepared={"text": "t"})
        is None
    )

    with pytest.raises(OutcomeUnknown):
        await sup.call("append_line", {"text": "t"}, key="K")
    assert tool.lines() == []


async def test_a_second_caller_of_a_discarded_key_after_stop_is_refused(journal: Journal, world: Path) -> None:
    tool = AppendLine(world)
    tool.hold_prepare = anyio.Event()
    sup = Supervisor(journal, [tool], GrantSpec())
    first = asyncio.ensure_future(sup.call("append_line", {"text": "x"}, key="K"))
    await tool.preparing.wait()
    second = asyncio.ensure_future(sup.call("append_line", {"text": "x"}, key="K"))
    await anyio.wait_all_tasks_blocked()
    await sup.stop("enough")
    for waiter in (first, second):
        with pytest.raises(Interrupted):
            await waiter
    assert tool.lines() == []
