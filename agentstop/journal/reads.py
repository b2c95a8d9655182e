"""The journal's reads: row-to-record mapping and the queries readers run."""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from agentstop.errors import JournalCorrupt

from .backend import ReadConnection
from .events import parse_kind
from .owner import Owner
from .policies import Reversibility, StopPolicy
from .records import CallRecord, Event, GrantRecord, SessionRecord, gc_paused, loads, record
from .states import CallState
from .status import SessionStatus

__all__ = ["CALL_COLUMNS", "GRANT_COLUMNS", "SESSION_COLUMNS", "Reader", "RowOrder"]

T = TypeVar("T")

SESSION_COLUMNS = (
    "session_id, task_name, goal, task_path, tools, started_at, ended_at, status, stopped_by, stop_reason,"
    " pid, host, heartbeat_at, meta, stop_requested_at"
)
"""Every column of `sessions`: what a read selects (and `_session` takes by position), and a copy writes back."""

CALL_COLUMNS = (
    "session_id, call_id, n, tool, summary, resource, args, reversibility, on_stop, can_compensate,"
    " can_lookup, undo_hint, idempotency_key, grant_id, state, reason, prepared, receipt, planned_at,"
    " fence_at, committed_at, commit_seq, ended_at, updated_at, undo_attempts, undo_error, undo_by, can_reapply,"
    " reapplies, reapply_error, worker_pid, worker_host, worker_started_at, lease_until"
)
"""Every column of `calls`: what a read selects (and `_call` takes by position), and a copy writes back."""

_REPORT_COLS = (
    "call_id, n, tool, summary, resource, args, reversibility, state, reason, prepared, receipt, planned_at,"
    " fence_at, committed_at, ended_at, updated_at, grant_id, can_compensate, undo_hint, undo_attempts,"
    " undo_error, reapply_error, can_reapply, reapplies, commit_seq"
)
"""The call columns a report shows, in the order `Report` takes them (agentstop/report.py `_ROW_FIELDS`)."""

GRANT_COLUMNS = (
    "grant_id, session_id, tools, scopes, issued_at, expires_at, max_calls, calls_used, revoked_at,"
    " revoked_by, revoke_reason"
)
"""Every column of `grants`: what a read selects (and `_grant` takes by position), and a copy writes back."""


def _session(r: Any) -> SessionRecord:
    return SessionRecord(
        session_id=r[0],
        task_name=r[1],
        goal=r[2],
        task_path=r[3],
        tools=loads(r[4]),
        started_at=r[5],
        ended_at=r[6],
        status=_member(_STATUSES, r[7], "session status"),
        stopped_by=r[8],
        stop_reason=r[9],
        pid=r[10],
        host=r[11],
        heartbeat_at=r[12],
        meta=loads(r[13]),
        stop_requested_at=r[14],
    )


_STATES = frozenset(s.value for s in CallState)

# Stored text to member: a dict lookup, cheaper than calling the enum, for the 10,000 rows a report may read.
_STATE_OF = {s.value: s for s in CallState}
_STATUSES = {s.value: s for s in SessionStatus}
_REVERSIBILITIES = {r.value: r for r in Reversibility}
_STOP_POLICIES = {p.value: p for p in StopPolicy}


def _member(members: dict[str, T], text: str, what: str) -> T:
    """The member stored as `text`; a value this version does not know means the row is damaged (or newer)."""
    member = members.get(text)
    if member is None:
        raise ValueError(f"unknown {what} {text!r}")
    return member


def _call(r: Any) -> CallRecord:
    return record(
        CallRecord,
        {
            "session_id": r[0],
            "call_id": r[1],
            "n": r[2],
            "tool": r[3],
            "summary": r[4],
            "resource": r[5],
            "args": loads(r[6]),
            "reversibility": _member(_REVERSIBILITIES, r[7], "reversibility"),
            "on_stop": _member(_STOP_POLICIES, r[8], "stop policy"),
            "can_compensate": bool(r[9]),
            "can_lookup": bool(r[10]),
            "undo_hint": r[11],
            "idempotency_key": r[12],
            "grant_id": r[13],
            "state": _member(_STATE_OF, r[14], "call state"),
            "reason": r[15],
            "prepared": loads(r[16]),
            "receipt": loads(r[17]),
            "planned_at": r[18],
            "fence_at": r[19],
            "committed_at": r[20],
            "commit_seq": r[21],
            "ended_at": r[22],
            "updated_at": r[23],
            "undo_attempts": r[24],
            "undo_error": r[25],
            "undo_by": r[26],
            "can_reapply": bool(r[27]),
            "reapplies": r[28],
            "reapply_error": r[29],
            "worker": None if r[30] is None else Owner(int(r[30]), str(r[31]), r[32]),
            "lease_until": r[33],
        },
    )


