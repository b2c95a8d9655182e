"""A session's phase as a person sees it, and the one table of allowed moves.

```
running ─► stopping ─► escalated ─► ended ─► resuming ─► running
   │          └─────────────────────►─┘         └──► ended   (the Resume could not start)
   └──────────────────────────────────►─┘                    (it finished by itself)
```

One value instead of a handful of booleans ("stop pressed", "escalated",
"ended", "resuming", ...): every view of a session, local or attached, asks
its `SessionControl` for the phase, and a move the table does not allow is a
bug, raised at once instead of drawn on screen.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

__all__ = ["TRANSITIONS", "IllegalPhaseChange", "PhaseListener", "Phased", "SessionPhase", "move"]


class SessionPhase(enum.StrEnum):
    """Where a session is, as far as Stop, undo and Resume are concerned."""

    RUNNING = "running"
    """The agent works under a live grant; Stop is offered."""

    STOPPING = "stopping"
    """Stop has begun (here or anywhere): the grant is revoked, or being revoked, and the session waits
    for its calls in flight within their grace. Stop pressed again escalates."""

    ESCALATED = "escalated"
    """Stop pressed again: the rest of the grace is skipped and commits in flight are cancelled, their
    outcome asked of the upstream. Nothing more to press; the session ends by itself."""

    ENDED = "ended"
    """The session (or its last epoch) has ended: stopped, completed, crashed. The report, undo and
    re-apply are what is left; where this process can run the agent, Resume."""

    RESUMING = "resuming"
    """A Resume is starting the session's next epoch under a new grant; it runs, or, if it cannot
    start (resumed elsewhere meanwhile, the journal unreachable), the session stays ended."""


P = SessionPhase

TRANSITIONS: dict[SessionPhase, frozenset[SessionPhase]] = {
    # running -> ended: the agent finished (or crashed) with no Stop.
    P.RUNNING: frozenset({P.STOPPING, P.ENDED}),
    # stopping -> running: the revoke could not be written (the journal unreachable); Stop may be pressed again.
    P.STOPPING: frozenset({P.ESCALATED, P.ENDED, P.RUNNING}),
    # escalated -> stopping: asking to skip the grace could not be written; pressing again asks again.
    P.ESCALATED: frozenset({P.ENDED, P.STOPPING}),
    P.ENDED: frozenset({P.RESUMING}),
    P.RESUMING: frozenset({P.RUNNING, P.ENDED}),
}


class IllegalPhaseChange(RuntimeError):
    """A session was asked to move between two phases the table does not join: a bug in the caller."""

    def __init__(self, current: SessionPhase, wanted: SessionPhase) -> None:
        self.current = current
        self.wanted = wanted
        super().__init__(
            f"a session cannot move from {current} to {wanted} (allowed from {current}: "
            f"{', '.join(sorted(TRANSITIONS[current])) or 'nothing'}); this is a bug in agentstop: please report it"
        )


def move(current: SessionPhase, wanted: SessionPhase) -> SessionPhase:
    """`wanted`, when a session in `current` may enter it.

    Raises:
        IllegalPhaseChange: the table does not allow the move.
    """
    if wanted not in TRANSITIONS[current]:
        raise IllegalPhaseChange(current, wanted)
    return wanted


PhaseListener = Callable[[SessionPhase], None]
"""Told each new phase, right after the move (on the event loop's thread, synchronously)."""


class Phased:
    """One session's phase, moved only along `TRANSITIONS`, announced to whoever listens."""

    def __init__(self, phase: SessionPhase) -> None:
        self._phase = phase
        self._listeners: list[PhaseListener] = []

    @property
    def phase(self) -> SessionPhase:
        """Where the session is now."""
        return self._phase

    def on_phase(self, listener: PhaseListener) -> None:
        """Have `listener(phase)` called after every move (a view redraws what the phase decides)."""
        self._listeners.append(listener)

    def _move(self, wanted: SessionPhase) -> None:
        """Enter `wanted` and announce it.

        Raises:
            IllegalPhaseChange: the table does not allow the move (a bug).
        """
        self._phase = move(self._phase, wanted)
        for listener in list(self._listeners):
            listener(wanted)

    def _back(self, current: SessionPhase, to: SessionPhase) -> None:
        """Undo a move that did not happen (its journal write failed): from `current`, if still there, to `to`."""
        if self._phase is current:
            self._move(to)
