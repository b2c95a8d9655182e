"""The four-way report read list by list, a window of rows at a time, and written out as it is read.

`Report.from_journal` holds every call of a session at once: for a 20,000-call
session, 340 MB and seconds before the first byte of `agentstop report --json`.
A `StreamedReport` holds one window of rows (`Journal.report_row_windows`,
2,000 calls) and the items built from it: each list is one ordered read, Done,
Interrupted and In flight in planned order, Undoable latest commit first, and
each window's items are written out before the next is read. Its items are the
items `Report.from_journal` builds (`items_of_rows`), and `write_report_json`
writes, byte for byte, what `json.dumps(report.to_json(), indent=2)` writes
(through `agentstop.json_text`), so the two can never tell different stories.

What the lists' order needs is read first: the grants (`landed_after_stop`
needs the session's first revoke) and the calls' count per state (a state this
version cannot read raises `JournalCorrupt` before anything is written; a
Markdown export writes the lists' lengths above them).

Each window is a read of its own: read them inside `Journal.read_snapshot`
(open the report in it too), as the CLI does, so that on a session that still
runs every list is of one moment and no call moves from one list to the next
between two reads (showing in both, or in neither).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentstop.journal.journal import REPORT_WINDOW
from agentstop.journal.reads import RowOrder
from agentstop.journal.records import GrantRecord, SessionRecord, gc_paused
from agentstop.journal.states import CallState
from agentstop.json_text import decoded_encoder, dumps_at, indent_of, reindenter, string_encoder
from agentstop.read_ahead import read_ahead
from agentstop.report import (
    Report,
    ReportItem,
    epochs_of,
    iso_text,
    items_of_rows,
    landed_after,
    summary_line,
    undoable_in_rows,
)
from agentstop.report_buckets import BUCKETS, IN_EFFECT, Bucket

if TYPE_CHECKING:
    from agentstop.journal import Journal

__all__ = ["LISTS", "KeptUndoable", "StreamedReport", "item_writer", "landed_writer", "write_report_json"]

LISTS = (Bucket.DONE, Bucket.INTERRUPTED, Bucket.IN_FLIGHT, Bucket.UNDOABLE)
"""The report's lists in the order `Report.to_json` (and every export) writes them."""

_READS: dict[Bucket, tuple[frozenset[CallState], RowOrder]] = {
    Bucket.DONE: (BUCKETS[Bucket.DONE], RowOrder.PLANNED),
    Bucket.INTERRUPTED: (BUCKETS[Bucket.INTERRUPTED], RowOrder.PLANNED),
    Bucket.IN_FLIGHT: (BUCKETS[Bucket.IN_FLIGHT], RowOrder.PLANNED),
    # Only a call still in effect can have its undo available (`UndoInfo.available`); the rest of
    # the test (its tool can undo, its window is open) is the item's own, below.
    Bucket.UNDOABLE: (IN_EFFECT, RowOrder.LATEST_COMMIT),
}
"""Which calls' rows each list is read from, and in which order."""


