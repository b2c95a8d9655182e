"""`VirtualTable`: a table that draws only the rows on screen, over a sequence it never copies.

A `DataTable` keeps every row it shows (its cells, its keys, its layout), ~360 µs
a row to add: 100,000 calls would take half a minute, and the report screen
showed only the latest 500 of each list. A `VirtualTable` is a Textual
`ScrollView` (the Line API): it is handed a `Sequence` of rows (a live report's
list, which indexing reads without copying) and a way to turn one row into its
cells, and its `render_line` draws each line on screen when Textual asks for it.
Its virtual height is the sequence's length, so the scrollbar, Page Down and
End reach every row; scrolling costs the lines drawn, whatever the length.

It looks like a `DataTable` with a row cursor: the same component classes
(`datatable--header`, `datatable--cursor`, `datatable--even-row`, ...) in the
same stylesheet, each cell padded and styled the same way. Subclasses say what
a row shows (`row_cells`), and how a row is known (`row_key`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, NamedTuple, Self, TypeVar

from rich.console import RenderableType
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.renderables.styled import Styled
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets.data_table import ColumnKey

__all__ = ["Column", "VirtualTable"]

T = TypeVar("T")

Cell = str | Text
"""What a cell holds: plain text (never read as markup: agent-chosen text stays inert) or styled text."""


@dataclass
class Column:
    """One column: its key, its header, and its width in cells (padding aside)."""

    key: ColumnKey
    label: Text
    width: int

    def get_render_width(self, table: VirtualTable[Any]) -> int:
        """The width the column takes on screen, padding included (as `DataTable`'s columns say it)."""
        return self.width + 2 * table.cell_padding


class _LineStyles(NamedTuple):
    """The styles a table's lines are drawn in: its own, its header's, its rows' (even, odd), its cursor's."""

    base: Style
    header: Style
    even: Style
    odd: Style
    cursor: Style


DRAWN_CELLS = 4096
"""Drawn cells a table keeps (`VirtualTable._cell`); past it, it starts again from none."""


def _cell_key(cell: RenderableType) -> Hashable | None:
    """What decides how a cell looks, hashable; None for a renderable other than text (drawn each time)."""
    if isinstance(cell, str):
        return cell
    if type(cell) is Text:
        return (cell.plain, cell.style, tuple(cell.spans), cell.justify, cell.overflow, cell.no_wrap, cell.end)
    return None


class VirtualTable(ScrollView, Generic[T], can_focus=True):
    """Rows of a sequence, drawn only where they are on screen, with a row cursor (see the module).

    Subclasses implement `row_cells` (a row's cells, in column order) and
    `row_key` (the id a row is known by: the tests and the cursor's messages use
    it). The sequence is handed over with `show_rows`; after it changes in place
    (a row's cells), `refresh_rows` redraws what is on screen, `refresh_rows_at`
    only the lines of the rows named, and after it grew at its end,
    `rows_appended` draws the new rows' lines alone (none when they are below
    the screen) without laying the screen out again: a live table's batch costs
    the lines it changed on screen, not the screenful.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "scroll_top", "Top", show=False),
        Binding("ctrl+end", "scroll_bottom", "Bottom", show=False),
        Binding("home", "scroll_top", "Home", show=False),
        Binding("end", "scroll_bottom", "End", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "datatable--cursor",
        "datatable--header",
        "datatable--odd-row",
        "datatable--even-row",
    }

    # `DataTable`'s own stylesheet, for the parts a row-cursor table uses: it looks the same.
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;

        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark {
            & > .datatable--even-row {
                background: $surface-darken-1 40%;
            }
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--odd-row {
        }
        & > .datatable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=False, init=False)
    """The row under the cursor (0 when the table is empty)."""

    zebra_stripes: ClassVar[bool] = False
    """Every other row shaded (the side-effect panel's rows)."""

    cell_padding: ClassVar[int] = 1
    """Cells of space either side of a cell's text."""

    header_height: ClassVar[int] = 1
    """Lines the header takes (a label with a line break shows its lines one under the other)."""

    class RowHighlighted(Message):
        """The cursor moved onto a row (handled as `on_virtual_table_row_highlighted`)."""

        def __init__(self, table: VirtualTable[Any], cursor_row: int, row_key: str | None) -> None:
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key
            super().__init__()

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    class RowSelected(Message):
        """Enter, or a click on the row under the cursor (handled as `on_virtual_table_row_selected`)."""

        def __init__(self, table: VirtualTable[Any], cursor_row: int, row_key: str | None) -> None:
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key
            super().__init__()

        @property
        def control(self) -> VirtualTable[Any]:
            return self.table

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: dict[ColumnKey, Column] = {}
        """The columns, in the order shown."""
        self._rows: Sequence[T] = ()
        self._keys: dict[str, int] | None = None
        """Row key -> index, built when first asked for (a lookup by key), dropped when the rows change."""
        self._drawn: dict[tuple[Hashable, int, Style, Style], list[Segment]] = {}
        """Cells as drawn (`_cell`), by what decides their look."""
        self._styles: _LineStyles | None = None
        """The styles of this refresh's lines (`_line_styles`)."""

    # -- what subclasses say -------------------------------------------------------------------

    def row_cells(self, row: T, index: int) -> Sequence[Cell]:
        """The cells of one row, in column order."""
        raise NotImplementedError

    def row_key(self, row: T) -> str:
        """The id a row is known by."""
        raise NotImplementedError

    # -- columns and rows ----------------------------------------------------------------------

    def set_columns(self, columns: Sequence[tuple[str, str, int]]) -> None:
        """Lay the table out with these (key, label, width) columns, and draw it again."""
        self.columns = {ColumnKey(key): Column(ColumnKey(key), Text(label), width) for key, label, width in columns}
        self._resize_virtual()
        self.refresh()

    def set_width(self, key: str, width: int) -> None:
        """Give one column a new width, and draw the table again."""
        column = self.columns.get(ColumnKey(key))
        if column is not None and column.width != width:
            column.width = width
            self._resize_virtual()
            self.refresh()

    def show_rows(self, rows: Sequence[T]) -> None:
        """Show these rows from now on (they are read as they are drawn, never copied); keeps the cursor's index."""
        self._rows = rows
        self._keys = None
        self._resize_virtual()
        if self.cursor_row >= len(rows):
            self.cursor_row = max(0, len(rows) - 1)
        self.refresh()

    def rows_appended(self, before: int) -> None:
        """The shown sequence grew in place from `before` rows (rows only added at its end): show the new ones.

        Only the lines of the new rows that are on screen are drawn again (none, while the
        table shows earlier rows), and the table is laid out again only when its height can
        change: once it is taller than its window, a longer sequence moves the scrollbar alone.
        """
        self._keys = None
        if not self._resize_virtual():
            self.refresh_rows_at(range(before, len(self._rows)))

    def refresh_rows(self) -> None:
        """The rows changed in place (their cells): draw what is on screen again."""
        self._keys = None
        self.refresh()

    def refresh_rows_at(self, indices: Iterable[int]) -> None:
        """These rows changed in place (their cells, not their keys): draw again those of them on screen."""
        top, window = int(self.scroll_y), self._page()
        for index in indices:
            if top <= index < top + window:
                self._refresh_row(index)

    def _resize_virtual(self) -> bool:
        """Make the virtual size fit the columns and the rows; True when that lays out and draws the table again.

        Setting `virtual_size` lays the screen out and draws every line of the table again.
        When only the row count changed and the table is taller than its window before and
        after (its scrollbar shows, its height is as tall as it may be), its size cannot
        change: the scrollbar is told the new height and nothing is drawn again (the caller
        redraws the lines that changed).
        """
        width = sum(c.get_render_width(self) for c in self.columns.values())
        size = Size(width, len(self._rows) + self.header_height)  # the header's lines, then a line a row
        old = self.virtual_size
        if size == old:
            return False
        window = self.scrollable_content_region.height
        if (
            self.is_mounted
            and size.width == old.width
            and min(size.height, old.height) > window > 0
            and self.show_vertical_scrollbar
        ):
            self.set_reactive(VirtualTable.virtual_size, size)
            self.vertical_scrollbar.window_virtual_size = size.height
            self.scroll_y = self.validate_scroll_y(self.scroll_y)  # fewer rows: no further down than the last
            return False
        self.virtual_size = size
        return True

    @property
    def shown_rows(self) -> Sequence[T]:
        """The rows this table shows (all of them, on screen or not)."""
        return self._rows

    @property
    def row_count(self) -> int:
        """How many rows the table has (on screen or not)."""
        return len(self._rows)

    @property
    def rows(self) -> Mapping[str, int]:
        """Row key -> index, for every row (built on first use after a change: a lookup costs the rows once)."""
        if self._keys is None:
            self._keys = {self.row_key(row): i for i, row in enumerate(self._rows)}
        return self._keys

    def row_keys(self) -> Iterator[str]:
        """Every row's key, top to bottom."""
        return (self.row_key(row) for row in self._rows)

    def get_cell(self, row_key: str, column: str) -> Cell:
        """What one cell shows (as drawn: the row's cells now).

        Raises:
            KeyError: no such row or column.
        """
        index = self.rows[row_key]
        keys = list(self.columns)
        return self.row_cells(self._rows[index], index)[keys.index(ColumnKey(column))]

    def row_at(self, index: int) -> T | None:
        """The row at `index`, or None past the end."""
        return self._rows[index] if 0 <= index < len(self._rows) else None

    # -- the cursor ----------------------------------------------------------------------------

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        """Put the cursor on `row` (clamped to the rows) and scroll it into view."""
        self.cursor_row = max(0, min(row, len(self._rows) - 1))
        self._scroll_cursor_into_view(animate)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._scroll_cursor_into_view()
        row = self.row_at(new)
        if row is not None:
            self.post_message(self.RowHighlighted(self, new, self.row_key(row)))

    def _refresh_row(self, index: int) -> None:
        self.refresh(Region(0, index + self.header_height - int(self.scroll_y), self.size.width, 1))

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        if not self._rows:
            return
        # The header stays on top: `scroll_y` rows are above the first line under it.
        top, shown = int(self.scroll_y), self._page()
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=animate, force=True, immediate=True)
        elif self.cursor_row >= top + shown:
            self.scroll_to(y=self.cursor_row - shown + 1, animate=animate, force=True, immediate=True)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - self.header_height)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + self._page())

    def action_scroll_top(self) -> None:
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(row=len(self._rows) - 1)

    def action_select_cursor(self) -> None:
        row = self.row_at(self.cursor_row)
        if row is not None:
            self.post_message(self.RowSelected(self, self.cursor_row, self.row_key(row)))

    async def _on_click(self, event: events.Click) -> None:
        index = event.y + int(self.scroll_y) - self.header_height
        if event.y < self.header_height or not 0 <= index < len(self._rows):
            return
        if index == self.cursor_row:
            self.action_select_cursor()
        else:
            self.move_cursor(row=index)

    # -- drawing -------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """Line `y` on screen: the header on the first (`header_height`), then the rows at the scroll offset."""
        width = self.size.width
        styles = self._line_styles()
        base = styles.base
        scroll_x = int(self.scroll_x)
        if y < self.header_height:
            cells: Sequence[RenderableType] = [self._label_line(c.label, y) for c in self.columns.values()]
            return self._line(-1, cells, styles.header, Style(), scroll_x, width, base)
        index = y - self.header_height + int(self.scroll_y)
        row = self.row_at(index)
        if row is None:
            return Strip.blank(width, base)
        row_style = base
        if self.zebra_stripes:
            row_style = styles.odd if index % 2 else styles.even
        cursor = styles.cursor if index == self.cursor_row else Style()
        return self._line(index, self.row_cells(row, index), row_style, cursor, scroll_x, width, base)

    def _line_styles(self) -> _LineStyles:
        """The styles lines are drawn in, worked out once a refresh (each walks the widget's ancestors)."""
        styles = self._styles
        if styles is None:
            styles = self._styles = _LineStyles(
                base=self.rich_style,
                header=self.get_component_styles("datatable--header").rich_style,
                even=self.get_component_styles("datatable--even-row").rich_style,
                odd=self.get_component_styles("datatable--odd-row").rich_style,
                cursor=self.get_component_rich_style("datatable--cursor"),
            )
        return styles

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        if repaint:
            self._styles = None  # a repaint may follow a change of focus, hover or theme: styles afresh
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def notify_style_update(self) -> None:
        self._styles = None
        super().notify_style_update()

    def forget_drawn_cells(self) -> None:
        """Let the cells kept as drawn go (a screen put away: up to `DRAWN_CELLS` of them, each several objects,
        would stay in the heap, and in every pass of the collector, while the table is not shown)."""
        self._drawn.clear()

    def _cell(self, cell: RenderableType, width: int, under: Style, post: Style) -> list[Segment]:
        """A cell drawn `width` cells wide over `under` (its row's style and the cursor's), from `_drawn` when it can.

        Rich lays each cell out anew (padding, cropping, styles): in a burst of calls
        that was most of a frame's time (~20 ms a frame), and a live table draws its
        lines again as rows move under the window: the same cells (a state, a badge,
        a tool, a row one line up) over and over. So a cell drawn once is kept, keyed
        by what decides its look; its meta (row, column) is added for each line.
        """
        key = _cell_key(cell)
        if key is not None:
            drawn = self._drawn.get((key, width, under, post))
            if drawn is not None:
                return drawn
        renderable = Text(cell, no_wrap=True, end="") if isinstance(cell, str) else cell
        options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
        lines = self.app.console.render_lines(
            Styled(Padding(renderable, (0, self.cell_padding)), pre_style=under, post_style=post), options
        )
        drawn = lines[0]
        if key is not None:
            if len(self._drawn) >= DRAWN_CELLS:
                self._drawn.clear()  # a screenful is a few hundred cells: the next frames fill it again
            self._drawn[(key, width, under, post)] = drawn
        return drawn

    def _label_line(self, label: Text, y: int) -> Text:
        """Line `y` of a column's label (empty below its last)."""
        if self.header_height == 1:
            return label
        lines = label.split("\n")
        return lines[y] if y < len(lines) else Text("")

    def _line(
        self,
        index: int,
        cells: Sequence[RenderableType],
        row_style: Style,
        cursor: Style,
        scroll_x: int,
        width: int,
        base: Style,
    ) -> Strip:
        """One line of cells, as `DataTable` draws a row: each cell padded, styled, cut to its column."""
        # The cursor's colour wins over a cell's own (as `DataTable`'s cursor_foreground_priority="css").
        post = Style.from_color(color=cursor.color) if cursor.color is not None else Style.null()
        under = row_style + cursor
        segments: list[Segment] = []
        for at, (column, cell) in enumerate(zip(self.columns.values(), cells, strict=False)):
            drawn = self._cell(cell, column.get_render_width(self), under, post)
            # Each cell's own meta (as `DataTable` has): a click knows where it landed, and cells stay apart.
            meta = Style.from_meta({"row": index, "column": at})
            segments.extend([Segment(text, style + meta if style else meta) for text, style, _ in drawn])
        remaining = max(0, width - sum(c.get_render_width(self) for c in self.columns.values()))
        tail = Style.from_meta({"row": index, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * remaining, row_style + cursor + tail))
        return Strip(segments).crop(scroll_x, scroll_x + width).adjust_cell_length(width, base).simplify()
