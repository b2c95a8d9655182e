"""Re-apply: undo an undo. Carry a compensated call's effect out again, journaled and retried.

A person undid a call and wants it back (the wrong row was undone, Undo all
went too far). Where the call's tool defines `reapply`, the effect is done
again and the call is done again, with a new receipt, undoable again:

```
compensated ─► reapplying ─► reapply ─► committed   (a new receipt; undoable again)
                   ▲            │ raised
                   │            └──► next attempt, after a backoff ──► ... ──► reapply_failed
                   └───────────────── retry (a later request) ◄──────────────────────┘
```

Like undo, it is the person's own action on what the agent did, not the
agent's: it does not pass the fence (after Stop the agent's grant is revoked;
what the agent did stays the person's to take back or to restore), and the
journal records who asked (`by`) on the `reapplying` event and its outcome.
`reapplying` is durable before the tool runs, so a crash leaves a visible
mark: recovery records it `reapply_failed`, its outcome unknown, retryable.
Each re-apply has an idempotency key of its own, the same across its retries
(`<key>:reapply<n>`, see `Tool.reapply`), so a retry after a crash that cut
it off does the effect once.

Calls are re-applied in the order they were committed, earliest first: the
reverse of the undo's order, so effects that build on each other (a branch,
then a tag on it) come back in the order they were made.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import BaseModel

from agentstop.journal import CallRecord, CallState, Journal, Reversibility
from agentstop.redact import Redactor
from agentstop.report import Bucket, ReportItem
from agentstop.tools import Tool, ToolContext, ToolRegistry

from .attempts import STEP_TIMEOUT_S, Policy, backoff, error_text, lease, requested, tool_for

__all__ = ["ReapplyOutcome", "ReapplyResult", "reapply_key", "run_reapply"]


class ReapplyOutcome(enum.StrEnum):
    """What happened to one requested re-apply (`ReapplyResult.status`)."""

    REAPPLIED = "reapplied"
    """Done again: the call is committed, with the new receipt, and undoable again."""

    FAILED = "failed"
    """`reapply` raised on every attempt; the call is `reapply_failed`, and it can be retried."""

    SKIPPED = "skipped"
    """Nothing was run: not undone, its tool cannot re-apply, tool not loaded."""


@dataclass(frozen=True)
class ReapplyResult:
    """What happened to one requested re-apply.

    Attributes:
        call_id: the call.
        tool: its tool.
        status: a `ReapplyOutcome`: reapplied, failed (retryable) or skipped
            (nothing was run).
        detail: one line for a person.
        attempts: how many attempts ran in this request.
        receipt: once re-applied, the new receipt (as journaled).
    """

    call_id: str
    tool: str
    status: ReapplyOutcome
    detail: str
    attempts: int = 0
    receipt: Any = None


async def run_reapply(
    journal: Journal,
    registry: ToolRegistry,
    session_id: str,
    call_ids: Sequence[str] | None,
    *,
    by: str = "user",
    attempts: int = 3,
    backoff: float = 0.2,
    redactor: Redactor | None = None,
) -> list[ReapplyResult]:
    """Re-apply `call_ids` (None: every re-appliable call), earliest commit first.

    Each re-apply is journaled `reapplying` (durably, before the tool runs),
    then `committed` with the new receipt, or after the last failed attempt
    `reapply_failed` with its error, which a later request may retry.

    Args:
        by: who asks (journaled).
        attempts: how many times to try each re-apply in this request.
        backoff: seconds before the second attempt (doubling after).
        redactor: what to mask in the new receipt and in errors.

    Returns:
        One result per requested call, in the order they ran; calls that cannot
        be re-applied are skipped (`ReapplyOutcome.SKIPPED`) with the reason.

    Raises:
        UnknownCall: an id the session does not have (nothing is run).
    """
    request = await requested(journal, session_id, call_ids, lambda report: report.reappliable)
    calls, items = request.calls, request.items
    # Earliest commit first: the reverse of the undo's order. (A call never committed sorts
    # first; it is skipped.)
    ordered = sorted(request.wanted, key=lambda cid: calls[cid].commit_seq or 0)
    policy = Policy(by, attempts, backoff, redactor or Redactor())
    results: list[ReapplyResult] = []
    for cid in ordered:
        item = items[cid]
        why = _not_reappliable(item, calls[cid])
        if why is not None:
            results.append(ReapplyResult(cid, item.tool, ReapplyOutcome.SKIPPED, why))
            continue
        results.append(await _reapply(journal, registry, calls[cid], policy))
    return results


def reapply_key(call: CallRecord) -> str:
    """The idempotency key of the call's next re-apply: `<key>:reapply<n>`, n = re-applies landed + 1.

    The same for every retry of one re-apply (a failure, or a crash that cut it off);
    the next one, after the call is undone again, counts on.
    """
    return f"{call.idempotency_key}:reapply{call.reapplies + 1}"


def _not_reappliable(item: ReportItem, call: CallRecord) -> str | None:
    """Why this call cannot be re-applied now (for a person), or None when it can."""
    if item.reappliable:
        return None
    if item.bucket is Bucket.INTERRUPTED:
        return "not re-appliable: it never reached the world; there is nothing to re-apply"
    if item.bucket is Bucket.IN_FLIGHT:
        return "not re-appliable: it has not landed yet (in flight)"
    if not call.can_compensate or call.reversibility in (Reversibility.READ_ONLY, Reversibility.IRREVERSIBLE):
        return f"not re-appliable: {call.reversibility}: it has no undo, so nothing was undone"
    if item.state in (CallState.COMMITTED, CallState.COMPENSATING, CallState.COMPENSATION_FAILED):
        state = {
            CallState.COMMITTED: "it is in effect (not undone)",
            CallState.COMPENSATING: "its undo is running",
            CallState.COMPENSATION_FAILED: "its undo failed; it may still be in effect",
        }[item.state]
        return f"not re-appliable: {state}; there is nothing to re-apply"
    if item.state == CallState.REAPPLYING:
        return "not re-appliable now: a re-apply of it is running"
    # can_reapply is recorded when the call is made: what its tool could do then.
    return (
        f"not re-appliable: its tool ({call.tool}) cannot carry the effect out again (it defined no reapply "
        "when the call was made)"
    )


async def _reapply(journal: Journal, registry: ToolRegistry, call: CallRecord, policy: Policy) -> ReapplyResult:
    tool = tool_for(registry, call, "re-apply")
    if isinstance(tool, str):
        return ReapplyResult(call.call_id, call.tool, ReapplyOutcome.SKIPPED, tool)
    if not tool.can_reapply():
        # The journal says it could when the call was made; the tool loaded now says otherwise.
        return ReapplyResult(
            call.call_id,
            call.tool,
            ReapplyOutcome.SKIPPED,
            f"not re-appliable: the {call.tool} tool loaded here defines no reapply",
        )
    # A re-apply that has begun runs to its journaled end, even if its caller is cancelled.
    with anyio.CancelScope(shield=True):
        result = await _attempts(journal, tool, call, policy)
    return result


def _receipt(value: Any) -> dict[str, Any]:
    """The new receipt as a JSON-ready dict (a tool may return a model, a value or nothing)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if value is None:
        return {}
    return dict(value) if isinstance(value, dict) else {"result": value}


