"""What undo and re-apply share: the calls a request names, the tool that runs them, retried attempts.

Both are the person's own actions on calls that already landed, run from the
journal alone (a CLI process, the TUI, replay, long after the agent exited):
the request names calls (or takes a list from the report), each call's tool is
looked up by name in the registry, and each step is tried a few times with
exponential backoff, under a per-step timeout, shielded once it has begun, so
its journaled end is always written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio

from agentstop.errors import UnknownCall, UnknownTool
from agentstop.journal import CallRecord, Journal
from agentstop.redact import Redactor
from agentstop.report import Report, ReportItem
from agentstop.tools import Tool, ToolRegistry

from .shape import storable

__all__ = ["STEP_TIMEOUT_S", "Policy", "Requested", "backoff", "error_text", "lease", "requested", "tool_for"]

STEP_TIMEOUT_S = 30.0
"""How long one check, compensation or re-apply may take before it counts as a failed attempt."""


@dataclass(frozen=True)
class Policy:
    """How one request treats each call: who asks, how often to try, whether undo's checks are skipped."""

    by: str
    attempts: int
    backoff: float
    redactor: Redactor
    force: bool = False


@dataclass(frozen=True)
class Requested:
    """The calls one request is about, read from the journal once.

    Attributes:
        report: the session's report when the request began.
        calls: every call of the session, by id.
        items: every call as the report shows it, by id.
        wanted: the ids asked for, without repeats, in the order given.
    """

    report: Report
    calls: dict[str, CallRecord]
    items: dict[str, ReportItem]
    wanted: list[str]


async def requested(
    journal: Journal, session_id: str, call_ids: Sequence[str] | None, default: Callable[[Report], Sequence[ReportItem]]
) -> Requested:
    """Read the session and resolve `call_ids` (None: the ids of `default(report)`).

    Raises:
        UnknownCall: an id the session does not have (nothing is run then).
    """
    report = await Report.from_journal(journal, session_id)
    calls = {c.call_id: c for c in await journal.calls(session_id)}
    if call_ids is None:
        wanted = [i.call_id for i in default(report)]
    else:
        for cid in call_ids:
            if cid not in calls:
                raise UnknownCall(journal.location, session_id, cid)
        wanted = list(dict.fromkeys(call_ids))
    return Requested(report, calls, {i.call_id: i for i in report.all_calls}, wanted)


def tool_for(registry: ToolRegistry, call: CallRecord, verb: str) -> Tool | str:
    """The call's tool, or why it cannot `verb` ("undo", "re-apply") here: its tool is not loaded."""
    try:
        return registry.get(call.tool)
    except UnknownTool:
        return f"tool {call.tool!r} is not loaded here; load it to {verb} this call"


LEASE_SLACK_S = 60.0
"""Added to a request's longest run when it is leased: the journal writes between its steps
(each may wait for another writer's lock) and the clocks of two hosts."""


def lease(policy: Policy, steps_per_attempt: int) -> float:
    """The longest one call of this request can take (seconds): what its journaled lease promises.

    Every step has a hard timeout (`STEP_TIMEOUT_S`) and the backoffs are known,
    so a process still running the call after this has died or hung: recovery
    seen from another host may then settle it.
    """
    waits: float = sum(policy.backoff * 2.0 ** (attempt - 2) for attempt in range(2, policy.attempts + 1))
    return policy.attempts * steps_per_attempt * STEP_TIMEOUT_S + waits + LEASE_SLACK_S


async def backoff(attempt: int, base: float) -> None:
    """Wait before `attempt` (1-based): nothing before the first, then base, 2 x base, 4 x base, ..."""
    if attempt > 1:
        await anyio.sleep(base * 2 ** (attempt - 2))


def error_text(exc: BaseException, redactor: Redactor) -> str:
    """An exception as the journal keeps it: its type and message, secrets masked, bounded."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return storable(redactor(text))
