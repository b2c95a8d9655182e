"""What the journal hands back: events, sessions, calls and grants as frozen records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallRecord", "Event", "GrantRecord", "SessionRecord", "SessionStatus", "loads"]


class SessionStatus:
    """How a session ended (or that it has not)."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    CRASHED = "crashed"


def loads(text: str | None) -> Any:
    """Decode a JSON column; NULL stays None."""
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class Event:
    """One appended line of the journal.

    Attributes:
        seq: position in the journal (strictly increasing across the file).
        session_id: the session it belongs to.
        call_id: the call it is about, or None for session and grant events.
        kind: the call state entered (`CallState` values), or `session_started`,
            `session_ended`, `grant_issued`, `revoked`, `heartbeat`-free session events,
            or `transcript` for the agent's text.
        at: wall-clock time (seconds since the epoch).
        data: details (reason, receipt, error, who), JSON.
    """

    seq: int
    session_id: str
    call_id: str | None
    kind: str
    at: float
    data: dict[str, Any] = field(default_factory=lambda: {})


@dataclass(frozen=True)
class GrantRecord:
    """A grant row: what it allowed and whether it still does."""

    grant_id: int
    session_id: str
    tools: list[str]
    scopes: list[str]
    issued_at: float
    expires_at: float | None
    max_calls: int | None
    calls_used: int
    revoked_at: float | None
    revoked_by: str | None
    revoke_reason: str | None


@dataclass(frozen=True)
class SessionRecord:
    """A session row."""

    session_id: str
    task_name: str
    goal: str
    task_path: str | None
    tools: list[str]
    started_at: float
    ended_at: float | None
    status: str
    stopped_by: str | None
    stop_reason: str | None
    pid: int | None
    host: str | None
    heartbeat_at: float | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class CallRecord:
    """A call row: the materialised last state of one tool call."""

    session_id: str
    call_id: str
    n: int
    tool: str
    summary: str
    resource: str
    args: Any
    reversibility: str
    on_stop: str
    can_compensate: bool
    can_lookup: bool
    undo_hint: str
    idempotency_key: str
    grant_id: int | None
    state: str
    reason: str | None
    prepared: Any
    receipt: Any
    planned_at: float
    fence_at: float | None
    committed_at: float | None
    commit_seq: int | None
    ended_at: float | None
    updated_at: float
    undo_attempts: int
    undo_error: str | None
    undo_by: str | None
