"""A tool call's lifecycle as data: the states and the one table of allowed moves.

```
planned ─► prepared ─► committing ─► committed ─► compensating ─► compensated ─► reapplying ─► committed
   │           │            │                           │                             └──► reapply_failed (retryable)
   │           │            │                           └────────► compensation_failed (retryable)
   │           │            ├─► failed        (upstream said no; nothing landed)
   │           │            └─► unknown       (timeout, cancel, crash mid-commit) ─► reconciled by lookup
   │           ├─► rejected  (fence refused: grant revoked, expired or out of scope)
   └───────────┴─► discarded (stopped before reaching the fence)
```

Undo and re-apply are the person's own actions on what the agent did: neither
passes the fence (Stop revokes the agent's grant, not the person's say over the
agent's effects), and both are written ahead like a commit: `compensating`
before a compensation runs, `reapplying` before a re-apply runs. A re-apply
(the tool's `reapply`: carry the original effect out again after its undo)
lands as `committed` with a new receipt, so the call is done, and undoable,
again: undo, re-apply, undo, ... cycle through these states, every step
journaled. A failed compensation or re-apply can be retried
(`compensation_failed` -> `compensating`, `reapply_failed` -> `reapplying`);
one cut off by a crash is recorded failed by recovery, its outcome unknown,
and retried the same way (the tool makes both idempotent). Which process is
doing an undo or a re-apply is recorded with the call while it is
`compensating` or `reapplying` (its `worker`), so recovery settles it once that
process is gone, whoever else still runs the session.
"""

from __future__ import annotations

import enum

__all__ = ["TRANSITIONS", "CallState", "can_move"]


class CallState(enum.StrEnum):
    """Where a tool call is in its life. The journal's last event for a call is its state."""

    PLANNED = "planned"
    """The planner asked for it; recorded before anything else happens."""

    PREPARED = "prepared"
    """The effect is built, nothing is visible to the world yet."""

    COMMITTING = "committing"
    """Passed the fence; the commit is being issued (durable before it starts)."""

    COMMITTED = "committed"
    """The upstream confirmed the effect; the receipt is journaled."""

    FAILED = "failed"
    """The tool failed or the upstream refused; nothing landed."""

    UNKNOWN = "unknown"
    """The commit was cut off (timeout, cancel, crash); `lookup` may settle it."""

    REJECTED = "rejected"
    """Refused before the world saw it: by the fence (grant revoked, expired, out of
    scope, over the limit), or because its arguments were invalid."""

    DISCARDED = "discarded"
    """Stopped before it reached the fence; any prepared effect was released."""

    COMPENSATING = "compensating"
    """Its undo is being run (durable before it starts)."""

    COMPENSATED = "compensated"
    """Its undo completed. Where the tool can `reapply`, the person may carry it out again."""

    COMPENSATION_FAILED = "compensation_failed"
    """Its undo failed after retries; it stays visible and can be retried."""

    REAPPLYING = "reapplying"
    """After its undo, the effect is being carried out again (durable before `reapply` starts)."""

    REAPPLY_FAILED = "reapply_failed"
    """Its re-apply failed after retries (or was cut off by a crash, outcome unknown); the effect
    stays undone as far as the journal knows, and the re-apply can be retried."""


S = CallState

TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    # failed from planned/prepared: prepare raised; nothing was issued.
    S.PLANNED: frozenset({S.PREPARED, S.REJECTED, S.DISCARDED, S.FAILED}),
    S.PREPARED: frozenset({S.COMMITTING, S.REJECTED, S.DISCARDED, S.FAILED}),
    S.COMMITTING: frozenset({S.COMMITTED, S.FAILED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.COMMITTED, S.FAILED}),
    S.COMMITTED: frozenset({S.COMPENSATING}),
    S.COMPENSATING: frozenset({S.COMPENSATED, S.COMPENSATION_FAILED}),
    S.COMPENSATION_FAILED: frozenset({S.COMPENSATING}),
    # A re-apply lands as a new commit (a new receipt): the call is done and undoable again.
    S.COMPENSATED: frozenset({S.REAPPLYING}),
    S.REAPPLYING: frozenset({S.COMMITTED, S.REAPPLY_FAILED}),
    S.REAPPLY_FAILED: frozenset({S.REAPPLYING}),
    S.FAILED: frozenset(),
    S.REJECTED: frozenset(),
    S.DISCARDED: frozenset(),
}


def can_move(current: CallState | None, wanted: CallState) -> bool:
    """True when a call in `current` (None: not journaled yet) may enter `wanted`."""
    if current is None:
        return wanted is CallState.PLANNED
    return wanted in TRANSITIONS[current]
