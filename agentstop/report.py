"""The four-way report: what was done, interrupted, in flight, and undoable.

A pure function of journal rows (`Report.build`), so the live UI, the CLI,
replay and crash recovery all tell the same story. Every call lands in exactly
one of Done, Interrupted and In flight; Undoable is a view over Done, and so is
Re-appliable (undone calls whose tool can carry the effect out again).
"""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agentstop.errors import JournalCorrupt
from agentstop.formatting import split_second
from agentstop.journal.policies import Reversibility
from agentstop.journal.records import CallRecord, GrantRecord, SessionRecord, gc_paused, loads
from agentstop.journal.states import CallState
from agentstop.journal.status import SessionStatus
from agentstop.report_buckets import (
    BUCKET_OF,
    BUCKETS,
    IN_EFFECT,
    IN_FLIGHT,
    INTERRUPTED,
    LANDED,
    NOT_CLEAN,
    REAPPLIABLE,
    TAKEN_BACK,
    UNSETTLED,
    Bucket,
    UndoStatus,
)

if TYPE_CHECKING:
    from agentstop.journal import Journal

__all__ = [
    "BUCKETS",
    "BUCKET_OF",
    "INTERRUPTED",
    "IN_EFFECT",
    "IN_FLIGHT",
    "LANDED",
    "NOT_CLEAN",
    "REAPPLIABLE",
    "ROW_FIELDS",
    "TAKEN_BACK",
    "UNSETTLED",
    "Bucket",
    "Report",
    "ReportItem",
    "UndoInfo",
    "UndoStatus",
    "bucket_of",
    "epochs_of",
    "iso_text",
    "iso_time",
    "items_of_rows",
    "landed_after",
    "summary_line",
    "undoable_in_rows",
]

S = CallState

# Keyed by the stored text, for the report's hot loop over raw rows (a plain str lookup is the cheapest).
_BUCKET_OF: dict[str, Bucket] = {state.value: bucket for state, bucket in BUCKET_OF.items()}
_STATE_OF: dict[str, CallState] = {state.value: state for state in CallState}
_REVERSIBILITY_OF: dict[str, Reversibility] = {r.value: r for r in Reversibility}


def bucket_of(state: str) -> Bucket:
    """The bucket (done, interrupted, in flight) a call state belongs to."""
    return _BUCKET_OF[state]


def iso_time(at: float | None) -> str | None:
    """A journal time (epoch seconds) as the report's JSON writes it: ISO 8601, UTC, milliseconds.

    The text of `datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")`, made
    faster: a report writes four or five a call. `fromtimestamp` rounds `at` to the
    microsecond half to even (`split_second`, the same `modf` and rounding) and `isoformat` cuts
    that to the millisecond; the date and time of the whole second are formatted once
    per second (a session's calls share their seconds).
    """
    return None if at is None else iso_text(at)


def iso_text(at: float) -> str:
    """`iso_time` of a time that is there (the report's writer calls it a few times a call)."""
    second, micro = split_second(at)
    return f"{_second_text(second)}.{micro // 1000:03d}+00:00"


@functools.lru_cache(maxsize=1024)
def _second_text(second: int) -> str:
    """ "2026-11-26T08:09:30": a whole second, as `isoformat` writes it before the fraction."""
    return datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds").removesuffix("+00:00")


_iso = iso_time


_new = object.__new__
_set = object.__setattr__  # fills a frozen record's fields where `record` would copy them
_NUMBER = (int, float)


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


@dataclass(frozen=True)
class UndoInfo:
    """Whether and how a call can be undone.

    Attributes:
        available: an undo can be run now (or retried).
        status: an `UndoStatus`: not undoable, available, expired, running, done,
            failed (retryable), or pending (the call has not landed yet, or its
            re-apply is running).
        deadline: when the undo stops being possible (epoch seconds), if ever.
        reversible_until: until when the undo is exact (after it is only a
            compensation that leaves a trace), if the tool said.
        detail: one line for a person ("irreversible: call the bank").
    """

    available: bool
    status: UndoStatus
    deadline: float | None
    reversible_until: float | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        """The JSON shape used by `Report.to_json`."""
        return {
            "available": self.available,
            "status": self.status,
            "deadline": _iso(self.deadline),
            "reversible_until": _iso(self.reversible_until),
            "detail": self.detail,
        }