@dataclass(frozen=True)
class StreamedReport:
    """A session's report as it is read: its head at once, its lists window by window.

    Attributes:
        head: the report with empty lists: its session, grants and `generated_at`
            (what `Report.to_json` writes under "session", and `revoked`).
        counts: how many of its calls are in each state.
        window: how many rows each read takes (`REPORT_WINDOW`).
        by_grant: `counts` per grant the calls were planned under (what each epoch did).
    """

    journal: Journal
    head: Report
    counts: dict[CallState, int]
    window: int = REPORT_WINDOW
    by_grant: dict[int | None, dict[CallState, int]] = field(default_factory=dict)

    @classmethod
    async def open(
        cls, journal: Journal, session_id: str, now: float | None = None, *, window: int = REPORT_WINDOW
    ) -> StreamedReport:
        """Read what the lists' order needs: the session, its grants, its calls' count per state.

        Raises:
            UnknownSession: no such session.
            JournalCorrupt: a call is in a state this version cannot read.
        """
        session = await journal.session(session_id)
        grants = await journal.grants(session_id)
        by_grant = await journal.state_counts_by_grant(session_id)
        counts: dict[CallState, int] = {}
        for states in by_grant.values():
            for state, n in states.items():
                counts[state] = counts.get(state, 0) + n
        at = time.time() if now is None else now
        head = Report(
            session=session, grants=tuple(grants), done=(), interrupted=(), in_flight=(), undoable=(), generated_at=at
        )
        return cls(journal, head, counts, window, by_grant)

    @property
    def session(self) -> SessionRecord:
        """The session row."""
        return self.head.session

    @property
    def grants(self) -> tuple[GrantRecord, ...]:
        """Its grants, oldest first (one per epoch)."""
        return self.head.grants

    @property
    def revoked_at(self) -> float | None:
        """When the session's first revoke was (`Report.revoked`), if ever."""
        revoked = self.head.revoked
        return None if revoked is None else revoked.revoked_at

    def count(self, bucket: Bucket) -> int:
        """How many calls a bucket of its own holds (Done, Interrupted, In flight); Undoable needs a read."""
        return sum(self.counts.get(state, 0) for state in BUCKETS[bucket])

    def epoch_counts(self) -> list[dict[Bucket, int]]:
        """Done, Interrupted and In flight of each epoch (1, then one per Resume), as the report's items say.

        An item's epoch is its grant's (`epochs_of`); a call planned under no grant the session
        knows is counted in the first, as its item is.
        """
        epochs = epochs_of(self.grants)
        lists = (Bucket.DONE, Bucket.INTERRUPTED, Bucket.IN_FLIGHT)
        out = [dict.fromkeys(lists, 0) for _ in range(max(1, len(epochs)))]
        for grant_id, states in self.by_grant.items():
            counts = out[epochs.get(grant_id or 0, 1) - 1]
            for bucket in counts:
                counts[bucket] += sum(states.get(state, 0) for state in BUCKETS[bucket])
        return out

    async def undoable_count(self) -> int:
        """How many calls Undoable lists (a read of its calls: whether an undo is open is each item's)."""
        states, _ = _READS[Bucket.UNDOABLE]
        at, where = self.head.generated_at, self.journal.location
        total = 0
        # A count needs no order: the rows in planned order, no sort.
        async for rows in self.journal.report_row_windows(self.session.session_id, states, size=self.window):
            total += undoable_in_rows(rows, at, where)
        return total

    async def list_counts(self) -> dict[Bucket, int]:
        """Each list's length, as the report's headings and summary line say it (Undoable read to count it)."""
        counts: dict[Bucket, int] = {b: self.count(b) for b in LISTS if b is not Bucket.UNDOABLE}
        counts[Bucket.UNDOABLE] = await self.undoable_count()
        return counts

    async def summary_line(self) -> str:
        """`Report.summary_line` of the report."""
        counts = await self.list_counts()
        return summary_line(
            self.session,
            counts[Bucket.DONE],
            counts[Bucket.INTERRUPTED],
            counts[Bucket.IN_FLIGHT],
            counts[Bucket.UNDOABLE],
        )

    async def windows(self, bucket: Bucket) -> AsyncIterator[list[ReportItem]]:
        """The items of one list, in the list's order, one window of rows at a time (never an empty one).

        Raises:
            JournalCorrupt: a row does not decode.
        """
        states, order = _READS[bucket]
        async for items in self._items(states, order):
            if bucket is Bucket.UNDOABLE:
                items = [i for i in items if i.undo.available]
            if items:
                yield items

    async def _items(self, states: frozenset[CallState], order: RowOrder) -> AsyncIterator[list[ReportItem]]:
        """The items of the calls in `states`, in `order`, a window at a time."""
        session, at = self.session, self.head.generated_at
        epochs = epochs_of(self.grants)
        where = self.journal.location
        async for rows in self.journal.report_row_windows(session.session_id, states, order=order, size=self.window):
            with gc_paused():
                items = items_of_rows(rows, session, at, epochs, where)
            yield items


