"""The SQL of replay's timeline checkpoints (`timeline_checkpoints`, schema v6): a cache, never the truth.

Replay builds the rows once from a session's events (agentstop/replay/checkpoints.py)
and reads them back on every later open, so a long session opens at any event
without walking it from the start. The rows are derived data: deleting them loses
nothing but time, and a row of another `build` (another layout of `state`) is
replaced, not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backend import ReadConnection
from .events import EventKind
from .states import CallState

__all__ = [
    "CheckpointRow",
    "TimelineReads",
    "WalkRow",
    "count_events",
    "read_checkpoint_state",
    "read_checkpoints",
    "save_checkpoints",
]


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint of a session's timeline.

    Attributes:
        position: how many of the session's events were applied (a multiple of the checkpoint interval).
        seq: the seq of the last of them (the next chunk is the events after it).
        marks: JSON, the Stops and Resumes among the interval of events just before this row.
        state: JSON, what the timeline shows at this position ("" when read without it).
    """

    position: int
    seq: int
    marks: str
    state: str = ""


WalkRow = tuple[int, str, str | None, float, str | None]
"""An event as the timeline's walk reads it: (seq, kind, call_id, at, data). `data` (JSON) only when the walk
reads it: for a plan, a thought, a Stop and a Resume, and for an event whose data may hold a "reason";
None otherwise (the walk reads nothing else of it). Decoding every payload was most of a long first open."""

_SESSION_KINDS = (EventKind.TRANSCRIPT, EventKind.REVOKED, EventKind.SESSION_RESUMED)
"""Events about the session, never about a call (the walk never counts them as a call's event)."""
_NOT_A_CALLS = (*_SESSION_KINDS, EventKind.APPROVAL_REQUESTED, EventKind.APPROVED)
"""Kinds that never move a call's row in the timeline (an approval is asked and given in the call's state)."""
_LATE = (CallState.REJECTED, CallState.DISCARDED)


def _quoted(kinds: tuple[str, ...]) -> str:
    return ", ".join(f"'{k.value if isinstance(k, EventKind | CallState) else k}'" for k in kinds)


_WALK_COLUMNS = (
    "seq, kind, call_id, at, CASE WHEN kind IN ("
    + _quoted((CallState.PLANNED, *_SESSION_KINDS))
    + ") OR data LIKE '%\"reason\"%' THEN data END"
)


def _walk_rows(rows: list[Any]) -> list[WalkRow]:
    return rows  # as the drivers give them: int, text, text or NULL, float, text or NULL


