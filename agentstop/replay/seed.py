"""The last checkpoint of a long session read from a few queries, so replay shows its end before walking it.

A `JournalTimeline` moment is a `WindowWalk` state plus at most one interval of
events (checkpoints.py). Building every checkpoint walks the whole session once:
seconds for a million events. The screen opens at the last moment, which needs
only the state at the start of the last interval, and every part of that state
is something the database answers over its index without a walk:

- the window of calls: the `window`-th last `planned` event, then the calls'
  events from it on (a call's events follow its `planned`); `earlier` is the
  number of plans before them;
- the transcript's last lines: the last thoughts and Resumes;
- the epoch, its Stop and where every Stop and Resume is: the Stops and Resumes
  (a handful of rows), placed by counting the events between them;
- the calls rejected after the Stop (`late`), and the rejected calls a Stop in
  the last interval will count: only calls rejected or discarded at or after
  the earliest of those Stops can count, so only they are looked up.

The result is the same `WindowWalk` the full walk reaches there (a property test
walks both): the checkpoints for scrubbing further back are built afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentstop.journal import Event, EventKind, Journal
from agentstop.journal.timeline_cache import TimelineReads, WalkRow

from .timeline import resumed_text
from .window_walk import Marks, WindowWalk

__all__ = ["Seed", "read_seed"]


@dataclass
class Seed:
    """A session's last interval, ready to show before its checkpoints are built.

    Attributes:
        length: the session's events.
        position: where the last interval starts (a multiple of the checkpoint interval).
        seq: the seq of the event just before it (0 at the start).
        walk: the state at `position`, as the full walk has it (`rejected`: what the Stops after it need).
        tail: the events from `position` on (at most an interval).
        marks: every Stop and Resume of the session, by position.
    """

    length: int
    position: int
    seq: int
    walk: WindowWalk
    tail: list[Event]
    marks: Marks


def _data(row: WalkRow) -> Mapping[str, Any]:
    text = row[4]
    loaded: Mapping[str, Any] = json.loads(text) if text else {}
    return loaded


async def read_seed(journal: Journal, session_id: str, interval: int, window: int, tail: int) -> Seed:
    """The session's last interval and the `WindowWalk` at its start, read in one snapshot of the journal."""
    q = journal.timeline_reads()
    async with journal.read_snapshot():
        length = await q.count(session_id, 0)
        position = max(length - 1, 0) // interval * interval  # the last event's interval (a whole one, at times)
        seq = await q.seq_at(session_id, position - 1) if position else 0
        marked = await q.marks(session_id)
        marks, epochs, counted, after = Marks(), list[int](), 0, 0
        epoch = 1
        for row in marked:  # a position is the count of the events before it: one range count per mark
            counted += await q.count(session_id, after, row[0] - 1)
            after = row[0] - 1
            marks.note(counted, row[1])
            if row[1] == EventKind.SESSION_RESUMED:
                epoch = int(_data(row).get("epoch", epoch + 1))
            epochs.append(epoch)
        walk = WindowWalk(window, tail)
        if position:
            await _fill(q, session_id, seq, walk, marked, epochs, window, tail)
        events = await journal.events(session_id, after=seq, limit=interval)
    return Seed(position + len(events), position, seq, walk, events, marks)


async def _fill(
    q: TimelineReads,
    session_id: str,
    seq: int,
    walk: WindowWalk,
    marked: list[WalkRow],
    epochs: list[int],
    window: int,
    tail: int,
) -> None:
    """Make `walk` the state after the events up to `seq`."""
    first = await q.nth_last_planned(session_id, seq, window)
    walk.apply_rows(await q.call_events(session_id, first or 0, seq))
    walk.earlier = await q.planned(session_id, seq) - len(walk.calls)
    for row in await q.last_lines(session_id, seq, tail):
        if row[1] == EventKind.TRANSCRIPT:
            walk.transcript.append(str(_data(row).get("text", "")))
        else:
            walk.transcript.append(resumed_text(_data(row), epochs[_index_of(marked, row[0])]))
    # The epoch and its Stop at `seq`; the instants of the first Stops of an epoch after it.
    walk.revoked_at = walk.revoked_by = None
    stops_after: list[float] = []
    current: float | None = None
    for row, epoch in zip(marked, epochs, strict=True):
        if row[1] == EventKind.SESSION_RESUMED:
            current = None
            if row[0] <= seq:
                walk.epoch, walk.revoked_at, walk.revoked_by = epoch, None, None
        elif current is None:
            current = row[3]
            if row[0] <= seq:
                walk.revoked_at, walk.revoked_by = row[3], str(_data(row).get("by", ""))
            else:
                stops_after.append(row[3])
    since = [*stops_after, *([walk.revoked_at] if walk.revoked_at is not None else [])]
    walk.rejected = await q.late_since(session_id, seq, min(since)) if since else {}
    at = walk.revoked_at
    walk.late = set() if at is None else {c for c, when in walk.rejected.items() if when >= at}


def _index_of(marked: list[WalkRow], seq: int) -> int:
    return next(i for i, row in enumerate(marked) if row[0] == seq)
