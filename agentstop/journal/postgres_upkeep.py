"""The calls table's statistics, kept fresh by the journal itself: an ANALYZE now and then, off the write path.

psycopg prepares a statement it has sent five times, and the server keeps one
generic plan for it until an ANALYZE of its tables. Planned on a calls table
never analyzed (a new journal, a server with autovacuum off or not yet round),
a lookup of one call by (session_id, call_id) costs the same by the primary
key as by `calls_session_n` (the session's calls by number), and the server
may take the latter: it then reads every call of the session to find one, and
each call is dearer than the last (+0.2 ms a call per 1,000 calls of the
session, measured). With statistics, the session's share of the table decides
it for the primary key, and the ANALYZE itself drops the plans made without
them, every connection's.

So the writer's connection counts the statements it sends and, at
`FIRST_ANALYZE`, twice that, and so on, has the table analyzed: a few times
over a connection's life (each samples at most 30,000 rows: ~60 ms on a
100,000-row table here), never a plan made on an empty table kept for good.
On a connection and a thread of its own, so no write (a Stop's revoke among
them) waits for it; SKIP_LOCKED, so an autovacuum at work on the table, which
does the same, is not waited for either.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["FIRST_ANALYZE", "StatisticsUpkeep"]

FIRST_ANALYZE = 256
"""Statements the writer's connection sends before the calls table is first analyzed (then at twice as many...)."""


class StatisticsUpkeep:
    """Runs `ANALYZE (SKIP_LOCKED) calls` on a connection of its own, in a thread of its own, one at a time."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self.idle = threading.Event()
        """Set when no ANALYZE is under way (the tests wait on it)."""
        self.idle.set()
        self.runs = 0
        """ANALYZEs started so far."""

    def start(self) -> None:
        """Analyze the calls table now, in the background; nothing when one is already under way."""
        with self._lock:
            if not self.idle.is_set():
                return
            self.idle.clear()
            self.runs += 1
        # A daemon: a process that exits mid-ANALYZE drops its connection, and the server stops it.
        threading.Thread(target=self._run, name="agentstop-analyze", daemon=True).start()

    def _run(self) -> None:
        try:
            with self._connect() as conn:
                conn.execute("ANALYZE (SKIP_LOCKED) calls")
        except Exception:
            pass  # statistics are a help, never a condition: no right to, a server gone, a read-only one
        finally:
            self.idle.set()
