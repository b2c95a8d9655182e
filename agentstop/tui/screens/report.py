"""The report screen: Done, Interrupted, In flight, Undoable, with undo."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, Static

from agentstop.report import Report

from ..widgets.call_detail import CallDetail
from ..widgets.call_table import CallTable
from ..widgets.status import StatusLine

__all__ = ["SECTIONS", "ReportScreen"]

# (id, title, detail column) in the order they are shown.
SECTIONS = (
    ("done", "Done", "undo"),
    ("interrupted", "Interrupted", "why it never reached the world"),
    ("in_flight", "In flight", "why"),
    ("undoable", "Undoable (latest first)", "undo status"),
)


class ReportScreen(Screen[None]):
    """What the agent did, what it did not, what is still running, and what can be undone."""

    AUTO_FOCUS = "#table-undoable"
    BINDINGS = [
        Binding("s", "app.stop", "Stop", show=False),
        Binding("enter", "expand", "Expand"),
        Binding("space", "toggle_row", "Select"),
        Binding("u", "undo_row", "Undo row"),
        Binding("U", "undo_selected", "Undo selected"),
        Binding("A", "undo_all", "Undo all"),
        Binding("r", "retry", "Retry failed"),
        Binding("tab", "focus_next", "Next list", show=False),
        Binding("escape", "app.show_run", "Run view"),
    ]

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock
        self.report: Report | None = None

    def compose(self) -> ComposeResult:
        yield StatusLine(self.clock, id="status")
        yield Static(Text(""), id="summary")
        with VerticalScroll(id="sections"):
            for key, title, detail in SECTIONS:
                yield Label(title, id=f"title-{key}", classes="section-title")
                yield CallTable(detail, checkable=key == "undoable", clock=self.clock, id=f"table-{key}",
                                classes="section")
        yield CallDetail(self.clock, id="detail")
        with Horizontal(id="report-actions"):
            yield Button("Undo selected", id="undo-selected", variant="warning")
            yield Button("Undo all", id="undo-all", variant="error")
            yield Button("Retry failed", id="retry")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(CallDetail).show(None)
        self.app.status()  # type: ignore[attr-defined]
        self.query_one("#table-undoable", CallTable).focus()

    def table(self, key: str) -> CallTable:
        """The table of one section ("done", "interrupted", "in_flight", "undoable")."""
        return self.query_one(f"#table-{key}", CallTable)

    def show_report(self, report: Report, summary: str) -> None:
        """Sync every section with `report`; rows move between sections as calls resolve."""
        self.report = report
        for key, title, _ in SECTIONS:
            items = getattr(report, key)
            self.table(key).sync(items)
            self.query_one(f"#title-{key}", Label).update(f"{title} ({len(items)})")
        self.query_one("#summary", Static).update(Text(summary))
        detail = self.query_one(CallDetail)
        if detail.item is not None:
            current = {i.call_id: i for i in report.all_calls}.get(detail.item.call_id)
            detail.show(current)
        failed = [i for i in report.undoable if i.undo.status == "failed"]
        self.query_one("#retry", Button).display = bool(failed)
        self.query_one("#undo-all", Button).disabled = not report.undoable
        self.query_one("#undo-selected", Button).disabled = not report.undoable

    def _focused_table(self) -> CallTable | None:
        focused = self.focused
        return focused if isinstance(focused, CallTable) else None

    def action_expand(self) -> None:
        table = self._focused_table()
        detail = self.query_one(CallDetail)
        item = table.highlighted() if table else None
        detail.show(None if item is None or (detail.item and detail.item.call_id == item.call_id) else item)

    def on_data_table_row_selected(self, event: CallTable.RowSelected) -> None:
        # Enter on a table selects its row: that is "expand" here.
        self.action_expand()

    def on_data_table_row_highlighted(self, event: CallTable.RowHighlighted) -> None:
        detail = self.query_one(CallDetail)
        if detail.item is not None and isinstance(event.data_table, CallTable):
            detail.show(event.data_table.highlighted())

    def action_toggle_row(self) -> None:
        table = self._focused_table()
        if table is not None:
            table.toggle_highlighted()

    def _request_undo(self, call_ids: list[str], what: str) -> None:
        if not call_ids:
            self.notify("Nothing to undo here: select rows in Undoable with Space first.", severity="warning")
            return
        self.app.request_undo(call_ids, what)  # type: ignore[attr-defined]

    def action_undo_row(self) -> None:
        table = self._focused_table()
        item = table.highlighted() if table else None
        if item is None or not item.undo.available:
            detail = item.undo.detail if item else "no row selected"
            self.notify(f"Cannot undo this row: {detail}", severity="warning")
            return
        self._request_undo([item.call_id], f"undo {item.call_id}")

    def action_undo_selected(self) -> None:
        self._request_undo(sorted(self.table("undoable").checked), "undo the selected calls")

    def action_undo_all(self) -> None:
        ids = [i.call_id for i in self.report.undoable] if self.report else []
        self._request_undo(ids, "undo everything that can be undone")

    def action_retry(self) -> None:
        ids = [i.call_id for i in self.report.undoable if i.undo.status == "failed"] if self.report else []
        self._request_undo(ids, "retry the failed undos")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"undo-selected": self.action_undo_selected, "undo-all": self.action_undo_all,
                   "retry": self.action_retry}
        if event.button.id in actions:
            actions[event.button.id]()
