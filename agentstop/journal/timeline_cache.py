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

__all__ = ["CheckpointRow", "count_events", "read_checkpoint_state", "read_checkpoints", "save_checkpoints"]


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