def _undo(available: bool, status: UndoStatus, deadline: float | None, until: float | None, detail: str) -> UndoInfo:
    # Built like `record` does, minus its field check: a report makes one per call.
    info = _new(UndoInfo)
    _set(
        info,
        "__dict__",
        {"available": available, "status": status, "deadline": deadline, "reversible_until": until, "detail": detail},
    )
    return info


_READ_ONLY = _undo(False, UndoStatus.NOT_UNDOABLE, None, None, "read-only: nothing to undo")
_NEVER_LANDED = _undo(False, UndoStatus.NOT_UNDOABLE, None, None, "never reached the world: nothing to undo")


@functools.lru_cache(maxsize=256)
def _no_undo(reversibility: Reversibility, hint: str) -> UndoInfo:
    return _undo(
        False, UndoStatus.NOT_UNDOABLE, None, None, f"{reversibility}: {hint or 'the tool defines no compensation'}"
    )


# The enum members the hot loops below compare with, as module globals: on Python 3.11 a member
# read through its class (`CallState.COMMITTED`) costs ~75 ns (`EnumType` has a `__getattr__`
# hook, so every class attribute read takes the slow path), a global ~15 ns; a report reads a
# dozen per call.
_R_READ_ONLY, _R_IRREVERSIBLE, _R_COMPENSABLE = (
    Reversibility.READ_ONLY,
    Reversibility.IRREVERSIBLE,
    Reversibility.COMPENSABLE,
)
_S_PLANNED, _S_PREPARED, _S_UNKNOWN, _S_COMMITTED = S.PLANNED, S.PREPARED, S.UNKNOWN, S.COMMITTED
_S_COMPENSATED, _S_COMPENSATING, _S_COMPENSATION_FAILED = S.COMPENSATED, S.COMPENSATING, S.COMPENSATION_FAILED
_S_REAPPLYING, _S_REAPPLY_FAILED = S.REAPPLYING, S.REAPPLY_FAILED
_B_INTERRUPTED, _B_IN_FLIGHT = Bucket.INTERRUPTED, Bucket.IN_FLIGHT
_U_AVAILABLE, _U_EXPIRED = UndoStatus.AVAILABLE, UndoStatus.EXPIRED


