"""The walk a checkpoint holds: timeline.py's walk, keeping only what the screen shows (a window of calls).

`WindowWalk` is the one definition of what a `JournalTimeline` moment is: the
checkpoints are its state dumped every interval of events (checkpoints.py), and
the state a long session opens at before they are built is read into one from a
few queries (seed.py). A property test holds its moments equal to `Timeline`'s
cut to the window (`windowed`).

What it holds is bounded whatever the session's size: the `window` calls planned
last (calls planned earlier never come back into view, since the window only
moves forward with the timeline), the last `tail` lines of the transcript, the
epoch and its Stop, the calls rejected after that Stop (`late`, counted over
every call), and `rejected`: every call whose latest event rejected or discarded
it, with that event's instant, which the first Stop of an epoch reads to count
the calls it finds already rejected. A Stop, a Resume and a thought are about
the session, never a call; an approval never moves a call's row; an event of a
call outside the window is taken to be about a call planned earlier, as the
journal writes them (a call's first event is `planned`).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentstop.errors import JournalError
from agentstop.journal import CallState, Event, EventKind, parse_kind
from agentstop.journal.timeline_cache import WalkRow

from .timeline import LATE_STATES, CallView, Moment, resumed_text

__all__ = ["Marks", "WindowWalk"]

_EMPTY: Mapping[str, Any] = {}
_NOT_A_CALLS = frozenset({EventKind.APPROVAL_REQUESTED, EventKind.APPROVED})
_KINDS: dict[str, str] = {k.value: k for k in (*CallState, *EventKind)}


@dataclass
class Marks:
    """Where the Stops and Resumes are, by position in the session's events."""

    stops: list[int] = field(default_factory=lambda: [])
    resumes: list[int] = field(default_factory=lambda: [])

    def note(self, index: int, kind: str) -> None:
        if kind == EventKind.REVOKED:
            self.stops.append(index)
        elif kind == EventKind.SESSION_RESUMED:
            self.resumes.append(index)

    def dumps(self) -> str:
        return json.dumps([self.stops, self.resumes])

    def add(self, text: str) -> None:
        stops, resumes = json.loads(text)
        self.stops += [int(i) for i in stops]
        self.resumes += [int(i) for i in resumes]


class WindowWalk:
    """The state while walking a session's events, bounded (see the module docstring); copied into a Moment."""

    def __init__(self, window: int, tail: int) -> None:
        self.window = window
        self.calls: dict[str, CallView] = {}
        self.earlier = 0
        self.transcript: deque[str] = deque(maxlen=tail)
        self.revoked_at: float | None = None
        self.revoked_by: str | None = None
        self.epoch = 1
        self.late: set[str] = set()
        self.rejected: dict[str, float] | None = {}
        """Calls whose latest event rejected or discarded them, with its instant; None when a checkpoint
        did not store it. A walk read from queries (seed.py) holds only those the Stops it meets need."""

    def apply(self, e: Event) -> None:
        """Walk one event."""
        self.step(e.kind, e.call_id, e.at, e.data)

    def apply_rows(self, rows: Iterable[WalkRow]) -> None:
        """Walk events as `TimelineReads` reads them (their data decoded only when the walk reads it)."""
        step, loads, kinds = self.step, json.loads, _KINDS
        for _, kind, call_id, at, text in rows:
            step(kinds.get(kind) or parse_kind(kind), call_id, at, loads(text) if text else _EMPTY)

    def step(self, kind: str, call_id: str | None, at: float, data: Mapping[str, Any]) -> None:
        """Walk one event, given by its fields."""
        if kind == EventKind.TRANSCRIPT:
            self.transcript.append(str(data.get("text", "")))
        elif kind == EventKind.REVOKED:
            if self.revoked_at is None:
                self.stop(at, str(data.get("by", "")))
        elif kind == EventKind.SESSION_RESUMED:
            self.epoch = int(data.get("epoch", self.epoch + 1))
            self.revoked_at, self.revoked_by = None, None
            self.late = set()
            self.transcript.append(resumed_text(data, self.epoch))
        elif call_id is not None and kind not in _NOT_A_CALLS:
            self.call_event(kind, call_id, at, data)

    def stop(self, at: float, by: str) -> None:
        """The first Stop of the epoch: the calls already rejected at or after its instant count as late."""
        self.revoked_at, self.revoked_by = at, by
        if self.rejected is None:
            raise JournalError(
                "timeline checkpoint", "lacks the rejected calls a Stop needs", "Delete its rows to rebuild them."
            )
        self.late = {c for c, when in self.rejected.items() if when >= at}

    def call_event(self, kind: str, cid: str, at: float, data: Mapping[str, Any]) -> None:
        """An event about call `cid`: its row in the window, and whether it counts as rejected after the Stop."""
        if kind == CallState.PLANNED:
            self.calls[cid] = CallView(cid, str(data.get("tool", "")), str(data.get("summary", "")), kind, at)
            if len(self.calls) > self.window:
                del self.calls[next(iter(self.calls))]
                self.earlier += 1
        else:
            old = self.calls.get(cid)
            if old is not None:
                reason = data.get("reason")
                # A re-apply starts afresh: the failure of an earlier undo or re-apply is not its reason.
                kept = None if kind == CallState.REAPPLYING else old.reason
                self.calls[cid] = CallView(cid, old.tool, old.summary, kind, at, str(reason) if reason else kept)
        if kind in LATE_STATES:
            if self.rejected is not None:
                self.rejected[cid] = at
            if self.revoked_at is not None and at >= self.revoked_at:
                self.late.add(cid)
            else:
                self.late.discard(cid)
        else:
            if self.rejected is not None:
                self.rejected.pop(cid, None)
            self.late.discard(cid)

    def moment(self, index: int, event: Event | None) -> Moment:
        return Moment(
            index,
            event,
            dict(self.calls),
            tuple(self.transcript),
            self.revoked_at,
            self.revoked_by,
            self.epoch,
            earlier=self.earlier,
            late=len(self.late),
        )

    def dumps(self, with_rejected: bool) -> str:
        return json.dumps(
            {
                "calls": [[c.call_id, c.tool, c.summary, str(c.state), c.at, c.reason] for c in self.calls.values()],
                "earlier": self.earlier,
                "transcript": list(self.transcript),
                "revoked_at": self.revoked_at,
                "revoked_by": self.revoked_by,
                "epoch": self.epoch,
                "late": sorted(self.late),
                "rejected": sorted(self.rejected.items()) if with_rejected and self.rejected is not None else None,
            },
            ensure_ascii=False,
        )

    @classmethod
    def loads(cls, text: str, window: int, tail: int) -> WindowWalk:
        d: dict[str, Any] = json.loads(text)
        walk = cls(window, tail)
        walk.calls = {
            c[0]: CallView(str(c[0]), str(c[1]), str(c[2]), parse_kind(str(c[3])), float(c[4]), c[5])
            for c in d["calls"]
        }
        walk.earlier = int(d["earlier"])
        walk.transcript.extend(str(t) for t in d["transcript"])
        walk.revoked_at, walk.revoked_by, walk.epoch = d["revoked_at"], d["revoked_by"], int(d["epoch"])
        walk.late = {str(c) for c in d["late"]}
        rejected = d["rejected"]
        walk.rejected = None if rejected is None else {str(c): float(at) for c, at in rejected}
        return walk
