"""A report section: the calls of one list, drawn only where they are on screen."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

from rich.text import Text
from textual import events

from agentstop.report import ReportItem, UndoStatus
from agentstop.text import printable

from ..keys import KeyId, key_text
from ..wording import undo_clock
from .badges import reversibility_badge, state_text
from .virtual_table import VirtualTable

__all__ = ["CallTable", "fitted"]


def _undo_cell(item: ReportItem, now: float, width: int, keys: tuple[str, str] = ("r", "e")) -> Text:
    """The undo status in `width` cells: what the undo is, cut if need be, then its key and countdown, never cut.

    `keys`: the keys that retry a failed undo and re-apply, as the keymap has them (`key_text`).
    """
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
        tail += f" · {keys[0]}: retry"
    if item.reappliable:
        tail += f" · {keys[1]}: re-apply"
    clock = undo_clock(undo, now)
    if clock:
        tail += f" · {clock}"
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


class CallTable(VirtualTable[ReportItem]):
    """A report section: the items of one list, drawn only where they are on screen (`VirtualTable`).

    `sync` hands it the list (a live report's view, read as drawn, never copied);
    each row's cells are made when drawn, from the item as `present` shows it (the
    report screen says an undo was refused there). Counts and Undo all cover every
    row, on screen or not.

    The columns fit the table's width: "call" is as wide as the longest id seen
    (c19500 is not cut to c1950), "what" and the detail column share what the fixed
    columns leave, and a longer text ends in an ellipsis (Enter shows the call
    whole). A resize, or a longer id, lays the columns out again.

    After a Resume (more than one epoch) an "epoch" column comes first, earlier
    epochs dimmed; it is added the first time a report has a second epoch.
    """

    def __init__(
        self,
        detail: str,
        *,
        checkable: bool = False,
        clock: Callable[[], float] = time.time,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.detail = detail
        self.checkable = checkable
        self.clock = clock
        self.checked: set[str] = set()
        self.epochs = 1
        """How many epochs the shown report has; from 2 on, the epoch column shows."""
        self.widths: dict[str, int] = {}
        """The widths the columns were laid out with (key -> cells)."""
        self.present: Callable[[ReportItem], ReportItem] = _as_is
        """The item as a row shows it (the report screen adds a refused undo's reason)."""

    def on_mount(self) -> None:
        self._add_columns()

    def _layout(self, longest: int = 0) -> dict[str, int]:
        """The column widths for the table's width now and for ids `longest` long."""
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

    def _add_columns(self, longest: int = 0) -> None:
        # Fixed widths: rows arrive and change in any order, and the layout must not depend on it.
        self.widths = self._layout(longest)
        labels = {"check": "", "detail": self.detail}
        self.set_columns([(key, labels.get(key, key), width) for key, width in self.widths.items()])

    def on_resize(self, event: events.Resize) -> None:
        if self.widths and self._layout() != self.widths:
            self._add_columns()

    @property
    def items(self) -> dict[str, ReportItem]:
        """Every row's item by call id, top to bottom (reads every row: for looking, not for drawing)."""
        return {i.call_id: i for i in self.shown_rows}

    def row_key(self, row: ReportItem) -> str:
        return row.call_id

    def row_cells(self, row: ReportItem, index: int) -> list[str | Text]:
        item = self.present(row)
        if len(item.call_id) > self.widths.get("call", 4):
            self.call_later(self._add_columns, len(item.call_id))  # a longer id than any seen: lay out again
        cells: list[str | Text] = [
            item.call_id,
            state_text(item.state),
            reversibility_badge(item.reversibility),
            fitted(item.tool, FIXED["tool"]),
            fitted(item.summary, self.widths.get("what", MIN_WHAT)),
            self._detail(item),
        ]
        if self.epochs > 1:
            cells.insert(0, self._epoch(item))
        if self.checkable:
            cells.insert(0, self._check(item.call_id))
        return cells

    @functools.cached_property
    def _undo_keys(self) -> tuple[str, str]:
        """The keys that retry an undo and re-apply, as a cell names them (the keymap is set before any screen)."""
        return key_text(self, KeyId.RETRY), key_text(self, KeyId.REAPPLY)

    def _epoch(self, item: ReportItem) -> Text:
        return Text(str(item.epoch).center(5), style="bold" if item.epoch == self.epochs else "dim")

    def _detail(self, item: ReportItem) -> Text:
        width = self.widths.get("detail", MIN_DETAIL)
        if self.detail in ("undo", "undo status"):
            return _undo_cell(item, self.clock(), width, self._undo_keys)
        return fitted(Text(item.reason or "", style="italic"), width)

    def _check(self, call_id: str) -> Text:
        return Text("[x]" if call_id in self.checked else "[ ]", style="bold")

    def sync(self, items: Sequence[ReportItem], *, epochs: int = 1) -> None:
        """Show `items` (read as drawn, never copied); `epochs` is the report's epoch count.

        The ids of the first and the last rows say how wide "call" must be (ids grow with
        the call number); a longer one drawn later widens it then.
        """
        longest = max((len(items[i].call_id) for i in (0, -1)), default=0) if items else 0
        if epochs != self.epochs or longest > self.widths.get("call", 4):
            self.epochs = epochs  # the epoch column comes first, or an id is longer: lay the table out again
            if self.widths:
                self._add_columns(longest)
        self.show_rows(items)

    def forget_checked(self, keep: Callable[[str], bool]) -> None:
        """Uncheck the rows `keep` says are gone from this list (it cost the checked rows, not the list)."""
        self.checked = {c for c in self.checked if keep(c)}

    def toggle_highlighted(self) -> None:
        """Check or uncheck the highlighted row (Undoable only)."""
        row = self.row_at(self.cursor_row)
        if not self.checkable or row is None:
            return
        self.checked.symmetric_difference_update({row.call_id})
        self.refresh_rows()

    def highlighted(self) -> ReportItem | None:
        """The item under the cursor, as its row shows it."""
        row = self.row_at(self.cursor_row)
        return self.present(row) if row is not None else None


def _as_is(item: ReportItem) -> ReportItem:
    return item