def _undo_info(
    reversibility: Reversibility,
    can_compensate: bool,
    undo_hint: str,
    receipt: Any,
    undo_attempts: int,
    undo_error: str | None,
    reapply_error: str | None,
    state: CallState,
    bucket: Bucket,
    now: float,
) -> UndoInfo:
    if reversibility is _R_READ_ONLY:
        return _READ_ONLY
    if not can_compensate or reversibility is _R_IRREVERSIBLE:
        return _no_undo(reversibility, undo_hint)
    if bucket is _B_INTERRUPTED:
        return _NEVER_LANDED
    # A receipt may say that this one effect has no undo, though its tool can undo others
    # (a write that created a file, on a server with no delete): never offered, and why.
    if isinstance(receipt, dict):
        no_undo = receipt.get("no_undo")
        if isinstance(no_undo, str) and no_undo:
            return _undo(False, UndoStatus.NOT_UNDOABLE, None, None, f"not undoable: {no_undo}")
        value = receipt.get("undo_deadline")
        deadline = float(value) if isinstance(value, _NUMBER) else None
        value = receipt.get("reversible_until")
        exact_until = float(value) if isinstance(value, _NUMBER) else None
    else:
        deadline = exact_until = None
    if state is not _S_COMMITTED:  # (most calls of a long session are: straight to the window's checks)
        if state is _S_COMPENSATED:
            return _undo(False, UndoStatus.DONE, deadline, exact_until, "undone")
        if state is _S_REAPPLYING:
            # The old receipt's deadlines belong to the effect that was undone; the re-apply brings its own.
            return _undo(False, UndoStatus.PENDING, None, None, "re-apply in progress; undo possible once it lands")
        if state is _S_REAPPLY_FAILED:
            return _undo(
                False, UndoStatus.DONE, None, None, f"undone; re-apply failed: {reapply_error}; it can be retried"
            )
        if state is _S_COMPENSATING:
            attempt = f"undo in progress (attempt {undo_attempts})"
            return _undo(False, UndoStatus.RUNNING, deadline, exact_until, attempt)
        if bucket is _B_IN_FLIGHT:
            return _undo(False, UndoStatus.PENDING, deadline, exact_until, "undo possible once it lands")
    if deadline is not None and now >= deadline:
        return _undo(False, _U_EXPIRED, deadline, exact_until, "the undo window has closed")
    if state is _S_COMPENSATION_FAILED:
        return _undo(True, UndoStatus.FAILED, deadline, exact_until, f"undo failed: {undo_error}; retry possible")
    kind = "exact undo" if exact_until is None or now < exact_until else "compensation (leaves a trace)"
    if reversibility is _R_COMPENSABLE and exact_until is None:
        kind = "compensation (leaves a trace)"
    return _undo(True, _U_AVAILABLE, deadline, exact_until, kind)


@dataclass(frozen=True)
class ReportItem:
    """One call as the report shows it."""

    call_id: str
    n: int
    tool: str
    summary: str
    resource: str
    args: Any
    reversibility: Reversibility
    state: CallState
    bucket: Bucket
    reason: str | None
    prepared: Any
    receipt: Any
    undo: UndoInfo
    planned_at: float
    fence_at: float | None
    committed_at: float | None
    ended_at: float | None
    updated_at: float
    epoch: int
    """Which stretch of the session it belongs to: 1, then one more for each Resume."""
    reappliable: bool
    """Its undo ran and its tool can carry the effect out again (`Tool.reapply`): a person may
    re-apply it (also after a failed re-apply, which can be retried)."""
    reapplies: int
    """How many times it was re-applied after an undo (each a new commit, with a new receipt)."""

    def __getattr__(self, name: str) -> Any:
        # Only reached for a field not in `__dict__`: `args` or `prepared` of an item read straight from
        # the journal, kept as the column's JSON text until first asked for (most reports never show them).
        fields = self.__dict__
        text = fields.get(_LAZY.get(name, ""), _ABSENT)
        if text is _ABSENT:
            if name in fields:  # decoded meanwhile by another thread
                return fields[name]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        try:
            value = fields[name] = loads(text)
        except ValueError as exc:  # a damaged journal: one line for the person, never a raw decode error
            raise JournalCorrupt(
                fields.get("_where", "(journal)"), f"call {fields.get('call_id')}'s {name} does not decode: {exc}"
            ) from exc
        fields.pop(_LAZY[name], None)
        return value

    def stored_json(self, name: str) -> str | None:
        """The JSON text the journal holds for `args` or `prepared`, while the item has not decoded it (else None).

        For a writer of JSON, which may write it again without decoding it first.
        """
        text: str | None = self.__dict__.get(_LAZY[name])
        return text

    def to_json(self) -> dict[str, Any]:
        """The JSON shape used by `Report.to_json`."""
        return {
            "call_id": self.call_id,
            "epoch": self.epoch,
            "tool": self.tool,
            "summary": self.summary,
            "resource": self.resource,
            "args": self.args,
            "reversibility": self.reversibility,
            "state": self.state,
            "reason": self.reason,
            "prepared": self.prepared,
            "receipt": self.receipt,
            "undo": self.undo.to_json(),
            "reappliable": self.reappliable,
            "reapplies": self.reapplies,
            "planned_at": _iso(self.planned_at),
            "fence_at": _iso(self.fence_at),
            "committed_at": _iso(self.committed_at),
            "ended_at": _iso(self.ended_at),
        }


