"""What the journal hands back: events, sessions, calls and grants as frozen records."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from .events import EventKind
from .json_numbers import long_digit_run
from .owner import Owner
from .policies import Reversibility, StopPolicy
from .states import CallState
from .status import SessionStatus

__all__ = [
    "CallRecord",
    "Event",
    "EventRow",
    "GrantRecord",
    "SessionRecord",
    "SessionStatus",
    "gc_paused",
    "loads",
    "record",
]

R = TypeVar("R")


_scan_once = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_orjson_loads = orjson.loads


def loads(text: str | None) -> Any:
    """Decode a JSON column; NULL stays None.

    orjson decodes it when it decodes it as `json` does: always, but for an integer
    beyond 64 bits (orjson makes it a float: text with 19 digits in a row goes to
    `json`), and what orjson refuses (NaN, the infinities, a lone surrogate, text that
    is not JSON) goes to `json` too. There, columns hold what `json.dumps` wrote (no
    surrounding whitespace), so the C scanner is called directly; anything it does not
    take whole goes through `json.loads`, which raises the usual `ValueError` for text
    that is not JSON. A report decodes a receipt per call: orjson is ~5x quicker.
    """
    if text is None:
        return None
    if not long_digit_run(text):
        try:
            return _orjson_loads(text)
        except orjson.JSONDecodeError:
            pass
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while building many records at once.

    Records hold no cycles, yet every 700 allocations the collector scans the
    young objects, and now and then the whole heap (a TUI's widgets included):
    a quarter of the time it takes to read 10,000 calls. Reference counting
    still frees everything as usual meanwhile.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def record(cls: type[R], fields: dict[str, Any]) -> R:
    """A frozen dataclass instance from every one of its fields, without `__init__`.

    A frozen dataclass's `__init__` sets each field through `object.__setattr__`:
    7 µs for a 27-field `CallRecord` (it has 30 now), the largest cost of reading 10,000
    calls. Rows the journal itself wrote need no checks, so their records are
    built by filling `__dict__`; they stay frozen (assignment still raises).
    """
    if len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        missing = set(cls.__dataclass_fields__) - set(fields)  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} needs every field; missing {sorted(missing)}")
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


EventRow = tuple[int, "str | None", str, float, str]
"""An event as `Journal.event_rows` reads it, undecoded: seq, call_id, kind (as stored), at, data (its JSON text)."""


@dataclass(frozen=True)
class Event:
    """One appended line of the journal.

    Attributes:
        seq: position in the journal (strictly increasing across the file).
        session_id: the session it belongs to.
        call_id: the call it is about, or None for session and grant events.
        kind: for a call event, the call state entered (a `CallState`), or another
            `EventKind` about the call (`approval_requested`, `approved`, `undo_refused`).
            Session events (call_id None) are `EventKind`s: `session_started`,
            `session_ended`, `session_resumed` (a new epoch), `grant_issued`, `revoked`, ...
            A tool's note (`processes`, with `data["call_id"]`) or a planner's record may
            name a kind of its own, kept as the plain string (`parse_kind`).
        at: wall-clock time (seconds since the epoch).
        data: details (reason, receipt, error, who), JSON.
    """

    seq: int
    session_id: str
    call_id: str | None
    kind: CallState | EventKind | str
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
    status: SessionStatus
    stopped_by: str | None
    stop_reason: str | None
    pid: int | None
    host: str | None
    heartbeat_at: float | None
    meta: dict[str, Any]
    stop_requested_at: float | None = None
    """When a stop was last requested for it that found no live grant to revoke (it had ended, or an
    epoch was starting): a Resume whose process started before this does not run
    (`Journal.resume_session`), and a first grant not yet issued is born revoked."""


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
    reversibility: Reversibility
    on_stop: StopPolicy
    can_compensate: bool
    can_lookup: bool
    undo_hint: str
    idempotency_key: str
    grant_id: int | None
    state: CallState
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
    can_reapply: bool
    """The tool can carry the effect out again after its undo (`Tool.reapply`)."""
    reapplies: int
    """How many re-applies of it landed (each a new commit, with a new receipt)."""
    reapply_error: str | None
    """Why the last re-apply failed (`reapply_failed`); None once one lands."""
    worker: Owner | None
    """While its undo or re-apply runs (`compensating`, `reapplying`), the process running it, which
    need not be the session's (None otherwise, and in journals from before schema 4)."""
    lease_until: float | None
    """While `worker` is set: the latest time that work could still be running; recovery presumes a
    worker on another host dead after it."""