class TimelineReads:
    """The queries replay's timeline opens a long session with before (or instead of) walking it.

    Each answers one thing about the events up to a seq with one statement the
    database runs over its index, so the first moment of a session of a million
    events is read in a few scans, not a walk of every event in Python
    (agentstop/replay/seed.py). Plain SQL of both backends.
    """

    def __init__(self, conn: ReadConnection) -> None:
        self._conn = conn

    async def walk(self, session_id: str, after: int, limit: int) -> list[WalkRow]:
        """The session's events after seq `after`, at most `limit`, in order, as the walk reads them."""
        rows = await self._conn.fetchall(
            f"SELECT {_WALK_COLUMNS} FROM events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT {int(limit)}",
            (session_id, after),
        )
        return _walk_rows(rows)

    async def call_events(self, session_id: str, first: int, last: int) -> list[WalkRow]:
        """The events about a call with seq in [`first`, `last`], in order, as the walk reads them."""
        rows = await self._conn.fetchall(
            f"SELECT {_WALK_COLUMNS} FROM events WHERE session_id = ? AND seq >= ? AND seq <= ?"
            f" AND call_id IS NOT NULL AND kind NOT IN ({_quoted(_NOT_A_CALLS)}) ORDER BY seq",
            (session_id, first, last),
        )
        return _walk_rows(rows)

    async def marks(self, session_id: str) -> list[WalkRow]:
        """Every Stop (`revoked`) and Resume (`session_resumed`) of the session, in order."""
        rows = await self._conn.fetchall(
            f"SELECT {_WALK_COLUMNS} FROM events WHERE session_id = ?"
            f" AND kind IN ({_quoted((EventKind.REVOKED, EventKind.SESSION_RESUMED))}) ORDER BY seq",
            (session_id,),
        )
        return _walk_rows(rows)

    async def count(self, session_id: str, after: int, last: int | None = None) -> int:
        """How many of the session's events have a seq after `after` (and at most `last`): an index range."""
        upto = "" if last is None else " AND seq <= ?"
        params = (session_id, after) if last is None else (session_id, after, last)
        rows = await self._conn.fetchall(f"SELECT COUNT(*) FROM events WHERE session_id = ? AND seq > ?{upto}", params)
        return int(rows[0][0])

    async def seq_at(self, session_id: str, position: int) -> int:
        """The seq of the session's event at `position` (0: its first)."""
        rows = await self._conn.fetchall(
            f"SELECT seq FROM events WHERE session_id = ? ORDER BY seq LIMIT 1 OFFSET {int(position)}", (session_id,)
        )
        return int(rows[0][0])

    async def planned(self, session_id: str, last: int) -> int:
        """How many calls the session planned by seq `last` (its `planned` events)."""
        rows = await self._conn.fetchall(
            "SELECT COUNT(*) FROM events WHERE session_id = ? AND kind = ? AND seq <= ?",
            (session_id, CallState.PLANNED.value, last),
        )
        return int(rows[0][0])

    async def nth_last_planned(self, session_id: str, last: int, n: int) -> int | None:
        """The seq of the `n`-th last `planned` event by seq `last` (None: fewer were planned)."""
        rows = await self._conn.fetchall(
            "SELECT seq FROM events WHERE session_id = ? AND kind = ? AND seq <= ?"
            f" ORDER BY seq DESC LIMIT 1 OFFSET {int(n) - 1}",
            (session_id, CallState.PLANNED.value, last),
        )
        return int(rows[0][0]) if rows else None

    async def last_lines(self, session_id: str, last: int, n: int) -> list[WalkRow]:
        """The last `n` thoughts and Resumes (the transcript's lines) by seq `last`, in order."""
        rows = await self._conn.fetchall(
            f"SELECT {_WALK_COLUMNS} FROM events WHERE session_id = ? AND seq <= ?"
            f" AND kind IN ({_quoted((EventKind.TRANSCRIPT, EventKind.SESSION_RESUMED))})"
            f" ORDER BY seq DESC LIMIT {int(n)}",
            (session_id, last),
        )
        return _walk_rows(rows)[::-1]

    async def late_since(self, session_id: str, last: int, since: float) -> dict[str, float]:
        """Calls whose latest event by seq `last` rejected or discarded them at or after instant `since`.

        One scan for the candidates (a `rejected` or `discarded` event at or after
        `since`), then their later events, from the earliest candidate on: a call
        whose latest event is another state is left out.
        """
        rows = await self._conn.fetchall(
            f"SELECT call_id, seq, at FROM events WHERE session_id = ? AND seq <= ? AND kind IN ({_quoted(_LATE)})"
            " AND at >= ? AND call_id IS NOT NULL ORDER BY seq",
            (session_id, last, since),
        )
        if not rows:
            return {}
        ids = sorted({str(r[0]) for r in rows})
        latest: dict[str, tuple[str, float]] = {}
        for i in range(0, len(ids), _IN_CHUNK):
            chunk = ids[i : i + _IN_CHUNK]
            found = await self._conn.fetchall(
                "SELECT call_id, kind, at FROM events WHERE session_id = ? AND seq >= ? AND seq <= ?"
                f" AND kind NOT IN ({_quoted(_NOT_A_CALLS)}) AND call_id IN ({', '.join('?' * len(chunk))})"
                " ORDER BY seq",
                (session_id, int(rows[0][1]), last, *chunk),
            )
            for call_id, kind, at in found:
                latest[str(call_id)] = (str(kind), float(at))
        return {c: at for c, (kind, at) in latest.items() if kind in _LATE}


_IN_CHUNK = 500
"""The most call ids one statement names (SQLite allows 32,766 parameters, older builds 999)."""


async def read_checkpoints(conn: ReadConnection, session_id: str, build: str) -> list[CheckpointRow]:
    """The session's checkpoints of layout `build`, without their (large) state, in order."""
    rows = await conn.fetchall(
        "SELECT position, seq, marks FROM timeline_checkpoints WHERE session_id = ? AND build = ? ORDER BY position",
        (session_id, build),
    )
    return [CheckpointRow(int(r[0]), int(r[1]), str(r[2])) for r in rows]


async def read_checkpoint_state(conn: ReadConnection, session_id: str, build: str, position: int) -> str | None:
    """The state of one checkpoint, or None when there is no such row."""
    rows = await conn.fetchall(
        "SELECT state FROM timeline_checkpoints WHERE session_id = ? AND build = ? AND position = ?",
        (session_id, build, position),
    )
    return str(rows[0][0]) if rows else None


async def count_events(conn: ReadConnection, session_id: str) -> int:
    """How many events the session has (an index range count: no row is decoded)."""
    rows = await conn.fetchall("SELECT COUNT(*) FROM events WHERE session_id = ?", (session_id,))
    return int(rows[0][0])


def save_checkpoints(conn: Any, session_id: str, build: str, rows: list[CheckpointRow]) -> None:
    """Store checkpoints (inside a writer unit): rows of another layout go; a row already there stays.

    Two viewers building the same session at once write the same rows, so the
    second one's are simply not inserted.
    """
    conn.execute("DELETE FROM timeline_checkpoints WHERE session_id = ? AND build <> ?", (session_id, build))
    for row in rows:
        conn.execute(
            "INSERT INTO timeline_checkpoints (session_id, position, seq, build, marks, state)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, position) DO NOTHING",
            (session_id, row.position, row.seq, build, row.marks, row.state),
        )
