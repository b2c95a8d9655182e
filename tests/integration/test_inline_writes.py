"""A lone caller's writes skip the writer thread (SQLite); callers together still share commits; the loop never waits.

See `agentstop/journal/writer.py` ("A caller alone").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from pydantic import BaseModel

from agentstop import GrantSpec, Journal, Reversibility, Supervisor, Tool, ToolContext
from agentstop.journal import CallState, writer
from agentstop.journal.writer import Writer
from tests.support.tools import WriteNote

pytestmark = pytest.mark.anyio


class EchoArgs(BaseModel):
    text: str


def the_writer(journal: Journal) -> Writer:
    assert journal._writer is not None
    return journal._writer


async def until(check: Callable[[], bool], what: str) -> None:
    """Let the loop run until `check` holds (each turn a checkpoint: a blocked loop never gets here)."""
    with anyio.fail_after(10):
        while not check():
            await anyio.lowlevel.checkpoint()
    assert check(), what


class Transactions:
    """Counts the journal's transactions and the units in each (on the writer's thread or a caller's)."""

    def __init__(self, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        run_begun = the_writer(journal)._run_begun

        def counted(conn: Any, work: list[Any]) -> list[tuple[bool, Any]]:
            self.sizes.append(len(work))
            return run_begun(conn, work)

        monkeypatch.setattr(the_writer(journal), "_run_begun", counted)


@pytest.mark.both_backends
async def test_a_lone_caller_writes_on_its_own_thread_with_the_same_rows(
    journal: Journal, journal_backend: str, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "INLINE_BUDGET", 60.0)  # a slow fsync on a shared disk does not pause it here
    notes = WriteNote(world)
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.start()
    before = the_writer(journal).inline_units
    for name in ("a", "b", "c"):
        await sup.call("write_note", {"name": name, "text": name})
    # Each call: planned, then prepared + the fence, then its outcome (WriteNote prepares on its own). A server
    # that stopped answering would hold the loop: PostgreSQL's units always go through the thread.
    assert the_writer(journal).inline_units - before == (9 if journal_backend == "sqlite" else 0)
    assert notes.landed() == {"a", "b", "c"}
    calls = await journal.calls(sup.session_id)
    assert [c.state for c in calls] == [CallState.COMMITTED] * 3
    assert all(c.fence_at is not None and c.committed_at is not None for c in calls)
    kinds = [e.kind for e in await journal.events(sup.session_id) if e.call_id == "c2"]
    assert kinds == ["planned", "prepared", "committing", "committed"]
    await sup.close()


async def test_callers_in_flight_together_share_one_commit(
    tmp_path: Path, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.start()
        transactions = Transactions(journal, monkeypatch)
        the_thread = the_writer(journal)
        callers = 8
        # The writer is held busy while the callers plan, so their units wait in its queue together.
        the_thread._lock.acquire()
        held = True
        try:
            async with anyio.create_task_group() as tg:
                for i in range(callers):
                    tg.start_soon(sup.call, "write_note", {"name": f"n{i}"})
                await until(lambda: the_thread._queue.qsize() >= callers - 1, "every caller's plan is queued")
                the_thread._lock.release()
                held = False
        finally:
            if held:
                the_thread._lock.release()
        assert max(transactions.sizes) >= callers - 1, "the queued plans went in one transaction"
        assert WriteNote(world).landed() == {f"n{i}" for i in range(callers)}
        await sup.close()


async def test_a_journal_locked_by_another_writer_never_holds_the_event_loop(
    tmp_path: Path, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "INLINE_BUDGET", 60.0)
    path = tmp_path / "j.db"
    async with Journal.open(path, busy_timeout=5.0) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.start()
        the_thread = the_writer(journal)
        before = the_thread.inline_units
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        done = anyio.Event()

        async def call() -> None:
            await sup.call("write_note", {"name": "after-the-lock"})
            done.set()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                # The writer's thread waits for the other writer; this task, on the same loop, keeps running.
                await until(the_thread._lock.locked, "the plan went to the writer's thread, which waits for the lock")
                assert not done.is_set()
                other.execute("ROLLBACK")
                with anyio.fail_after(10):
                    await done.wait()
        finally:
            if other.in_transaction:
                other.execute("ROLLBACK")
            other.close()
        assert WriteNote(world).landed() == {"after-the-lock"}
        assert the_thread.inline_units > before, "once the lock was free, the lone caller went inline again"
        await sup.close()


async def test_inline_writes_slower_than_the_budget_go_back_to_the_thread(
    journal: Journal, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "INLINE_BUDGET", 0.0)
    sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
    await sup.start()
    before = the_writer(journal).inline_units
    for name in ("a", "b"):
        await sup.call("write_note", {"name": name})
    assert the_writer(journal).inline_units - before == 1, "over the budget once: the rest waited on the thread"
    assert WriteNote(world).landed() == {"a", "b"}
    await sup.close()


class Echo(Tool):
    """Keeps `Tool.prepare`: its call is planned and fenced in one transaction, its flight on record first."""

    name = "echo"
    reversibility = Reversibility.REVERSIBLE
    Args = EchoArgs

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        return {"echoed": prepared["text"]}


async def test_calls_started_together_are_numbered_in_the_order_they_were_made(journal: Journal) -> None:
    # The first is alone when it plans (inline); the next are not (the thread): the first is still c1.
    sup = Supervisor(journal, [Echo()], GrantSpec())
    await sup.start()
    async with anyio.create_task_group() as tg:
        for text in ("first", "second", "third"):
            tg.start_soon(sup.call, "echo", {"text": text})
    calls = await journal.calls(sup.session_id)
    assert [(c.call_id, c.args["text"]) for c in calls] == [("c1", "first"), ("c2", "second"), ("c3", "third")]
    await sup.close()


async def test_a_journal_opened_without_inline_writes_keeps_every_write_on_its_thread(
    tmp_path: Path, world: Path
) -> None:
    # The TUI's: its event loop draws the screen, which never waits on the disk.
    async with Journal.open(tmp_path / "j.db", inline_writes=False) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.start()
        await sup.call("write_note", {"name": "drawn"})
        assert the_writer(journal).inline_units == 0
        assert WriteNote(world).landed() == {"drawn"}
        await sup.close()
