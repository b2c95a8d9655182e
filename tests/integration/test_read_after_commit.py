"""A read sees every commit that came before it, even while another read on the same connection is under way.

The journal's SQLite reads share one aiosqlite connection, whose thread runs one job at a time. A read
that ran as three jobs (execute, fetchall, close) left its statement open between them, and with it a
read transaction: another task's read run in between saw the journal as it was when the first began,
older than a commit that came before it (the TUI's bridge found no new events though its batch had
committed). Staged here job by job on the connection's own thread, no timing: read A begins, a write
commits, then read B runs; B must see the write.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from agentstop import Journal
from tests.support.plans import plan

pytestmark = pytest.mark.anyio

SESSION = "s1"


async def _plan(journal: Journal, name: str) -> str:
    return await plan(
        journal,
        SESSION,
        "mail",
        name,
        summary=name,
        resource="inbox",
        reversibility="irreversible",
        can_compensate=False,
    )


async def test_a_read_sees_a_commit_made_before_it_while_another_read_is_under_way(tmp_path: Path) -> None:
    async with Journal.open(tmp_path / "journal.db") as journal:
        await journal.create_session(SESSION, task_name="t")
        await _plan(journal, "first")
        thread: Any = journal._reader_conn._conn  # type: ignore[attr-defined]  # the aiosqlite connection
        go, b_waits, may_go_on = threading.Event(), threading.Event(), threading.Event()

        def hold(gate: threading.Event, started: threading.Event | None = None) -> None:
            if started is not None:
                started.set()
            gate.wait(30)

        seen: dict[str, Any] = {}

        async def read(name: str) -> None:
            seen[name] = await journal.events(SESSION)

        async with anyio.create_task_group() as tg:
            # The connection's thread, in this order: held; read A; held again (the write commits meanwhile); read B.
            tg.start_soon(thread._execute, hold, go)
            await anyio.lowlevel.checkpoint()
            tg.start_soon(read, "a")
            await anyio.lowlevel.checkpoint()
            tg.start_soon(thread._execute, hold, may_go_on, b_waits)
            await anyio.lowlevel.checkpoint()
            tg.start_soon(read, "b")
            await anyio.lowlevel.checkpoint()
            go.set()
            await anyio.to_thread.run_sync(b_waits.wait, 30)  # read A has begun; B has not
            await _plan(journal, "second")  # committed by the writer's connection, before B runs
            may_go_on.set()
        assert [e.data.get("summary") for e in seen["b"] if e.kind == "planned"] == ["first", "second"]