def item_writer(level: int, *, ensure_ascii: bool = True) -> Callable[[ReportItem], str]:
    """A function that writes an item as `json.dumps` writes its `ReportItem.to_json()` `level` levels deep.

    Without Done's `landed_after_stop` (the other lists' items do not carry it):
    `landed_writer` adds it. Spelled out field by field instead of encoding
    `to_json()`'s dict: building and walking 20 dicts a call took most of a long report's time.
    It must follow `to_json` exactly; tests/unit/test_report_stream.py holds the two equal.
    """
    enc = decoded_encoder(ensure_ascii=ensure_ascii)
    at, deeper = indent_of(level + 1), indent_of(level + 2)
    k = {
        name: "," + at + enc(name, at) + ": "
        for name in (
            "epoch",
            "tool",
            "summary",
            "resource",
            "args",
            "reversibility",
            "state",
            "reason",
            "prepared",
            "receipt",
            "undo",
            "reappliable",
            "reapplies",
            "planned_at",
            "fence_at",
            "committed_at",
            "ended_at",
        )
    }
    first = "{" + at + enc("call_id", at) + ": "
    u = {name: "," + deeper + enc(name, deeper) + ": " for name in ("status", "deadline", "reversible_until", "detail")}
    u_first = "{" + deeper + enc("available", deeper) + ": "
    close, u_close = indent_of(level) + "}", at + "}"

    string = string_encoder(ensure_ascii=ensure_ascii)
    # The fields' types are known (ReportItem's annotations), so each is written by the one function its type
    # needs; only the tools' own values (args, prepared, receipt) and the optional texts go through `enc`.
    k_epoch, k_tool, k_summary, k_resource, k_args = k["epoch"], k["tool"], k["summary"], k["resource"], k["args"]
    k_rev, k_state, k_reason, k_prepared, k_receipt = (
        k["reversibility"],
        k["state"],
        k["reason"],
        k["prepared"],
        k["receipt"],
    )
    k_undo, k_reappliable, k_reapplies = k["undo"], k["reappliable"], k["reapplies"]
    k_planned, k_fence, k_committed, k_ended = (
        k["planned_at"],
        k["fence_at"],
        k["committed_at"],
        k["ended_at"],
    )
    u_status, u_deadline, u_until, u_detail = u["status"], u["deadline"], u["reversible_until"], u["detail"]
    as_int = int.__repr__

    last: list[Any] = [None, "null"]
    """The last time written and its text: a call's fence is often its plan's moment, its end its commit's."""

    def time_text(t: float | None) -> str:
        if t is None:
            return "null"
        if t == last[0]:
            text: str = last[1]
            return text
        last[0], last[1] = t, string(iso_text(t))
        return last[1]  # type: ignore[no-any-return]

    reindent = reindenter(ensure_ascii=ensure_ascii)

    def tools_value(i: ReportItem, name: str) -> str:
        """`args` or `prepared` from the journal's text when it can be, else decoded and written (`enc`)."""
        stored = i.stored_json(name)
        if stored is not None:
            text = reindent(stored, at)
            if text is not None:
                return text
        return enc(getattr(i, name), at)

    def write(i: ReportItem) -> str:
        undo = i.undo
        text = "".join(
            (
                first,
                string(i.call_id),
                k_epoch,
                as_int(i.epoch),
                k_tool,
                string(i.tool),
                k_summary,
                string(i.summary),
                k_resource,
                string(i.resource),
                k_args,
                tools_value(i, "args"),
                k_rev,
                string(i.reversibility),
                k_state,
                string(i.state),
                k_reason,
                "null" if i.reason is None else string(i.reason),
                k_prepared,
                tools_value(i, "prepared"),
                k_receipt,
                enc(i.receipt, at),
                k_undo,
                u_first,
                "true" if undo.available else "false",
                u_status,
                string(undo.status),
                u_deadline,
                time_text(undo.deadline),
                u_until,
                time_text(undo.reversible_until),
                u_detail,
                string(undo.detail),
                u_close,
                k_reappliable,
                "true" if i.reappliable else "false",
                k_reapplies,
                as_int(i.reapplies),
                k_planned,
                time_text(i.planned_at),
                k_fence,
                time_text(i.fence_at),
                k_committed,
                time_text(i.committed_at),
                k_ended,
                time_text(i.ended_at),
            )
        )
        return text + close

    return write


def landed_writer(level: int, *, ensure_ascii: bool = True) -> Callable[[str, bool], str]:
    """A function that adds Done's `landed_after_stop` to an item's text written by `item_writer(level)` without it."""
    key = "," + indent_of(level + 1) + dumps_at("landed_after_stop", ensure_ascii=ensure_ascii) + ": "
    close = indent_of(level) + "}"
    ends = {flag: key + ("true" if flag else "false") + close for flag in (True, False)}
    cut = -len(close)

    def add(text: str, landed: bool) -> str:
        return text[:cut] + ends[landed]

    return add


