"""Revoke a session's grant from any process that can open the journal file."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from agentstop.errors import JournalBusy, JournalCorrupt, JournalError, JournalTooNew

from . import ops
from .schema import SCHEMA_VERSION, apply_pragmas, user_version

__all__ = ["revoke"]


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
        # A revoke must survive a power cut the moment this returns.
        conn.execute("PRAGMA synchronous = FULL")
        began = time.monotonic()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise JournalBusy(str(path), time.monotonic() - began) from exc
        try:
            ops.mark_stop_requested(conn, session_id, by, reason)
            ids = ops.revoke(conn, session_id, by, reason, time.time())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return ids
    finally:
        conn.close()
