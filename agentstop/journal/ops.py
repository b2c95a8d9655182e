"""The journal's writes, each a function over one connection inside one transaction.

The writer thread runs them (see writer.py); `remote.revoke` also runs them from
a plain connection in another process. Every write appends an event and updates
the materialised row in the same transaction, so the two never disagree.

The SQL is the dialect SQLite and PostgreSQL share (`?` placeholders, which the
PostgreSQL connection translates; `RETURNING`). Where they differ, the
connection says so: `for_update` is the row-lock clause PostgreSQL needs for
the fence (SQLite's `BEGIN IMMEDIATE` already locks the whole file), `notify`
tells other processes of a revoke, `where` names the journal in errors.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from agentstop.errors import CallTaken, IllegalTransition, JournalError, UnknownCall, UnknownSession
from agentstop.grant import FenceRefusal, GrantSpec, GrantState, fence_verdict
from agentstop.redact import scrub

from .events import EventKind
from .owner import Owner
from .records import record
from .states import CallState, can_move
from .status import SessionStatus

__all__ = [
    "add_session_tool",
    "append_event",
    "create_session",
    "end_session",
    "fence",
    "heartbeat",
    "issue_grant",
    "mark_stop_requested",
    "plan_and_fence",
    "plan_call",
    "reopen_session",
    "request_stop",
    "require_session",
    "resume_session",
    "revoke",
    "transition",
]


_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
"""`json.dumps(value, default=str, separators=(",", ":"))`, without building an encoder for every value
(a gated call writes seven)."""


def _json(value: Any) -> str:
    # Every JSON column (event payloads, transcripts, args, prepared effects, receipts) is scrubbed of
    # registered secrets as it is written: nothing a model or a server echoes reaches the file or its WAL.
    return scrub(_encode(value))


def _encode(value: Any) -> str:
    """`_ENCODER.encode(value)`, through json's C encoder directly (what `encode` builds for each value).

    `JSONEncoder.encode` spends more on its Python steps than the C encoder on a small
    payload, and a gated call writes seven; these are its steps for this encoder's settings
    (cycles checked, `default=str`, ASCII, compact, no sorting, no skipped keys, NaN allowed).
    """
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if c_make_encoder is None:  # a Python without json's C speedups
        return _ENCODER.encode(value)
    return "".join(c_make_encoder({}, str, encode_basestring_ascii, None, ":", ",", False, False, True)(value, 0))


def _text(value: str | None) -> str | None:
    """A free-text column (a summary, a reason, an error), scrubbed like the JSON ones."""
    return None if value is None else scrub(value)


_INSERT_EVENT = "INSERT INTO events (session_id, call_id, kind, at, data) VALUES (?, ?, ?, ?, ?)"


def append_event(
    conn: Any,
    session_id: str,
    call_id: str | None,
    kind: str,
    at: float,
    data: dict[str, Any] | None = None,
) -> int:
    """Append one event; returns its seq."""
    return int(_queue_event(conn, session_id, call_id, kind, at, data).fetchone()[0])


def _queue_event(
    conn: Any, session_id: str, call_id: str | None, kind: str, at: float, data: dict[str, Any] | None
) -> Any:
    """Append one event; returns the cursor whose one row is its seq.

    On PostgreSQL the insert is only queued (see postgres.PgConnection): reading
    the seq waits for the server, so read it where it is needed, not before.
    """
    return conn.execute(_INSERT_EVENT + " RETURNING seq", (session_id, call_id, kind, at, _json(data or {})))


def _log_event(
    conn: Any, session_id: str, call_id: str | None, kind: str, at: float, data: dict[str, Any] | None = None
) -> None:
    """Append one event whose seq nobody needs (on PostgreSQL it then travels with the COMMIT)."""
    conn.execute(_INSERT_EVENT, (session_id, call_id, kind, at, _json(data or {})))


#: States a person's command takes a call into, and what it is then doing to it.
_OWNED = {CallState.COMPENSATING: "undone", CallState.REAPPLYING: "re-applied"}


def _taken(conn: Any, session_id: str, call_id: str, current: CallState, wanted: CallState) -> IllegalTransition:
    """The error for an undo/re-apply that lost the call: who took it (from its latest `wanted` event)."""
    row = conn.execute(
        "SELECT data FROM events WHERE session_id = ? AND call_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1",
        (session_id, call_id, wanted.value),
    ).fetchone()
    if row is None:
        return IllegalTransition(where(conn), call_id, current.value, wanted.value)
    data = json.loads(row[0]) if isinstance(row[0], str) else dict(row[0] or {})
    worker = data.get("worker") or {}
    pid, host, by = worker.get("pid"), worker.get("host"), data.get("by")
    owner = (f"pid {pid} on host {host}" if pid is not None else "another process") + (f" ({by})" if by else "")
    return CallTaken(where(conn), call_id, current.value, wanted.value, _OWNED[wanted], owner)


def where(conn: Any) -> str:
    """The journal a connection is open on, for error messages."""
    name = getattr(conn, "where", None)
    if isinstance(name, str):
        return name
    return str(conn.execute("PRAGMA database_list").fetchone()[2])


def create_session(
    conn: Any,
    *,
    session_id: str,
    task_name: str,
    goal: str,
    task_path: str | None,
    tools: list[str],
    pid: int,
    host: str,
    meta: dict[str, Any],
    at: float,
) -> None:
    """Insert a running session and its `session_started` event."""
    conn.execute(
        "INSERT INTO sessions (session_id, task_name, goal, task_path, tools, started_at, status,"
        " pid, host, heartbeat_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (session_id, task_name, goal, task_path, _json(tools), at, SessionStatus.RUNNING, pid, host, at, _json(meta)),
    )
    append_event(
        conn, session_id, None, EventKind.SESSION_STARTED, at, {"task_name": task_name, "pid": pid, "host": host}
    )


def reopen_session(conn: Any, session_id: str, *, pid: int, host: str, by: str, instruction: str, at: float) -> int:
    """Run an ended session again (Resume): running, owned by this process; returns the new epoch.

    An epoch is one grant's stretch of the session: the first grant is epoch 1,
    and each Resume issues the next grant (the caller does, right after this).
    """
    row = conn.execute("SELECT status FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
    if row is None:
        raise UnknownSession(where(conn), session_id)
    if row[0] == SessionStatus.RUNNING:
        raise JournalError(
            where(conn),
            f"session {session_id} is still running",
            "Resume a session once it has stopped (agentstop stop), or wait for it to end.",
        )
    epoch = int(conn.execute("SELECT COUNT(*) FROM grants WHERE session_id = ?", (session_id,)).fetchone()[0]) + 1
    conn.execute(
        "UPDATE sessions SET status = ?, ended_at = NULL, stopped_by = NULL, stop_reason = NULL, pid = ?,"
        " host = ?, heartbeat_at = ? WHERE session_id = ?",
        (SessionStatus.RUNNING, pid, host, at, session_id),
    )
    append_event(
        conn,
        session_id,
        None,
        EventKind.SESSION_RESUMED,
        at,
        {"epoch": epoch, "by": by, "instruction": instruction, "previous_status": row[0], "pid": pid, "host": host},
    )
    return epoch


def add_session_tool(conn: Any, session_id: str, path: str | None, name: str) -> bool:
    """Record one more tool of a running session (import path, None if it has none, and name); False if known."""
    row = conn.execute("SELECT tools, meta FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
    if row is None:
        raise UnknownSession(where(conn), session_id)
    tools: list[str] = json.loads(row[0]) if row[0] else []
    meta: dict[str, Any] = json.loads(row[1]) if row[1] else {}
    names: list[str] = list(meta.get("tool_names", []))
    if (path is None or path in tools) and name in names:
        return False
    if path is not None and path not in tools:
        tools.append(path)
    if name not in names:
        names.append(name)
    conn.execute(
        "UPDATE sessions SET tools = ?, meta = ? WHERE session_id = ?",
        (_json(tools), _json({**meta, "tool_names": names}), session_id),
    )
    return True


def resume_session(
    conn: Any,
    session_id: str,
    spec: GrantSpec,
    *,
    pid: int,
    host: str,
    by: str,
    instruction: str,
    at: float,
    asked_at: float | None,
) -> tuple[int, int, str | None]:
    """Resume an ended session and issue its new epoch's grant, in one transaction.

    One transaction, so no Stop can find the session running with no grant to
    revoke. A stop requested at or after `asked_at` (when the Resume was asked
    for: its process started) binds this epoch: it is journaled, its grant
    born revoked, and it ends at once, stopped "before it began", so nothing
    of it can commit.

    Returns:
        (epoch, grant id, None), or with the third item the reason the epoch
        was stopped before it began.
    """
    row = conn.execute(
        f"SELECT stop_requested_at FROM sessions WHERE session_id = ?{getattr(conn, 'for_update', '')}", (session_id,)
    ).fetchone()
    epoch = reopen_session(conn, session_id, pid=pid, host=host, by=by, instruction=instruction, at=at)
    grant_id = _insert_grant(conn, session_id, spec, at)
    requested = row[0] if row is not None else None
    if asked_at is None or requested is None or requested < asked_at:
        return epoch, grant_id, None
    stopper, reason = _last_stop(conn, session_id)
    why = f"stopped before it began by {stopper}: {reason}"
    revoke(conn, session_id, stopper, why, at)
    end_session(conn, session_id, SessionStatus.STOPPED, at, stopped_by=stopper, stop_reason=why)
    return epoch, grant_id, why


def require_session(conn: Any, session_id: str) -> None:
    if conn.execute("SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)).fetchone() is None:
        raise UnknownSession(where(conn), session_id)


def issue_grant(conn: Any, session_id: str, spec: GrantSpec, at: float) -> int:
    """Insert a grant for the session; returns its id.

    A stop requested for a running session before its first grant (between
    `create_session` and this) is obeyed: the grant is born revoked.
    """
    row = conn.execute(
        "SELECT status, stop_requested_at, started_at FROM sessions WHERE session_id = ?", (session_id,)
    ).fetchone()
    if row is None:
        raise UnknownSession(where(conn), session_id)
    grant_id = _insert_grant(conn, session_id, spec, at)
    if row[0] == SessionStatus.RUNNING and row[1] is not None and row[1] >= row[2]:
        first = conn.execute("SELECT COUNT(*) FROM grants WHERE session_id = ?", (session_id,)).fetchone()[0] == 1
        if first:
            by, reason = _last_stop(conn, session_id)
            revoke(conn, session_id, by, f"stopped before it began by {by}: {reason}", at)
    return grant_id


def _last_stop(conn: Any, session_id: str) -> tuple[str, str]:
    """Who asked for the session's latest stop, and why (from its latest stop event)."""
    row = conn.execute(
        "SELECT data FROM events WHERE session_id = ? AND kind IN (?, ?) ORDER BY seq DESC LIMIT 1",
        (session_id, EventKind.REVOKED, EventKind.STOP_REQUESTED),
    ).fetchone()
    data = json.loads(row[0]) if row is not None else {}
    return str(data.get("by") or "another process"), str(data.get("reason") or "stop requested")


