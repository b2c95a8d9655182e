"""Copy sessions from one journal to another: SQLite to PostgreSQL and back, idempotently.

Each session is read from the source in one snapshot and written to the
destination in one durable transaction, rows as they are: the session, its
grants, its calls and its events. What the destination numbers itself is
remapped so every reference stays true there:

- grant ids: `calls.grant_id`, the `grant_id` of `grant_issued` and `committing`
  events, the `grant_ids` of `revoked` events, and "grant g<id>" in the fence's
  rejection reasons (the call's `reason` and its `rejected` event);
- event seqs: `calls.commit_seq` (what orders undo, latest commit first).

Nothing else is rewritten: the agent's transcript stays as it was said.

A session already in the destination (same id) is skipped, so copying again
copies only what is new. A session still running in the source is copied as
it is at that moment; it may still change there, and a second copy skips it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentstop.errors import JournalError

from .backend import Backend
from .events import EventKind
from .opening import open_backend
from .reads import CALL_COLUMNS, GRANT_COLUMNS, SESSION_COLUMNS
from .records import SessionStatus
from .states import CallState

__all__ = ["CopyProgress", "CopyResult", "copy_sessions"]

_EVENT_COLS = "seq, session_id, call_id, kind, at, data"
_GRANT_INSERT_COLS = GRANT_COLUMNS.replace("grant_id, ", "", 1)
_GRANT_REF = re.compile(r"\bgrant g(\d+)\b")


@dataclass(frozen=True)
class CopyProgress:
    """One session handled by `copy_sessions` (for a progress line).

    Attributes:
        session_id: the session.
        outcome: "copied", or "skipped" (the destination already had it).
        running: it was still running in the source when copied.
        index: how many sessions have been handled, this one included.
        total: how many sessions the source holds.
    """

    session_id: str
    outcome: str
    running: bool
    index: int
    total: int


@dataclass(frozen=True)
class CopyResult:
    """What `copy_sessions` did.

    Attributes:
        copied: the sessions written to the destination, in the source's order.
        skipped: the sessions the destination already had (left as they were there).
        running: the copied sessions that were still running in the source: their
            copy is a snapshot, and the source's later changes are not copied.
    """

    copied: list[str] = field(default_factory=lambda: [])
    skipped: list[str] = field(default_factory=lambda: [])
    running: list[str] = field(default_factory=lambda: [])
    unreadable: list[str] = field(default_factory=lambda: [])
    """Sessions whose rows a damaged source file could not give: left out, the rest copied."""


def copy_sessions(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    busy_timeout: float = 5.0,
    on_session: Callable[[CopyProgress], None] | None = None,
) -> CopyResult:
    """Copy every session of `source` that `destination` lacks. Blocking (run it in a thread from async code).

    Args:
        source: a journal file or a `postgresql://` URL; it must hold a journal. Only read.
        destination: a journal file or URL; created (file, or schema in the database) if missing.
        busy_timeout: how long a write waits for another writer's lock before failing with `JournalBusy`.
        on_session: called after each session, copied or skipped.

    Raises:
        JournalError: either journal cannot be opened, is not an agentstop journal, or
            is of a newer schema (the message names which). Sessions copied before the
            error stay copied: each one is its own transaction, so running again resumes.
    """
    src = open_backend(source, busy_timeout)
    dst = open_backend(destination, busy_timeout)
    src.prepare(readonly=True)
    dst.prepare(readonly=False)
    result = CopyResult()
    src_conn = _connect(src)
    try:
        dst_conn = _connect(dst)
        try:
            listed = [str(r[0]) for r in _guarded(src, _list_sessions, src_conn)]
            present = {str(r[0]) for r in _guarded(dst, _list_sessions, dst_conn)}
            for index, session_id in enumerate(listed, 1):
                copied = running = False
                if session_id not in present:  # (checked again in the write's transaction)
                    try:
                        rows: _Rows = _guarded(src, _read_session, src, src_conn, session_id)
                    except JournalError:
                        if src.kind != "sqlite":
                            raise
                        # A damaged file: salvage every session that still reads whole, name the others.
                        if src_conn.in_transaction:
                            src_conn.execute("ROLLBACK")
                        result.unreadable.append(session_id)
                        continue
                    copied = _guarded(dst, _write_session, dst, dst_conn, rows)
                    running = copied and rows.session[_STATUS] == SessionStatus.RUNNING
                (result.copied if copied else result.skipped).append(session_id)
                if running:
                    result.running.append(session_id)
                if on_session is not None:
                    on_session(CopyProgress(session_id, "copied" if copied else "skipped", running, index, len(listed)))
        finally:
            dst_conn.close()
    finally:
        src_conn.close()
    return result


# -- rows -----------------------------------------------------------------------------

_STATUS = SESSION_COLUMNS.replace(" ", "").split(",").index("status")
_CALL_NAMES = CALL_COLUMNS.replace(" ", "").split(",")
_CALL_GRANT, _CALL_REASON, _CALL_COMMIT_SEQ = (_CALL_NAMES.index(c) for c in ("grant_id", "reason", "commit_seq"))


@dataclass(frozen=True)
class _Rows:
    session: tuple[Any, ...]
    grants: list[tuple[Any, ...]]
    calls: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]


def _connect(backend: Backend) -> Any:
    try:
        return backend.connect()
    except backend.driver_errors as exc:
        raise backend.error(exc) from exc


def _guarded(backend: Backend, fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn(*args)`, turning the driver's errors into the `JournalError` they mean."""
    try:
        return fn(*args)
    except JournalError:
        raise
    except backend.driver_errors as exc:
        raise backend.error(exc) from exc


