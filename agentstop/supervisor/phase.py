"""A supervisor's lifecycle as data: its phases and the one table of allowed moves.

```
new ─► running ─► stop_after_step ─┬─► ending ─► ended
 │        │               │        │      │        │
 │        └───────────────┴────────┼──────┴────────┴─► stopping ─► escalated ─► stopped
 │                                 │                       └───────────────────────►┘
 ├─► stopping (Stop before the session was recorded: Stop records it first)
 └─► stopped  (a Resume whose session a Stop ended while it started)
```

One `Supervisor` is one *epoch* of a session. A new session starts at epoch 1;
Resume after Stop makes a new `Supervisor` (`resume=True`) whose move from
`new` to `running` records epoch 2, 3, ... of the same session in the journal
under a new grant. So a supervisor never comes back from `stopped`: the next
epoch is the next supervisor.

Stop may begin in any phase but the last ones: a Stop after the session
completed (`ended`) still revokes the grant and runs its callbacks; a Stop that
begins while the session's end is being written (`ending`) waits for that end
rather than writing its own. Which of the two writes the end is read from the
phases passed (`Lifecycle.passed`), not from a flag.
"""

from __future__ import annotations

import enum

import anyio

__all__ = ["TRANSITIONS", "Lifecycle", "SupervisorPhase", "can_move"]


class SupervisorPhase(enum.Enum):
    """Where a supervisor (one epoch of a session) is in its life."""

    NEW = "new"
    """Made, nothing journaled yet: `start()` (or the first call, `run()`, `async with`) records it."""

    RUNNING = "running"
    """The session (or its new epoch) and its grant are in the journal; calls go through the fence."""

    STOP_AFTER_STEP = "stop_after_step"
    """Stop was asked for after the current step (`stop_after_step`): no new step starts; the
    planner's next `step_boundary` (or, with no planner, the last call in flight) begins Stop."""

    ENDING = "ending"
    """No Stop came: the session's end (completed, or stopped by a revoke nobody here heard)
    is being written by `run()` or `close()`."""

    ENDED = "ended"
    """The session's end is in the journal and no Stop was asked here; a Stop may still come
    (it then only revokes and runs its callbacks)."""

    STOPPING = "stopping"
    """Stop has begun: the grant is revoked (or being revoked), the planner and every call short
    of the fence are cut off, commits in flight have the grace, then their tool's `on_stop`."""

    ESCALATED = "escalated"
    """Stop was pressed again while it waited: the rest of the grace is skipped and every commit
    still in flight is cancelled, its outcome settled by `lookup`."""

    STOPPED = "stopped"
    """Stop is done: every call in flight settled or was abandoned by its `on_stop`, and the
    session's end is in the journal. The report Stop returns is read from there."""


P = SupervisorPhase

TRANSITIONS: dict[SupervisorPhase, frozenset[SupervisorPhase]] = {
    # stopping from new: stop() on a supervisor that never started records the session, then stops it.
    # stopped from new: a Resume that a Stop reached first (the journal ended the epoch as it began).
    P.NEW: frozenset({P.RUNNING, P.STOPPING, P.STOPPED}),
    P.RUNNING: frozenset({P.STOP_AFTER_STEP, P.ENDING, P.STOPPING}),
    P.STOP_AFTER_STEP: frozenset({P.ENDING, P.STOPPING}),
    P.ENDING: frozenset({P.ENDED, P.STOPPING}),
    P.ENDED: frozenset({P.STOPPING}),
    P.STOPPING: frozenset({P.ESCALATED, P.STOPPED}),
    P.ESCALATED: frozenset({P.STOPPED}),
    P.STOPPED: frozenset(),
}

_STOP_BEGUN = frozenset({P.STOPPING, P.ESCALATED, P.STOPPED})


def can_move(current: SupervisorPhase, wanted: SupervisorPhase) -> bool:
    """True when a supervisor in `current` may enter `wanted`."""
    return wanted in TRANSITIONS[current]


class Lifecycle:
    """One supervisor's phase, the phases it passed, and an event to await its Stop being done.

    Only `move` changes the phase, and it refuses a move the table does not allow
    (a bug in agentstop, never a user's mistake: every caller checks the phase first).
    """

    def __init__(self) -> None:
        self._phase = SupervisorPhase.NEW
        self._passed = {SupervisorPhase.NEW}
        self._stopped = anyio.Event()
        self._ended = anyio.Event()

    @property
    def phase(self) -> SupervisorPhase:
        """The phase now."""
        return self._phase

    def passed(self, phase: SupervisorPhase) -> bool:
        """True when the supervisor is in `phase` or was at some point."""
        return phase in self._passed

    @property
    def stop_begun(self) -> bool:
        """True once Stop has begun (`stopping`, `escalated` or `stopped`)."""
        return self._phase in _STOP_BEGUN

    def move(self, wanted: SupervisorPhase) -> None:
        """Enter `wanted`.

        Raises:
            RuntimeError: the move is not in `TRANSITIONS` (a bug in agentstop; please report it).
        """
        if not can_move(self._phase, wanted):
            raise RuntimeError(
                f"a supervisor cannot move from {self._phase.value} to {wanted.value}; "
                "this is a bug in agentstop, please report it"
            )
        self._phase = wanted
        self._passed.add(wanted)
        if wanted is SupervisorPhase.STOPPED:
            self._stopped.set()
        if wanted is SupervisorPhase.ENDED:
            self._ended.set()

    @property
    def end_claimed(self) -> bool:
        """True when someone other than Stop wrote the session's end, or is writing it (`ending` was passed)."""
        return self.passed(SupervisorPhase.ENDING) or self._ended.is_set()

    def end_written(self) -> None:
        """The session's end is in the journal (written by whoever claimed it: `ending`, or Stop)."""
        self._ended.set()

    async def wait_end_written(self) -> None:
        """Wait until the session's end is in the journal."""
        await self._ended.wait()

    async def wait_stopped(self) -> None:
        """Wait until Stop is done (the phase is `stopped`)."""
        await self._stopped.wait()