_LAZY = {"args": "_args_json", "prepared": "_prepared_json"}
"""The fields an item read from the journal decodes on first access, and where it keeps their JSON text."""
_ABSENT: Any = object()

_ROW_FIELDS = (
    "call_id",
    "n",
    "tool",
    "summary",
    "resource",
    "args",
    "reversibility",
    "state",
    "reason",
    "prepared",
    "receipt",
    "planned_at",
    "fence_at",
    "committed_at",
    "ended_at",
    "updated_at",
    "grant_id",
    "can_compensate",
    "undo_hint",
    "undo_attempts",
    "undo_error",
    "reapply_error",
    "can_reapply",
    "reapplies",
    "commit_seq",
)
"""The call columns a report is built from, in the order `Journal.report_rows` reads them."""

ROW_FIELDS = _ROW_FIELDS
"""The columns of a row `Journal.report_rows` reads, by name (a live report finds `commit_seq` by it)."""

_as_row = operator.attrgetter(*_ROW_FIELDS)


def summary_line(session: SessionRecord, done: int, interrupted: int, in_flight: int, undoable: int) -> str:
    """`Report.summary_line` from the lists' lengths (a report written as it is read never holds its lists)."""
    head: str = session.status
    if session.status == SessionStatus.STOPPED and session.stopped_by:
        head = f"stopped by {session.stopped_by}"
    return f"{head}: {done} done, {interrupted} interrupted, {in_flight} in flight, {undoable} undoable"


def landed_after(item: ReportItem, revoked_at: float | None) -> bool:
    """True when the call passed the fence before the revoke at `revoked_at` and its commit ended after it.

    `Report.landed_after_stop` for one item: the revoke is the session's first (`Report.revoked`).
    """
    if revoked_at is None:
        return False
    fence, committed = item.fence_at, item.committed_at
    return fence is not None and fence <= revoked_at and committed is not None and committed > revoked_at


def epochs_of(grants: Iterable[GrantRecord]) -> dict[int, int]:
    """Each grant's epoch: 1 for the session's first grant, one more for each Resume's."""
    return {g.grant_id: n for n, g in enumerate(sorted(grants, key=lambda g: g.grant_id), 1)}


def items_of_rows(
    rows: Iterable[Sequence[Any]], session: SessionRecord, now: float, epochs: dict[int, int], where: str
) -> list[ReportItem]:
    """The report's items for rows read by `Journal.report_rows`, as `Report.from_journal` makes them.

    For a report kept up to date from journal events (`agentstop.live_report`), which builds the
    items of the calls that changed, and only those, exactly as a full build would.

    Raises:
        JournalCorrupt: a row does not decode (a receipt or a state the journal's rows cannot hold).
    """
    try:
        return _items(rows, session, now, epochs, True, where)
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalCorrupt(
            where, f"a call row of session {session.session_id} does not decode: {type(exc).__name__}: {exc}"
        ) from exc


_UNDO_COLUMNS = operator.itemgetter(
    *(
        _ROW_FIELDS.index(name)
        for name in (
            "reversibility",
            "state",
            "receipt",
            "can_compensate",
            "undo_hint",
            "undo_attempts",
            "undo_error",
            "reapply_error",
        )
    )
)
"""The columns of a report row `_undo_info` reads, in the order `undoable_in_rows` unpacks them."""


