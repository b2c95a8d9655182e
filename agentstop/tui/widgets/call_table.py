"""A report section: calls of one bucket, synced in place with each new report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widgets import DataTable

from agentstop.formatting import duration
from agentstop.report import ReportItem

from .badges import reversibility_badge, state_text

__all__ = ["CallTable"]


def _undo_cell(item: ReportItem, now: float) -> Text:
    undo = item.undo
    style = {"available": "green", "failed": "bold red", "done": "blue", "running": "yellow",
             "expired": "dim", "pending": "magenta", "refused": "bold yellow"}.get(undo.status, "dim")
    text = undo.detail
    if undo.status == "failed":
        text += " · r: retry"
    if item.reappliable:
        text += " · e: re-apply"
    if undo.deadline is not None and undo.status in ("available", "failed"):
        left = undo.deadline - now
        text += f" · {duration(left)} left" if left > 0 else " · deadline passed"
    elif undo.reversible_until is not None and undo.status == "available" and undo.reversible_until > now:
        text += f" · exact for {duration(undo.reversible_until - now)}"
    return Text(text, style=style)


class CallTable(DataTable[str | Text]):
    """Rows keyed by call id; `sync` adds, removes and updates cells, never rebuilds.

    After a Resume (more than one epoch) an "epoch" column comes first, earlier
    epochs dimmed; it is added once, by rebuilding the table, the first time a
    report has a second epoch.
    """

    def __init__(self, detail: str, *, checkable: bool = False, clock: Callable[[], float] = time.time,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.detail = detail
        self.checkable = checkable
        self.clock = clock
        self.checked: set[str] = set()
        self.items: dict[str, ReportItem] = {}
        self.epochs = 1
        """How many epochs the shown report has; from 2 on, the epoch column shows."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._add_columns()

    def _add_columns(self) -> None:
        if self.checkable:
            self.add_column("", key="check", width=3)
        # The epoch column's room comes out of "what" and the detail, so the table keeps its width.
        narrower = 0
        if self.epochs > 1:
            self.add_column("epoch", key="epoch", width=5)
            narrower = 7
        # Fixed widths: rows arrive and change in any order, and the layout must not depend on it.
        for label, key, width in (("call", "call", 4), ("state", "state", 12), ("class", "class", 7),
                                  ("tool", "tool", 16), ("what", "what", 36 - narrower // 2),
                                  (self.detail, "detail", 46 - (narrower - narrower // 2))):
            self.add_column(label, key=key, width=width)

    def _epoch(self, item: ReportItem) -> Text:
        return Text(str(item.epoch).center(5), style="bold" if item.epoch == self.epochs else "dim")

    def _detail(self, item: ReportItem) -> Text:
        if self.detail in ("undo", "undo status"):
            return _undo_cell(item, self.clock())
        return Text(item.reason or "", style="italic")

    def _check(self, call_id: str) -> Text:
        return Text("[x]" if call_id in self.checked else "[ ]", style="bold")

    def sync(self, items: Sequence[ReportItem], *, epochs: int = 1) -> None:
        """Make the rows match `items` (in order of first appearance); `epochs` is the report's epoch count."""
        if epochs != self.epochs:
            self.epochs = epochs
            self.clear(columns=True)  # the epoch column comes first: lay the table out again
            self.items.clear()
            self._add_columns()
        wanted = {i.call_id: i for i in items}
        for key in [k for k in self.items if k not in wanted]:
            self.remove_row(key)
            self.checked.discard(key)
            del self.items[key]
        desired = [i.call_id for i in items]
        appended = list(self.items) + [k for k in desired if k not in self.items]
        if appended != desired:
            # A new row belongs before existing ones (Undoable is latest commit first): rebuild in order.
            self.clear()
            self.items.clear()
        for item in items:
            cells: dict[str, str | Text] = {"state": state_text(item.state), "detail": self._detail(item)}
            if item.call_id not in self.items:
                row: list[str | Text] = [item.call_id, cells["state"], reversibility_badge(item.reversibility),
                                         item.tool, item.summary, cells["detail"]]
                if self.epochs > 1:
                    row.insert(0, self._epoch(item))
                if self.checkable:
                    row.insert(0, self._check(item.call_id))
                self.add_row(*row, key=item.call_id)
            else:
                for column, value in cells.items():
                    self.update_cell(item.call_id, column, value)
            self.items[item.call_id] = item

    def toggle_highlighted(self) -> None:
        """Check or uncheck the highlighted row (Undoable only)."""
        if not self.checkable or not self.items or self.cursor_row < 0:
            return
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        if key is None:
            return
        self.checked.symmetric_difference_update({key})
        self.update_cell(key, "check", self._check(key))

    def highlighted(self) -> ReportItem | None:
        """The item under the cursor."""
        if not self.items:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.items.get(key) if key is not None else None