async def _attempts(journal: Journal, tool: Tool, call: CallRecord, policy: Policy) -> ReapplyResult:
    sid, cid, by = call.session_id, call.call_id, policy.by
    key = reapply_key(call)
    last_error = ""
    # Write-ahead: a crash during the re-apply is visible on reopen (recovery: reapply_failed).
    await journal.transition(
        sid,
        cid,
        CallState.REAPPLYING,
        durable=True,
        data={"by": by, "round": call.reapplies + 1, "key": key},
        lease=lease(policy, 1),
    )
    for attempt in range(1, policy.attempts + 1):
        await backoff(attempt, policy.backoff)
        ctx = ToolContext(
            session_id=sid, call_id=cid, tool=call.tool, idempotency_key=key, args=call.args, attempt=attempt
        )
        try:
            with anyio.fail_after(STEP_TIMEOUT_S):
                receipt = _receipt(await tool.reapply(call.receipt, ctx))
        except Exception as exc:
            last_error = error_text(exc, policy.redactor)
            continue
        shown = policy.redactor(receipt)
        await journal.transition(
            sid,
            cid,
            CallState.COMMITTED,
            durable=True,
            receipt=shown,
            data={"reapplied": True, "attempts": attempt, "by": by},
        )
        return ReapplyResult(cid, call.tool, ReapplyOutcome.REAPPLIED, "done again; undoable again", attempt, shown)
    await journal.transition(
        sid,
        cid,
        CallState.REAPPLY_FAILED,
        durable=True,
        reapply_error=last_error,
        reason=last_error,
        data={"attempts": policy.attempts, "by": by},
    )
    return ReapplyResult(
        cid, call.tool, ReapplyOutcome.FAILED, f"{last_error} (after {policy.attempts} attempts)", policy.attempts
    )
