"""What the newer kill drills share: their seeds, a journal per drill, and reading it raw to pick a kill moment.

A kill moment is an observable fact, never a clock: "the journal holds its k-th
event", read with a plain connection (no recovery, no migration) so the reader
changes nothing the drill then checks. Seeds: a few in CI, more with
`AGENTSTOP_DRILL_FULL=1`, exactly those of `AGENTSTOP_DRILL_SEEDS=3,7` to replay a
failure (every failure names its seed).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest

__all__ = ["FULL", "call_states", "drill_journal", "last_seq", "seeds", "wait_until"]

FULL = os.environ.get("AGENTSTOP_DRILL_FULL") == "1"


def seeds(backend: str, ci: int, full: int) -> list[int]:
    """The seeds to drill on `backend`: `ci` of them, `full` with AGENTSTOP_DRILL_FULL=1, or those asked for."""
    chosen = os.environ.get("AGENTSTOP_DRILL_SEEDS")
    if chosen:
        return [int(s) for s in chosen.split(",")]
    base = 0 if backend == "sqlite" else 1000
    return list(range(base, base + (full if FULL else ci)))


def _query(target: str, sql: str) -> list[tuple[object, ...]]:
    try:
        if target.startswith("postgresql://"):
            with psycopg.connect(target, connect_timeout=5) as conn:
                return list(conn.execute(sql).fetchall())
        if not Path(target).exists():
            return []
        with closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=5)) as conn:
            return list(conn.execute(sql).fetchall())
    except (sqlite3.Error, psycopg.Error):
        return []  # the schema is still being created


def last_seq(target: str) -> int:
    """The journal's latest event seq (0 while there is none)."""
    rows = _query(target, "SELECT MAX(seq) FROM events")
    return int(rows[0][0] or 0) if rows and rows[0][0] is not None else 0  # type: ignore[call-overload]


def call_states(target: str) -> dict[str, str]:
    """Every call's state, by `session/call id`, read raw."""
    rows = _query(target, "SELECT session_id, call_id, state FROM calls")
    return {f"{sid}/{cid}": str(state) for sid, cid, state in rows}


def wait_until(condition: Callable[[], bool], what: str, within: float = 60.0) -> None:
    """Poll `condition` until it holds; fail naming `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@contextmanager
def drill_journal(backend: str, request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    """A fresh journal for one drill: a file in `tmp` on SQLite, a database of its own on PostgreSQL (dropped after)."""
    if backend == "sqlite":
        yield str(tmp / "journal.db")
        return
    server = request.getfixturevalue("postgres")
    target: str = server.create_database()
    try:
        yield target
    finally:
        server.drop_database(target.rsplit("/", 1)[1])
