"""A session's timeline read from the journal through checkpoints: opens at once, memory follows the screen.

`Timeline` (timeline.py) holds every event and walks them all; on a session of a
million events that is seconds of walking and a gigabyte of events. A
`JournalTimeline` instead reads checkpoints: every `CHECKPOINT` events, what the
timeline shows at that position (a `WindowWalk` state, window_walk.py), built
from the events and cached in the journal (`timeline_checkpoints`, schema v6;
agentstop/journal/timeline_cache.py). The moment after event `k` is the nearest
checkpoint at or before it plus at most `CHECKPOINT` events read after it.

Opening never waits for a long walk. A session with few events not yet covered
by checkpoints (at most `INLINE`: a short session, or one that grew since it was
last opened) gets them built at once. A longer one opens at its last interval,
whose starting state is read from a few queries (seed.py), and its checkpoints
are built afterwards by `index()` (the timeline screen runs it in a worker and
shows its progress); a moment further back waits for them (`ready`).

A moment of a `JournalTimeline` equals the same moment of `Timeline` cut to the
window (`windowed`); a property test walks both on random sessions, opened
either way.

A checkpoint keeps the rejected calls (which the first Stop of an epoch counts)
only when the interval after it holds a Stop, or it is the last one built
(which a later build is extended from): stored at every checkpoint, they were
most of a long session's first open.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AsyncExitStack

import anyio
import anyio.lowlevel

from agentstop.errors import JournalError
from agentstop.journal import Event, EventKind, Journal
from agentstop.journal.timeline_cache import CheckpointRow, TimelineReads, WalkRow

from .seed import read_seed
from .timeline import CHECKPOINT, Moment, stop_of_epoch
from .window_walk import Marks, WindowWalk

__all__ = ["BUILD", "INLINE", "TRANSCRIPT_TAIL", "WINDOW", "JournalTimeline", "Marks", "windowed"]

WINDOW = 500
"""Calls a moment carries: the latest planned (the side-effect table shows at most this many)."""

TRANSCRIPT_TAIL = 60
"""Transcript lines a moment carries: the latest (the screen shows the last 30)."""

BUILD = f"1/{CHECKPOINT}/{WINDOW}/{TRANSCRIPT_TAIL}"
"""The layout of a checkpoint's state: a cached row of another layout is built again, never misread."""

INLINE = 20_000
"""Events without checkpoints that opening walks at once (tens of milliseconds); more open at the last
interval and are walked by `index()`."""

BATCH = 100
"""Intervals `index()` walks between two writes of their checkpoints (the last of them keeps the rejected
calls, so a walk stopped halfway is extended from it: a few per session)."""

PROGRESS = 10
"""Intervals `index()` walks between two progress reports."""

READ_AHEAD = 8
"""Intervals of events one query reads while walking (fewer round trips; memory stays a few intervals)."""


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


class _Builder:
    """Walks a session's events one interval at a time from a checkpoint, making each interval's checkpoint."""

    def __init__(self, reads: TimelineReads, session_id: str, start: CheckpointRow | None, state: str | None) -> None:
        self.reads = reads
        self.session_id = session_id
        self.position, self.seq = (start.position, start.seq) if start is not None else (0, 0)
        self.walk = (
            WindowWalk(WINDOW, TRANSCRIPT_TAIL) if state is None else WindowWalk.loads(state, WINDOW, TRANSCRIPT_TAIL)
        )
        self.marks = Marks()
        """The Stops and Resumes of the intervals walked."""
        self._read: list[WalkRow] = []
        """Events read after `seq`, not walked yet."""
        self._ended = False
        """True once a read came back short: `_read` holds every event left."""

    async def _ahead(self, n: int) -> list[WalkRow]:
        """The next `n` events not walked (fewer at the end of the session), read a few intervals at a time."""
        if len(self._read) < n and not self._ended:
            after = self._read[-1][0] if self._read else self.seq
            want = READ_AHEAD * CHECKPOINT
            more = await self.reads.walk(self.session_id, after, want)
            self._ended = len(more) < want
            self._read += more
        return self._read[:n]

    async def intervals(self, most: int | None, keep_last: bool = True) -> tuple[list[CheckpointRow], bool]:
        """Walk at most `most` whole intervals (None: all); their checkpoints, and whether the session's end
        (fewer events than an interval left) was reached. The last of them keeps the rejected calls when
        `keep_last` (a later walk may be extended from it)."""
        rows: list[CheckpointRow] = []
        chunk = await self._ahead(CHECKPOINT)
        while most is None or len(rows) < most:
            if len(chunk) < CHECKPOINT:
                return rows, True
            del self._read[:CHECKPOINT]
            marks = _marks(chunk, self.position)
            self.marks.stops += marks.stops
            self.marks.resumes += marks.resumes
            self.walk.apply_rows(chunk)
            self.position, self.seq = self.position + CHECKPOINT, chunk[-1][0]
            chunk = await self._ahead(CHECKPOINT)
            keep = len(chunk) < CHECKPOINT or any(r[1] == EventKind.REVOKED for r in chunk)
            keep = keep or (keep_last and len(rows) + 1 == most)
            rows.append(CheckpointRow(self.position, self.seq, marks.dumps(), self.walk.dumps(with_rejected=keep)))
            await anyio.lowlevel.checkpoint()  # an interval's walk at a time: the screen stays responsive
        return rows, False


