"""A session's timeline read from the journal through checkpoints: opens at once, memory follows the screen.

`Timeline` (timeline.py) holds every event and walks them all; on a session of a
million events that is seconds of walking and a gigabyte of events. A
`JournalTimeline` instead reads checkpoints: every `CHECKPOINT` events, what the
timeline shows at that position, built once from the events and cached in the
journal (`timeline_checkpoints`, schema v6; agentstop/journal/timeline_cache.py).
The moment after event `k` is the nearest checkpoint at or before it plus at most
`CHECKPOINT` events read after it (`Journal.events(after=, limit=)`).

What a checkpoint holds is what the screen shows, bounded whatever the session's
size: the `WINDOW` calls planned last (the side-effect table shows at most those;
calls planned earlier never come back into view, since the window only moves
forward with the timeline), the last `TRANSCRIPT_TAIL` lines of the transcript,
the epoch and its Stop, and the calls rejected after that Stop (to count them).
A moment of a `JournalTimeline` equals the same moment of `Timeline` cut to that
window (`windowed`); a property test walks both on random sessions.

Two kinds of event reach beyond the window, and the checkpoint carries what they
need: an event of an older call can make it count as rejected after the Stop, or
stop counting (the `late` set says which calls count now); and the first Stop of
an epoch counts the calls already rejected at or after its instant (`rejected`,
every call whose state is rejected or discarded; stored only in the checkpoints
whose next interval holds a Stop, and in the last one, which a growing session
is extended from). An event of a call outside the window is taken to be about a
call planned earlier, as the journal writes them (a call's first event is
`planned`).
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from agentstop.errors import JournalError
from agentstop.journal import CallState, Event, EventKind, Journal, parse_kind
from agentstop.journal.timeline_cache import CheckpointRow

from .timeline import CHECKPOINT, LATE_STATES, CallView, Moment, resumed_line, stop_of_epoch

__all__ = ["BUILD", "TRANSCRIPT_TAIL", "WINDOW", "JournalTimeline", "Marks", "windowed"]

WINDOW = 500
"""Calls a moment carries: the latest planned (the side-effect table shows at most this many)."""

TRANSCRIPT_TAIL = 60
"""Transcript lines a moment carries: the latest (the screen shows the last 30)."""

BUILD = f"1/{CHECKPOINT}/{WINDOW}/{TRANSCRIPT_TAIL}"
"""The layout of a checkpoint's state: a cached row of another layout is built again, never misread."""

_MARKED = (EventKind.REVOKED, EventKind.SESSION_RESUMED)


def windowed(moment: Moment, window: int = WINDOW, tail: int = TRANSCRIPT_TAIL) -> Moment:
    """A full moment (`Timeline.at`) cut to what a `JournalTimeline` moment carries: the same moment, bounded."""
    calls = list(moment.calls.values())
    kept = calls[max(0, len(calls) - window) :]
    return Moment(
        moment.index,
        moment.event,
        {c.call_id: c for c in kept},
        moment.transcript[max(0, len(moment.transcript) - tail) :],
        moment.revoked_at,
        moment.revoked_by,
        moment.epoch,
        earlier=moment.earlier + len(calls) - len(kept),
        late=moment.late,
    )


@dataclass
class Marks:
    """Where the Stops and Resumes are, by position in the session's events."""

    stops: list[int] = field(default_factory=lambda: [])
    resumes: list[int] = field(default_factory=lambda: [])

    def note(self, index: int, event: Event) -> None:
        if event.kind == EventKind.REVOKED:
            self.stops.append(index)
        elif event.kind == EventKind.SESSION_RESUMED:
            self.resumes.append(index)

    def dumps(self) -> str:
        return json.dumps([self.stops, self.resumes])

    def add(self, text: str) -> None:
        stops, resumes = json.loads(text)
        self.stops += [int(i) for i in stops]
        self.resumes += [int(i) for i in resumes]


