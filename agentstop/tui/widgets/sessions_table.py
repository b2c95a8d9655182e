"""The sessions browser's table: one row per session of a journal, drawn only where it is on screen.

A journal of a fleet holds thousands of sessions. A `DataTable` adds a row in
~360 µs (its cells, its keys, its layout): 10,000 sessions took seconds before
the browser showed anything, and again at each refresh while a session runs.
This `VirtualTable` is handed the list of rows and makes a row's cells when it
is drawn; what it does over every row is cheap: the columns' widths (each a
length, as a `DataTable` sizes its columns to their longest cell) and, while
the person types a filter, a lowercase search.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rich.cells import cell_len
from rich.text import Text

from agentstop.formatting import duration
from agentstop.journal import SessionRecord, SessionStatus
from agentstop.journal.liveness import is_alive
from agentstop.report_counts import ReportCounts

from .virtual_table import VirtualTable

__all__ = ["COLUMNS", "HEADERS", "SessionRow", "SessionsTable", "how_it_ended"]

SessionRow = tuple[SessionRecord, ReportCounts]
"""A session and its report's counts (what the browser shows of it)."""

COLUMNS = (
    "session",
    "task",
    "how it ended",
    "done",
    "interrupted",
    "in flight",
    "undoable",
    "host",
    "pid",
    "started",
    "duration",
)
"""The columns' keys: what it is and how it stands first, then where and when it runs (the first to scroll
out of sight on a narrow terminal). The counts' headers take two lines (`HEADERS`)."""

HEADERS = {"interrupted": "inter-\nrupted", "in flight": "in\nflight", "undoable": "undo-\nable"}

_STARTED = "%m-%d %H:%M:%S"
_STARTED_CELLS = len(datetime.fromtimestamp(0).strftime(_STARTED))


def how_it_ended(session: SessionRecord, now: float | None = None, stopping: str | None = None) -> str:
    """completed, stopped by whom, crashed, still running, or stopping (asked, not yet ended).

    Args:
        session: the session row.
        now: the wall clock (for a remote session's heartbeat).
        stopping: what this screen knows of a Stop it asked for and that has not ended
            the session yet ("revoking…"), if any.
    """
    if session.status == SessionStatus.RUNNING:
        if stopping is not None:
            return stopping
        if session.stopped_by:  # a revoke from anywhere marks who asked; the session ends itself shortly
            return f"stopping… (by {session.stopped_by})"
        return SessionStatus.RUNNING.value if is_alive(session, now) else "crashed (not yet recovered)"
    if session.status == SessionStatus.STOPPED and session.stopped_by:
        return f"stopped by {session.stopped_by}"
    return session.status


class SessionsTable(VirtualTable[SessionRow]):
    """Sessions, latest first as handed over (`show_sessions`), drawn only where they are on screen.

    `now` and `stopping` say how a running session stands (its heartbeat, a Stop
    asked for here); the screen sets them with the rows.
    """

    zebra_stripes = True
    header_height = 2

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.now = 0.0
        self.stopping: Mapping[str, str] = {}
        self._lengths: dict[int, tuple[SessionRow, tuple[int, ...]]] = {}
        """Per row shown (by its id; the row held): its cells' lengths, for the columns' widths."""

    def row_key(self, row: SessionRow) -> str:
        return row[0].session_id

    def ended(self, session: SessionRecord) -> str:
        """How the session stands, as its row says it."""
        return how_it_ended(session, self.now, self.stopping.get(session.session_id))

    def row_cells(self, row: SessionRow, index: int) -> list[str | Text]:
        session, counts = row
        ended = self.ended(session)
        style = {SessionStatus.COMPLETED: "green", SessionStatus.RUNNING: "yellow"}.get(session.status, "red")
        if ended.startswith("stopping") or ended.startswith("revoking"):
            style = "bold yellow"
        return [
            session.session_id,
            Text(session.task_name),
            Text(ended, style=style),
            str(counts.done),
            str(counts.interrupted),
            str(counts.in_flight),
            str(counts.undoable),
            Text(session.host or "?"),
            str(session.pid) if session.pid is not None else "-",
            datetime.fromtimestamp(session.started_at).strftime(_STARTED),
            self._duration(session),
        ]

    def _duration(self, session: SessionRecord) -> str:
        end = session.ended_at or self.now
        return duration(max(0.0, end - session.started_at))

    def haystack(self, row: SessionRow) -> str:
        """What a filter looks in: the session's id, task, host and how it stands, lowercased."""
        session = row[0]
        return f"{session.session_id} {session.task_name} {session.host or ''} {self.ended(session)}".lower()

    def show_sessions(self, rows: Sequence[SessionRow]) -> None:
        """Show these rows (never copied); each column as wide as its header and its longest cell among them.

        A row's lengths are kept while its row is handed over again unchanged (the fleet's refresh
        hands over the same row for a session that has ended): only a running session's are
        measured again (its duration and how it stands move with the clock).
        """
        kept = self._lengths
        lengths: dict[int, tuple[SessionRow, tuple[int, ...]]] = {}
        self._lengths = lengths
        for row in rows:
            held = id(row)  # the row is held in the entry below: its id is not reused meanwhile
            hit = kept.get(held)
            if hit is None or hit[0] is not row or row[0].status == SessionStatus.RUNNING:
                hit = (row, self._lengths_of(row))
            lengths[held] = hit
        longest = [max(column) for column in zip(*(n for _, n in lengths.values()), strict=True)]
        columns = []
        for at, key in enumerate(COLUMNS):
            label = HEADERS.get(key, key)
            shortest = max(cell_len(line) for line in label.split("\n"))
            columns.append((key, label, max(shortest, longest[at] if longest else 0)))
        if [(str(c.key), c.label.plain, c.width) for c in self.columns.values()] != columns:
            self.set_columns(columns)
        self.show_rows(rows)

    def _lengths_of(self, row: SessionRow) -> tuple[int, ...]:
        """The cells' lengths of one row, in column order (what its cells would take, without making them)."""
        session, counts = row
        return (
            len(session.session_id),
            cell_len(session.task_name),
            len(self.ended(session)),
            len(str(counts.done)),
            len(str(counts.interrupted)),
            len(str(counts.in_flight)),
            len(str(counts.undoable)),
            cell_len(session.host or "?"),
            len(str(session.pid)) if session.pid is not None else 1,
            _STARTED_CELLS,
            len(self._duration(session)),
        )
