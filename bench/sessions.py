"""Long sessions for the report, TUI and replay benchmarks, bulk-written through the journal's own ops.

Every row goes through `ops.plan_call`, `ops.transition`, `ops.fence` and
`ops.revoke` (the SQL a live session runs), inside one writer unit, so a
10,000-call session takes seconds to make instead of the minutes a live run
would. The mix is the same everywhere: one call in 20 each rejected (invalid
arguments), discarded before the fence, failed upstream, left unknown, and
committed then compensated; the other 15 committed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentstop.journal import CallState, ops

from .common import clock

__all__ = ["MIX_EVENTS", "SessionShape", "plan_noop", "write_calls", "write_replay_session"]

S = CallState

# Events a call of each kind (i % 20) appends, planned included.
MIX_EVENTS = {0: 2, 1: 3, 2: 4, 3: 4, 4: 6}
"""planned+rejected; +prepared+discarded; +prepared+committing+failed; ... +unknown; committed+compensated."""


def _events_of(kind: int) -> int:
    return MIX_EVENTS.get(kind, 4)


@dataclass
class SessionShape:
    """What a bulk write made (for the texts that describe it)."""

    calls: int = 0
    events: int = 0
    states: dict[str, int] = field(default_factory=dict)
    stop_event: int | None = None
    """Position (0-based, in the session's events) of the `revoked` event, if there is one."""
    rejected_after_stop: int = 0


def plan_noop(conn: Any, session_id: str, grant_id: int, i: int, at: float) -> str:
    """Plan call number `i` of the trivial `noop` tool (reversible, its undo possible) in one writer unit."""
    call_id: str = ops.plan_call(
        conn,
        session_id=session_id,
        tool="noop",
        summary=f"noop n={i}",
        resource="noop",
        args={"n": i},
        reversibility="reversible",
        on_stop="wait",
        can_compensate=True,
        can_lookup=False,
        undo_hint="",
        idempotency_key=uuid.uuid4().hex,
        grant_id=grant_id,
        at=at,
    )
    return call_id


def _one_call(
    conn: Any, session_id: str, grant_id: int, i: int, at: float, deadline: bool, plan_times: list[float] | None
) -> str:
    """One call of the mix; returns its final state."""
    began = clock()
    call_id = plan_noop(conn, session_id, grant_id, i, at)
    if plan_times is not None:
        plan_times.append(clock() - began)
    kind = i % 20
    if kind == 0:
        ops.transition(conn, session_id, call_id, S.REJECTED, at, reason="invalid arguments: n: not an int")
        return "rejected"
    ops.transition(conn, session_id, call_id, S.PREPARED, at, prepared={"n": i})
    if kind == 1:
        ops.transition(conn, session_id, call_id, S.DISCARDED, at, reason="stopped before the fence")
        return "discarded"
    assert ops.fence(conn, session_id, call_id, grant_id, "noop", "noop", at) is None
    if kind == 2:
        ops.transition(conn, session_id, call_id, S.FAILED, at, reason="refused upstream; nothing landed")
        return "failed"
    if kind == 3:
        ops.transition(conn, session_id, call_id, S.UNKNOWN, at, reason="commit cancelled; outcome unknown")
        return "unknown"
    receipt: dict[str, Any] = {"id": i}
    if deadline:
        receipt["undo_deadline"] = at + 3600
    ops.transition(conn, session_id, call_id, S.COMMITTED, at, receipt=receipt)
    if kind == 4:
        ops.transition(conn, session_id, call_id, S.COMPENSATING, at, undo_by="bench")
        ops.transition(conn, session_id, call_id, S.COMPENSATED, at)
        return "compensated"
    return "committed"


def write_calls(
    session_id: str, grant_id: int, n: int, *, deadline: bool = True, plan_times: list[float] | None = None
) -> Callable[[Any], SessionShape]:
    """A writer unit that appends `n` calls of the mix to the session.

    Args:
        deadline: committed receipts carry an undo deadline an hour away (the
            report then shows a countdown; the live TUI recounts such windows
            every second while the report screen is shown).
        plan_times: when given, receives the time of each `ops.plan_call`.
    """

    def unit(conn: Any) -> SessionShape:
        shape = SessionShape()
        at = time.time()
        for i in range(n):
            state = _one_call(conn, session_id, grant_id, i, at, deadline, plan_times)
            shape.states[state] = shape.states.get(state, 0) + 1
            shape.events += _events_of(i % 20)
        shape.calls = n
        return shape

    return unit


def write_replay_session(
    session_id: str, grant_id: int, events: int, *, after_stop: int = 64
) -> Callable[[Any], SessionShape]:
    """A writer unit that fills the session up to exactly `events` events, the way a stopped run leaves it.

    Each call is preceded by one transcript event (the agent's thought), then
    its own events (the mix, 4.95 events a call with the thought). Near the end
    the grant is revoked (the Stop), `after_stop` calls racing it are rejected at
    the fence (planned, prepared, rejected), transcript events pad the count, and
    the session ends as stopped. The clock advances 10 ms at each thought and
    each call (at each event of the calls racing the Stop).
    """

    def unit(conn: Any) -> SessionShape:
        shape = SessionShape()
        at = time.time()
        count = conn.execute("SELECT COUNT(*) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0]
        reserve = after_stop * 4 + 3  # the Stop, the calls racing it, the end
        i = 0
        step = 0.01

        def tick() -> float:
            nonlocal at
            at += step
            return at

        while count + 1 + _events_of(i % 20) <= events - reserve:
            ops.append_event(conn, session_id, None, "transcript", tick(), {"text": f"Next: call {i}, then on."})
            state = _one_call(conn, session_id, grant_id, i, tick(), True, None)
            shape.states[state] = shape.states.get(state, 0) + 1
            count += 1 + _events_of(i % 20)
            i += 1
        ops.mark_stop_requested(conn, session_id, "bench", "benchmark Stop")
        ops.revoke(conn, session_id, "bench", "benchmark Stop", tick())
        shape.stop_event = count
        count += 1
        for k in range(after_stop):
            ops.append_event(conn, session_id, None, "transcript", tick(), {"text": "One more, in parallel."})
            call_id = plan_noop(conn, session_id, grant_id, i + k, tick())
            ops.transition(conn, session_id, call_id, S.PREPARED, tick(), prepared={"n": i + k})
            verdict = ops.fence(conn, session_id, call_id, grant_id, "noop", "noop", tick())
            assert verdict is not None, "the fence let a call through after the revoke"
            shape.states["rejected"] = shape.states.get("rejected", 0) + 1
            count += 4
        shape.rejected_after_stop = after_stop
        while count < events - 1:
            ops.append_event(conn, session_id, None, "transcript", tick(), {"text": "(stopped)"})
            count += 1
        ops.end_session(conn, session_id, "stopped", tick(), stopped_by="bench", stop_reason="benchmark Stop")
        shape.calls = i + after_stop
        shape.events = count + 1
        return shape

    return unit