class _WindowWalk:
    """The walk of timeline.py's `_Walk`, holding only what a checkpoint holds (see the module docstring)."""

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
        """Every call rejected or discarded, with its instant; None when the checkpoint did not store it."""

    def apply(self, e: Event) -> None:
        kind = e.kind
        if kind == EventKind.TRANSCRIPT:
            self.transcript.append(str(e.data.get("text", "")))
        elif kind == EventKind.REVOKED and self.revoked_at is None:
            self.revoked_at, self.revoked_by = e.at, str(e.data.get("by", ""))
            if self.rejected is None:
                raise JournalError(
                    "timeline checkpoint", "lacks the rejected calls a Stop needs", "Delete its rows to rebuild them."
                )
            self.late = {c for c, at in self.rejected.items() if at >= e.at}
        elif kind == EventKind.SESSION_RESUMED:
            self.epoch = int(e.data.get("epoch", self.epoch + 1))
            self.revoked_at, self.revoked_by = None, None
            self.late = set()
            self.transcript.append(resumed_line(e, self.epoch))
        elif e.call_id is not None and kind not in (EventKind.APPROVAL_REQUESTED, EventKind.APPROVED):
            cid = e.call_id
            if kind == CallState.PLANNED:
                self.calls[cid] = CallView(
                    cid, str(e.data.get("tool", "")), str(e.data.get("summary", "")), CallState.PLANNED, e.at
                )
                if len(self.calls) > self.window:
                    del self.calls[next(iter(self.calls))]
                    self.earlier += 1
            else:
                old = self.calls.get(cid)
                if old is not None:
                    reason = e.data.get("reason")
                    kept = None if kind == CallState.REAPPLYING else old.reason
                    self.calls[cid] = CallView(cid, old.tool, old.summary, kind, e.at, str(reason) if reason else kept)
            if kind in LATE_STATES:
                if self.rejected is not None:
                    self.rejected[cid] = e.at
                if self.revoked_at is not None and e.at >= self.revoked_at:
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
    def loads(cls, text: str, window: int, tail: int) -> _WindowWalk:
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


async def _build(
    journal: Journal, session_id: str, start: CheckpointRow | None, state: str | None, marks: Marks
) -> tuple[list[CheckpointRow], list[Event]]:
    """Walk the session from `start` (None: its beginning), one interval at a time.

    Returns a checkpoint per whole interval walked, and the events after the last
    of them (fewer than `CHECKPOINT`: the tail, which is walked on every open).
    `marks` gets the Stops and Resumes of every event walked.
    """
    position, seq = (start.position, start.seq) if start is not None else (0, 0)
    walk = _WindowWalk(WINDOW, TRANSCRIPT_TAIL) if state is None else _WindowWalk.loads(state, WINDOW, TRANSCRIPT_TAIL)
    rows: list[CheckpointRow] = []
    pending: tuple[int, int, str] | None = None
    """The row for the interval just walked: its state is written once the next interval is read, with the
    rejected calls when that interval holds a Stop or is the tail (so `rejected` is dumped rarely)."""
    while True:
        events = await journal.events(session_id, after=seq, limit=CHECKPOINT)
        chunk = Marks()
        for i, e in enumerate(events):
            chunk.note(position + i, e)
        marks.stops += chunk.stops
        marks.resumes += chunk.resumes
        last = len(events) < CHECKPOINT
        if pending is not None:
            rows.append(CheckpointRow(*pending, walk.dumps(with_rejected=last or bool(chunk.stops))))
        if last:
            return rows, events
        for e in events:
            walk.apply(e)
        position, seq = position + len(events), events[-1].seq
        pending = (position, seq, chunk.dumps())