async def write_report_json(
    report: StreamedReport, write: Callable[[str], Any], *, level: int = 0, ensure_ascii: bool = True
) -> None:
    """Write the report as `json.dumps(report.to_json(), indent=2, ensure_ascii=...)` would, piece by piece.

    `level` is how deep the report sits in the document written around it (1 for an
    export's "report"); the first piece starts with its "{", the last ends with its
    "}", with no newline after it, as `json.dumps` ends.
    """
    head = report.head.to_json()["session"]
    write("{" + indent_of(level + 1) + '"session": ' + dumps_at(head, level + 1, ensure_ascii=ensure_ascii))
    # The texts and items made here hold no cycles and go as soon as written (reference counting frees
    # them): the cyclic collector's passes over them were 5% of a long report's time, so it waits.
    with gc_paused():
        await _write_lists(report, write, level, ensure_ascii)
    write(indent_of(level) + "}")


UNDOABLE_KEPT = 32 * 2**20
"""Characters of Done's undoable items a report keeps to write Undoable with (beyond it, Undoable is read again)."""


class KeptUndoable:
    """Done's undoable items as a writer wrote them, kept to write Undoable from.

    Undoable is a view over Done: each of its items is one of Done's (undo available, in
    effect), written the same. A writer that keeps Done's (`keep`) writes Undoable from
    them, in its order (`windows`), instead of reading, building and writing each item
    again: a third of a long report's time. Up to `UNDOABLE_KEPT` characters, so the
    report's memory stays bounded: past it, Undoable is read as the other lists are.
    Read inside one `Journal.read_snapshot`, as every list must be, both ways write the same.
    """

    def __init__(self, report: StreamedReport) -> None:
        self._report = report
        self._texts: dict[str, str] | None = {}
        self._size = 0

    def keep(self, item: ReportItem, text: str) -> None:
        """Keep Done's `item`, written as Undoable writes it, if it is one of Undoable's."""
        texts = self._texts
        if texts is None or not item.undo.available or item.state not in IN_EFFECT:
            return
        texts[item.call_id] = text
        self._size += len(text)
        if self._size > UNDOABLE_KEPT:
            self._texts = None

    async def windows(self, write: Callable[[list[ReportItem]], list[str]]) -> AsyncIterator[list[str]]:
        """Undoable's texts in its order, a window at a time (never an empty one).

        The kept ones; or, past the bound, its items read again and written by `write`.
        """
        report, texts = self._report, self._texts
        if texts is None:
            async for items in report.windows(Bucket.UNDOABLE):
                yield write(items)
            return
        order = await report.journal.latest_commit_ids(report.session.session_id, IN_EFFECT)
        ids = [call_id for call_id in order if call_id in texts]
        for at in range(0, len(ids), report.window):
            yield [texts.pop(call_id) for call_id in ids[at : at + report.window]]


async def _write_lists(report: StreamedReport, write: Callable[[str], Any], level: int, ensure_ascii: bool) -> None:
    """The four lists, read one window ahead (`read_ahead`) and written as `write_report_json` says.

    Undoable from Done's items (`KeptUndoable`): the same text but for Done's `landed_after_stop`.
    """
    inner, item_at = indent_of(level + 1), indent_of(level + 2)
    revoked_at = report.revoked_at
    item_text = item_writer(level + 2, ensure_ascii=ensure_ascii)
    with_landed = landed_writer(level + 2, ensure_ascii=ensure_ascii)
    kept = KeptUndoable(report)

    def head(bucket: Bucket) -> None:
        write("," + inner + dumps_at(bucket.value, ensure_ascii=ensure_ascii) + ": ")

    def window(texts: list[str], first: bool) -> None:
        write(("[" if first else ",") + item_at + ("," + item_at).join(texts))

    def done(items: list[ReportItem]) -> list[str]:
        texts = []
        for i in items:
            text = item_text(i)
            kept.keep(i, text)
            texts.append(with_landed(text, landed_after(i, revoked_at)))
        return texts

    def others(items: list[ReportItem]) -> list[str]:
        return [item_text(i) for i in items]

    async with read_ahead(_three_lists(report)) as windows:
        for bucket in LISTS[:3]:
            head(bucket)
            texts_of = done if bucket is Bucket.DONE else others
            first = True
            while (items := await anext(windows)) is not None:
                window(texts_of(items), first)
                first = False
            write("[]" if first else inner + "]")
    head(Bucket.UNDOABLE)
    first = True
    async for texts in kept.windows(others):
        window(texts, first)
        first = False
    write("[]" if first else inner + "]")


async def _three_lists(report: StreamedReport) -> AsyncGenerator[list[ReportItem] | None, None]:
    """Done's, Interrupted's and In flight's items, a window at a time, each list ended by None."""
    for bucket in LISTS[:3]:
        async for items in report.windows(bucket):
            yield items
        yield None