def _grant(r: Any) -> GrantRecord:
    return GrantRecord(
        grant_id=r[0],
        session_id=r[1],
        tools=loads(r[2]),
        scopes=loads(r[3]),
        issued_at=r[4],
        expires_at=r[5],
        max_calls=r[6],
        calls_used=r[7],
        revoked_at=r[8],
        revoked_by=r[9],
        revoke_reason=r[10],
    )


def _event(r: Any) -> Event:
    return record(
        Event,
        {"seq": r[0], "session_id": r[1], "call_id": r[2], "kind": parse_kind(r[3]), "at": r[4], "data": loads(r[5])},
    )


_IN_CHUNK = 500
"""The most call ids one `report_rows` statement names (SQLite allows 32,766 parameters, older builds 999)."""


def _number(row: Any) -> int:
    n: int = row[1]
    return n


class RowOrder(enum.Enum):
    """The order a windowed read of report rows (`Journal.report_row_windows`) walks a session's calls in."""

    PLANNED = "planned"
    """By call number: the order the calls were planned (Done, Interrupted and In flight are listed in it)."""

    LATEST_COMMIT = "latest_commit"
    """Latest commit first, by `commit_seq` (then call number); calls that never committed are left out.
    The order Undo all runs in, and Undoable is listed in."""


_N = _REPORT_COLS.split(", ").index("n")


def _in(states: Collection[CallState]) -> tuple[str, tuple[str, ...]]:
    """`state IN (?, ...)` and its parameters, in a fixed order (the same statement text for the same set)."""
    values = tuple(sorted(s.value for s in states))
    return f"state IN ({', '.join('?' * len(values))})", values


