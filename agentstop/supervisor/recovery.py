"""Crash recovery: a session whose process died is marked crashed and reconciled.

Nothing is guessed. Calls that never reached the fence are discarded; calls
caught mid-commit are settled by asking the upstream (`lookup`); what cannot be
settled stays *unknown* and is reported in flight with "outcome unknown". An
undo or a re-apply the crash cut off (`compensating`, `reapplying`) may or may
not have done its work, and no tool can tell (`lookup` answers for the commit,
not for what the person did to it since; `check` calls an effect already gone
"no drift", whoever took it away): it is recorded failed with that said
(`compensation_failed`, `reapply_failed`), and a retry finishes it (both are
idempotent). Recovery is idempotent: running it twice changes nothing the
second time.

Whose death counts: the session's process for the agent's calls; for an undo
or a re-apply, the process that ran it (the call's `worker`: `agentstop undo`
in another terminal, the TUI, a script), which the journal records with its
start time (a reused pid is another process) and a lease (another host's
process cannot be asked; after its lease, the longest its steps' timeouts
allow, it is presumed dead). So a live undo elsewhere is never cut off, and
one whose process died is settled even while the session's process lives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from agentstop.errors import UnknownTool
from agentstop.journal import CallRecord, CallState, Journal, SessionRecord, SessionStatus
from agentstop.journal.liveness import WORKED, is_alive, owner_alive, work_alive
from agentstop.redact import Redactor
from agentstop.report import Report
from agentstop.task.tool_import import recorded_tools
from agentstop.tools import ToolContext, ToolRegistry

from .calls import reconcile
from .shape import storable

__all__ = ["WORKED", "RecoveryResult", "is_alive", "recover", "settle_session", "work_alive"]


@dataclass(frozen=True)
class RecoveryResult:
    """What recovery did to one session."""

    session_id: str
    marked_crashed: bool
    reconciled: dict[str, CallState]
    report: Report


_UNSETTLED = (
    CallState.PLANNED,
    CallState.PREPARED,
    CallState.COMMITTING,
    CallState.UNKNOWN,
    CallState.COMPENSATING,
    CallState.REAPPLYING,
)
"""The states `_settle` acts on: recovery reads only these calls (the rest of a long session is left unread)."""


async def recover(journal: Journal, tools: ToolRegistry, session_id: str) -> RecoveryResult:
    """Mark a dead session crashed and settle its unfinished calls.

    The agent's calls of a live session (its process still running) are left
    alone; so is an undo or a re-apply whose own process still runs it. Calls
    of a session that ended are also settled (an abandoned commit, a stopped
    session whose process exited with a call in flight, an `agentstop undo`
    killed half-way).
    """
    marked, settled = await settle_session(journal, tools, session_id)
    return RecoveryResult(session_id, marked, settled, await Report.from_journal(journal, session_id))


async def settle_session(journal: Journal, tools: ToolRegistry, session_id: str) -> tuple[bool, dict[str, CallState]]:
    """`recover` without the report it returns: (whether the session was marked crashed, the calls settled).

    For a reader that opens a journal and only says what recovery did (`agentstop report` on a
    100,000-call session builds its own report, a window at a time).
    """
    session = await journal.session(session_id)
    its_process_alive = owner_alive(session)
    marked = False
    if not its_process_alive and session.status == SessionStatus.RUNNING:
        marked = await journal.end_session(
            session_id,
            SessionStatus.CRASHED,
            stopped_by="crash",
            stop_reason=f"process {session.pid} on {session.host} died",
        )
    settled: dict[str, CallState] = {}
    left = await journal.calls_in(session_id, _UNSETTLED)
    if any(call.tool not in tools for call in left):
        tools = _with_recorded(tools, session)
    for call in left:
        if CallState(call.state) in WORKED:
            if work_alive(call, session):
                continue  # its undo or re-apply is running in a live process
        elif its_process_alive:
            continue  # its process may still be committing (an abandoned call): leave it be
        outcome = await _settle(journal, tools, call)
        if outcome:
            settled[call.call_id] = outcome
    return marked, settled


def _with_recorded(tools: ToolRegistry, session: SessionRecord) -> ToolRegistry:
    """`tools`, and those the session recorded that it lacks, imported by their paths (as the CLI does).

    A supervisor resumed after a crash may not hold every tool its session used (an adapter adds a
    framework's tool on its first call): a call caught mid-commit is still looked up with its tool.
    A tool that no longer imports leaves its calls unknown, saying it is not loaded.
    """
    recorded, _ = recorded_tools(session)
    return ToolRegistry([*tools, *(tool for tool in recorded if tool.name not in tools)])


def _ran_as(call: CallRecord) -> str:
    """ " (pid 4242 on build-7)": the process that ran the call's undo or re-apply, when recorded."""
    return f" ({call.worker.describe()})" if call.worker is not None else ""


async def _settle(journal: Journal, tools: ToolRegistry, call: CallRecord) -> CallState | None:
    sid, cid = call.session_id, call.call_id
    state = CallState(call.state)
    if state in (CallState.PLANNED, CallState.PREPARED):
        await journal.transition(
            sid, cid, CallState.DISCARDED, durable=True, reason="the process died before the fence; nothing was sent"
        )
        return CallState.DISCARDED
    if state is CallState.COMPENSATING:
        why = (
            f"interrupted by a crash: the process{_ran_as(call)} died during the undo, which may have run or not; "
            f"retry it (agentstop undo --session {sid} {cid}), which takes the effect back once either way"
        )
        await journal.transition(
            sid, cid, CallState.COMPENSATION_FAILED, durable=True, undo_error=why, reason=why, data={"recovered": True}
        )
        return CallState.COMPENSATION_FAILED
    if state is CallState.REAPPLYING:
        why = (
            f"the process died during the re-apply: it may have landed or not (outcome unknown){_ran_as(call)}; "
            f"retry it (agentstop undo --reapply --session {sid} {cid}), which does it once either way"
        )
        await journal.transition(
            sid, cid, CallState.REAPPLY_FAILED, durable=True, reapply_error=why, reason=why, data={"recovered": True}
        )
        return CallState.REAPPLY_FAILED
    if state not in (CallState.COMMITTING, CallState.UNKNOWN):
        return None
    try:
        tool = tools.get(call.tool)
    except UnknownTool:
        tool = None
    if tool is None or not tool.can_lookup():
        if state is CallState.COMMITTING:
            why = f"tool {call.tool!r} is not loaded" if tool is None else "the tool has no lookup"
            await journal.transition(
                sid,
                cid,
                CallState.UNKNOWN,
                durable=True,
                reason=f"the process died mid-commit and {why}; outcome unknown",
            )
            return CallState.UNKNOWN
        return None
    # `prepared` as journaled: a lookup may compare the world with what prepare captured (a file before a write).
    ctx = ToolContext(
        session_id=sid,
        call_id=cid,
        tool=call.tool,
        idempotency_key=call.idempotency_key,
        args=call.args,
        prepared=call.prepared,
    )
    found, error = await reconcile(tool, ctx)
    if error is not None:
        error = storable(Redactor()(error))
        if state is CallState.COMMITTING:
            await journal.transition(
                sid,
                cid,
                CallState.UNKNOWN,
                durable=True,
                reason=f"the process died mid-commit; lookup failed ({error}); outcome unknown",
            )
            return CallState.UNKNOWN
        return None
    if found is not None:
        await journal.transition(sid, cid, CallState.COMMITTED, durable=True, receipt=found, data={"reconciled": True})
        return CallState.COMMITTED
    if call.fence_at is not None and time.time() - call.fence_at < tool.settle_time:
        # The dead process's request may still be on its way upstream (a subprocess, a
        # queued HTTP request): not finding it yet does not mean it will never land.
        if state is CallState.COMMITTING:
            await journal.transition(
                sid,
                cid,
                CallState.UNKNOWN,
                durable=True,
                reason=(
                    f"lookup found no effect yet, but a cut-off request may still land within "
                    f"{tool.settle_time:g} s; recovery will check again"
                ),
            )
            return CallState.UNKNOWN
        return None
    await journal.transition(
        sid,
        cid,
        CallState.FAILED,
        durable=True,
        reason="the commit was cut off and lookup found no effect; nothing landed",
        data={"reconciled": True},
    )
    return CallState.FAILED
