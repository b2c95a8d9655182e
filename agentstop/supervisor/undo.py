"""Saga compensation: undo committed calls in reverse commit order, checked, journaled and retried.

Each attempt of an undo first asks the tool's `check` whether the effect was
changed since the agent made it (drift), then runs `compensate`:

```
check ──► drift ──────────► refused   (nothing run; `undo_refused` event; still undoable)
  │   └─► raised ─┐
  └─► None ─► compensate ─► compensated
                  │ raised
                  └───────► next attempt, after a backoff ──► ... ──► compensation_failed
```

The check runs before the call is journaled `compensating`: it only reads, and
a refusal leaves the call exactly as it was (committed, or compensation_failed
from an earlier try). A check that raises is not drift: the upstream could not
say, which is a failed attempt like a compensation that raised. Every retry
checks again, so a retry never overwrites a change made after the first try.
`force=True` skips the check; the journal's `compensating` and outcome events
then carry `"forced": true`, and the tool's `compensate` sees `ctx.forced`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from agentstop.journal import CallRecord, CallState, EventKind, Journal
from agentstop.redact import Redactor
from agentstop.tools import Tool, ToolContext, ToolRegistry

from .attempts import STEP_TIMEOUT_S, Policy, backoff, error_text, lease, requested, tool_for
from .shape import storable

__all__ = ["UNDO_REFUSED", "UndoOutcome", "UndoResult", "run_undo", "undo_key"]

UNDO_REFUSED = EventKind.UNDO_REFUSED
"""The journal event kind of an undo that `check` refused (kept for existing imports)."""


class UndoOutcome(enum.StrEnum):
    """What happened to one requested undo (`UndoResult.status`)."""

    COMPENSATED = "compensated"
    """It was undone."""

    REFUSED = "refused"
    """The tool's `check` found the effect changed since the agent made it: nothing was run, the call
    stays undoable, and forcing the undo runs it anyway."""

    FAILED = "failed"
    """The compensation or the check raised on every attempt; it can be retried later."""

    SKIPPED = "skipped"
    """Nothing was run: not undoable, not landed, already undone, deadline passed, tool not loaded."""


@dataclass(frozen=True)
class UndoResult:
    """What happened to one requested undo.

    Attributes:
        call_id: the call.
        tool: its tool.
        status: an `UndoOutcome`: compensated, refused (the tool's `check`
            found drift), failed (retryable later) or skipped (nothing was run).
        detail: one line for a person.
        attempts: how many attempts (check, then compensation) ran in this request.
        drift: for a refused undo, what changed, as the tool's check said it.
        forced: the undo was forced: the check was skipped.
    """

    call_id: str
    tool: str
    status: UndoOutcome
    detail: str
    attempts: int = 0
    drift: str = ""
    forced: bool = False


async def run_undo(
    journal: Journal,
    registry: ToolRegistry,
    session_id: str,
    call_ids: Sequence[str] | None,
    *,
    by: str = "user",
    attempts: int = 3,
    backoff: float = 0.2,
    redactor: Redactor | None = None,
    force: bool = False,
) -> list[UndoResult]:
    """Run compensations for `call_ids` (None: every undoable call), latest commit first.

    Each attempt runs the tool's `check` (unless `force`), then its compensation,
    journaled `compensating` (durably, before it runs); attempts are retried
    with exponential backoff, and the undo ends `compensated` or
    `compensation_failed` with its error, which a later undo may retry. A check
    that finds drift refuses that call's undo (journaled as an `undo_refused`
    event, the call left undoable) and the others still run.

    Args:
        force: skip every check: undo even what changed since the agent acted.

    Returns:
        One result per requested call, in the order they ran; refused ones have
        status `UndoOutcome.REFUSED` and their reason in `drift`.
    """
    request = await requested(journal, session_id, call_ids, lambda report: report.undoable)
    calls, items = request.calls, request.items
    # Reverse commit order; calls that never committed sort last (they are skipped).
    ordered = sorted(request.wanted, key=lambda cid: -(calls[cid].commit_seq or 0))
    policy = Policy(by, attempts, backoff, redactor or Redactor(), force)
    results: list[UndoResult] = []
    for cid in ordered:
        item = items[cid]
        if not item.undo.available:
            results.append(UndoResult(cid, item.tool, UndoOutcome.SKIPPED, item.undo.detail))
            continue
        results.append(await _compensate(journal, registry, calls[cid], policy))
    return results


def undo_key(call: CallRecord) -> str:
    """The idempotency key the compensation of the call's latest effect gets: `<key>:undo`.

    After re-applies it undoes the effect of the latest one, whose key it extends:
    `<key>:reapply<n>:undo` (see `Tool.reapply`), so each undo of a cycle has a key of its own.
    """
    key = call.idempotency_key if not call.reapplies else f"{call.idempotency_key}:reapply{call.reapplies}"
    return f"{key}:undo"


async def _compensate(journal: Journal, registry: ToolRegistry, call: CallRecord, policy: Policy) -> UndoResult:
    tool = tool_for(registry, call, "undo")
    if isinstance(tool, str):
        return UndoResult(call.call_id, call.tool, UndoOutcome.SKIPPED, tool)
    # An undo that has begun runs to its journaled end, even if its caller is cancelled.
    with anyio.CancelScope(shield=True):
        result = await _attempts(journal, tool, call, policy)
    return result


async def _attempts(journal: Journal, tool: Tool, call: CallRecord, policy: Policy) -> UndoResult:
    sid, cid, by = call.session_id, call.call_id, policy.by
    forced = {"forced": True} if policy.force else {}
    started = False  # whether `compensating` is journaled (write-ahead, once per request)
    last_error = ""
    for attempt in range(1, policy.attempts + 1):
        await backoff(attempt, policy.backoff)
        ctx = ToolContext(
            session_id=sid,
            call_id=cid,
            tool=call.tool,
            idempotency_key=undo_key(call),
            args=call.args,
            attempt=attempt,
            forced=policy.force,
        )
        if not policy.force:
            try:
                with anyio.fail_after(STEP_TIMEOUT_S):
                    drift = await tool.check(call.receipt, ctx)
            except Exception as exc:
                last_error = "the drift check failed: " + error_text(exc, policy.redactor)
                continue
            if drift:
                return await _refuse(journal, call, policy, attempt, started, str(drift))
        if not started:
            # Write-ahead for undo too: a crash mid-compensation is visible on reopen.
            await journal.transition(
                sid, cid, CallState.COMPENSATING, durable=True, undo_by=by, data=forced, lease=lease(policy, 2)
            )
            started = True
        try:
            with anyio.fail_after(STEP_TIMEOUT_S):
                await tool.compensate(call.receipt, ctx)
        except Exception as exc:
            last_error = error_text(exc, policy.redactor)
            continue
        await journal.transition(
            sid, cid, CallState.COMPENSATED, durable=True, data={"attempts": attempt, "by": by, **forced}
        )
        detail = "undone (forced: no drift check)" if policy.force else "undone"
        return UndoResult(cid, call.tool, UndoOutcome.COMPENSATED, detail, attempt, forced=policy.force)
    if not started:
        # Every check raised: nothing ran, but the undo failed the same way a compensation does,
        # and stays visible and retryable in the report.
        await journal.transition(
            sid, cid, CallState.COMPENSATING, durable=True, undo_by=by, data=forced, lease=lease(policy, 2)
        )
    await journal.transition(
        sid,
        cid,
        CallState.COMPENSATION_FAILED,
        durable=True,
        undo_error=last_error,
        reason=last_error,
        data={"attempts": policy.attempts, "by": by, **forced},
    )
    return UndoResult(
        cid,
        call.tool,
        UndoOutcome.FAILED,
        f"{last_error} (after {policy.attempts} attempts)",
        policy.attempts,
        forced=policy.force,
    )


async def _refuse(
    journal: Journal, call: CallRecord, policy: Policy, attempt: int, started: bool, drift: str
) -> UndoResult:
    """Journal a refusal for drift; the call stays undoable (and can be forced)."""
    sid, cid = call.session_id, call.call_id
    reason = storable(policy.redactor(drift))
    await journal.append(sid, UNDO_REFUSED, {"reason": reason, "by": policy.by, "attempt": attempt}, cid)
    if started:
        # An earlier attempt of this request had begun compensating (and failed); the state machine
        # has no way back to committed, so the undo ends failed, saying why it stopped.
        await journal.transition(
            sid,
            cid,
            CallState.COMPENSATION_FAILED,
            durable=True,
            undo_error=f"refused: {reason}",
            reason=f"refused: {reason}",
            data={"attempts": attempt, "by": policy.by, "refused": True},
        )
    return UndoResult(
        cid,
        call.tool,
        UndoOutcome.REFUSED,
        f"refused: {reason}; nothing was undone (force to undo anyway)",
        attempt,
        drift=reason,
    )
