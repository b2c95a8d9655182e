"""The kinds of event the journal holds, besides a call's states.

Every journal event has a `kind`. A call event's kind is the `CallState` the
call entered (`planned`, `committing`, ...): the call's history is the list of
its states. Every other kind the code writes is an `EventKind` member. The two
sets of values do not overlap, so an event's kind is read back as one or the
other (`parse_kind`). A tool's note (`ToolContext.note`) or a planner's record
(`Agent.record`) may name a kind of its own: that one stays a plain string.

The journal stores the value, the same text as before these were enums: no
schema change, and old journals read the same.
"""

from __future__ import annotations

import enum

from .states import CallState

__all__ = ["EventKind", "parse_kind"]


class EventKind(enum.StrEnum):
    """What a journal event records, when it is not a call entering a state."""

    SESSION_STARTED = "session_started"
    """A session began: data {"task_name", "pid", "host"}."""

    SESSION_ENDED = "session_ended"
    """A session ended: data {"status", "stopped_by", "reason"}."""

    SESSION_RESUMED = "session_resumed"
    """A Resume ran the ended session again, a new epoch: data {"epoch", "by", "instruction",
    "previous_status", "pid", "host"}."""

    GRANT_ISSUED = "grant_issued"
    """A grant was issued: data {"grant_id", "tools", "scopes", "expires_at", "max_calls"}."""

    REVOKED = "revoked"
    """Stop: the session's live grants were revoked, so no call of it passes the fence any more:
    data {"grant_ids", "by", "reason"}."""

    STOP_REQUESTED = "stop_requested"
    """A stop asked for when the session had no live grant to revoke (it had ended, or its epoch was
    still starting): data {"by", "reason", "status"}. It binds a Resume already starting."""

    STOP_ESCALATED = "stop_escalated"
    """Stop pressed again from another process (cut in-flight calls off now): data {"by"}."""

    STOP_AFTER_STEP_REQUESTED = "stop_after_step_requested"
    """Stop after the current step, asked for (possibly from another process): data {"by", "reason"}."""

    TRANSCRIPT = "transcript"
    """A piece of the agent's text, one thought: data {"text"}."""

    APPROVAL_REQUESTED = "approval_requested"
    """A call waits for a person's approval (call event): data {"effect"}."""

    APPROVED = "approved"
    """A person approved a call, or a standing approval covered it (call event)."""

    UNDO_REFUSED = "undo_refused"
    """The tool's `check` found the effect changed since; its undo was not run (call event):
    data {"reason", "by", "attempt"}."""

    CALLER_CANCELLED = "caller_cancelled"
    """The code that called a tool went away mid-call: data {"call_id", "tool", "by", "committing"}."""

    LLM_ASSISTANT = "llm_assistant"
    """The OpenAI-compatible planner's record of one assistant message, to rebuild it after a Resume."""

    LLM_RESULTS = "llm_results"
    """The OpenAI-compatible planner's record of the tool results it sent back: data {"messages"}."""

    PROCESSES = "processes"
    """A tool's note of the processes a running call started: data {"pids", ..., "call_id", "tool"}."""


_KINDS: dict[str, CallState | EventKind] = {**{k.value: k for k in CallState}, **{k.value: k for k in EventKind}}


def parse_kind(text: str) -> CallState | EventKind | str:
    """An event's stored kind as its member: a `CallState`, an `EventKind`, or (a tool's or a planner's own
    kind) the text itself."""
    return _KINDS.get(text, text)
