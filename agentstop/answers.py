"""What a caller is told when a call does not simply return a receipt: one wording for every route.

The MCP proxy answers a host with it, the framework adapters give it to the
model as the tool's result, the coding-CLI hooks deny with it. A refusal is an
answer the model reads, not an exception a framework turns into "please try
again": it says whether anything reached the world, so the transcript stays true.

| what happened | the answer |
|---|---|
| the grant was revoked (Stop), before or at the fence | `refused: grant revoked by WHO; nothing was sent` |
| the grant expired | `refused: the grant expired; nothing was sent` |
| Stop cut off a call past the fence | `stopped: outcome unknown (being checked)` |
| a call whose outcome is not known otherwise | `outcome unknown: WHY` |
| cut off before the fence without a Stop | `interrupted: WHY` |
| scope, call limit, bad arguments, approval denied | `refused: WHY` (ends "nothing was sent") |
| a keyed call that was undone since | `undone: ...; not issued again` |
| the tool failed | `failed: ERROR; WHAT LANDED` |
"""

from __future__ import annotations

from agentstop.errors import (
    AgentstopError,
    GrantExpired,
    GrantRevoked,
    Interrupted,
    InvalidArgs,
    OutcomeUnknown,
    Rejected,
    ToolFailed,
    Undone,
)

__all__ = ["STOPPED_UNKNOWN", "answer", "refusal_text"]

STOPPED_UNKNOWN = "stopped: outcome unknown (being checked)"


def refusal_text(who: str | None) -> str:
    """What a caller reads for a call refused because the grant was revoked (or had expired)."""
    if who == "expiry":
        return "refused: the grant expired; nothing was sent"
    return f"refused: grant revoked by {who or 'another process'}; nothing was sent"


def answer(exc: AgentstopError, *, stopping: bool, revoked_by: str | None = None) -> str:
    """The one line a caller (a host, a model) reads for a call that ended in `exc`.

    Args:
        exc: what the call raised.
        stopping: whether the session is being stopped (Stop explains an interruption).
        revoked_by: who revoked the grant, when it was revoked.
    """
    if isinstance(exc, OutcomeUnknown):
        return STOPPED_UNKNOWN if stopping else f"outcome unknown: {exc.reason}"
    if isinstance(exc, GrantExpired):
        return refusal_text("expiry")
    if isinstance(exc, GrantRevoked) or (isinstance(exc, Interrupted) and stopping):
        return refusal_text(revoked_by)
    if isinstance(exc, Interrupted):
        return f"interrupted: {exc.reason}"
    if isinstance(exc, InvalidArgs):
        return f"refused: {exc.reason}"  # "...; nothing was prepared"
    if isinstance(exc, Rejected):
        # Wording only (the type already says nothing landed): not "...; nothing was sent" twice.
        reason = exc.reason if "nothing was sent" in exc.reason else f"{exc.reason}; nothing was sent"
        return f"refused: {reason}"
    if isinstance(exc, Undone):
        return f"undone: {exc}"
    if isinstance(exc, ToolFailed):
        return f"failed: {exc.error}; {exc.landed}"
    return f"refused: {exc}"
