"""`LiveReport`: the four-way report of a running session, kept up to date from its journal events.

`Report.from_journal` reads and builds every call of a session, so a UI that
rebuilt it at every batch of new events would pay for the whole session each
time: 600 ms at 10,000 calls, on the event loop the keyboard shares. A
`LiveReport` pays for the session once (`LiveReport.load`, one full read), and
then for what changed (`LiveReport.apply`):

- it re-reads only the calls the batch's events touched
  (`Journal.report_rows(session_id, call_ids=...)`) and builds their items
  exactly as a full build would (`agentstop.report.items_of_rows`);
- it re-reads the session row and the grants only when an event says they
  changed (a revoke, the session ending or resuming, a grant issued, a commit
  counted against its grant at the fence);
- it patches each changed item into its place in the ordered lists (Done,
  Interrupted and In flight by call number; Undoable latest commit first;
  Re-appliable earliest commit first), each an `OrderedItems` whose change
  costs one binary search and one small chunk.

So a batch of N events costs O(N log S) for a session of S calls, and handing
out the report (`LiveReport.report()`) costs one pointer per chunk of each
list: the `Report` it returns holds snapshots that share the chunks
(`agentstop.ordered_items.ItemsView`), each copied into its tuple only when
read. It is the report `Report.build` makes over the same rows at the same
`now`, item for item and in the same order.

Time moves undo windows, not events: an undo deadline passes, an exact undo
becomes a compensation. `LiveReport.tick(now)` moves the report's clock and
rebuilds only the items whose window opened or closed since (kept in a heap by
the moment they change), and `LiveReport.next_change_at()` says when the next
one does.

What no event announces is not seen until one does: the session's heartbeat,
the tools a running session took on, and a stop noted by a revoke that found
nothing left to revoke are read at the next session event, or at once with
`LiveReport.refresh_session()`.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from agentstop.journal.events import EventKind
from agentstop.journal.records import Event, GrantRecord, SessionRecord, gc_paused
from agentstop.journal.states import CallState
from agentstop.journal.status import SessionStatus
from agentstop.ordered_items import ItemsView, OrderedItems
from agentstop.report import ROW_FIELDS, Bucket, Report, ReportItem, epochs_of, items_of_rows

if TYPE_CHECKING:
    from agentstop.journal import Journal

__all__ = ["LiveChange", "LiveReport"]

_N = ROW_FIELDS.index("n")
_STATE = ROW_FIELDS.index("state")
_REASON = ROW_FIELDS.index("reason")
_GRANT = ROW_FIELDS.index("grant_id")
_COMMIT_SEQ = ROW_FIELDS.index("commit_seq")

_WAITING = frozenset({CallState.PLANNED.value, CallState.PREPARED.value})
"""States whose item, with no reason of its own, says why by the session's status ("never reached the fence")."""

_SESSION_KINDS = frozenset(
    {
        EventKind.SESSION_STARTED,
        EventKind.SESSION_ENDED,
        EventKind.SESSION_RESUMED,
        EventKind.REVOKED,
        EventKind.STOP_REQUESTED,
    }
)
"""Session events written in the transaction that changed the session's row."""

_GRANT_KINDS = frozenset(
    {
        EventKind.GRANT_ISSUED,
        EventKind.REVOKED,
        EventKind.SESSION_RESUMED,
        EventKind.SESSION_ENDED,
        CallState.COMMITTING,
    }
)
"""Events written in the transaction that changed a grant: issued, revoked, or a call counted at the fence
(`calls_used`; a call's `committing` event)."""

_Entry = tuple[ReportItem, int | None, int | None]
"""What a live report keeps per call: its item, its commit's seq (None before one), its grant id."""


@dataclass(frozen=True)
class LiveChange:
    """What one `LiveReport.apply` or `tick` changed, for a UI that patches what it shows.

    Attributes:
        calls: the calls whose items were rebuilt (new, moved between lists, or changed in place).
        session: the session row or the grants were read again (status, revocation, a new epoch).
        reloaded: the whole report was read again (the journal renumbered the epochs): redraw it all.
    """

    calls: frozenset[str]
    session: bool = False
    reloaded: bool = False


