"""A gated call on PostgreSQL costs at most two round trips: one per writer transaction.

A gated call of a tool planned at the fence (its prepare is `Tool`'s own) is
two writer transactions: plan + prepared + fence + `committing`, then the
outcome. Each is one statement, sent alone as a transaction of its own
(`PgConnection.settle`): the outcome's lifecycle check is in its WHERE
clauses, and the fence's verdict is taken on the grant as the connection last
saw it, which the database confirms under the row's lock (`agentstop_expect`)
or the transaction goes the long way. These tests count the trips two ways:
the journal's own counter (`Journal.round_trips`, what the benchmark reports)
and libpq's protocol trace of the same connections, where each wait for the
server ends in one `ReadyForQuery` message. A count, not a time: it holds on a
loaded machine.

Queuing statements must not move a failure onto another caller: in a batch of
units (group commit), a statement that fails when its pipeline is sent fails
its own unit, and the others commit.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import psycopg
import pytest
from psycopg import pq
from pydantic import BaseModel

from agentstop import GrantSpec, Journal, JournalError, Reversibility, Supervisor, Tool, ToolContext, revoke
from agentstop.journal.opening import open_backend
from agentstop.journal.postgres import PostgresBackend
from agentstop.journal.writer import Writer
from tests.support.plans import plan
from tests.support.postgres import PostgresServer
from tests.support.tools import WriteNote

pytestmark = pytest.mark.anyio

TRIPS_PER_GATED_CALL = 2
"""plan + fence + committing; the outcome: one round trip each."""
TRIPS_PER_TRANSACTION = 2
"""The fence of a tool with its own prepare (read, then write with the COMMIT)."""
CALLS = 5


class NoteArgs(BaseModel):
    text: str


class Stamp(Tool):
    """A gated tool with `Tool`'s own prepare, so its plan and fence share one transaction."""

    name = "stamp"
    description = "Stamp a note."
    reversibility = Reversibility.IRREVERSIBLE
    Args = NoteArgs

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        return {"stamped": ctx.call_id}


