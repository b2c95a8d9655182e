"""Crash recovery: a session whose process died is marked crashed and reconciled.

Nothing is guessed. Calls that never reached the fence are discarded; calls
caught mid-commit are settled by asking the upstream (`lookup`); what cannot be
settled stays *unknown* and is reported in flight with "outcome unknown". An
undo or a re-apply the crash cut off (`compensating`, `reapplying`) may or may
not have done its work, and `lookup` cannot tell (it answers for the commit,
not for what the person did to it since): it is recorded failed with that said
(`compensation_failed`, `reapply_failed`), and a retry finishes it (both are
idempotent). Recovery is idempotent: running it twice changes nothing the
second time.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from agentstop.errors import UnknownTool
from agentstop.journal import CallRecord, CallState, Journal, SessionRecord, SessionStatus
from agentstop.redact import Redactor
from agentstop.report import Report
from agentstop.tools import ToolContext, ToolRegistry

from .calls import reconcile
from .shape import storable

__all__ = ["RecoveryResult", "is_alive", "recover"]

# Another machine's session is presumed dead when its heartbeat is older than this.
STALE_HEARTBEAT = 15.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def is_alive(session: SessionRecord, now: float | None = None) -> bool:
    """True while the session is running and its process may still be running it."""
    return session.status == SessionStatus.RUNNING and _owner_alive(session, now)


def _owner_alive(session: SessionRecord, now: float | None = None) -> bool:
    if session.pid == os.getpid() and session.host == socket.gethostname():
        return True
    if session.host == socket.gethostname() and session.pid is not None:
        return _pid_alive(session.pid)
    if session.status != SessionStatus.RUNNING:
        return False  # an ended session on another machine writes no heartbeat
    beat = session.heartbeat_at or session.started_at
    return (now or time.time()) - beat < STALE_HEARTBEAT


@dataclass(frozen=True)
class RecoveryResult:
    """What recovery did to one session."""

    session_id: str
    marked_crashed: bool
    reconciled: dict[str, str]
    report: Report


async def recover(journal: Journal, tools: ToolRegistry, session_id: str) -> RecoveryResult:
    """Mark a dead session crashed and settle its unfinished calls.

    A live session (its process still running) is left alone. Calls of a
    session that ended are also settled (an abandoned commit, a stopped session
    whose process exited with a call in flight).
    """
    session = await journal.session(session_id)
    if _owner_alive(session):
        # Its process may still be committing (an abandoned call): leave it be.
        return RecoveryResult(session_id, False, {}, await Report.from_journal(journal, session_id))
    marked = False
    if session.status == SessionStatus.RUNNING:
        marked = await journal.end_session(session_id, SessionStatus.CRASHED, stopped_by="crash",
                                           stop_reason=f"process {session.pid} on {session.host} died")
    settled: dict[str, str] = {}
    for call in await journal.calls(session_id):
        outcome = await _settle(journal, tools, call)
        if outcome:
            settled[call.call_id] = outcome
    return RecoveryResult(session_id, marked, settled, await Report.from_journal(journal, session_id))


async def _settle(journal: Journal, tools: ToolRegistry, call: CallRecord) -> str | None:
    sid, cid = call.session_id, call.call_id
    state = CallState(call.state)
    if state in (CallState.PLANNED, CallState.PREPARED):
        await journal.transition(sid, cid, CallState.DISCARDED, durable=True,
                                 reason="the process died before the fence; nothing was sent")
        return "discarded"
    if state is CallState.COMPENSATING:
        await journal.transition(sid, cid, CallState.COMPENSATION_FAILED, durable=True,
                                 undo_error="the process died during the undo; retry it",
                                 reason="the process died during the undo; retry it")
        return "compensation_failed"
    if state is CallState.REAPPLYING:
        why = ("the process died during the re-apply: it may have landed or not (outcome unknown); "
               "retry it, which does it once either way")
        await journal.transition(sid, cid, CallState.REAPPLY_FAILED, durable=True, reapply_error=why, reason=why,
                                 data={"recovered": True})
        return "reapply_failed"
    if state not in (CallState.COMMITTING, CallState.UNKNOWN):
        return None
    try:
        tool = tools.get(call.tool)
    except UnknownTool:
        tool = None
    if tool is None or not tool.can_lookup():
        if state is CallState.COMMITTING:
            why = f"tool {call.tool!r} is not loaded" if tool is None else "the tool has no lookup"
            await journal.transition(sid, cid, CallState.UNKNOWN, durable=True,
                                     reason=f"the process died mid-commit and {why}; outcome unknown")
            return "unknown"
        return None
    ctx = ToolContext(session_id=sid, call_id=cid, tool=call.tool, idempotency_key=call.idempotency_key,
                      args=call.args)
    found, error = await reconcile(tool, ctx)
    if error is not None:
        error = storable(Redactor()(error))
        if state is CallState.COMMITTING:
            await journal.transition(sid, cid, CallState.UNKNOWN, durable=True,
                                     reason=f"the process died mid-commit; lookup failed ({error}); outcome unknown")
            return "unknown"
        return None
    if found is not None:
        await journal.transition(sid, cid, CallState.COMMITTED, durable=True, receipt=found,
                                 data={"reconciled": True})
        return "committed"
    if call.fence_at is not None and time.time() - call.fence_at < tool.settle_time:
        # The dead process's request may still be on its way upstream (a subprocess, a
        # queued HTTP request): not finding it yet does not mean it will never land.
        if state is CallState.COMMITTING:
            await journal.transition(sid, cid, CallState.UNKNOWN, durable=True, reason=(
                f"lookup found no effect yet, but a cut-off request may still land within "
                f"{tool.settle_time:g} s; recovery will check again"))
            return "unknown"
        return None
    await journal.transition(sid, cid, CallState.FAILED, durable=True,
                             reason="the commit was cut off and lookup found no effect; nothing landed",
                             data={"reconciled": True})
    return "failed"