class JournalTimeline:
    """A session's timeline over its journal: checkpoints cached there, events read one interval at a time.

    Open it with `await JournalTimeline.open(journal_path, session_id)`. It holds
    no connection: each read opens the journal read-only for as long as it takes.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        session_id: str,
        rows: list[CheckpointRow],
        tail: list[Event],
        marks: Marks,
        cached: bool,
    ) -> None:
        self.path = path
        self.session_id = session_id
        self._rows = rows
        """Every checkpoint, in order (their states stay in the journal once cached)."""
        self._tail_start = rows[-1].position if rows else 0
        self._tail = tail
        self.length = self._tail_start + len(tail)
        self.stop_indices: list[int] = marks.stops
        """The index of each Stop (a `revoked` event): one per epoch that was stopped."""
        self.resume_indices: list[int] = marks.resumes
        """The index of each Resume (a `session_resumed` event): where epochs 2, 3, ... begin."""
        self.cached = cached
        """True when the checkpoints are in the journal; False when it could not be written (kept here)."""
        self._chunk_start = -1
        self._chunk: list[Event] = []
        self._walk: _WindowWalk | None = None
        self._walked = -1
        """The index of the last event `_walk` applied (in the current interval)."""
        self._base: tuple[int, str] = (-1, "")
        """The current interval's checkpoint state, read from the journal (scrubbing back starts from it)."""

    @classmethod
    async def open(cls, path: str | os.PathLike[str], session_id: str) -> JournalTimeline:
        """Read the session's checkpoints, building (and caching) those it lacks; then the timeline opens.

        The first open of a long session walks it once and writes the checkpoints
        into the journal (read-write for that moment; a journal that cannot be
        written keeps them in this object instead); every later open reads them.
        """
        async with Journal.open(path, readonly=True) as journal:
            await journal.session(session_id)  # UnknownSession, said as usual
            rows = await journal.timeline_checkpoints(session_id, BUILD)
            marks = Marks()
            for row in rows:
                marks.add(row.marks)
            last = rows[-1] if rows else None
            state = None if last is None else await journal.timeline_checkpoint_state(session_id, BUILD, last.position)
            if last is not None and state is None:  # the rows went meanwhile: build them all again
                rows, last, marks = [], None, Marks()
            new, tail = await _build(journal, session_id, last, state, marks)
        cached = True
        if new:
            try:
                async with Journal.open(path) as writable:
                    await writable.save_timeline_checkpoints(session_id, BUILD, new)
            except JournalError:
                cached = False  # a read-only file or role: the checkpoints live in this object
            if cached:
                new = [CheckpointRow(r.position, r.seq, r.marks) for r in new]
        return cls(path, session_id, [*rows, *new], tail, marks, cached)

    def __len__(self) -> int:
        return self.length

    @property
    def stop_index(self) -> int | None:
        """The index of the first `revoked` event (the Stop), if any."""
        return self.stop_indices[0] if self.stop_indices else None

    def stop_of_epoch(self, index: int) -> int | None:
        """The Stop of the epoch that event `index` belongs to, if that epoch was stopped."""
        return stop_of_epoch(index, self.stop_indices, self.resume_indices, self.length)

    async def moment(self, index: int) -> Moment:
        """The moment after event `index` (clamped; -1 is before everything), cut to `WINDOW` calls."""
        index = max(-1, min(index, self.length - 1))
        start = await self._load_interval(index)
        if self._walk is None or self._walked > index:
            self._walk = await self._checkpoint(start)
            self._walked = start - 1
        for i in range(self._walked + 1, index + 1):
            self._walk.apply(self._chunk[i - start])
        self._walked = index
        return self._walk.moment(index, self._chunk[index - start] if index >= 0 else None)

    async def event(self, index: int) -> Event | None:
        """Event `index` (None out of range)."""
        if not 0 <= index < self.length:
            return None
        start = await self._load_interval(index)
        return self._chunk[index - start]

    async def _load_interval(self, index: int) -> int:
        """Make the interval holding event `index` current (the one after its checkpoint); returns its position."""
        start = (index // CHECKPOINT) * CHECKPOINT if index >= 0 else 0
        if start != self._chunk_start:
            self._chunk = await self._read_interval(start)
            self._chunk_start = start
            self._walk, self._walked = None, -1
        return start

    async def _read_interval(self, start: int) -> list[Event]:
        if start == self._tail_start:
            return self._tail
        row = self._row(start)
        after = row.seq if row is not None else 0
        async with Journal.open(self.path, readonly=True) as journal:
            return await journal.events(self.session_id, after=after, limit=CHECKPOINT)

    def _row(self, position: int) -> CheckpointRow | None:
        if position == 0:
            return None
        row = self._rows[position // CHECKPOINT - 1]
        assert row.position == position
        return row

    async def _checkpoint(self, position: int) -> _WindowWalk:
        row = self._row(position)
        if row is None:
            return _WindowWalk(WINDOW, TRANSCRIPT_TAIL)
        state = row.state or (self._base[1] if self._base[0] == position else "")
        if not state:
            async with Journal.open(self.path, readonly=True) as journal:
                found = await journal.timeline_checkpoint_state(self.session_id, BUILD, position)
            if found is None:
                raise JournalError(
                    str(self.path),
                    f"lost the timeline checkpoint at event {position} of session {self.session_id}",
                    "Open the session again.",
                )
            state = found
        self._base = (position, state)
        return _WindowWalk.loads(state, WINDOW, TRANSCRIPT_TAIL)
