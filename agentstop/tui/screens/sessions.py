"""The sessions browser: every session in a journal, where it runs, live counts; Enter opens one, s stops one.

On a shared PostgreSQL journal this is the fleet view: sessions of every
machine, each with its host and process. The app refreshes the rows every
second while any session runs (`show_rows`). What the person picks, the
screen posts up to the app: `OpenSessionRequested`, `StopSessionRequested`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label

from agentstop.formatting import duration
from agentstop.journal import SessionRecord, SessionStatus
from agentstop.report import Report
from agentstop.supervisor import is_alive

from ..messages import OpenSessionRequested, StopSessionRequested

__all__ = ["COLUMNS", "SessionRow", "SessionsScreen", "how_it_ended"]

SessionRow = tuple[SessionRecord, Report]

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


class SessionsScreen(Screen[None]):
    """Pick a session to replay, or stop one that runs."""

    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("s", "stop_session", "Stop session"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self, rows: list[SessionRow], clock_now: float) -> None:
        super().__init__()
        self.rows = rows
        self.now = clock_now
        self.stopping: dict[str, str] = {}
        """Sessions this screen asked to stop that have not ended yet -> what to show meanwhile."""
        self._shown: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label(self._title(), classes="panel-title", id="sessions-title")
        yield Input(placeholder="filter by task, id, host or status (/)", id="filter")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True, header_height=2)
        yield Footer()

    def on_mount(self) -> None:
        table = self.table
        for key in COLUMNS:
            table.add_column(HEADERS.get(key, key), key=key)
        self._fill()
        table.focus()

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#sessions", DataTable)

    def _title(self) -> str:
        running = sum(s.status == SessionStatus.RUNNING for s, _ in self.rows)
        live = f" · {running} running, refreshed every second · s stops one" if running else ""
        return f"Sessions ({len(self.rows)}) · Enter opens one{live}"

    def show_rows(self, rows: list[SessionRow], now: float, stopping: Mapping[str, str] | None = None) -> None:
        """Show fresh rows (counts, status), keeping the filter and the highlighted session."""
        self.rows = rows
        self.now = now
        if stopping is not None:
            self.stopping = dict(stopping)
        if self.is_mounted:
            self.query_one("#sessions-title", Label).update(self._title())
            self._fill()

    def session(self, session_id: str) -> SessionRecord | None:
        """The row of `session_id`, if shown."""
        return next((s for s, _ in self.rows if s.session_id == session_id), None)

    def highlighted(self) -> SessionRecord | None:
        """The session under the cursor."""
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.session(key) if key is not None else None

    def _cells(self, session: SessionRecord, report: Report) -> list[str | Text]:
        ended = how_it_ended(session, self.now, self.stopping.get(session.session_id))
        end = session.ended_at or self.now
        started = datetime.fromtimestamp(session.started_at).strftime("%m-%d %H:%M:%S")
        style = {SessionStatus.COMPLETED: "green", SessionStatus.RUNNING: "yellow"}.get(session.status, "red")
        if ended.startswith("stopping") or ended.startswith("revoking"):
            style = "bold yellow"
        return [
            session.session_id,
            Text(session.task_name),
            Text(ended, style=style),
            str(len(report.done)),
            str(len(report.interrupted)),
            str(len(report.in_flight)),
            str(len(report.undoable)),
            Text(session.host or "?"),
            str(session.pid) if session.pid is not None else "-",
            started,
            duration(max(0.0, end - session.started_at)),
        ]

    def _fill(self) -> None:
        table = self.table
        needle = self.query_one("#filter", Input).value.lower().strip()
        wanted: list[tuple[str, list[str | Text]]] = []
        for session, report in reversed(self.rows):
            cells = self._cells(session, report)
            haystack = f"{session.session_id} {session.task_name} {session.host or ''} {cells[2]}".lower()
            if not needle or needle in haystack:
                wanted.append((session.session_id, cells))
        keys = [key for key, _ in wanted]
        if keys == self._shown:
            for key, cells in wanted:  # same rows in the same order: update the cells in place
                for column, value in zip(COLUMNS, cells, strict=True):
                    table.update_cell(key, column, value, update_width=True)  # "stopping…" is longer
            return
        current = self.highlighted()
        table.clear()
        for key, cells in wanted:
            table.add_row(*cells, key=key)
        self._shown = keys
        if current is not None and current.session_id in keys:
            table.move_cursor(row=keys.index(current.session_id))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(OpenSessionRequested(event.row_key.value))

    def action_stop_session(self) -> None:
        """Stop the highlighted session (the app asks first, naming it, its task and its host)."""
        session = self.highlighted()
        if session is None:
            return
        self.post_message(StopSessionRequested(session.session_id))

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_table(self) -> None:
        self.table.focus()
