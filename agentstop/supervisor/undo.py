"""Saga compensation: undo committed calls in reverse commit order, journaled and retried."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from agentstop.errors import UnknownCall, UnknownTool
from agentstop.journal import CallRecord, CallState, Journal
from agentstop.redact import Redactor
from agentstop.report import Report
from agentstop.tools import Tool, ToolContext, ToolRegistry

from .shape import storable

__all__ = ["UndoResult", "run_undo"]


@dataclass(frozen=True)
class UndoResult:
    """What happened to one requested undo.

    Attributes:
        call_id: the call.
        tool: its tool.
        status: "compensated", "failed" (retryable later) or "skipped" (nothing
            was run: not undoable, not landed, already undone, deadline passed).
        detail: one line for a person.
        attempts: how many times the compensation ran in this request.
    """

    call_id: str
    tool: str
    status: str
    detail: str
    attempts: int = 0


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
) -> list[UndoResult]:
    """Run compensations for `call_ids` (None: every undoable call), latest commit first.

    Each compensation is journaled `compensating` (durably, before it runs),
    retried with exponential backoff, and ends `compensated` or
    `compensation_failed` with its error, which a later undo may retry.
    """
    report = await Report.from_journal(journal, session_id)
    calls = {c.call_id: c for c in await journal.calls(session_id)}
    if call_ids is None:
        wanted = [i.call_id for i in report.undoable]
    else:
        for cid in call_ids:
            if cid not in calls:
                raise UnknownCall(str(journal.path), session_id, cid)
        wanted = list(dict.fromkeys(call_ids))
    items = {i.call_id: i for i in report.all_calls}
    # Reverse commit order; calls that never committed sort last (they are skipped).
    ordered = sorted(wanted, key=lambda cid: -(calls[cid].commit_seq or 0))
    results: list[UndoResult] = []
    for cid in ordered:
        item = items[cid]
        if not item.undo.available:
            results.append(UndoResult(cid, item.tool, "skipped", item.undo.detail))
            continue
        results.append(await _compensate(journal, registry, calls[cid], by, attempts, backoff,
                                         redactor or Redactor()))
    return results


async def _compensate(journal: Journal, registry: ToolRegistry, call: CallRecord, by: str, attempts: int,
                      backoff: float, redactor: Redactor) -> UndoResult:
    try:
        tool = registry.get(call.tool)
    except UnknownTool:
        return UndoResult(call.call_id, call.tool, "skipped",
                          f"tool {call.tool!r} is not loaded here; load it to undo this call")
    # An undo that has begun runs to its journaled end, even if its caller is cancelled.
    with anyio.CancelScope(shield=True):
        result = await _attempts(journal, tool, call, by, attempts, backoff, redactor)
    return result


async def _attempts(journal: Journal, tool: Tool, call: CallRecord, by: str, attempts: int,
                    backoff: float, redactor: Redactor) -> UndoResult:
    sid = call.session_id
    # Write-ahead for undo too: a crash mid-compensation is visible on reopen.
    await journal.transition(sid, call.call_id, CallState.COMPENSATING, durable=True, undo_by=by)
    last_error = ""
    for attempt in range(1, attempts + 1):
        ctx = ToolContext(session_id=sid, call_id=call.call_id, tool=call.tool,
                          idempotency_key=f"{call.idempotency_key}:undo", args=call.args, attempt=attempt)
        try:
            with anyio.fail_after(30):
                await tool.compensate(call.receipt, ctx)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            last_error = storable(redactor(text))
            if attempt < attempts:
                await anyio.sleep(backoff * 2 ** (attempt - 1))
            continue
        await journal.transition(sid, call.call_id, CallState.COMPENSATED, durable=True,
                                 data={"attempts": attempt, "by": by})
        return UndoResult(call.call_id, call.tool, "compensated", "undone", attempt)
    await journal.transition(sid, call.call_id, CallState.COMPENSATION_FAILED, durable=True,
                             undo_error=last_error, reason=last_error,
                             data={"attempts": attempts, "by": by})
    return UndoResult(call.call_id, call.tool, "failed", f"{last_error} (after {attempts} attempts)", attempts)
