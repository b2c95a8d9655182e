"""A report section: calls of one bucket, synced in place with each new report."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from agentstop.formatting import duration
from agentstop.report import ReportItem, UndoStatus
from agentstop.text import printable

from .badges import reversibility_badge, state_text

__all__ = ["CallTable", "fitted"]


def _undo_cell(item: ReportItem, now: float, width: int) -> Text:
    """The undo status in `width` cells: what the undo is, cut if need be, then its key and countdown, never cut."""
    undo = item.undo
    style = {
        UndoStatus.AVAILABLE: "green",
        UndoStatus.FAILED: "bold red",
        UndoStatus.DONE: "blue",
        UndoStatus.RUNNING: "yellow",
        UndoStatus.EXPIRED: "dim",
        UndoStatus.PENDING: "magenta",
        UndoStatus.REFUSED: "bold yellow",
    }.get(undo.status, "dim")
    tail = ""
    if undo.status == UndoStatus.FAILED:
        tail += " · r: retry"
    if item.reappliable:
        tail += " · e: re-apply"
    if undo.deadline is not None and undo.status in (UndoStatus.AVAILABLE, UndoStatus.FAILED):
        left = undo.deadline - now
        tail += f" · {duration(left)} left" if left > 0 else " · deadline passed"
    elif undo.reversible_until is not None and undo.status == UndoStatus.AVAILABLE and undo.reversible_until > now:
        tail += f" · exact for {duration(undo.reversible_until - now)}"
    head = fitted(undo.detail, max(8, width - len(tail)))
    return fitted(Text.assemble(head, tail, style=style), width)


FIXED = {"state": 12, "class": 7, "tool": 16}
"""Columns whose width never changes; "call" fits the longest id, "what" and the detail share the rest."""

MIN_WHAT, MIN_DETAIL = 24, 28
"""The least room "what" and the detail column get on a narrow terminal (the table then scrolls sideways)."""


def fitted(text: str | Text, width: int) -> Text:
    """`text` on one line of `width` cells, cut with an ellipsis when longer (the detail pane has it whole)."""
    # Agent-chosen text reaches the terminal inert: control characters are shown escaped (agentstop.text).
    if isinstance(text, str):
        cell = Text(printable(text))
    elif printable(text.plain) != text.plain:
        cell = Text(printable(text.plain), style=text.style)
    else:
        cell = text.copy()
    cell.no_wrap = True
    cell.truncate(width, overflow="ellipsis")
    return cell


class CallTable(DataTable[str | Text]):
    """Rows keyed by call id; `sync` adds, removes and updates cells, rebuilding only when the layout changes.

    The columns fit the table's width: "call" is as wide as the longest id (c19500 is not cut
    to c1950), "what" and the detail column share what the fixed columns leave, and a longer
    text ends in an ellipsis (Enter shows the call whole). A resize, or a longer id, lays the
    rows out again.

    After a Resume (more than one epoch) an "epoch" column comes first, earlier
    epochs dimmed; it is added once, by rebuilding the table, the first time a
    report has a second epoch.
    """

    def __init__(
        self, detail: str, *, checkable: bool = False, clock: Callable[[], float] = time.time, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.detail = detail
        self.checkable = checkable
        self.clock = clock
        self.checked: set[str] = set()
        self.items: dict[str, ReportItem] = {}
        self.epochs = 1
        """How many epochs the shown report has; from 2 on, the epoch column shows."""
        self.widths: dict[str, int] = {}
        """The widths the columns were laid out with (key -> cells)."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._add_columns()

    def _layout(self, ids: Sequence[str] = ()) -> dict[str, int]:
        """The column widths for the table's width now and for ids this long."""
        longest = max((len(i) for i in ids), default=0)
        widths = {"call": max(4, longest, self.widths.get("call", 0)), **FIXED}
        if self.checkable:
            widths = {"check": 3, **widths}
        if self.epochs > 1:
            widths = {"epoch": 5, **widths}
        available = self.size.width or self.app.size.width
        padding = 2 * self.cell_padding
        rest = available - sum(w + padding for w in widths.values()) - 2 * padding - 2  # the scrollbar's room
        # "what" is as wide in every section (the check box's room comes out of the detail): columns line up.
        check = widths["check"] + padding if self.checkable else 0
        what = max(MIN_WHAT, (rest + check) * 2 // 5)
        widths["what"] = what
        widths["detail"] = max(MIN_DETAIL, rest - what)
        return widths

    def _add_columns(self, ids: Sequence[str] = ()) -> None:
        # Fixed widths: rows arrive and change in any order, and the layout must not depend on it.
        self.widths = self._layout(ids)
        labels = {"check": "", "detail": self.detail}
        for key, width in self.widths.items():
            self.add_column(labels.get(key, key), key=key, width=width)

    def _relayout(self, items: Sequence[ReportItem]) -> None:
        """Lay the table out again (new widths, or the epoch column) and put `items` back."""
        cursor = self.cursor_row
        self.clear(columns=True)
        self.items.clear()
        self._add_columns([i.call_id for i in items])
        self._fill(items)
        if 0 <= cursor < self.row_count:
            self.move_cursor(row=cursor, animate=False)

    def on_resize(self, event: events.Resize) -> None:
        if self.widths and self._layout(list(self.items)) != self.widths:
            self._relayout(list(self.items.values()))

    def _epoch(self, item: ReportItem) -> Text:
        return Text(str(item.epoch).center(5), style="bold" if item.epoch == self.epochs else "dim")

    def _detail(self, item: ReportItem) -> Text:
        width = self.widths.get("detail", MIN_DETAIL)
        if self.detail in ("undo", "undo status"):
            return _undo_cell(item, self.clock(), width)
        return fitted(Text(item.reason or "", style="italic"), width)

    def _check(self, call_id: str) -> Text:
        return Text("[x]" if call_id in self.checked else "[ ]", style="bold")

    def sync(self, items: Sequence[ReportItem], *, epochs: int = 1) -> None:
        """Make the rows match `items` (in order of first appearance); `epochs` is the report's epoch count."""
        if epochs != self.epochs or max((len(i.call_id) for i in items), default=0) > self.widths.get("call", 4):
            self.epochs = epochs  # the epoch column comes first, or an id is longer: lay the table out again
            self._relayout(items)
            return
        self._fill(items)

    def _fill(self, items: Sequence[ReportItem]) -> None:
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
                row: list[str | Text] = [
                    item.call_id,
                    cells["state"],
                    reversibility_badge(item.reversibility),
                    fitted(item.tool, FIXED["tool"]),
                    fitted(item.summary, self.widths.get("what", MIN_WHAT)),
                    cells["detail"],
                ]
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
