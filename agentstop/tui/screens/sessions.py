"""The sessions browser: every session in a journal, where it runs, live counts; Enter opens one, s stops one.

On a shared PostgreSQL journal this is the fleet view: sessions of every
machine, each with its host and process. The app refreshes the rows every
second while any session runs (`show_rows`). What the person picks, the
screen posts up to the app: `OpenSessionRequested`, `StopSessionRequested`.

The list is a `SessionsTable` (a `VirtualTable`): it draws only the sessions on
screen, so a journal of 10,000 sessions opens, refreshes and filters at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Label

from agentstop.journal import SessionRecord, SessionStatus

from ..keys import KeyId, bound, key_text
from ..messages import OpenSessionRequested, StopSessionRequested
from ..widgets.sessions_table import COLUMNS, SessionRow, SessionsTable, how_it_ended
from ..widgets.virtual_table import VirtualTable

__all__ = ["COLUMNS", "SessionRow", "SessionsScreen", "how_it_ended"]


class SessionsScreen(Screen[None]):
    """Pick a session to replay, or stop one that runs."""

    BINDINGS = [
        bound(KeyId.FILTER, "focus_filter", "Filter"),
        bound(KeyId.STOP_SESSION, "stop_session", "Stop session"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self, rows: list[SessionRow], clock_now: float) -> None:
        super().__init__()
        self.rows = rows
        self.now = clock_now
        self.stopping: dict[str, str] = {}
        """Sessions this screen asked to stop that have not ended yet -> what to show meanwhile."""

    def compose(self) -> ComposeResult:
        yield Label(self._title(), classes="panel-title", id="sessions-title")
        yield Input(placeholder=f"filter by task, id, host or status ({key_text(self, KeyId.FILTER)})", id="filter")
        yield SessionsTable(id="sessions")
        yield Footer()

    def on_mount(self) -> None:
        self._fill()
        self.table.focus()

    @property
    def table(self) -> SessionsTable:
        return self.query_one("#sessions", SessionsTable)

    def _title(self) -> str:
        running = sum(s.status == SessionStatus.RUNNING for s, _ in self.rows)
        stop = key_text(self, KeyId.STOP_SESSION)
        live = f" · {running} running, refreshed every second · {stop} stops one" if running else ""
        return f"Sessions ({len(self.rows):,}) · Enter opens one{live}"

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
        row = table.row_at(table.cursor_row)
        return row[0] if row is not None else None

    def _fill(self) -> None:
        """Hand the table the rows to show, latest first, those the filter finds (drawn as they show)."""
        table = self.table
        current = self.highlighted()
        table.now, table.stopping = self.now, self.stopping
        needle = self.query_one("#filter", Input).value.lower().strip()
        latest_first = self.rows[::-1]
        wanted = [row for row in latest_first if needle in table.haystack(row)] if needle else latest_first
        table.show_sessions(wanted)
        if current is not None:
            index = table.rows.get(current.session_id)
            if index is not None and index != table.cursor_row:
                table.move_cursor(row=index)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_virtual_table_row_selected(self, event: VirtualTable.RowSelected) -> None:
        if event.row_key is not None:
            self.post_message(OpenSessionRequested(event.row_key))

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
