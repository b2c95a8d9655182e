"""A session's history as a timeline: the state of every call at any event.

Replay scrubs through the journal's events; `Timeline.at(i)` gives the calls
and transcript exactly as a live run showed them after event `i`. Snapshots
every `CHECKPOINT` events keep jumping around cheap on long sessions.

`Timeline` holds every event in memory and walks them: the reference, and fine
for a short list. The viewer opens a session through `JournalTimeline`
(checkpoints.py), which reads checkpoints cached in the journal and one interval
of events at a time, so its memory follows what is shown, not the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from agentstop.journal import CallState, Event, EventKind

__all__ = [
    "CHECKPOINT",
    "LATE_STATES",
    "CallView",
    "Moment",
    "Timeline",
    "TimelineView",
    "resumed_line",
    "resumed_text",
    "stop_of_epoch",
]

CHECKPOINT = 1000

LATE_STATES = frozenset({CallState.REJECTED, CallState.DISCARDED})
"""A call in one of these states at or after its epoch's Stop counts as "rejected after the Stop"."""


class CallView(NamedTuple):
    """One call as it looked at a moment of the timeline.

    A named tuple, immutable as moments share it: the walk makes one at nearly every
    event, and a frozen dataclass cost a long session's walk half a second more.
    """

    call_id: str
    tool: str
    summary: str
    state: str
    """The kind of the call's latest event: its `CallState`, or another kind about it (`undo_refused`)."""
    at: float
    reason: str | None = None


@dataclass(frozen=True)
class Moment:
    """Everything shown at one position of the timeline.

    Attributes:
        index: position in the event list (-1: before the first event).
        event: the event just applied (None before the first).
        calls: every call known at this moment, by id, in planning order.
        transcript: the agent's thoughts so far.
        revoked_at: when this epoch's grant was revoked, if it was by then.
        revoked_by: who revoked it.
        epoch: which stretch of the session: 1, then one more for each Resume.
        earlier: calls planned before those in `calls` and left out of it (a `JournalTimeline`
            moment carries only the latest calls planned; `Timeline` leaves none out).
        late: how many calls were rejected or discarded after this epoch's Stop, as of this
            moment (`LATE_STATES`, at or after `revoked_at`), counted over every call.
    """

    index: int
    event: Event | None
    calls: dict[str, CallView] = field(default_factory=lambda: {})
    transcript: tuple[str, ...] = ()
    revoked_at: float | None = None
    revoked_by: str | None = None
    epoch: int = 1
    earlier: int = 0
    late: int = 0

    @property
    def call_count(self) -> int:
        """Every call known at this moment, those left out of `calls` included."""
        return self.earlier + len(self.calls)


def resumed_line(e: Event, epoch: int) -> str:
    """The transcript's line for a Resume (`session_resumed`) into `epoch`."""
    return resumed_text(e.data, epoch)


def resumed_text(data: Mapping[str, Any], epoch: int) -> str:
    """The transcript's line for a Resume into `epoch`, from its event's data."""
    said = str(data.get("instruction") or "").strip()
    return f"— resumed by {data.get('by', 'the user')} (epoch {epoch})" + (f": {said}" if said else "") + " —"


class _Walk:
    """The state while walking the events: changed in place, copied into a Moment only when asked.

    (Copying the calls at every event made opening a 100,000-event session take
    half a minute: the walk was quadratic.)
    """

    def __init__(self, m: Moment) -> None:
        self.calls = dict(m.calls)
        self.transcript = list(m.transcript)
        self.revoked_at, self.revoked_by, self.epoch = m.revoked_at, m.revoked_by, m.epoch

    def apply(self, e: Event) -> None:
        if e.kind == EventKind.TRANSCRIPT:
            self.transcript.append(str(e.data.get("text", "")))
        elif e.kind == EventKind.REVOKED:  # a Stop is about the session, never a call
            if self.revoked_at is None:
                self.revoked_at, self.revoked_by = e.at, str(e.data.get("by", ""))
        elif e.kind == EventKind.SESSION_RESUMED:
            # A new epoch under a new grant: its own Stop, if any, is still to come.
            self.epoch = int(e.data.get("epoch", self.epoch + 1))
            self.revoked_at, self.revoked_by = None, None
            self.transcript.append(resumed_line(e, self.epoch))
        elif e.call_id is not None and e.kind not in (EventKind.APPROVAL_REQUESTED, EventKind.APPROVED):
            if e.kind == CallState.PLANNED:
                self.calls[e.call_id] = CallView(
                    e.call_id, str(e.data.get("tool", "")), str(e.data.get("summary", "")), CallState.PLANNED, e.at
                )
            else:
                old = self.calls.get(e.call_id)
                if old is not None:
                    reason = e.data.get("reason")
                    # A re-apply starts afresh: the failure of an earlier undo or re-apply is not its reason.
                    kept = None if e.kind == CallState.REAPPLYING else old.reason
                    self.calls[e.call_id] = CallView(
                        old.call_id, old.tool, old.summary, e.kind, e.at, str(reason) if reason else kept
                    )

    def moment(self, index: int, event: Event | None) -> Moment:
        revoked_at = self.revoked_at
        late = (
            0
            if revoked_at is None
            else sum(1 for c in self.calls.values() if c.state in LATE_STATES and c.at >= revoked_at)
        )
        return Moment(
            index,
            event,
            dict(self.calls),
            tuple(self.transcript),
            self.revoked_at,
            self.revoked_by,
            self.epoch,
            late=late,
        )