def _insert_grant(conn: Any, session_id: str, spec: GrantSpec, at: float) -> int:
    ttl = spec.ttl_seconds
    expires = None if ttl is None else at + ttl
    grant_id = int(
        conn.execute(
            "INSERT INTO grants (session_id, tools, scopes, issued_at, expires_at, max_calls)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING grant_id",
            (session_id, _json(spec.tools), _json(spec.scopes), at, expires, spec.max_calls),
        ).fetchone()[0]
    )
    append_event(
        conn,
        session_id,
        None,
        EventKind.GRANT_ISSUED,
        at,
        {
            "grant_id": grant_id,
            "tools": spec.tools,
            "scopes": spec.scopes,
            "expires_at": expires,
            "max_calls": spec.max_calls,
        },
    )
    return grant_id


def _next_number(conn: Any, session_id: str) -> int:
    """The session's next call number, from its counter row (schema v5): one statement per call.

    A session with no counter row yet (no call planned, or its calls written before v5 or copied in)
    gets one here, from its calls' MAX(n): once per session. Finding no session raises `UnknownSession`.
    """
    row = conn.execute(
        "UPDATE call_numbers SET last_n = last_n + 1 WHERE session_id = ? RETURNING last_n", (session_id,)
    ).fetchone()
    if row is not None:
        return int(row[0])
    require_session(conn, session_id)
    n = int(conn.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM calls WHERE session_id = ?", (session_id,)).fetchone()[0])
    conn.execute("INSERT INTO call_numbers (session_id, last_n) VALUES (?, ?)", (session_id, n))
    return n


def plan_call(
    conn: Any,
    *,
    session_id: str,
    tool: str,
    summary: str,
    resource: str,
    args: Any,
    reversibility: str,
    on_stop: str,
    can_compensate: bool,
    can_lookup: bool,
    undo_hint: str,
    idempotency_key: str,
    grant_id: int | None,
    at: float,
    reason: str | None = None,
    can_reapply: bool = False,
) -> str:
    """Record a new call as planned; returns its call id ("c1", "c2", ...)."""
    call_id = _insert_call(
        conn,
        session_id=session_id,
        tool=tool,
        summary=summary,
        resource=resource,
        args=args,
        reversibility=reversibility,
        on_stop=on_stop,
        can_compensate=can_compensate,
        can_lookup=can_lookup,
        undo_hint=undo_hint,
        idempotency_key=idempotency_key,
        grant_id=grant_id,
        at=at,
        can_reapply=can_reapply,
    )
    _log_event(
        conn,
        session_id,
        call_id,
        CallState.PLANNED.value,
        at,
        {"tool": tool, "summary": summary, "resource": resource, "args": args},
    )
    return call_id


def _insert_call(
    conn: Any,
    *,
    session_id: str,
    tool: str,
    summary: str,
    resource: str,
    args: Any,
    reversibility: str,
    on_stop: str,
    can_compensate: bool,
    can_lookup: bool,
    undo_hint: str,
    idempotency_key: str,
    grant_id: int | None,
    at: float,
    can_reapply: bool = False,
    n: int | None = None,
    fenced: tuple[Any] | None = None,
) -> str:
    """Number a new call (unless given `n`) and insert its row, planned (its `planned` event is the caller's).

    With `fenced` (the prepared effect, in a tuple: it may be None), the row goes
    in as the fence leaves a call that passed (`committing`, its prepared effect,
    `fence_at`) instead of planned: what planning and then fencing it writes, in one statement.
    """
    n = _next_number(conn, session_id) if n is None else n
    call_id = f"c{n}"
    columns, values = _call_row(
        tool=tool,
        summary=summary,
        resource=resource,
        args=args,
        reversibility=reversibility,
        on_stop=on_stop,
        can_compensate=can_compensate,
        can_lookup=can_lookup,
        undo_hint=undo_hint,
        idempotency_key=idempotency_key,
        grant_id=grant_id,
        at=at,
        can_reapply=can_reapply,
    )
    if fenced is not None:
        values[columns.index("state")] = CallState.COMMITTING.value
        columns += ["prepared", "fence_at"]
        values += [None if fenced[0] is None else _json(fenced[0]), at]
    conn.execute(_insert_calls_sql(tuple(columns)), (session_id, call_id, n, *values))
    return call_id


@functools.lru_cache(maxsize=8)
def _insert_calls_sql(columns: tuple[str, ...]) -> str:
    """The INSERT of a call's row with these columns after its session, id and number (built once per shape)."""
    return f"INSERT INTO calls (session_id, call_id, n, {', '.join(columns)}) VALUES (?, ?, ?, {_marks(columns)})"


def _marks(items: Any) -> str:
    return ", ".join("?" for _ in items)


def _call_row(
    *,
    tool: str,
    summary: str,
    resource: str,
    args: Any,
    reversibility: str,
    on_stop: str,
    can_compensate: bool,
    can_lookup: bool,
    undo_hint: str,
    idempotency_key: str,
    grant_id: int | None,
    at: float,
    can_reapply: bool = False,
    session_id: str = "",
) -> tuple[list[str], list[Any]]:
    """A planned call's row but for its session, id and number: its columns and their values."""
    row = {
        "tool": tool,
        "summary": _text(summary),
        "resource": _text(resource),
        "args": _json(args),
        "reversibility": reversibility,
        "on_stop": on_stop,
        "can_compensate": int(can_compensate),
        "can_lookup": int(can_lookup),
        "undo_hint": undo_hint,
        "idempotency_key": idempotency_key,
        "grant_id": grant_id,
        "state": CallState.PLANNED.value,
        "planned_at": at,
        "updated_at": at,
        "can_reapply": int(can_reapply),
    }
    return list(row), list(row.values())


_WORKED = (CallState.COMPENSATING, CallState.REAPPLYING)
"""States in which a process (the call's `worker`) is doing something to the call's effect."""

_TERMINAL_TIME = {
    CallState.COMMITTED,
    CallState.FAILED,
    CallState.REJECTED,
    CallState.DISCARDED,
}


def transition(
    conn: Any,
    session_id: str,
    call_id: str,
    state: CallState,
    at: float,
    *,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    prepared: Any = None,
    receipt: Any = None,
    undo_error: str | None = None,
    undo_by: str | None = None,
    reapply_error: str | None = None,
    worker: Owner | None = None,
    lease_until: float | None = None,
    alone: bool = False,
) -> int:
    """Move a call to `state`, refusing moves the lifecycle forbids; returns the event seq.

    Entering `compensating` or `reapplying` records `worker`, the process that
    runs that undo or re-apply, and `lease_until`, the latest time it could
    still be running (recovery judges the work by them); leaving it clears them.

    A re-apply that lands (reapplying -> committed) is a commit like the first:
    its receipt replaces the old one, it becomes the call's latest commit
    (`commit_seq`, which orders undo), it is counted in `reapplies`, and the
    undo's columns start over (the events keep every earlier undo).

    On PostgreSQL the lifecycle's table is in the statement itself: one
    statement reads the call's state (locking its row), inserts the event and
    updates the row only from a state `state` may follow (`_PREDECESSORS`), so
    it needs no answer from the server before it is sent. With `alone` (the
    transition is its unit's whole work), it goes with the COMMIT in one round
    trip (`PgConnection.settle`); the refusal is raised from what it read. SQLite answers at once, so there
    the state is read first and only a legal move is written, with the row's
    changes for the one state it leaves (no CASE on the state to evaluate).
    Both write the same rows (tests/postgres/test_same_verdicts.py).
    """
    fields: dict[str, Any] = {
        "reason": reason,
        "prepared": prepared,
        "receipt": receipt,
        "undo_error": undo_error,
        "undo_by": undo_by,
        "reapply_error": reapply_error,
        "worker": worker,
        "lease_until": lease_until,
    }
    event: dict[str, Any] = dict(data or {})
    if state in _OWNED and undo_by is not None:
        # Who asked (the process doing it is `worker`, below): a second `undo` that loses the call says so.
        event.setdefault("by", undo_by)
    if reason is not None:
        event["reason"] = reason
    if prepared is not None:
        event["prepared"] = prepared
    if receipt is not None:
        event["receipt"] = receipt
    if state in _WORKED and worker is not None:
        event["worker"] = {"pid": worker.pid, "host": worker.host}
    if getattr(conn, "settle", None) is not None:
        return _move_at_once(conn, session_id, call_id, state, at, event, fields, alone=alone)
    found = conn.execute("SELECT state FROM calls WHERE session_id = ? AND call_id = ?", (session_id, call_id))
    leaving = _movable(conn, session_id, call_id, found.fetchone(), state, moved=True)
    sets, values = _moved_row(state, at, (leaving,), "last_insert_rowid()", **fields)
    inserted = conn.execute(
        "INSERT INTO events (session_id, call_id, kind, at, data) VALUES (?, ?, ?, ?, ?)",
        (session_id, call_id, state.value, at, _json(event)),
    )
    conn.execute(
        f"UPDATE calls SET {', '.join(sets)} WHERE session_id = ? AND call_id = ?", (*values, session_id, call_id)
    )
    return int(inserted.lastrowid)


def _move_at_once(
    conn: Any,
    session_id: str,
    call_id: str,
    state: CallState,
    at: float,
    event: dict[str, Any],
    fields: dict[str, Any],
    *,
    alone: bool,
) -> int:
    """`transition` on PostgreSQL: read, event and row in one statement, sent before any answer (see `transition`).

    The sub-statements share one snapshot: the UPDATE's guard and CASEs see the
    state `found` read (and locked), and the row's `commit_seq` is the event
    `moved` inserted.
    """
    froms = [s.value for s in _PREDECESSORS[state]]
    marks = ", ".join("?" for _ in froms) or "NULL"
    sets, values = _moved_row(state, at, _PREDECESSORS[state], "(SELECT seq FROM moved)", **fields)
    answer = conn.execute(
        "WITH found AS (SELECT state FROM calls WHERE session_id = ? AND call_id = ? FOR UPDATE),"
        " moved AS (INSERT INTO events (session_id, call_id, kind, at, data)"
        f" SELECT ?, ?, ?, ?, ? FROM found WHERE state IN ({marks}) RETURNING seq),"
        f" changed AS (UPDATE calls SET {', '.join(sets)}"
        f" WHERE session_id = ? AND call_id = ? AND state IN ({marks}) RETURNING 1)"
        " SELECT (SELECT state FROM found), (SELECT seq FROM moved)",
        (
            *(session_id, call_id),
            *(session_id, call_id, state.value, at, _json(event), *froms),
            *(*values, session_id, call_id, *froms),
        ),
    )
    if alone:
        _settle(conn)
    current, seq = answer.fetchone()
    _movable(conn, session_id, call_id, None if current is None else (current,), state, moved=seq is not None)
    return int(seq)


_STATES = {state.value: state for state in CallState}
"""Each state by its stored text (a dict lookup: `CallState(text)` goes through the enum's machinery)."""


def _movable(conn: Any, session_id: str, call_id: str, row: Any, state: CallState, *, moved: bool) -> CallState:
    """The state a call leaves for `state`, read as `row`; raises when it may not (or, `moved` false, did not)."""
    if row is None:
        raise UnknownCall(where(conn), session_id, call_id)
    current = _STATES.get(row[0]) or CallState(row[0])  # (an unknown state raises as CallState does)
    if not moved or not can_move(current, state):
        if state in _OWNED:
            raise _taken(conn, session_id, call_id, current, state)
        raise IllegalTransition(where(conn), call_id, current.value, state.value)
    return current


def _settle(conn: Any) -> None:
    """The unit's statements are all queued and decide everything: end its transaction with them (PostgreSQL)."""
    settle = getattr(conn, "settle", None)
    if settle is not None:
        settle()


_PREDECESSORS: dict[CallState, tuple[CallState, ...]] = {
    wanted: tuple(sorted((s for s in CallState if can_move(s, wanted)), key=list(CallState).index))
    for wanted in CallState
}
"""The states a call may enter each state from: the lifecycle's table (`states.TRANSITIONS`) turned around."""


def _case_from(
    states: tuple[CallState, ...], leaving: tuple[CallState, ...], then: str, otherwise: str
) -> tuple[str, list[str]]:
    """A column set by the state the call leaves (one of `leaving`): `then` when that is one of `states`.

    `CASE WHEN state IN (states) THEN then ELSE otherwise END` when it could be
    either; just `then` or `otherwise` when `leaving` already decides it.
    """
    if all(s in states for s in leaving):
        return then, []
    if not any(s in states for s in leaving):
        return otherwise, []
    marks = ", ".join("?" for _ in states)
    return f"CASE WHEN state IN ({marks}) THEN {then} ELSE {otherwise} END", [s.value for s in states]


def _moved_row(
    state: CallState,
    at: float,
    leaving: tuple[CallState, ...],
    new_seq: str,
    *,
    reason: str | None,
    prepared: Any,
    receipt: Any,
    undo_error: str | None,
    undo_by: str | None,
    reapply_error: str | None,
    worker: Owner | None,
    lease_until: float | None,
) -> tuple[list[str], list[Any]]:
    """The SET clauses (and their values) of a call's row entering `state` from one of `leaving`.

    `new_seq` is the SQL for the seq of the event this move inserts (a commit's `commit_seq`).

    What depends on the state the call leaves (a re-apply landing; leaving
    `compensating` or `reapplying`) is a CASE on the row's current state when
    `leaving` holds several, so one statement serves every state the call may
    come from; with one, the clause is that state's alone.
    """
    sets = ["state = ?", "updated_at = ?"]
    values: list[Any] = [state.value, at]
    if reason is not None and state not in (CallState.COMPENSATION_FAILED, CallState.REAPPLY_FAILED):
        sets.append("reason = ?")
        values.append(_text(reason))
    if prepared is not None:
        sets.append("prepared = ?")
        values.append(_json(prepared))
    if receipt is not None:
        sets.append("receipt = ?")
        values.append(_json(receipt))
    if state is CallState.COMMITTING:
        sets.append("fence_at = ?")
        values.append(at)
    if state in _TERMINAL_TIME:
        sets.append("ended_at = ?")
        values.append(at)
    if state is CallState.COMPENSATING:
        sets.append("undo_attempts = undo_attempts + 1")
        sets.append("undo_by = ?")
        values.append(undo_by)
    if state in (CallState.COMPENSATION_FAILED, CallState.COMPENSATED):
        sets.append("undo_error = ?")
        values.append(_text(undo_error))
    if state is CallState.REAPPLY_FAILED:
        sets.append("reapply_error = ?")
        values.append(_text(reapply_error))
    if state is CallState.COMMITTED and CallState.REAPPLYING in leaving:
        # A new effect, not undone yet: the undo bookkeeping starts over with it.
        for column, then in (
            ("reapplies", "reapplies + 1"),
            ("reapply_error", "NULL"),
            ("undo_attempts", "0"),
            ("undo_error", "NULL"),
            ("undo_by", "NULL"),
        ):
            case, froms = _case_from((CallState.REAPPLYING,), leaving, then, column)
            sets.append(f"{column} = {case}")
            values.extend(froms)
    worked_before = tuple(s for s in leaving if s in _WORKED)
    for column, value in zip(
        _WORKER_COLUMNS,
        [None, None, None, None] if worker is None else [worker.pid, worker.host, worker.started_at, lease_until],
        strict=True,
    ):
        if state in _WORKED:
            sets.append(f"{column} = ?")
            values.append(value)
        elif worked_before:
            case, froms = _case_from(worked_before, leaving, "NULL", column)
            sets.append(f"{column} = {case}")
            values.extend(froms)
    if state is CallState.COMMITTED:
        sets.append("committed_at = ?")
        values.append(at)
        # The event this move inserted (the statement just before): SQLite's `last_insert_rowid()`.
        sets.append(f"commit_seq = {new_seq}")
    return sets, values


_WORKER_COLUMNS = ("worker_pid", "worker_host", "worker_started_at", "lease_until")
"""The columns naming the process that runs a call's undo or re-apply (see `_WORKED`)."""


def _grant_state(conn: Any, grant_id: int) -> GrantState:
    return _grant_from(_read_grant(conn, grant_id).fetchone())


def _read_grant(conn: Any, grant_id: int) -> Any:
    """The grant row's cursor (`_grant_from` reads it).

    Locks the grant row where the database locks rows: a revoke waits for this
    fence to commit, or this fence reads the revoke (never a grant half-revoked).
    """
    return conn.execute(
        "SELECT grant_id, tools, scopes, issued_at, expires_at, max_calls, calls_used, revoked_at, revoked_by"
        f" FROM grants WHERE grant_id = ?{getattr(conn, 'for_update', '')}",
        (grant_id,),
    )


def _grant_from(row: Any) -> GrantState:
    # Built as the journal's records are (`record`): a frozen dataclass's own `__init__` costs each fence more.
    return record(
        GrantState,
        {
            "grant_id": row[0],
            "spec": _spec(row[1], row[2], row[5]),
            "issued_at": row[3],
            "expires_at": row[4],
            "calls_used": row[6],
            "revoked_at": row[7],
            "revoked_by": row[8],
        },
    )


@functools.lru_cache(maxsize=64)
def _spec(tools: str, scopes: str, max_calls: int | None) -> GrantSpec:
    """A grant row's spec, parsed once per distinct row text (every fence reads its grant's row)."""
    return GrantSpec(tools=json.loads(tools), scopes=json.loads(scopes), max_calls=max_calls)


_UNSET: Any = object()
"""`fence`'s "no prepared effect given" (None is a prepared effect a tool may return)."""


def fence(
    conn: Any,
    session_id: str,
    call_id: str,
    grant_id: int,
    tool: str,
    resource: str,
    at: float,
    *,
    prepared: Any = _UNSET,
) -> tuple[FenceRefusal, str] | None:
    """The commit fence: check the grant and enter `committing`, in one transaction.

    With `prepared`, the call is first moved from planned to prepared (its
    `prepared` event and column), in the same transaction. On the way through,
    the two moves share one read of the call's state and one update of its row:
    the same events and the same row as `transition` to prepared then to
    committing, in fewer statements (this is every gated call's durable write).

    Returns None when the call passed (it is now `committing`), else the
    `(refusal, reason)` it was rejected for (it is now `rejected`).
    """
    if prepared is not _UNSET:
        found = conn.execute("SELECT state FROM calls WHERE session_id = ? AND call_id = ?", (session_id, call_id))
        # Asked for before either is read, so on PostgreSQL both reads (and the BEGIN) are one round trip;
        # the writes below, decided from them, then travel with the COMMIT.
        locked = _read_grant(conn, grant_id)
        row = found.fetchone()
        if row is None:
            raise UnknownCall(where(conn), session_id, call_id)
        current = _STATES.get(row[0]) or CallState(row[0])  # (an unknown state raises as CallState does)
        if not can_move(current, CallState.PREPARED):
            transition(conn, session_id, call_id, CallState.PREPARED, at, prepared=prepared)  # raises as it would
        else:
            grant = _grant_from(locked.fetchone())
            passed = fence_verdict(grant, tool, resource, at) is None
            _remember(conn, grant, passed)
            if passed:
                _log_event(
                    conn,
                    session_id,
                    call_id,
                    CallState.PREPARED.value,
                    at,
                    {} if prepared is None else {"prepared": prepared},
                )
                conn.execute("UPDATE grants SET calls_used = calls_used + 1 WHERE grant_id = ?", (grant_id,))
                _log_event(conn, session_id, call_id, CallState.COMMITTING.value, at, {"grant_id": grant_id})
                if prepared is None:
                    conn.execute(
                        "UPDATE calls SET state = ?, updated_at = ?, fence_at = ? WHERE session_id = ? AND call_id = ?",
                        (CallState.COMMITTING.value, at, at, session_id, call_id),
                    )
                else:
                    conn.execute(
                        "UPDATE calls SET state = ?, updated_at = ?, prepared = ?, fence_at = ?"
                        " WHERE session_id = ? AND call_id = ?",
                        (CallState.COMMITTING.value, at, _json(prepared), at, session_id, call_id),
                    )
                return None
            # Refused: the long way, so a rejection reads exactly as it always has.
            transition(conn, session_id, call_id, CallState.PREPARED, at, prepared=prepared)
    grant = _grant_state(conn, grant_id)
    verdict = fence_verdict(grant, tool, resource, at)
    _remember(conn, grant, verdict is None)
    if verdict is not None:
        transition(conn, session_id, call_id, CallState.REJECTED, at, reason=verdict[1], data={"fence": verdict[0]})
        return verdict
    conn.execute("UPDATE grants SET calls_used = calls_used + 1 WHERE grant_id = ?", (grant_id,))
    transition(conn, session_id, call_id, CallState.COMMITTING, at, data={"grant_id": grant_id})
    return None


_INSERT_THREE_EVENTS = (
    "INSERT INTO events (session_id, call_id, kind, at, data) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)"
)


def plan_and_fence(conn: Any, *, prepared: Any, **fields: Any) -> tuple[str, tuple[FenceRefusal, str] | None]:
    """Plan a call and take it through the fence with its prepared effect, in one transaction.

    The same rows and events as `plan_call` and then `fence(prepared=...)` in two
    transactions (`planned`, `prepared`, then `committing` or `rejected`), for a
    call that has nothing to journal in between (see `Journal.plan_and_fence`),
    in fewer statements: the call's state need not be read back (it was just
    planned here), and a call that passes has its three events appended in one
    statement. `fields` are `plan_call`'s; `grant_id`, `tool` and `resource` are
    also the fence's.

    Returns:
        The call's id, and None when it passed (it is now `committing`), else the
        `(refusal, reason)` it was rejected for (it is now `rejected`).
    """
    fast = _plan_and_fence_at_once(conn, prepared, fields)
    if fast is not None:
        return fast, None
    session_id, at, grant_id = fields["session_id"], fields["at"], fields["grant_id"]
    row_locks = getattr(conn, "for_update", None) is not None
    if not row_locks:
        # SQLite: the transaction holds the whole file, so the grant can be read before the call's row is
        # written, and a call that passes has its row inserted as the fence leaves it (one statement fewer).
        n = _next_number(conn, session_id)
        grant = _grant_from(_read_grant(conn, grant_id).fetchone())
        verdict = fence_verdict(grant, fields["tool"], fields["resource"], at)
        call_id = _insert_call(conn, n=n, fenced=None if verdict is not None else (prepared,), **fields)
    else:
        call_id = _insert_call(conn, **fields)
        # After the call's row (on PostgreSQL its insert takes the session's key lock first, in the order a
        # Stop takes the session and then its grants): the grant, locked where the database locks rows.
        grant = _grant_from(_read_grant(conn, grant_id).fetchone())
        verdict = fence_verdict(grant, fields["tool"], fields["resource"], at)
        _remember(conn, grant, verdict is None)
    planned = {k: fields[k] for k in ("tool", "summary", "resource", "args")}
    if verdict is not None:
        # Refused: the long way, so a rejection reads exactly as it does after `plan_call` and `fence`.
        _log_event(conn, session_id, call_id, CallState.PLANNED.value, at, planned)
        transition(conn, session_id, call_id, CallState.PREPARED, at, prepared=prepared)
        transition(conn, session_id, call_id, CallState.REJECTED, at, reason=verdict[1], data={"fence": verdict[0]})
        return call_id, verdict
    conn.execute(
        _INSERT_THREE_EVENTS,
        (
            *(session_id, call_id, CallState.PLANNED.value, at, _json(planned)),
            *(
                session_id,
                call_id,
                CallState.PREPARED.value,
                at,
                _json({} if prepared is None else {"prepared": prepared}),
            ),
            *(session_id, call_id, CallState.COMMITTING.value, at, _json({"grant_id": grant_id})),
        ),
    )
    conn.execute("UPDATE grants SET calls_used = calls_used + 1 WHERE grant_id = ?", (grant_id,))
    if row_locks:
        conn.execute(
            "UPDATE calls SET state = ?, prepared = ?, fence_at = ? WHERE session_id = ? AND call_id = ?",
            (CallState.COMMITTING.value, None if prepared is None else _json(prepared), at, session_id, call_id),
        )
    return call_id, None


def _remember(conn: Any, grant: GrantState, passed: bool) -> None:
    """Note the grant as this transaction leaves it (one more call used if `passed`), for `_plan_and_fence_at_once`.

    Only connections that keep `grants_seen` (PostgreSQL's) remember. A note
    that turns out wrong (the transaction rolled back, another process used or
    revoked the grant) costs nothing but the long way: the one-round-trip path
    checks the row is still as noted, under its lock, before it counts on it.
    """
    seen = getattr(conn, "grants_seen", None)
    if seen is not None:
        seen[grant.grant_id] = replace(grant, calls_used=grant.calls_used + 1) if passed else grant


_PLAN_AND_FENCE_AS_SEEN = (
    # One statement, so one transaction of its own: the session's next number (its counter row, made from
    # MAX(n) if it has none yet), the call's row, its events in order, and the grant as this connection noted
    # it (not revoked, this many calls used) counted, else the whole statement fails. PostgreSQL's SQL:
    # data-modifying CTEs, run in the order their results are needed, so locks are taken in the long way's
    # order (the counter, the call's row and with it the session's key lock, then the grant).
    "WITH number AS (INSERT INTO call_numbers (session_id, last_n)"
    " SELECT ?, COALESCE(MAX(n), 0) + 1 FROM calls WHERE session_id = ?"
    " ON CONFLICT (session_id) DO UPDATE SET last_n = call_numbers.last_n + 1 RETURNING last_n),"
    " call AS (INSERT INTO calls (session_id, call_id, n, {columns})"
    " VALUES (?, (SELECT 'c' || last_n FROM number), (SELECT last_n FROM number), {marks}) RETURNING call_id),"
    " logged AS (INSERT INTO events (session_id, call_id, kind, at, data)"
    " SELECT ?, call_id, kind, ?, data FROM call, (VALUES {events}) AS e (o, kind, data) ORDER BY o RETURNING 1),"
    " used AS (UPDATE grants SET calls_used = calls_used + 1"
    " WHERE grant_id = ? AND revoked_at IS NULL AND calls_used = ? AND EXISTS (SELECT 1 FROM call) RETURNING 1)"
    " SELECT (SELECT call_id FROM call),"
    " agentstop_expect(EXISTS (SELECT 1 FROM used), 'the grant changed since this connection read it')"
)


def _plan_and_fence_at_once(conn: Any, prepared: Any, fields: dict[str, Any]) -> str | None:
    """`plan_and_fence` for a call that passes, in one round trip to PostgreSQL; None to go the long way.

    The verdict is `fence_verdict`'s, as on every path, taken on the grant as
    this connection last saw it (`_remember`). What the database must confirm
    is that the grant row is still that (not revoked since, no call counted
    since): `_PLAN_AND_FENCE_AS_SEEN` checks it under the row's lock and raises
    if not, so the whole transaction is that one statement, sent before any
    answer. A raise rolls the unit back and the long way runs (it reads the
    grant, notes it, and refuses or passes). Only passes come this way: a
    refusal reads exactly as it always has. The rows are the long way's: the
    call's row is inserted as the long way leaves it (`committing`, its
    prepared effect, `fence_at`), its three events after it, `calls_used` + 1.
    Lock order is the long way's too: the counter and the call's row (which
    takes the session's key lock) before the grant.
    """
    seen = getattr(conn, "grants_seen", None)
    grant = None if seen is None else seen.get(fields["grant_id"])
    if seen is None or grant is None or fence_verdict(grant, fields["tool"], fields["resource"], fields["at"]):
        return None
    session_id, at, grant_id = fields["session_id"], fields["at"], fields["grant_id"]
    columns, values = _call_row(**fields)
    planned = {"tool": fields["tool"], "summary": fields["summary"], "resource": fields["resource"]}
    events = [
        (1, CallState.PLANNED.value, _json({**planned, "args": fields["args"]})),
        (2, CallState.PREPARED.value, _json({} if prepared is None else {"prepared": prepared})),
        (3, CallState.COMMITTING.value, _json({"grant_id": grant_id})),
    ]
    row = {**dict(zip(columns, values, strict=True)), "state": CallState.COMMITTING.value}
    row["prepared"] = None if prepared is None else _json(prepared)
    row["fence_at"] = at
    sql = _PLAN_AND_FENCE_AS_SEEN.format(
        columns=", ".join(row),
        marks=_marks(row),
        events=", ".join("(?, ?, ?)" for _ in events),
    )
    call = conn.execute(
        sql,
        (
            *(session_id, session_id, session_id, *row.values()),
            *(session_id, at, *(v for e in events for v in e)),
            *(grant_id, grant.calls_used),
        ),
    )
    try:
        conn.settle()
    except Exception as exc:
        if not conn.missed(exc):
            raise
        seen.pop(grant_id, None)
        conn.undo_unit()
        return None
    seen[grant_id] = replace(grant, calls_used=grant.calls_used + 1)
    return str(call.fetchone()[0])


def revoke(conn: Any, session_id: str, by: str, reason: str, at: float) -> list[int]:
    """Revoke every live grant of the session; returns the ids revoked (empty if none were live)."""
    require_session(conn, session_id)
    ids = sorted(
        int(r[0])
        for r in conn.execute(
            "UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ?"
            " WHERE session_id = ? AND revoked_at IS NULL RETURNING grant_id",
            (at, by, reason, session_id),
        ).fetchall()
    )
    if not ids:
        return []
    append_event(conn, session_id, None, EventKind.REVOKED, at, {"grant_ids": ids, "by": by, "reason": reason})
    notify = getattr(conn, "notify", None)
    if notify is not None:
        notify(session_id)  # delivered when this transaction commits
    return ids


def end_session(
    conn: Any,
    session_id: str,
    status: SessionStatus,
    at: float,
    *,
    stopped_by: str | None = None,
    stop_reason: str | None = None,
) -> bool:
    """Mark a running session ended; returns False when it had already ended."""
    cur = conn.execute(
        "UPDATE sessions SET status = ?, ended_at = ?, stopped_by = COALESCE(?, stopped_by),"
        " stop_reason = COALESCE(?, stop_reason) WHERE session_id = ? AND status = ?",
        (status, at, stopped_by, _text(stop_reason), session_id, SessionStatus.RUNNING),
    )
    if cur.rowcount == 0:
        return False
    append_event(
        conn,
        session_id,
        None,
        EventKind.SESSION_ENDED,
        at,
        {"status": status, "stopped_by": stopped_by, "reason": stop_reason},
    )
    return True


def heartbeat(conn: Any, session_id: str, at: float) -> None:
    """Record that the session's process is alive (no event: it is not history)."""
    conn.execute("UPDATE sessions SET heartbeat_at = ? WHERE session_id = ?", (at, session_id))


def mark_stop_requested(conn: Any, session_id: str, by: str, reason: str) -> None:
    """Remember who asked the running session to stop (it runs until it ends)."""
    conn.execute(
        "UPDATE sessions SET stopped_by = COALESCE(stopped_by, ?), stop_reason = COALESCE(stop_reason, ?)"
        " WHERE session_id = ? AND status = ?",
        (by, reason, session_id, SessionStatus.RUNNING),
    )


STOP_REQUESTED = EventKind.STOP_REQUESTED
"""The session event of a stop asked for when the session had no live grant to revoke (kept for
existing imports: `EventKind.STOP_REQUESTED` says what it holds)."""


def request_stop(conn: Any, session_id: str, by: str, reason: str, at: float) -> tuple[list[int], str]:
    """Stop the session whatever epoch it is in: revoke its live grants and record the request.

    Returns the grant ids revoked and the session's status. With no live grant
    (it ended, or an epoch is starting) the request is journaled anyway
    (`stop_requested`): a Resume whose process started before it ends before it
    begins, and a grant issued to an epoch it caught starting is born revoked.
    """
    row = conn.execute(
        f"SELECT status FROM sessions WHERE session_id = ?{getattr(conn, 'for_update', '')}", (session_id,)
    ).fetchone()
    if row is None:
        raise UnknownSession(where(conn), session_id)
    mark_stop_requested(conn, session_id, by, reason)
    # An ended session's grant is left as it ended (its report stays true); the request binds what starts.
    ids = revoke(conn, session_id, by, reason, at) if row[0] == SessionStatus.RUNNING else []
    if not ids:
        # Nothing live to revoke: it ended, or an epoch is starting. Only such a request binds what starts
        # next (a stop that revoked a live grant ended that epoch; it must not stop a Resume asked for after).
        conn.execute("UPDATE sessions SET stop_requested_at = ? WHERE session_id = ?", (at, session_id))
        append_event(conn, session_id, None, STOP_REQUESTED, at, {"by": by, "reason": reason, "status": row[0]})
    return ids, str(row[0])
