"""A session's four counts (done, interrupted, in flight, undoable) without its calls: what a list of sessions shows.

The sessions browser shows, per session, how many calls each list of its report
holds. Building the report for that held every call of every session: a session
of 200,000 calls is half a gigabyte of items, read again every second while it
runs, to show four numbers. `ReportCounts.read` counts instead: the calls per
state (one grouped query) and the undoable ones a window at a time, through the
streamed report (`agentstop.report_stream`), so memory does not grow with the
session and the numbers are the ones its report would show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentstop.report import Report
from agentstop.report_buckets import Bucket
from agentstop.report_stream import StreamedReport

if TYPE_CHECKING:
    from agentstop.journal import Journal

__all__ = ["ReportCounts"]


@dataclass(frozen=True)
class ReportCounts:
    """How many calls each of a session's four lists holds."""

    done: int
    interrupted: int
    in_flight: int
    undoable: int

    @classmethod
    def of(cls, report: Report) -> ReportCounts:
        """The counts of a report already built."""
        return cls(len(report.done), len(report.interrupted), len(report.in_flight), len(report.undoable))

    @classmethod
    async def read(cls, journal: Journal, session_id: str, now: float | None = None) -> ReportCounts:
        """The session's counts as its report at `now` would show them, read without holding its calls.

        Raises:
            UnknownSession: no such session.
            JournalCorrupt: a call is in a state this version cannot read, or a row does not decode.
        """
        async with journal.read_snapshot():  # the four of one moment, though read in two
            counts = await (await StreamedReport.open(journal, session_id, now)).list_counts()
        return cls(counts[Bucket.DONE], counts[Bucket.INTERRUPTED], counts[Bucket.IN_FLIGHT], counts[Bucket.UNDOABLE])