def undoable_in_rows(rows: Iterable[Sequence[Any]], now: float, where: str) -> int:
    """How many of the calls `items_of_rows` would make an item of have their undo available (Undoable's count).

    The same `_undo_info` of each row, without the rest of its item: a count comes before its list
    (the summary line, a heading) and is read on its own, so it should not cost the list.

    Raises:
        JournalCorrupt: a row does not decode.
    """
    count = 0
    try:
        for row in rows:
            reversibility, state_text, receipt, can_compensate, undo_hint, attempts, error, reapply = _UNDO_COLUMNS(row)
            undo = _undo_info(
                _REVERSIBILITY_OF[reversibility],
                bool(can_compensate),
                undo_hint,
                None if receipt is None else loads(receipt),
                attempts,
                error,
                reapply,
                _STATE_OF[state_text],
                _BUCKET_OF[state_text],
                now,
            )
            count += undo.available
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalCorrupt(where, f"a call row does not decode: {type(exc).__name__}: {exc}") from exc
    return count


def _items(
    rows: Iterable[Sequence[Any]],
    session: SessionRecord,
    now: float,
    epochs: dict[int, int],
    raw_json: bool,
    where: str = "",
) -> list[ReportItem]:
    """One item per call row (`_ROW_FIELDS` order); with `raw_json`, JSON columns are still text.

    The hot loop of every report: plain locals, one dict per item, no intermediate record.
    """
    ended = session.status != SessionStatus.RUNNING
    never = f"never reached the fence (session {session.status})"
    out: list[ReportItem] = []
    append = out.append
    for (
        call_id,
        n,
        tool,
        summary,
        resource,
        args,
        reversibility,
        state_text,
        reason,
        prepared,
        receipt,
        planned_at,
        fence_at,
        committed_at,
        ended_at,
        updated_at,
        grant_id,
        can_compensate,
        undo_hint,
        undo_attempts,
        undo_error,
        reapply_error,
        can_reapply,
        reapplies,
        _commit_seq,
    ) in rows:
        state, bucket = _STATE_OF[state_text], _BUCKET_OF[state_text]
        reversibility = _REVERSIBILITY_OF[reversibility]
        if raw_json and receipt is not None:
            receipt = loads(receipt)
        if not reason:
            reason = (
                never
                if ended and (state is _S_PLANNED or state is _S_PREPARED)
                else "outcome unknown; being checked"
                if state is _S_UNKNOWN
                else None
            )
        fields = {
            "call_id": call_id,
            "n": n,
            "tool": tool,
            "summary": summary,
            "resource": resource,
            "reversibility": reversibility,
            "state": state,
            "bucket": bucket,
            "reason": reason,
            "receipt": receipt,
            "undo": _undo_info(
                reversibility,
                bool(can_compensate),
                undo_hint,
                receipt,
                undo_attempts,
                undo_error,
                reapply_error,
                state,
                bucket,
                now,
            ),
            "planned_at": planned_at,
            "fence_at": fence_at,
            "committed_at": committed_at,
            "ended_at": ended_at,
            "updated_at": updated_at,
            "epoch": epochs.get(grant_id or 0, 1),
            "reappliable": bool(can_reapply) and state in REAPPLIABLE,
            "reapplies": reapplies,
        }
        if raw_json:
            fields["_args_json"] = args
            fields["_prepared_json"] = prepared
            fields["_where"] = where
        else:
            fields["args"] = args
            fields["prepared"] = prepared
        item = _new(ReportItem)
        _set(item, "__dict__", fields)  # the dict just built becomes the item's: no copy
        append(item)
    return out


