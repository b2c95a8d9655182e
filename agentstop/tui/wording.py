"""How the TUI says counts, a session's standing and an undo's clock in words: "1 call", never "1 call(s)"."""

from __future__ import annotations

from collections.abc import Mapping

from agentstop.formatting import duration
from agentstop.journal import SessionStatus
from agentstop.report import Bucket, Report, UndoInfo, UndoStatus

__all__ = ["counted", "standing", "undo_clock"]


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and the noun, singular or plural: "1 call", "2,000 calls", "1 undo", "3 undos"."""
    word = noun if n == 1 else (plural if plural is not None else f"{noun}s")
    return f"{n:,} {word}"


def standing(report: Report, counts: Mapping[Bucket, int] | None = None) -> str:
    """The report's first line, true at every moment.

    A session the journal says "completed" while calls are still in flight (a commit of an
    abandoned call, a parallel call settling) is not said to be complete: "the agent finished;
    3 calls still in flight".

    `counts` (a live report's `counts()`) says how many calls each list holds without
    reading the lists (a live report's lists are copied when first read).
    """
    s = report.session
    if counts is None:
        counts = {
            Bucket.DONE: len(report.done),
            Bucket.INTERRUPTED: len(report.interrupted),
            Bucket.IN_FLIGHT: len(report.in_flight),
            Bucket.UNDOABLE: len(report.undoable),
        }
    flights = counts[Bucket.IN_FLIGHT]
    if s.status == SessionStatus.STOPPED and s.stopped_by:
        head = f"stopped by {s.stopped_by}"
    elif s.status == SessionStatus.COMPLETED and flights:
        head = "the agent finished; its last calls are still in flight"
    else:
        head = s.status
    return (
        f"{head}: {counts[Bucket.DONE]:,} done, {counts[Bucket.INTERRUPTED]:,} interrupted, {flights:,} in flight, "
        f"{counts[Bucket.UNDOABLE]:,} undoable"
    )


def undo_clock(undo: UndoInfo, now: float) -> str:
    """How long the undo stays as it is: "3 m 05 s left", "exact for 1.7 s", "deadline passed", or "" if forever.

    The time left to undo at all for one that can run (or be retried); else, for one that can run, how long it
    stays exact (after that it is a compensation that leaves a trace).
    """
    if undo.deadline is not None and undo.status in (UndoStatus.AVAILABLE, UndoStatus.FAILED):
        left = undo.deadline - now
        return f"{duration(left)} left" if left > 0 else "deadline passed"
    if undo.reversible_until is not None and undo.status == UndoStatus.AVAILABLE and undo.reversible_until > now:
        return f"exact for {duration(undo.reversible_until - now)}"
    return ""