def stop_of_epoch(index: int, stop_indices: Sequence[int], resume_indices: Sequence[int], length: int) -> int | None:
    """The Stop of the epoch that event `index` belongs to, if that epoch was stopped."""
    starts = [-1, *resume_indices]
    start = max(s for s in starts if s <= index)
    after = [s for s in starts if s > start]
    end = after[0] if after else length
    return next((i for i in stop_indices if start < i < end), None)


class TimelineView(Protocol):
    """What the timeline screen reads: a `Timeline` in memory, or a `JournalTimeline` over the journal."""

    stop_indices: list[int]
    resume_indices: list[int]

    def __len__(self) -> int: ...

    def stop_of_epoch(self, index: int) -> int | None:
        """The Stop of the epoch that event `index` belongs to, if that epoch was stopped."""
        ...

    async def moment(self, index: int) -> Moment:
        """The moment after event `index` (clamped; -1 is before everything)."""
        ...

    async def event(self, index: int) -> Event | None:
        """Event `index` (None out of range)."""
        ...

    @property
    def indexed(self) -> float:
        """How much of the timeline shows at once, 0 to 1 (the rest waits for `index()`)."""
        ...

    def ready(self, index: int) -> bool:
        """Whether the moment after event `index` shows without waiting for `index()`."""
        ...

    async def index(self, progress: Callable[[float], None] | None = None) -> None:
        """Make every moment ready (a long session's checkpoints), telling `progress` how far it got."""
        ...


class Timeline:
    """The events of one session and the state after each of them."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self._checkpoints: dict[int, Moment] = {-1: Moment(-1, None)}
        self.stop_indices: list[int] = [i for i, e in enumerate(events) if e.kind == EventKind.REVOKED]
        """The index of each Stop (a `revoked` event): one per epoch that was stopped."""
        self.resume_indices: list[int] = [i for i, e in enumerate(events) if e.kind == EventKind.SESSION_RESUMED]
        """The index of each Resume (a `session_resumed` event): where epochs 2, 3, ... begin."""

    def __len__(self) -> int:
        return len(self.events)

    @property
    def stop_index(self) -> int | None:
        """The index of the first `revoked` event (the Stop), if any."""
        return self.stop_indices[0] if self.stop_indices else None

    def stop_of_epoch(self, index: int) -> int | None:
        """The Stop of the epoch that event `index` belongs to, if that epoch was stopped."""
        return stop_of_epoch(index, self.stop_indices, self.resume_indices, len(self.events))

    async def moment(self, index: int) -> Moment:
        """`at(index)`, as the timeline screen asks for it."""
        return self.at(index)

    @property
    def indexed(self) -> float:
        """1: every event is in memory, any moment shows at once."""
        return 1.0

    def ready(self, index: int) -> bool:
        """True: any moment shows at once."""
        return True

    async def index(self, progress: Callable[[float], None] | None = None) -> None:
        """Nothing to build: the events are in memory."""

    async def event(self, index: int) -> Event | None:
        """Event `index` (None out of range)."""
        return self.events[index] if 0 <= index < len(self.events) else None

    def at(self, index: int) -> Moment:
        """The moment after event `index` (clamped to the timeline; -1 is before everything)."""
        index = max(-1, min(index, len(self.events) - 1))
        base = max(k for k in self._checkpoints if k <= index)
        if base == index:
            return self._checkpoints[base]
        walk = _Walk(self._checkpoints[base])
        for i in range(base + 1, index + 1):
            walk.apply(self.events[i])
            if i % CHECKPOINT == 0 and i not in self._checkpoints:
                self._checkpoints[i] = walk.moment(i, self.events[i])
        return walk.moment(index, self.events[index])

    def rejected_after_stop(self, moment: Moment) -> list[CallView]:
        """Calls rejected or discarded after the Stop, as of `moment`."""
        if moment.revoked_at is None:
            return []
        return [c for c in moment.calls.values() if c.state in LATE_STATES and c.at >= moment.revoked_at]