def _list_sessions(conn: Any) -> list[Any]:
    rows: list[Any] = conn.execute("SELECT session_id FROM sessions ORDER BY started_at, session_id").fetchall()
    return rows


def _read_session(backend: Backend, conn: Any, session_id: str) -> _Rows:
    """The session's rows, read in one snapshot so a running session is copied consistently."""
    conn.execute("BEGIN")
    try:
        if backend.kind == "postgresql":
            # READ COMMITTED (the default) would let a running session change between the four reads.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        session = conn.execute(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if session is None:  # sessions are never deleted: the journal changed under us
            raise JournalError(
                backend.where,
                f"session {session_id} vanished while it was being copied",
                "Check what else writes to this journal, then copy again.",
            )
        grants = conn.execute(
            f"SELECT {GRANT_COLUMNS} FROM grants WHERE session_id = ? ORDER BY grant_id", (session_id,)
        ).fetchall()
        calls = conn.execute(
            f"SELECT {CALL_COLUMNS} FROM calls WHERE session_id = ? ORDER BY n", (session_id,)
        ).fetchall()
        events = conn.execute(
            f"SELECT {_EVENT_COLS} FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
        return _Rows(tuple(session), [tuple(g) for g in grants], [tuple(c) for c in calls], [tuple(e) for e in events])
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")  # it only read


def _write_session(backend: Backend, conn: Any, rows: _Rows) -> bool:
    """Insert one session in one durable transaction; False when the destination already has it."""
    session_id = rows.session[0]
    # Durable: `copy` reports a session copied only once it would survive a power cut.
    backend.begin(conn, durable=True)
    try:
        if _exists(conn, session_id):
            conn.execute("ROLLBACK")
            return False
        conn.execute(f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({_marks(rows.session)})", rows.session)
        grants: dict[int, int] = {}
        for g in rows.grants:
            new = conn.execute(
                f"INSERT INTO grants ({_GRANT_INSERT_COLS}) VALUES ({_marks(g[1:])}) RETURNING grant_id", g[1:]
            ).fetchone()[0]
            grants[int(g[0])] = int(new)
        seqs: dict[int, int] = {}
        for e in rows.events:
            data = _remap_event(e[3], e[5], grants)
            new = conn.execute(
                "INSERT INTO events (session_id, call_id, kind, at, data) VALUES (?, ?, ?, ?, ?) RETURNING seq",
                (e[1], e[2], e[3], e[4], data),
            ).fetchone()[0]
            seqs[int(e[0])] = int(new)
        for c in rows.calls:
            call = list(c)
            if call[_CALL_GRANT] is not None:
                call[_CALL_GRANT] = grants.get(int(call[_CALL_GRANT]), call[_CALL_GRANT])
            if call[_CALL_COMMIT_SEQ] is not None:
                call[_CALL_COMMIT_SEQ] = seqs.get(int(call[_CALL_COMMIT_SEQ]), call[_CALL_COMMIT_SEQ])
            if call[_CALL_REASON] is not None:
                call[_CALL_REASON] = _remap_reason(call[_CALL_REASON], grants)
            conn.execute(f"INSERT INTO calls ({CALL_COLUMNS}) VALUES ({_marks(call)})", call)
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, backend.driver_errors) and _exists(conn, session_id):
            return False  # another copy wrote it meanwhile (PostgreSQL: the insert waited for it, then clashed)
        raise
    return True


def _exists(conn: Any, session_id: str) -> bool:
    return conn.execute("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)).fetchone() is not None


def _marks(values: Any) -> str:
    return ", ".join("?" * len(values))


def _remap_reason(text: str, grants: dict[int, int]) -> str:
    return _GRANT_REF.sub(lambda m: f"grant g{grants.get(int(m.group(1)), int(m.group(1)))}", text)


def _remap_event(kind: str, data: str, grants: dict[int, int]) -> str:
    """The event's data with the grant ids it names replaced by the destination's (other kinds: as they were)."""
    if kind not in (EventKind.GRANT_ISSUED, CallState.COMMITTING, EventKind.REVOKED, CallState.REJECTED) or not grants:
        return data
    value = json.loads(data)
    if not isinstance(value, dict):
        return data
    changed = dict(value)
    if isinstance(value.get("grant_id"), int):
        changed["grant_id"] = grants.get(value["grant_id"], value["grant_id"])
    if isinstance(value.get("grant_ids"), list):
        changed["grant_ids"] = [grants.get(g, g) if isinstance(g, int) else g for g in value["grant_ids"]]
    if isinstance(value.get("reason"), str):
        changed["reason"] = _remap_reason(value["reason"], grants)
    if changed == value:
        return data  # byte for byte as the source wrote it
    return json.dumps(changed, default=str, separators=(",", ":"))