class Reader:
    """Read queries over one backend read connection (autocommit: no stale snapshots)."""

    def __init__(self, conn: ReadConnection, path: str) -> None:
        self._conn = conn
        self._path = path

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return await self._conn.fetchall(sql, params)

    def _map(self, rows: list[Any], record: Callable[[Any], T]) -> list[T]:
        """Rows to records; a row that does not decode means the file is damaged."""
        try:
            with gc_paused():
                return [record(r) for r in rows]
        except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise JournalCorrupt(self._path, f"a row does not decode: {type(exc).__name__}: {exc}") from exc

    async def events(self, session_id: str | None, after: int, limit: int | None) -> list[Event]:
        where = "seq > ?" if session_id is None else "session_id = ? AND seq > ?"
        params: tuple[Any, ...] = (after,) if session_id is None else (session_id, after)
        lim = "" if limit is None else f" LIMIT {int(limit)}"
        rows = await self._all(
            f"SELECT seq, session_id, call_id, kind, at, data FROM events WHERE {where} ORDER BY seq{lim}", params
        )
        return self._map(rows, _event)

    async def event_rows(self, session_id: str, after: int, limit: int) -> list[Any]:
        """At most `limit` of the session's events after seq `after`, undecoded: (seq, call_id, kind, at, data)."""
        return await self._all(
            "SELECT seq, call_id, kind, at, data FROM events WHERE session_id = ? AND seq > ?"
            f" ORDER BY seq LIMIT {int(limit)}",
            (session_id, after),
        )

    async def last_event_seq(self, session_id: str) -> int:
        """The seq of the session's latest event (0 if none): one look at the (session_id, seq) index."""
        rows = await self._all("SELECT MAX(seq) FROM events WHERE session_id = ?", (session_id,))
        return int(rows[0][0] or 0)

    async def sessions(self) -> list[SessionRecord]:
        rows = await self._all(f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY started_at, session_id")
        return self._map(rows, _session)

    async def session(self, session_id: str) -> SessionRecord | None:
        rows = await self._all(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,))
        return self._map(rows, _session)[0] if rows else None

    async def calls(self, session_id: str) -> list[CallRecord]:
        rows = await self._all(f"SELECT {CALL_COLUMNS} FROM calls WHERE session_id = ? ORDER BY n", (session_id,))
        return self._map(rows, _call)

    async def report_rows(self, session_id: str, call_ids: Collection[str] | None = None) -> list[Any]:
        """The session's calls as rows of `_REPORT_COLS`, in the order they were planned, undecoded.

        With `call_ids`, only those calls (ids it does not hold are left out): a live report re-reads
        the calls a batch of events touched. The ids go in `IN` lists of at most `_IN_CHUNK`, under
        every database's limit on a statement's parameters.
        """
        if call_ids is None:
            rows = await self._all(f"SELECT {_REPORT_COLS} FROM calls WHERE session_id = ? ORDER BY n", (session_id,))
        else:
            wanted = sorted(set(call_ids))
            rows = []
            for at in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[at : at + _IN_CHUNK]
                # No ORDER BY: with one, SQLite walks the session's (session_id, n) index, every call of
                # it, instead of looking each id up by the primary key. The few rows are sorted here.
                rows += await self._all(
                    f"SELECT {_REPORT_COLS} FROM calls WHERE session_id = ? AND call_id IN"
                    f" ({', '.join('?' * len(chunk))})",
                    (session_id, *chunk),
                )
            rows.sort(key=_number)
        unknown = {r[7] for r in rows} - _STATES
        if unknown:  # a state this version does not know: the file is damaged (or newer)
            raise JournalCorrupt(self._path, f"a row does not decode: unknown call state {sorted(unknown)[0]!r}")
        return rows

    async def report_rows_window(
        self, session_id: str, states: Collection[CallState], after: Sequence[Any] | None, limit: int
    ) -> list[Any]:
        """At most `limit` rows of `_REPORT_COLS` of the session's calls in `states`, in planned order, after `after`.

        `after` is the last row of the previous window (None for the first): each window starts where
        the last one ended (keyset paging on the (session_id, n) index, no OFFSET), so a walk of every
        window reads each row once.
        """
        where, params = _in(states)
        if after is not None:
            where += " AND n > ?"
            params += (after[_N],)
        sql = f"SELECT {_REPORT_COLS} FROM calls WHERE session_id = ? AND {where} ORDER BY n LIMIT {int(limit)}"
        return await self._all(sql, (session_id, *params))

    async def latest_commit_ids(self, session_id: str, states: Collection[CallState]) -> list[str]:
        """The ids of the session's committed calls in `states`, latest commit first (then by call number).

        Latest-commit order has no index of its own: one sort of the keys alone, then the
        rows are read by id a window at a time (`report_rows`), instead of sorting every
        candidate row whole for each window.
        """
        where, params = _in(states)
        rows = await self._all(
            f"SELECT call_id FROM calls WHERE session_id = ? AND {where} AND commit_seq IS NOT NULL"
            " ORDER BY commit_seq DESC, n",
            (session_id, *params),
        )
        return [r[0] for r in rows]

    async def state_counts(self, session_id: str) -> dict[int | None, dict[CallState, int]]:
        """How many of the session's calls are in each state, per grant they were planned under (none left out).

        Raises:
            JournalCorrupt: a call is in a state this version does not know (the file is damaged, or newer).
        """
        rows = await self._all(
            "SELECT grant_id, state, COUNT(*) FROM calls WHERE session_id = ? GROUP BY grant_id, state", (session_id,)
        )
        unknown = sorted(r[1] for r in rows if r[1] not in _STATES)
        if unknown:
            raise JournalCorrupt(self._path, f"a row does not decode: unknown call state {unknown[0]!r}")
        counts: dict[int | None, dict[CallState, int]] = {}
        for grant_id, state, n in rows:
            counts.setdefault(grant_id, {})[_STATE_OF[state]] = int(n)
        return counts

    async def calls_in(self, session_id: str, states: Collection[CallState]) -> list[CallRecord]:
        """The session's calls in `states`, in the order they were planned."""
        where, params = _in(states)
        rows = await self._all(
            f"SELECT {CALL_COLUMNS} FROM calls WHERE session_id = ? AND {where} ORDER BY n", (session_id, *params)
        )
        return self._map(rows, _call)

    async def call(self, session_id: str, call_id: str) -> CallRecord | None:
        rows = await self._all(
            f"SELECT {CALL_COLUMNS} FROM calls WHERE session_id = ? AND call_id = ?", (session_id, call_id)
        )
        return self._map(rows, _call)[0] if rows else None

    async def calls_by_key(self, key: str, session_id: str | None = None) -> list[CallRecord]:
        if session_id is None:
            rows = await self._all(
                f"SELECT {CALL_COLUMNS} FROM calls WHERE idempotency_key = ? ORDER BY session_id, n", (key,)
            )
        else:
            rows = await self._all(
                f"SELECT {CALL_COLUMNS} FROM calls WHERE idempotency_key = ? AND session_id = ? ORDER BY n",
                (key, session_id),
            )
        return self._map(rows, _call)

    async def grants(self, session_id: str) -> list[GrantRecord]:
        rows = await self._all(
            f"SELECT {GRANT_COLUMNS} FROM grants WHERE session_id = ? ORDER BY grant_id", (session_id,)
        )
        return self._map(rows, _grant)
