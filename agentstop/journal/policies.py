"""What a tool declares about its effects, as the journal stores it with each call.

`Reversibility` (what a committed effect allows afterwards) and `StopPolicy`
(what Stop does to a commit in flight) are part of the Tool contract
(`agentstop.tools` re-exports them), yet every call row carries both, so they
are defined here, in the journal's layer, where a `CallRecord` can be typed
with them without the journal importing the tools.
"""

from __future__ import annotations

import enum

__all__ = ["Reversibility", "StopPolicy"]


class Reversibility(enum.StrEnum):
    """What a committed effect allows afterwards."""

    READ_ONLY = "read_only"
    """No side effect. Never gated by the grant, still journaled."""

    REVERSIBLE = "reversible"
    """An exact undo exists (delete the event it created, pull a queued message)."""

    COMPENSABLE = "compensable"
    """Only a semantic undo, which leaves a trace (a correction email, a refund)."""

    IRREVERSIBLE = "irreversible"
    """No undo; the report says what to do by hand (`Tool.undo_hint`)."""


class StopPolicy(enum.StrEnum):
    """What Stop does to a commit of this tool that is already in flight."""

    WAIT = "wait"
    """Let the commit finish; Stop waits for its outcome."""

    TRY_CANCEL = "try_cancel"
    """After the grace period, cancel it; its outcome is *unknown* until `lookup` settles it."""

    ABANDON = "abandon"
    """After the grace period, stop waiting; it keeps running and is reported as in flight."""
