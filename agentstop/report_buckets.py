"""The report's vocabulary: its buckets, the named groups of call states, and a call's undo status.

Which states count as landed, in flight, still in effect, ... is decided here
once; the report, the supervisor, the planners, the adapters and the CLI import
these sets instead of spelling the states out again. `agentstop.report`
re-exports every name.
"""

from __future__ import annotations

import enum

from agentstop.journal.states import CallState

__all__ = [
    "BUCKETS",
    "BUCKET_OF",
    "INTERRUPTED",
    "IN_EFFECT",
    "IN_FLIGHT",
    "LANDED",
    "NOT_CLEAN",
    "REAPPLIABLE",
    "TAKEN_BACK",
    "UNSETTLED",
    "Bucket",
    "UndoStatus",
]

S = CallState


class Bucket(enum.StrEnum):
    """A part of the four-way report. Every call is in exactly one of the first three."""

    DONE = "done"
    """It reached the world, whatever the person did to it since (undo, re-apply): `LANDED`."""

    INTERRUPTED = "interrupted"
    """It never reached the world: `INTERRUPTED`."""

    IN_FLIGHT = "in_flight"
    """Its commit is running, or its outcome is unknown: `IN_FLIGHT`."""

    UNDOABLE = "undoable"
    """A view over Done: the calls whose undo can run now (no call's own bucket)."""


LANDED: frozenset[CallState] = frozenset(
    {S.COMMITTED, S.COMPENSATING, S.COMPENSATED, S.COMPENSATION_FAILED, S.REAPPLYING, S.REAPPLY_FAILED}
)
"""Landed once: the effect reached the world (it may have been undone, and re-applied, since)."""

INTERRUPTED: frozenset[CallState] = frozenset({S.PLANNED, S.PREPARED, S.REJECTED, S.DISCARDED, S.FAILED})
"""Never reached the world, and never will."""

IN_FLIGHT: frozenset[CallState] = frozenset({S.COMMITTING, S.UNKNOWN})
"""Past the fence, its outcome not known yet (the commit runs, or was cut off until `lookup` settles it)."""

IN_EFFECT: frozenset[CallState] = frozenset({S.COMMITTED, S.COMPENSATION_FAILED})
"""Landed and not taken back, as far as the journal knows: what an undo may take back."""

TAKEN_BACK: frozenset[CallState] = frozenset({S.COMPENSATING, S.COMPENSATED, S.REAPPLY_FAILED})
"""Landed, then its undo ran (or runs), and no re-apply brought it back."""

UNSETTLED: frozenset[CallState] = IN_FLIGHT | {S.REAPPLYING}
"""Its outcome is not known yet: in flight, or being re-applied."""

REAPPLIABLE: frozenset[CallState] = frozenset({S.COMPENSATED, S.REAPPLY_FAILED})
"""Undone, so a re-apply may carry the effect out again (also after a failed re-apply)."""

NOT_CLEAN: frozenset[CallState] = frozenset({S.FAILED, S.REJECTED, S.UNKNOWN})
"""States that keep a completed run from being clean (`Report.clean`)."""

BUCKETS: dict[Bucket, frozenset[CallState]] = {
    Bucket.DONE: LANDED,
    Bucket.INTERRUPTED: INTERRUPTED,
    Bucket.IN_FLIGHT: IN_FLIGHT,
}
"""The states each of the three buckets a call can be in holds; together, every state once."""

BUCKET_OF: dict[CallState, Bucket] = {state: bucket for bucket, states in BUCKETS.items() for state in states}
"""The bucket a call in each state is in."""


class UndoStatus(enum.StrEnum):
    """Whether and how a call can be undone (`UndoInfo.status`)."""

    NOT_UNDOABLE = "not_undoable"
    """Never: read-only, irreversible, no compensation, never landed, or its receipt says so."""

    AVAILABLE = "available"
    """An undo can run now."""

    EXPIRED = "expired"
    """The tool's undo window has closed."""

    RUNNING = "running"
    """Its undo is running."""

    DONE = "done"
    """It was undone (a re-apply may since have failed)."""

    FAILED = "failed"
    """Its undo failed; it can be retried."""

    PENDING = "pending"
    """Not yet: the call has not landed, or its re-apply is running."""

    REFUSED = "refused"
    """The tool's `check` refused the undo just asked for (the effect changed since): the TUI shows
    this on the row until the undo is forced. A report built from the journal never says it."""
