"""Crash recovery as a person meets it: open a journal and settle the sessions whose process died.

Every command that reads a journal opens it through `open_and_recover`: a
session whose process is gone is marked crashed and its calls in flight are
settled by asking their tools (`recover`), its MCP servers started again from
its task file only for that. An undo or a re-apply whose own process died is
recorded failed, so it can be run again. What was done comes back as notes for
the person.
"""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack

import anyio

from agentstop.errors import AgentstopError
from agentstop.journal import CallRecord, CallState, Journal, SessionRecord, SessionStatus
from agentstop.journal.liveness import WORKED, is_alive, work_alive

from .target import Target, journal_to_read, require_journal

__all__ = ["needs_servers", "open_and_recover", "recover_dead", "unsettled_mcp", "unsettled_note"]

_IN_FLIGHT = (CallState.COMMITTING, CallState.UNKNOWN)
_CUT_OFF_WORK = (CallState.COMPENSATION_FAILED, CallState.REAPPLY_FAILED)
"""How recovery records an undo or a re-apply whose process died: failed, retryable."""


async def open_and_recover(target: Target | None, *, recover_dead: bool = True) -> tuple[Journal, list[str]]:
    """Open a journal (must exist) and recover sessions whose process died.

    Returns the open journal (the caller closes it) and notes for the person.

    Raises:
        AgentstopError: no journal there (it is never created by reading), or it cannot be opened.
    """
    where = journal_to_read(target)
    await require_journal(where)
    journal = await Journal.connect(where)
    try:
        return journal, await _recover_dead(journal) if recover_dead else []
    except BaseException:
        # Closed on every failure: a reader thread left open keeps the process from exiting.
        with anyio.CancelScope(shield=True):
            await journal.close()
        raise


async def recover_dead(journal: Journal) -> list[str]:
    """Recover the journal's sessions whose process died, and undos or re-applies whose process died.

    Returns notes for the person, one line each.
    """
    return await _recover_dead(journal)


async def _recover_dead(journal: Journal) -> list[str]:
    notes: list[str] = []
    for session in await journal.sessions():
        calls = await journal.calls_in(session.session_id, (*WORKED, *_IN_FLIGHT))  # all the checks below read
        # An undo or a re-apply whose own process died (an `agentstop undo` killed half-way) is
        # settled whatever the session's state: else it says "in progress" forever.
        dead_work = any(c.state in WORKED and not work_alive(c, session) for c in calls)
        if session.status == SessionStatus.RUNNING and is_alive(session) and not dead_work:
            continue
        if session.status != SessionStatus.RUNNING and not dead_work:
            if not any(_settleable(c) for c in calls):
                # Ended cleanly, or left only unknown calls no lookup can settle: nothing to load its tools for.
                # An ended session with a call cut off mid-commit (abandoned), or a lookup to ask, is settled below.
                continue
            if is_alive(dataclasses.replace(session, status=SessionStatus.RUNNING)):
                continue  # its process is still settling them (recovery leaves it be): start no servers
        notes.extend(await _recover(journal, session, calls))
    return notes


def _settleable(call: CallRecord) -> bool:
    """Whether recovery could move this call of an ended session: cut off mid-commit, or unknown with a lookup.

    An `unknown` call whose tool had no lookup when it was planned stays unknown whatever recovery
    does (no lookup to ask), as `needs_servers` already holds for the MCP servers it would start.
    """
    return call.state is CallState.COMMITTING or (call.state is CallState.UNKNOWN and call.can_lookup)


def needs_servers(calls: list[CallRecord]) -> set[str]:
    """The tools recovery must ask about: those of calls in flight that can look their outcome up."""
    return {c.tool for c in calls if c.state in _IN_FLIGHT and c.can_lookup}


async def _recover(journal: Journal, session: SessionRecord, calls: list[CallRecord]) -> list[str]:
    """Recover one session (see `recover`); its MCP servers are started only to settle calls in flight."""
    # Here, not at the top: reading a journal (`agentstop report`) needs no supervisor and no tools.
    from agentstop.supervisor.recovery import settle_session

    from .tools import SETTLE, recorded_tools, tools_from_session

    notes: list[str] = []
    async with AsyncExitStack() as stack:
        try:
            tools, problems = await stack.enter_async_context(
                tools_from_session(session, needs_servers(calls), purpose=SETTLE)
            )
        except AgentstopError as exc:
            # Its MCP calls stay in flight (unknown) until the servers can be asked; the rest is recovered.
            notes.append(f"{unsettled_note(session.session_id)}{exc}")
            tools, problems = recorded_tools(session)
        marked, reconciled = await settle_session(journal, tools, session.session_id)
    if marked:
        notes.append(
            f"session {session.session_id} had crashed (process {session.pid} is gone); "
            f"reconciled {len(reconciled)} call(s)"
        )
    cut = sorted(
        (
            cid
            for cid, outcome in reconciled.items()
            if outcome in (CallState.COMPENSATION_FAILED, CallState.REAPPLY_FAILED)
        ),
        key=lambda cid: (len(cid), cid),
    )
    if cut:
        notes.append(
            f"session {session.session_id}: the undo or re-apply of {', '.join(cut)} was cut off by a "
            "crash (its process is gone); recorded failed, retryable: run the undo (or --reapply) again"
        )
    notes.extend(f"  cannot load tool {p}" for p in problems)
    return notes


async def unsettled_mcp(journal: Journal, session: SessionRecord) -> AgentstopError | None:
    """Why the session's MCP calls in flight cannot be settled (its task file is gone), or None."""
    needed = needs_servers(await journal.calls_in(session.session_id, _IN_FLIGHT))
    if not needed:  # before `mcp_tools_of`, which loads the MCP configuration code
        return None
    from .tools import SETTLE, mcp_tools_of

    names = needed & set(mcp_tools_of(session))
    if not names:
        return None
    from agentstop.mcp.restart import task_file_problem

    return task_file_problem(session.task_path, session.session_id, sorted(names), *SETTLE)


def unsettled_note(session_id: str) -> str:
    """How a recovery note about a session whose MCP calls in flight could not be settled begins."""
    return f"session {session_id}: cannot settle its MCP calls in flight: "
