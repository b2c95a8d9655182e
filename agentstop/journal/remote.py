"""Revoke a session's grant from any process that can open the journal (file or PostgreSQL URL)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from . import ops
from .events import EventKind
from .opening import open_backend

__all__ = ["STOP_ESCALATED", "escalate_stop", "request_stop", "request_stop_after_step", "revoke"]

STOP_ESCALATED = EventKind.STOP_ESCALATED
"""The session event of Stop pressed again from another process (kept for existing imports)."""

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

    def unit(conn: Any) -> list[int]:
        ops.mark_stop_requested(conn, session_id, by, reason)
        return ops.revoke(conn, session_id, by, reason, time.time())

    return _durably(journal_path, busy_timeout, unit)


def request_stop(
    journal_path: str | os.PathLike[str],
    session_id: str,
    *,
    by: str = "another process",
    reason: str = "stop requested",
    busy_timeout: float = 5.0,
) -> tuple[list[int], str]:
    """Stop a session whatever epoch it is in, durably, from any process: `agentstop stop`.

    Like `revoke`, and binding when there is no live grant to revoke: the
    request is journaled (`stop_requested`), a Resume of the session whose
    process started before it ends before it begins, and a first grant not
    yet issued is born revoked. So a stop never answers "nothing to revoke"
    and then lets a starting epoch commit.

    Returns:
        The grant ids revoked (empty when none was live) and the session's status then.

    Raises:
        UnknownSession: the journal has no such session.
        JournalBusy: another writer held the lock for longer than `busy_timeout`.
    """
    return _durably(
        journal_path, busy_timeout, lambda conn: ops.request_stop(conn, session_id, by, reason, time.time())
    )


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

    def unit(conn: Any) -> None:
        ops.require_session(conn, session_id)
        ops.append_event(
            conn, session_id, None, EventKind.STOP_AFTER_STEP_REQUESTED, time.time(), {"by": by, "reason": reason}
        )
        notify = getattr(conn, "notify", None)
        if notify is not None:
            notify(session_id)

    _durably(journal_path, busy_timeout, unit)


def escalate_stop(
    journal_path: str | os.PathLike[str],
    session_id: str,
    *,
    by: str = "another process",
    busy_timeout: float = 5.0,
) -> None:
    """Stop pressed again, from another process: the stopping session skips the rest of its grace.

    The session's own process hears it within 100 ms (at once on PostgreSQL)
    and cancels every commit still in flight (TRY_CANCEL), settling each by its
    lookup, as when Stop is pressed twice where it runs. It means nothing to a
    session that is not stopping: revoke first.
    """

    def unit(conn: Any) -> None:
        ops.require_session(conn, session_id)
        ops.append_event(conn, session_id, None, STOP_ESCALATED, time.time(), {"by": by})
        notify = getattr(conn, "notify", None)
        if notify is not None:
            notify(session_id)

    _durably(journal_path, busy_timeout, unit)


def _durably(target: str | os.PathLike[str], busy_timeout: float, unit: Callable[[Any], T]) -> T:
    """Run `unit` in one durable write transaction on a fresh connection."""
    backend = open_backend(target, busy_timeout)
    backend.prepare(readonly=True)  # exists, is an agentstop journal, of a version we write
    try:
        conn = backend.connect()
    except backend.driver_errors as exc:
        raise backend.error(exc) from exc
    try:
        # What this writes must survive a power cut the moment it returns.
        backend.begin(conn, durable=True)
        try:
            result = unit(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result
    except backend.driver_errors as exc:
        raise backend.error(exc) from exc
    finally:
        conn.close()
