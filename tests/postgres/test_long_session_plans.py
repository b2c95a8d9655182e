"""A call on PostgreSQL reads the same few index rows in a session's 1,000th call as in its 10th.

psycopg prepares a statement it has sent five times, and the server keeps that
statement's plan for the connection's life (until an ANALYZE of its tables,
which a test server, autovacuum off, never runs). Planned while the tables were
nearly empty, the transition's lookup of a call by (session_id, call_id) took
`calls_session_n`, the session's index by number, both indexes looking alike
then: it walked every call of the session to find one, each call dearer than
the last (+0.2 ms a call per 1,000 calls). `PgConnection` plans its statements
again as it goes (`FIRST_REPLAN`). Counted, not timed: the index rows the
server read, from its own statistics, flushed on purpose so the count is exact.
"""

from __future__ import annotations

from typing import Any

import anyio
import psycopg
import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.journal.postgres import PgConnection
from tests.postgres.test_round_trips import Stamp
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.anyio

EARLY, LATE = 600, 300
"""Calls before the measured ones (the session, and its tables, grown), then the calls measured."""
ROWS_PER_CALL = 5
"""A generous bound on the rows of `calls_session_n` a call may read: numbering a call reads one."""


def _index_rows_read(writer: PgConnection, url: str) -> int:
    """The rows read through `calls_session_n` so far, the writer's own reads counted to its last statement."""
    # A backend sends its statistics when idle, at most once a second, unless told to at its next idle moment.
    writer.raw.execute("SELECT pg_stat_force_next_flush()")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'calls_session_n'"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_long_sessions_calls_read_no_more_rows_than_its_first(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    async with Journal.open(url) as journal:
        sup = Supervisor(journal, [Stamp()], GrantSpec())
        await sup.start()
        for i in range(EARLY):
            await sup.call("stamp", {"text": f"early {i}"})
        upkeep = journal._backend.upkeep  # type: ignore[attr-defined]
        assert upkeep.runs > 0, "the calls table was never analyzed"
        assert await anyio.to_thread.run_sync(upkeep.idle.wait, 60), "the ANALYZE did not end"
        writer: Any = journal._writer
        # The writer's thread is idle between calls; its lock keeps it off the connection meanwhile.
        with writer._lock:
            before = _index_rows_read(writer._conn, url)
        for i in range(LATE):
            await sup.call("stamp", {"text": f"late {i}"})
        with writer._lock:
            after = _index_rows_read(writer._conn, url)
        await sup.close()
    assert after - before <= ROWS_PER_CALL * LATE, (
        f"{LATE} calls after the first {EARLY} read {after - before} rows of calls_session_n: "
        f"{(after - before) / LATE:.0f} a call, growing with the session"
    )
