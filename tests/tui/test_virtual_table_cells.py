"""A table's cells drawn once and kept (`VirtualTable._cell`) look, and answer clicks, as if drawn afresh.

Most cells of a long table repeat (a state, a badge, a tool name): a table keeps
each cell as drawn, by what decides its look, and draws a line from those. A
line so drawn must be the line Rich would draw now: the same text and styles,
with each cell's own row and column in its meta (not the row the cell was
first drawn for), and a cell whose text or style changed is drawn anew.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip

from agentstop.tui.widgets.virtual_table import VirtualTable

pytestmark = pytest.mark.anyio

ROWS = 12


class States(VirtualTable[int]):
    zebra_stripes = True

    def __init__(self) -> None:
        super().__init__(id="states")
        self.states = ["committed" if i % 3 else "unknown" for i in range(ROWS)]

    def on_mount(self) -> None:
        self.set_columns([("call", "call", 6), ("state", "state", 12), ("tool", "tool", 10)])
        self.show_rows(range(ROWS))

    def row_key(self, row: int) -> str:
        return f"c{row}"

    def row_cells(self, row: int, index: int) -> Sequence[str | Text]:
        state = self.states[row]
        return [f"c{row}", Text(state, style="green" if state == "committed" else "bold red"), "send_mail"]


class Table(App[None]):
    def compose(self) -> ComposeResult:
        yield States()


def _lines(table: States) -> list[Strip]:
    return [table.render_line(y) for y in range(table.header_height + ROWS)]


def _afresh(table: States) -> list[Strip]:
    table._drawn.clear()
    lines = _lines(table)
    table._drawn.clear()
    return lines


def _segments(strip: Strip) -> list[tuple[str, object]]:
    return [(s.text, s.style) for s in strip]


async def test_a_line_from_kept_cells_is_the_line_drawn_afresh() -> None:
    async with Table().run_test(size=(60, 20)) as pilot:
        table = pilot.app.query_one(States)
        table._drawn.clear()
        first = _lines(table)  # rows 3, 6, 9 draw "unknown" as row 0 drew it; "send_mail" is drawn once
        assert len(table._drawn) < 3 * ROWS
        kept = _lines(table)
        fresh = _afresh(table)
        assert [_segments(s) for s in first] == [_segments(s) for s in fresh]
        assert [_segments(s) for s in kept] == [_segments(s) for s in fresh]
        assert "unknown" in kept[table.header_height + 3].text
        for row in range(ROWS):
            # Each cell says where it is (a click, a hover, Textual's tooltips read it): its own row, its column.
            metas = [s.style.meta for s in kept[table.header_height + row] if s.style is not None and s.style.meta]
            assert {m["row"] for m in metas} == {row}
            assert sorted({m["column"] for m in metas if not m.get("out_of_bounds")}) == [0, 1, 2]


async def test_a_cell_whose_text_changed_is_drawn_anew() -> None:
    async with Table().run_test(size=(60, 20)) as pilot:
        table = pilot.app.query_one(States)
        await pilot.pause()
        line = table.header_height + 4
        assert "committed" in table.render_line(line).text
        table.states[4] = "undone"
        table.refresh_rows_at([4])
        await pilot.pause()
        assert "undone" in table.render_line(line).text
        assert "committed" not in table.render_line(line).text