class LiveReport:
    """A session's `Report`, kept up to date from its journal events (see the module).

    Make one with `await LiveReport.load(journal, session_id)`, hand it every
    batch of the session's new events in journal order (`await apply(events)`),
    move its clock with `tick(now)`, and take the report with `report()`.
    """

    def __init__(self, journal: Journal, session_id: str) -> None:
        """An empty live report; use `LiveReport.load`, which reads the session."""
        self._journal = journal
        self._session_id = session_id
        self._where = journal.location
        self._now = 0.0
        self._session: SessionRecord | None = None
        self._grants: tuple[GrantRecord, ...] = ()
        self._epochs: dict[int, int] = {}
        self._entries: dict[str, _Entry] = {}
        self._buckets: dict[Bucket, OrderedItems[ReportItem]] = {}
        self._undoable: OrderedItems[ReportItem] = OrderedItems()
        self._reappliable: OrderedItems[ReportItem] = OrderedItems()
        self._waiting: dict[str, Sequence[Any]] = {}
        """Rows of planned or prepared calls with no reason of their own: rebuilt when the status changes."""
        self._timed: dict[str, Sequence[Any]] = {}
        """Rows of calls whose undo names a deadline or an exact-until time: rebuilt when one passes."""
        self._moments: list[tuple[float, str]] = []
        """A heap of (moment, call id): when a timed call's undo changes next (stale entries are skipped)."""
        self._per_grant: dict[int | None, int] = {}
        """How many calls each grant id holds: an epoch renumbered under them means a full re-read."""
        self._report: Report | None = None
        self._reading = anyio.Lock()
        """Held across an `apply`'s reads: batches taken in one after another, never interleaved."""
        self._seen = 0
        """The seq of the latest event taken in (or before the last full read): what `catch_up` reads after."""

    # -- reading ----------------------------------------------------------------------

    @classmethod
    async def load(cls, journal: Journal, session_id: str, *, now: float | None = None) -> LiveReport:
        """Read the session once, in full, as `Report.from_journal` does.

        Args:
            journal: the journal holding the session.
            session_id: the session.
            now: the report's clock (undo windows are judged at it); the wall clock if None.

        Raises:
            UnknownSession: the journal has no such session.
            JournalCorrupt: a call row does not decode.
        """
        live = cls(journal, session_id)
        live._now = time.time() if now is None else now
        await live._reload()
        return live

    async def _reload(self) -> None:
        # Read first: every event up to it is in the rows read after it (a later one taken in again is harmless).
        self._seen = await self._journal.last_event_seq(self._session_id)
        session = await self._journal.session(self._session_id)
        rows = await self._journal.report_rows(self._session_id)
        grants = await self._journal.grants(self._session_id)
        self._reset(session, rows, grants)

    def _reset(self, session: SessionRecord, rows: Sequence[Sequence[Any]], grants: list[GrantRecord]) -> None:
        """Every list and index from a full read (rows in call-number order, as `report_rows` reads them)."""
        self._session, self._grants, self._epochs = session, tuple(grants), epochs_of(grants)
        self._entries.clear()
        self._waiting.clear()
        self._timed.clear()
        self._moments.clear()
        self._per_grant.clear()
        with gc_paused():
            items = items_of_rows(rows, session, self._now, self._epochs, self._where)
            committed: list[tuple[int, ReportItem]] = []
            for row, item in zip(rows, items, strict=True):
                seq, grant = row[_COMMIT_SEQ], row[_GRANT]
                self._entries[item.call_id] = (item, seq, grant)
                self._per_grant[grant] = self._per_grant.get(grant, 0) + 1
                self._index(row, item)
                if seq is not None:
                    committed.append((seq, item))
            committed.sort(key=_first)
            self._buckets = {
                bucket: OrderedItems.of_sorted((i.n, i) for i in items if i.bucket is bucket)
                for bucket in (Bucket.DONE, Bucket.INTERRUPTED, Bucket.IN_FLIGHT)
            }
            self._undoable = OrderedItems.of_sorted((-seq, i) for seq, i in reversed(committed) if i.undo.available)
            self._reappliable = OrderedItems.of_sorted((seq, i) for seq, i in committed if i.reappliable)
        self._rebuild_moments()
        self._report = None

    def _rebuild_moments(self) -> None:
        """The heap anew from the timed calls: the moments after `now` at which each one's undo changes."""
        self._moments = [(m, c) for c, row in self._timed.items() for m in self._moments_of(c, row, self._now)]
        heapq.heapify(self._moments)

    # -- what it holds ------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """The session it follows."""
        return self._session_id

    @property
    def now(self) -> float:
        """The report's clock: undo windows are judged at it (`tick` moves it)."""
        return self._now

    def __len__(self) -> int:
        """How many calls the session has."""
        return len(self._entries)

    def item(self, call_id: str) -> ReportItem | None:
        """One call's item as the report shows it, or None when the session has no such call (yet)."""
        entry = self._entries.get(call_id)
        return None if entry is None else entry[0]

    def report(self) -> Report:
        """The report as it stands: `Report.build` over the same rows at `now`, in the same order.

        Costs one pointer per chunk of each list; a list becomes its tuple when first read
        (`Report.of_lists`), and the same report is handed out until something changes. To
        show counts without reading the lists, see `counts`; to look at the lists without
        copying them, `views`.
        """
        if self._report is None:
            assert self._session is not None, "LiveReport.load reads the session first"
            self._report = Report.of_lists(
                self._session,
                self._grants,
                self._now,
                done=self._buckets[Bucket.DONE].view(),
                interrupted=self._buckets[Bucket.INTERRUPTED].view(),
                in_flight=self._buckets[Bucket.IN_FLIGHT].view(),
                undoable=self._undoable.view(),
                reappliable=self._reappliable.view(),
            )
        return self._report

    def counts(self) -> dict[Bucket, int]:
        """How many calls each list holds (Done, Interrupted, In flight, Undoable), without reading them."""
        return {
            Bucket.DONE: len(self._buckets[Bucket.DONE]),
            Bucket.INTERRUPTED: len(self._buckets[Bucket.INTERRUPTED]),
            Bucket.IN_FLIGHT: len(self._buckets[Bucket.IN_FLIGHT]),
            Bucket.UNDOABLE: len(self._undoable),
        }

    def views(self) -> dict[Bucket, ItemsView[ReportItem]]:
        """The four lists as they are now, as read-only sequences sharing the live lists' chunks.

        Indexing and length cost no copy: a table that shows a window of 100,000 rows reads
        only that window. Undoable is latest commit first, as in the report.
        """
        return {
            Bucket.DONE: self._buckets[Bucket.DONE].view(),
            Bucket.INTERRUPTED: self._buckets[Bucket.INTERRUPTED].view(),
            Bucket.IN_FLIGHT: self._buckets[Bucket.IN_FLIGHT].view(),
            Bucket.UNDOABLE: self._undoable.view(),
        }

    def next_change_at(self) -> float | None:
        """When the next undo window opens or closes (a deadline, an exact undo's end), if one is ahead."""
        moments = self._moments
        while moments and not self._current(*moments[0]):
            heapq.heappop(moments)
        return moments[0][0] if moments else None

    # -- keeping up -----------------------------------------------------------------------

    async def apply(self, events: Iterable[Event], *, now: float | None = None) -> LiveChange:
        """Take in a batch of the session's new journal events (in journal order).

        Re-reads the calls they touched, and the session row and grants when one of
        them says those changed; other sessions' events are ignored. With `now`, the
        clock moves first (`tick`). Batches overlapping a batch already taken in, or
        the load, are harmless (a call re-read is read as it is now); calls to `apply`
        that overlap in time take their turns.

        Raises:
            JournalCorrupt: a call row does not decode.
        """
        async with self._reading:
            return await self._apply(events, now)

    async def _apply(self, events: Iterable[Event], now: float | None) -> LiveChange:
        ticked = self.tick(now).calls if now is not None else frozenset()
        touched: set[str] = set()
        read_session = read_grants = False
        assert self._session is not None
        running = self._session.status == SessionStatus.RUNNING  # as of the batch's last event, by its events
        last = 0
        for event in events:
            if event.session_id != self._session_id:
                continue
            kind = event.kind
            last = max(last, event.seq)
            self._seen = max(self._seen, event.seq)
            if event.call_id is not None and isinstance(kind, CallState):
                touched.add(event.call_id)  # every change to a call row appends the state it entered
            if kind in _SESSION_KINDS:
                read_session = True
                if kind in (EventKind.SESSION_STARTED, EventKind.SESSION_RESUMED):
                    running = True
                elif kind == EventKind.SESSION_ENDED:
                    running = False
            if kind in _GRANT_KINDS:
                read_grants = True
        changed = set(ticked)
        session_changed = False
        if read_session or read_grants:
            outcome = await self._read_session(read_session, read_grants)
            if outcome is None:
                return LiveChange(frozenset(self._entries), session=True, reloaded=True)
            changed |= outcome
            session_changed = True
        if touched:
            rows = await self._journal.report_rows(self._session_id, call_ids=touched)
            changed |= self._refresh(rows)
        if running and last and self._session.status != SessionStatus.RUNNING:
            # The row, read now, is past the batch: the session has ended since its last event. The events
            # up to that end are taken in too, so the report never says it ended without what it did
            # meanwhile (its end is among them: the row and its end event are one transaction).
            later = await self._apply(await self._journal.events(self._session_id, after=last), None)
            if later.reloaded:
                return later
            changed |= later.calls
        return LiveChange(frozenset(changed), session=session_changed)

    async def catch_up(self, events: Iterable[Event], *, now: float | None = None) -> LiveChange:
        """`apply`, then the session row and grants read again whatever the events said.

        The report as the journal has it now, for the cost of what changed: what a Stop, an
        undo or the session's end waits on, instead of a full read (`load`).

        Raises:
            JournalCorrupt: a call row does not decode.
        """
        async with self._reading:
            change = await self._apply(events, now)
            if change.reloaded:
                return change
            assert self._session is not None
            was_running = self._session.status == SessionStatus.RUNNING
            outcome = await self._read_session(True, True)
            if outcome is None:
                return LiveChange(frozenset(self._entries), session=True, reloaded=True)
            calls = change.calls | outcome
            if was_running and self._session.status != SessionStatus.RUNNING:
                # The row, read now, can be past the events handed in: the session ended since. What it did
                # up to that end is taken in too (`_apply` does the same for a batch), so the report never
                # says it ended without it (a call denied just before the end showed "prepared" for a poll).
                later = await self._apply(await self._journal.events(self._session_id, after=self._seen), None)
                if later.reloaded:
                    return later
                calls |= later.calls
        return LiveChange(calls, session=True)

    async def refresh_session(self) -> LiveChange:
        """Read the session row and the grants again now, whatever the events said (see the module)."""
        async with self._reading:
            outcome = await self._read_session(True, True)
        if outcome is None:
            return LiveChange(frozenset(self._entries), session=True, reloaded=True)
        return LiveChange(frozenset(outcome), session=True)

    async def _read_session(self, session: bool, grants: bool) -> set[str] | None:
        """Re-read the session row and/or grants; the calls rebuilt for it, or None after a full reload."""
        old = self._session
        assert old is not None
        new = await self._journal.session(self._session_id) if session else old
        if grants:
            fresh = await self._journal.grants(self._session_id)
            epochs = epochs_of(fresh)
            if any(self._epochs.get(g or 0, 1) != epochs.get(g or 0, 1) for g, n in self._per_grant.items() if n):
                # A grant some call holds changed its epoch: never in a journal's own life (grant ids only
                # grow), so the rare case is read again in full rather than indexed by grant.
                self._report = None
                await self._reload()
                return None
            self._grants, self._epochs = tuple(fresh), epochs
        self._session = new
        self._report = None
        if new.status == old.status or not self._waiting:
            return set()
        # "never reached the fence (session stopped)" or no reason at all: says the status.
        return self._refresh(list(self._waiting.values()))

    def tick(self, now: float) -> LiveChange:
        """Move the report's clock to `now`; rebuild the items whose undo window opened or closed.

        Going forward costs the windows that passed (a heap pop each); a clock that
        went back rebuilds every item with a window.
        """
        if now == self._now:
            return LiveChange(frozenset())
        rows: list[Sequence[Any]] = []
        if now < self._now:
            rows = list(self._timed.values())
            self._moments = []  # rebuilding them puts their moments after `now` back
        else:
            moments, seen = self._moments, set()
            while moments and moments[0][0] <= now:
                moment, call_id = heapq.heappop(moments)
                if call_id not in seen and self._current(moment, call_id):
                    seen.add(call_id)
                    rows.append(self._timed[call_id])
        self._now = now
        self._report = None
        return LiveChange(frozenset(self._refresh(rows)) if rows else frozenset())

    # -- patching -----------------------------------------------------------------------

    def _refresh(self, rows: Sequence[Sequence[Any]]) -> set[str]:
        """Build the items of these call rows and patch each into its lists; returns their call ids."""
        assert self._session is not None
        if not rows:
            return set()
        items = items_of_rows(rows, self._session, self._now, self._epochs, self._where)
        for row, item in zip(rows, items, strict=True):
            self._put(row, item)
        self._report = None
        if len(self._moments) > 2 * len(self._timed) + 64:  # many stale entries: keep the heap small
            self._rebuild_moments()
        return {item.call_id for item in items}

    def _put(self, row: Sequence[Any], item: ReportItem) -> None:
        """Put one call's new item in its lists, taking its old one out of those it leaves."""
        call_id, seq, grant = item.call_id, row[_COMMIT_SEQ], row[_GRANT]
        old = self._entries.get(call_id)
        if old is not None:
            before, old_seq, old_grant = old
            if before.bucket is not item.bucket:
                self._buckets[before.bucket].remove(before.n)
            if old_seq is not None and before.undo.available and (seq != old_seq or not item.undo.available):
                self._undoable.remove(-old_seq)
            if old_seq is not None and before.reappliable and (seq != old_seq or not item.reappliable):
                self._reappliable.remove(old_seq)
            if old_grant != grant:
                self._per_grant[old_grant] -= 1
                self._per_grant[grant] = self._per_grant.get(grant, 0) + 1
        else:
            self._per_grant[grant] = self._per_grant.get(grant, 0) + 1
        self._buckets[item.bucket].put(item.n, item)
        if seq is not None and item.undo.available:
            self._undoable.put(-seq, item)
        if seq is not None and item.reappliable:
            self._reappliable.put(seq, item)
        self._entries[call_id] = (item, seq, grant)
        self._waiting.pop(call_id, None)
        self._timed.pop(call_id, None)
        self._index(row, item)
        for moment in self._moments_of(call_id, row, self._now):
            heapq.heappush(self._moments, (moment, call_id))

    def _index(self, row: Sequence[Any], item: ReportItem) -> None:
        """Note a call whose item the status or the clock can change (its moments go on the heap apart)."""
        if row[_STATE] in _WAITING and not row[_REASON]:
            self._waiting[item.call_id] = row
        undo = item.undo
        if undo.deadline is not None or undo.reversible_until is not None:
            self._timed[item.call_id] = row

    def _moments_of(self, call_id: str, row: Sequence[Any], after: float) -> list[float]:
        """The moments after `after` at which this timed call's undo changes."""
        entry = self._entries.get(call_id)
        if entry is None or call_id not in self._timed:
            return []
        undo = entry[0].undo
        return [m for m in (undo.deadline, undo.reversible_until) if m is not None and m > after]

    def _current(self, moment: float, call_id: str) -> bool:
        """True when the heap entry still belongs to the call's present item (not to one rebuilt since)."""
        entry = self._entries.get(call_id)
        if entry is None or call_id not in self._timed:
            return False
        undo = entry[0].undo
        return moment in (undo.deadline, undo.reversible_until)


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]