def _marks(chunk: list[WalkRow], position: int) -> Marks:
    """The Stops and Resumes among `chunk`, whose first event is at `position`."""
    return Marks(
        [position + i for i, r in enumerate(chunk) if r[1] == EventKind.REVOKED],
        [position + i for i, r in enumerate(chunk) if r[1] == EventKind.SESSION_RESUMED],
    )


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
        tail_start: int | None = None,
        tail_state: str = "",
    ) -> None:
        self.path = path
        self.session_id = session_id
        self._rows = rows
        """The checkpoints built so far, in order (their states stay in the journal once cached)."""
        self._tail_start = (rows[-1].position if rows else 0) if tail_start is None else tail_start
        self._tail_state = tail_state
        """The state at `_tail_start` when it was read before its checkpoint was built (seed.py)."""
        self._tail = tail
        self.length = self._tail_start + len(tail)
        self.stop_indices: list[int] = marks.stops
        """The index of each Stop (a `revoked` event): one per epoch that was stopped."""
        self.resume_indices: list[int] = marks.resumes
        """The index of each Resume (a `session_resumed` event): where epochs 2, 3, ... begin."""
        self.cached = cached
        """True when the checkpoints are in the journal; False when it could not be written (kept here)."""
        self._writable: Journal | None = None
        """The journal opened for writing checkpoints, while they are being written."""
        self._indexing: anyio.Event | None = None
        """Set when the running `index()` ends (None: none runs)."""
        self._chunk_start = -1
        self._chunk: list[Event] = []
        self._walk: WindowWalk | None = None
        self._walked = -1
        """The index of the last event `_walk` applied (in the current interval)."""
        self._base: tuple[int, str] = (-1, "")
        """The current interval's checkpoint state, read from the journal (scrubbing back starts from it)."""

    @classmethod
    async def open(cls, path: str | os.PathLike[str], session_id: str) -> JournalTimeline:
        """Read the session's checkpoints; build those it lacks at once, or open at its last interval.

        Up to `INLINE` events without checkpoints are walked now and their
        checkpoints written into the journal (read-write for that moment; a journal
        that cannot be written keeps them in this object instead). More open at the
        last interval, read from a few queries; `index()` builds the rest.
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
            if await journal.event_count(session_id) - (last.position if last else 0) > INLINE:
                seed = await read_seed(journal, session_id, CHECKPOINT, WINDOW, TRANSCRIPT_TAIL)
                state = seed.walk.dumps(with_rejected=True)
                return cls(path, session_id, rows, seed.tail, seed.marks, True, seed.position, state)
            builder = _Builder(journal.timeline_reads(), session_id, last, state)
            new, _ = await builder.intervals(None)
            marks.stops += builder.marks.stops
            marks.resumes += builder.marks.resumes
            tail = await journal.events(session_id, after=builder.seq, limit=CHECKPOINT - 1)
            for i, e in enumerate(tail):
                marks.note(builder.position + i, e.kind)
        timeline = cls(path, session_id, rows, tail, marks, True, builder.position)
        async with AsyncExitStack() as stack:
            timeline._rows += await timeline._save(new, stack)
            timeline._writable = None
        return timeline

    def __len__(self) -> int:
        return self.length

    @property
    def stop_index(self) -> int | None:
        """The index of the first `revoked` event (the Stop), if any."""
        return self.stop_indices[0] if self.stop_indices else None

    @property
    def is_long(self) -> bool:
        """More events than opening walks at once (`INLINE`): what else a viewer reads about the session
        (its report) is worth reading after the first moment is on screen, too."""
        return self.length > INLINE

    @property
    def indexed(self) -> float:
        """How much of the timeline its checkpoints cover, 0 to 1 (1: any moment shows at once)."""
        built = self._rows[-1].position if self._rows else 0
        return 1.0 if self._tail_start == 0 else built / self._tail_start

    def ready(self, index: int) -> bool:
        """Whether the moment after event `index` shows without waiting for `index()`."""
        start = (max(index, 0) // CHECKPOINT) * CHECKPOINT
        return start in (0, self._tail_start) or (bool(self._rows) and start <= self._rows[-1].position)

    def stop_of_epoch(self, index: int) -> int | None:
        """The Stop of the epoch that event `index` belongs to, if that epoch was stopped."""
        return stop_of_epoch(index, self.stop_indices, self.resume_indices, self.length)

    async def index(self, progress: Callable[[float], None] | None = None) -> None:
        """Build the checkpoints the timeline still lacks, writing them into the journal a batch at a time.

        `progress` hears `indexed` after each batch. Called while another call runs,
        it waits for that one. A walk of a million events takes seconds; it yields to
        the event loop after every interval.
        """
        if self.indexed >= 1.0:
            return
        if self._indexing is not None:
            await self._indexing.wait()
            return
        self._indexing = done = anyio.Event()
        try:
            await self._index(progress)
        finally:
            self._indexing = None
            done.set()

    async def _index(self, progress: Callable[[float], None] | None) -> None:
        last = self._rows[-1] if self._rows else None
        async with AsyncExitStack() as stack:
            try:
                await self._walk_into(last, stack, progress)
            finally:
                self._writable = None

    async def _walk_into(
        self, last: CheckpointRow | None, stack: AsyncExitStack, progress: Callable[[float], None] | None
    ) -> None:
        async with Journal.open(self.path, readonly=True) as journal:
            state = None
            if last is not None:
                state = last.state or await journal.timeline_checkpoint_state(self.session_id, BUILD, last.position)
                if state is None:
                    raise self._lost(last.position)
            builder = _Builder(journal.timeline_reads(), self.session_id, last, state)
            walked: list[CheckpointRow] = []
            while builder.position < self._tail_start:
                most = min(PROGRESS, (self._tail_start - builder.position) // CHECKPOINT)
                save = len(walked) + most >= BATCH or builder.position + most * CHECKPOINT >= self._tail_start
                rows, ended = await builder.intervals(most, keep_last=save)
                walked += rows
                if save or ended:
                    self._rows += await self._save(walked, stack)
                    walked = []
                if progress is not None:
                    progress(min(1.0, builder.position / self._tail_start))
                if ended and builder.position < self._tail_start:
                    raise JournalError(
                        str(self.path),
                        f"has fewer events of session {self.session_id} than when its timeline was opened",
                        "Open the session again.",
                    )

    async def _save(self, rows: list[CheckpointRow], stack: AsyncExitStack) -> list[CheckpointRow]:
        """Write `rows` into the journal and return them without their states; kept whole when it cannot be.

        The journal is opened for writing once per `stack` (opening it costs more than a batch of rows).
        """
        if not rows or not self.cached:
            return rows
        try:
            if self._writable is None:
                self._writable = await stack.enter_async_context(Journal.open(self.path))
            await self._writable.save_timeline_checkpoints(self.session_id, BUILD, rows)
        except JournalError:
            self.cached = False  # a read-only file or role: the checkpoints live in this object
            return rows
        return [CheckpointRow(r.position, r.seq, r.marks) for r in rows]

    async def moment(self, index: int) -> Moment:
        """The moment after event `index` (clamped; -1 is before everything), cut to `WINDOW` calls.

        Further back than the checkpoints built so far, it waits for `index()`.
        """
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
        """Event `index` (None out of range); further back than the checkpoints built so far, it waits for them."""
        if not 0 <= index < self.length:
            return None
        start = await self._load_interval(index)
        return self._chunk[index - start]

    async def _load_interval(self, index: int) -> int:
        """Make the interval holding event `index` current (the one after its checkpoint); returns its position."""
        start = (index // CHECKPOINT) * CHECKPOINT if index >= 0 else 0
        if start != self._chunk_start:
            if not self.ready(index):
                await self.index()
                if not self.ready(index):
                    raise JournalError(
                        str(self.path), f"could not index the timeline of session {self.session_id}", "Open it again."
                    )
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

    def _lost(self, position: int) -> JournalError:
        return JournalError(
            str(self.path),
            f"lost the timeline checkpoint at event {position} of session {self.session_id}",
            "Open the session again.",
        )

    async def _checkpoint(self, position: int) -> WindowWalk:
        if position == 0:
            return WindowWalk(WINDOW, TRANSCRIPT_TAIL)
        if position == self._tail_start and self._tail_state:
            return WindowWalk.loads(self._tail_state, WINDOW, TRANSCRIPT_TAIL)
        row = self._row(position)
        assert row is not None
        state = row.state or (self._base[1] if self._base[0] == position else "")
        if not state:
            async with Journal.open(self.path, readonly=True) as journal:
                found = await journal.timeline_checkpoint_state(self.session_id, BUILD, position)
            if found is None:
                raise self._lost(position)
            state = found
        self._base = (position, state)
        return WindowWalk.loads(state, WINDOW, TRANSCRIPT_TAIL)