@dataclass(frozen=True)
class Report:
    """The four-way report of one session, built from the journal alone.

    Attributes:
        session: the session row.
        grants: its grants (to say when and by whom it was revoked).
        done: calls that reached the world (committed, undone or undo failed).
        interrupted: calls that never reached it (planned, prepared, rejected,
            discarded, failed).
        in_flight: calls whose commit is running or whose outcome is unknown.
        undoable: done calls whose compensation can run now, latest commit first
            (the order Undo all uses).
        generated_at: when the report was built.
        reappliable: undone calls whose tool can carry the effect out again,
            earliest commit first: the order a re-apply of them all runs in, the
            reverse of their undo's, so they come back as they were.

    A live report (`agentstop.live_report`) hands out reports whose lists become
    tuples when first read (`Report.of_lists`): the same report, paid for when used.
    """

    session: SessionRecord
    grants: tuple[GrantRecord, ...]
    done: tuple[ReportItem, ...]
    interrupted: tuple[ReportItem, ...]
    in_flight: tuple[ReportItem, ...]
    undoable: tuple[ReportItem, ...]
    generated_at: float
    reappliable: tuple[ReportItem, ...] = field(default_factory=tuple)
    # (A factory, not `= ()`: a default would sit on the class, where `__getattr__` below never looks.)

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute name on a report

        def __getattr__(self, name: str) -> Any:
            # Only reached for a list not in `__dict__`: one of a report over a live report's lists
            # (`Report.of_lists`), kept as the live report handed it until first asked for.
            lists = self.__dict__.get("_lists")
            if lists is None or name not in lists:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            value = self.__dict__[name] = tuple(lists[name])
            return value

    @classmethod
    def of_lists(
        cls,
        session: SessionRecord,
        grants: Iterable[GrantRecord],
        generated_at: float,
        *,
        done: Iterable[ReportItem],
        interrupted: Iterable[ReportItem],
        in_flight: Iterable[ReportItem],
        undoable: Iterable[ReportItem],
        reappliable: Iterable[ReportItem],
    ) -> Report:
        """A report over lists already in report order, each made its tuple when first asked for.

        For a live report (`agentstop.live_report`): it hands out snapshots of lists
        it keeps up to date, and copying 100,000 items into tuples at every batch of
        events would cost more than the batch. Each list is copied (once) only when a
        reader asks for it; the snapshots must not change meanwhile.
        """
        report = _new(cls)
        _set(
            report,
            "__dict__",
            {
                "session": session,
                "grants": tuple(grants),
                "generated_at": generated_at,
                "_lists": {
                    "done": done,
                    "interrupted": interrupted,
                    "in_flight": in_flight,
                    "undoable": undoable,
                    "reappliable": reappliable,
                },
            },
        )
        return report

    @classmethod
    def build(
        cls, session: SessionRecord, calls: list[CallRecord], grants: list[GrantRecord], now: float | None = None
    ) -> Report:
        """The report as a pure function of journal rows."""
        return cls._build(session, [_as_row(c) for c in calls], grants, now, raw_json=False)

    @classmethod
    def _build(
        cls,
        session: SessionRecord,
        rows: Sequence[Sequence[Any]],
        grants: list[GrantRecord],
        now: float | None,
        *,
        raw_json: bool,
        where: str = "",
    ) -> Report:
        at = time.time() if now is None else now
        epochs = epochs_of(grants)
        with gc_paused():
            items = _items(rows, session, at, epochs, raw_json, where)
            done: list[ReportItem] = []
            interrupted: list[ReportItem] = []
            in_flight: list[ReportItem] = []
            lists = {
                Bucket.DONE: done.append,
                Bucket.INTERRUPTED: interrupted.append,
                Bucket.IN_FLIGHT: in_flight.append,
            }
            committed: list[tuple[int, ReportItem]] = []
            for row, item in zip(rows, items, strict=True):
                lists[item.bucket](item)
                if row[24] is not None:
                    committed.append((row[24], item))
            # Latest commit first: the order Undo all runs in (rows without a commit never qualify).
            committed.sort(key=_first, reverse=True)
        return cls(
            session=session,
            grants=tuple(grants),
            done=tuple(done),
            interrupted=tuple(interrupted),
            in_flight=tuple(in_flight),
            undoable=tuple(item for _, item in committed if item.undo.available),
            generated_at=at,
            reappliable=tuple(item for _, item in reversed(committed) if item.reappliable),
        )

    @classmethod
    async def from_journal(cls, journal: Journal, session_id: str, now: float | None = None) -> Report:
        """Read the session's rows and build its report.

        The same report as `build` over `journal.calls(...)`, read faster: only the
        columns a report shows, straight from the rows into its items, with the
        calls' arguments and prepared effects decoded when first asked for.
        """
        session = await journal.session(session_id)
        rows = await journal.report_rows(session_id)
        grants = await journal.grants(session_id)
        try:
            return cls._build(session, rows, grants, now, raw_json=True, where=journal.location)
        except (ValueError, KeyError, TypeError) as exc:  # a receipt or a state the journal's rows cannot hold
            raise JournalCorrupt(
                journal.location, f"a call row of session {session_id} does not decode: {type(exc).__name__}: {exc}"
            ) from exc

    @property
    def all_calls(self) -> tuple[ReportItem, ...]:
        """Every call, in the order they were planned."""
        return tuple(sorted(self.done + self.interrupted + self.in_flight, key=lambda i: i.n))

    @property
    def revoked(self) -> GrantRecord | None:
        """The first grant revocation of the session, if any."""
        revoked = [g for g in self.grants if g.revoked_at is not None]
        return min(revoked, key=lambda g: g.revoked_at or 0.0) if revoked else None

    def next_change_at(self, now: float) -> float | None:
        """When the undo of one of its calls next changes with the clock alone, after `now`, if ever.

        A deadline closes an undo window, an exact undo's end turns it into a compensation:
        the report read again then says so (`LiveReport.next_change_at` for a report kept live).
        """
        moments = [
            moment
            for items in (self.done, self.in_flight)
            for item in items
            if item.undo.deadline is not None or item.undo.reversible_until is not None
            for moment in (item.undo.deadline, item.undo.reversible_until)
            if moment is not None and moment > now
        ]
        return min(moments, default=None)

    @property
    def landed_after_stop(self) -> frozenset[str]:
        """Calls that were in flight when the grant was revoked and landed during Stop's grace.

        They passed the fence before the revoke (so Stop could not refuse them) and their
        commit ended after it: done, and worth a look, since Stop did not prevent them.
        """
        revoked = self.revoked
        at = None if revoked is None else revoked.revoked_at
        return frozenset(i.call_id for i in self.done if landed_after(i, at))

    @property
    def epochs(self) -> int:
        """How many stretches the session ran: 1, plus one per Resume."""
        return max(1, len(self.grants))

    @property
    def clean(self) -> bool:
        """True only when the session completed with nothing failed, rejected, unknown or in flight.

        After a Resume only the last epoch counts: a call interrupted by the Stop
        before it and carried out again since does not make a completed run unclean
        (the report still lists it, under its epoch). What is still in flight does.
        """
        last = self.epochs
        bad = any(i.state in NOT_CLEAN for i in self.all_calls if i.epoch == last)
        return self.session.status == SessionStatus.COMPLETED and not bad and not self.in_flight

    def summary_line(self) -> str:
        """One line a person reads first ("stopped by user: 3 done, 2 interrupted, ...")."""
        return summary_line(
            self.session, len(self.done), len(self.interrupted), len(self.in_flight), len(self.undoable)
        )

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict: `session` plus the four lists."""
        s = self.session
        revoked = self.revoked
        landed = self.landed_after_stop  # once: a property walks every done item
        return {
            "session": {
                "id": s.session_id,
                "task_name": s.task_name,
                "goal": s.goal,
                "task_path": s.task_path,
                "started_at": _iso(s.started_at),
                "ended_at": _iso(s.ended_at),
                "status": s.status,
                "stopped_by": s.stopped_by,
                "stop_reason": s.stop_reason,
                "revoked_at": _iso(revoked.revoked_at) if revoked else None,
                "revoked_by": revoked.revoked_by if revoked else None,
            },
            Bucket.DONE.value: [{**i.to_json(), "landed_after_stop": i.call_id in landed} for i in self.done],
            Bucket.INTERRUPTED.value: [i.to_json() for i in self.interrupted],
            Bucket.IN_FLIGHT.value: [i.to_json() for i in self.in_flight],
            Bucket.UNDOABLE.value: [i.to_json() for i in self.undoable],
        }
