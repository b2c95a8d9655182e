"""The sessions browser: every session in a journal, filterable; Enter opens one."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label

from agentstop.formatting import duration
from agentstop.journal import SessionRecord
from agentstop.report import Report
from agentstop.supervisor import is_alive

__all__ = ["SessionRow", "SessionsScreen", "how_it_ended"]

SessionRow = tuple[SessionRecord, Report]


def how_it_ended(session: SessionRecord) -> str:
    """completed, stopped by whom, crashed, or still running."""
    if session.status == "running":
        return "running" if is_alive(session) else "crashed (not yet recovered)"
    if session.status == "stopped" and session.stopped_by:
        return f"stopped by {session.stopped_by}"
    return session.status


class SessionsScreen(Screen[None]):
    """Pick a past session to replay."""

    BINDINGS = [Binding("slash", "focus_filter", "Filter"), Binding("escape", "focus_table", "Table", show=False)]

    def __init__(self, rows: list[SessionRow], clock_now: float) -> None:
        super().__init__()
        self.rows = rows
        self.now = clock_now

    def compose(self) -> ComposeResult:
        yield Label(f"Sessions ({len(self.rows)}) · Enter opens one", classes="panel-title", id="sessions-title")
        yield Input(placeholder="filter by task, id or status (/)", id="filter")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        for label in ("session", "task", "started", "duration", "how it ended", "done", "interrupted",
                      "in flight", "undoable"):
            table.add_column(label, key=label)
        self._fill("")
        table.focus()

    def _fill(self, text: str) -> None:
        table = self.query_one("#sessions", DataTable)
        table.clear()
        needle = text.lower().strip()
        for session, report in reversed(self.rows):
            ended = how_it_ended(session)
            haystack = f"{session.session_id} {session.task_name} {ended}".lower()
            if needle and needle not in haystack:
                continue
            end = session.ended_at or self.now
            started = datetime.fromtimestamp(session.started_at).strftime("%Y-%m-%d %H:%M:%S")
            style = {"completed": "green", "running": "yellow"}.get(session.status, "red")
            table.add_row(session.session_id, Text(session.task_name), started,
                          duration(end - session.started_at), Text(ended, style=style), str(len(report.done)),
                          str(len(report.interrupted)), str(len(report.in_flight)), str(len(report.undoable)),
                          key=session.session_id)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#sessions", DataTable).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.open_session(event.row_key.value)  # type: ignore[attr-defined]

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#sessions", DataTable).focus()