class Traced:
    """Every connection the journal opens, and libpq's trace of them while `window()` is open."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.connections: list[psycopg.Connection[Any]] = []
        real = PostgresBackend.raw_connect

        def raw_connect(backend: PostgresBackend, *, autocommit: bool = True) -> psycopg.Connection[Any]:
            conn = real(backend, autocommit=autocommit)
            self.connections.append(conn)
            return conn

        monkeypatch.setattr(PostgresBackend, "raw_connect", raw_connect)

    @contextmanager
    def window(self) -> Iterator[list[str]]:
        """Trace every open connection; on exit, the messages the servers sent, one line each."""
        lines: list[str] = []
        with ExitStack() as stack:
            files: list[IO[str]] = []
            for conn in self.connections:
                if conn.closed:
                    continue
                trace = stack.enter_context(tempfile.TemporaryFile("w+"))
                files.append(trace)
                conn.pgconn.trace(trace.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
            try:
                yield lines
            finally:
                for conn in self.connections:
                    if not conn.closed:
                        conn.pgconn.untrace()  # flushes libpq's buffer into the file
                for file in files:
                    file.seek(0)
                    lines.extend(line for line in file.read().splitlines() if line.startswith("B"))


def _ready_for_query(backend_lines: list[str]) -> int:
    return sum(1 for line in backend_lines if "ReadyForQuery" in line)


async def test_a_gated_call_costs_at_most_two_round_trips(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = Traced(monkeypatch)
    async with Journal.open(postgres.create_database()) as journal:
        sup = Supervisor(journal, [Stamp()], GrantSpec())
        await sup.start()
        await sup.call("stamp", {"text": "first"})  # the session's first call reads its grant the long way
        counted = journal.round_trips
        with traced.window() as sent:
            for i in range(CALLS):
                await sup.call("stamp", {"text": f"n{i}"})
        counted = journal.round_trips - counted
        await sup.close()
        calls = await journal.calls(sup.session_id)
        grants = await journal.grants(sup.session_id)
    assert [c.state for c in calls] == ["committed"] * (CALLS + 1)
    assert [c.receipt for c in calls] == [{"stamped": f"c{n}"} for n in range(1, CALLS + 2)]
    assert grants[0].calls_used == CALLS + 1
    assert counted == _ready_for_query(sent), "the journal's counter disagrees with libpq's own trace"
    assert counted / CALLS <= TRIPS_PER_GATED_CALL, f"{counted / CALLS} round trips a call"


async def test_a_tool_with_its_own_prepare_still_costs_at_most_two_round_trips_per_transaction(
    postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    traced = Traced(monkeypatch)
    async with Journal.open(postgres.create_database()) as journal:
        sup = Supervisor(journal, [WriteNote(tmp_path)], GrantSpec())
        await sup.start()
        await sup.call("write_note", {"name": "first"})  # the session's first call also makes its counter row
        counted = journal.round_trips
        with traced.window() as sent:
            for i in range(CALLS):
                await sup.call("write_note", {"name": f"n{i}"})
        counted = journal.round_trips - counted
        await sup.close()
        states = [c.state for c in await journal.calls(sup.session_id)]
    assert states == ["committed"] * (CALLS + 1)
    assert counted == _ready_for_query(sent), "the journal's counter disagrees with libpq's own trace"
    # plan (2), fence (2), outcome (1)
    assert counted / CALLS <= 3 * TRIPS_PER_TRANSACTION - 1, f"{counted / CALLS} round trips a call"


def _fields(grant_id: int, n: int) -> dict[str, Any]:
    return {
        "tool": "stamp",
        "summary": f"stamp {n}",
        "resource": "stamp",
        "args": {"text": str(n)},
        "reversibility": "irreversible",
        "on_stop": "wait",
        "can_compensate": False,
        "can_lookup": False,
        "undo_hint": "",
        "idempotency_key": f"k{n}",
        "grant_id": grant_id,
    }


async def test_a_grant_revoked_by_another_process_is_not_trusted_from_memory(postgres: PostgresServer) -> None:
    """The one-round-trip fence remembers the grant unrevoked; a revoke from elsewhere still stops the next call."""
    url = postgres.create_database()
    async with Journal.open(url) as journal:
        await journal.create_session("s", task_name="t")
        grant = await journal.issue_grant("s", GrantSpec(max_calls=10))
        for n in range(3):
            assert (await journal.plan_and_fence("s", prepared=None, **_fields(grant, n)))[1] is None
        await anyio.to_thread.run_sync(functools.partial(revoke, url, "s", by="operator"))
        before = journal.round_trips
        call_id, verdict = await journal.plan_and_fence("s", prepared=None, **_fields(grant, 3))
        trips = journal.round_trips - before
        calls = await journal.calls("s")
        grants = await journal.grants("s")
        events = [e.kind for e in await journal.events("s") if e.call_id == call_id]
    assert verdict is not None and verdict[0] == "revoked" and "revoked by operator" in verdict[1]
    assert trips > 1, "the long way: the row was not as remembered"
    assert [c.state for c in calls] == ["committing"] * 3 + ["rejected"]
    assert [c.n for c in calls] == [1, 2, 3, 4]
    assert events == ["planned", "prepared", "rejected"]
    assert grants[0].calls_used == 3


async def test_a_grant_used_by_another_process_is_counted_from_the_row(postgres: PostgresServer) -> None:
    """Another process used the grant since this connection last saw it: the limit is the row's, not memory's."""
    url = postgres.create_database()
    async with Journal.open(url) as journal:
        await journal.create_session("s", task_name="t")
        grant = await journal.issue_grant("s", GrantSpec(max_calls=3))
        assert (await journal.plan_and_fence("s", prepared=None, **_fields(grant, 0)))[1] is None
        with psycopg.connect(url, autocommit=True) as other:  # two calls counted elsewhere
            other.execute("UPDATE grants SET calls_used = calls_used + 2 WHERE grant_id = %s", (grant,))
        _, verdict = await journal.plan_and_fence("s", prepared=None, **_fields(grant, 1))
        calls = await journal.calls("s")
        grants = await journal.grants("s")
    assert verdict is not None and verdict[0] == "limit"
    assert [c.state for c in calls] == ["committing", "rejected"]
    assert grants[0].calls_used == 3


async def test_the_fence_reads_its_call_and_locks_its_grant_in_one_round_trip_then_commits_in_another(
    postgres: PostgresServer,
) -> None:
    async with Journal.open(postgres.create_database()) as journal:
        await journal.create_session("s", task_name="t")
        grant = await journal.issue_grant("s", GrantSpec(max_calls=1))
        first = await plan(journal, "s", "noop", "k1", grant_id=grant)
        second = await plan(journal, "s", "noop", "k2", grant_id=grant)
        before = journal.round_trips
        assert await journal.fence("s", first, grant, "noop", "noop", prepared={"p": 1}) is None
        assert journal.round_trips - before == TRIPS_PER_TRANSACTION
        # The limit is still counted under the grant's lock: the second call finds it used up.
        verdict = await journal.fence("s", second, grant, "noop", "noop", prepared={"p": 2})
        assert verdict is not None and verdict[0] == "limit"
        calls = {c.call_id: c for c in await journal.calls("s")}
        grants = await journal.grants("s")
    assert calls[first].state == "committing" and calls[first].prepared == {"p": 1}
    assert calls[second].state == "rejected"
    assert grants[0].calls_used == 1


async def test_a_statement_failing_when_its_pipeline_is_sent_fails_only_its_own_unit(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database()
    async with Journal.open(url):
        pass  # the schema
    writer = Writer(open_backend(url, 5.0))
    writer.start()
    try:
        hold, held = threading.Event(), threading.Event()

        def blocker(conn: Any) -> None:
            held.set()
            hold.wait(10)

        transactions: list[int] = []

        def duplicate(conn: Any) -> None:
            transactions.append(int(conn.execute("SELECT txid_current()").fetchone()[0]))
            # Nothing of these is read, so their failure shows only when the queue is sent (at RELEASE).
            conn.execute("INSERT INTO call_numbers (session_id, last_n) VALUES ('dup', 1)")
            conn.execute("INSERT INTO call_numbers (session_id, last_n) VALUES ('dup', 2)")

        def fine(conn: Any) -> None:
            transactions.append(int(conn.execute("SELECT txid_current()").fetchone()[0]))
            conn.execute("INSERT INTO call_numbers (session_id, last_n) VALUES ('fine', 7)")

        first = asyncio.ensure_future(writer.run(blocker, durable=False))
        await asyncio.get_running_loop().run_in_executor(None, held.wait, 10)
        # Both queued while the writer is busy (each task queues its unit at its first step, before the
        # yield below returns), so they run as one batch, in one transaction: checked below.
        failing = asyncio.ensure_future(writer.run(duplicate, durable=True))
        passing = asyncio.ensure_future(writer.run(fine, durable=True))
        await asyncio.sleep(0)
        hold.set()
        await first
        with pytest.raises(JournalError, match="write failed"):
            await failing
        await passing
    finally:
        writer.close()
    assert len(transactions) == 2 and transactions[0] == transactions[1], "the two units were not one batch"
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT session_id, last_n FROM call_numbers ORDER BY session_id").fetchall()
    assert rows == [("fine", 7)]


def test_a_unit_that_raised_after_settling_leaves_the_next_transaction_begun_once(postgres: PostgresServer) -> None:
    """A unit settled (committed) and then raised: the writer ends nothing, and the next transaction begins as asked."""
    url = postgres.create_database()
    backend = open_backend(url, 5.0)
    backend.prepare(False)
    conn = backend.connect()
    notices: list[str] = []
    conn.raw.add_notice_handler(lambda diag: notices.append(str(diag.message_primary)))
    try:
        backend.begin(conn, False)
        conn.execute("SELECT 1")
        conn.settle()  # committed; the unit then raises, and the writer finds no transaction to roll back
        assert not conn.in_transaction
        backend.begin(conn, True)
        row = conn.execute("SHOW synchronous_commit").fetchone()
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert row[0] == "on"
    assert notices == [], "a BEGIN inside a transaction: the settled one was begun again"
