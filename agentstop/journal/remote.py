"""Revoke a session's grant from any process that can open the journal file."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agentstop.errors import JournalBusy, JournalCorrupt, JournalError, JournalTooNew

from . import ops
from .schema import SCHEMA_VERSION, apply_pragmas, user_version

__all__ = ["request_stop_after_step", "revoke"]

T = TypeVar("T")


def revoke(
    journal_path: str | os.PathLike[str],
    session_id: str,
    *,
    by: str = "another process",
    reason: str = "stop requested",
    busy_timeout: float = 5.0,
) -> list[int]:
    """Revoke every live grant of a session, durably, from any process.

    When this returns, no call of that session can enter `committing`: the fence
    reads the grant in the same locked transaction that would record it. A
    running supervisor notices within 100 ms and stops itself.

    Returns:
        The ids of the grants revoked (empty when none was live).

    Raises:
        UnknownSession: the journal has no such session.
        JournalBusy: another writer held the lock for longer than `busy_timeout`.
    """
    def unit(conn: sqlite3.Connection) -> list[int]:
        ops.mark_stop_requested(conn, session_id, by, reason)
        return ops.revoke(conn, session_id, by, reason, time.time())

    return _durably(journal_path, busy_timeout, unit)


def request_stop_after_step(
    journal_path: str | os.PathLike[str],
    session_id: str,
    *,
    by: str = "another process",
    reason: str = "stop after the current step",
    busy_timeout: float = 5.0,
) -> None:
    """Ask a running session to stop once its current step's calls have finished.

    The running supervisor notices within 100 ms; it starts no new step, then
    revokes its grant and stops as usual.
    """

    def unit(conn: sqlite3.Connection) -> None:
        ops.require_session(conn, session_id)
        ops.append_event(conn, session_id, None, "stop_after_step_requested", time.time(),
                         {"by": by, "reason": reason})

    _durably(journal_path, busy_timeout, unit)


def _durably(journal_path: str | os.PathLike[str], busy_timeout: float, unit: Callable[[sqlite3.Connection], T]) -> T:
    """Run `unit` in one durable BEGIN IMMEDIATE transaction on a fresh connection."""
    path = Path(journal_path).expanduser()
    if not path.exists():
        raise JournalError(str(path), "does not exist", "Pass the journal the session writes to.")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        try:
            version = user_version(conn)
        except sqlite3.DatabaseError as exc:
            raise JournalCorrupt(str(path), str(exc)) from exc
        if version > SCHEMA_VERSION:
            raise JournalTooNew(str(path), version, SCHEMA_VERSION)
        if version == 0:
            raise JournalCorrupt(str(path), "no agentstop schema in it")
        apply_pragmas(conn, int(busy_timeout * 1000))
        # What this writes must survive a power cut the moment it returns.
        conn.execute("PRAGMA synchronous = FULL")
        began = time.monotonic()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise JournalBusy(str(path), time.monotonic() - began) from exc
        try:
            result = unit(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result
    finally:
        conn.close()
