"""A long session in replay shows a window of its latest calls, in planning order, scrubbing either way."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets.data_table import ColumnKey

from agentstop import Event
from agentstop.replay import Timeline
from agentstop.tui.screens.timeline import TimelineScreen
from agentstop.tui.widgets import moment_table
from agentstop.tui.widgets.moment_table import MomentTable

pytestmark = pytest.mark.anyio


def _events(calls: int) -> list[Event]:
    events, seq = [], 0
    for i in range(1, calls + 1):
        for kind in ("planned", "committing", "committed"):
            seq += 1
            data = {"tool": "write_note", "summary": f"note {i}"} if kind == "planned" else {}
            events.append(Event(seq, "s1", f"c{i}", kind, 1000.0 + seq, data))
    return events


def _rows(table: MomentTable) -> list[str]:
    return list(table.row_keys())


async def test_only_the_latest_calls_are_rows_and_the_order_survives_scrubbing_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(moment_table, "WINDOW", 4)
    timeline = Timeline(_events(10))
    app: App[None] = App()
    async with app.run_test(size=(140, 30)) as pilot:
        screen = TimelineScreen("long session", timeline)
        await app.push_screen(screen)
        await pilot.press("end")
        table = screen.query_one(MomentTable)
        assert _rows(table) == ["c7", "c8", "c9", "c10"] and table.hidden == 6
        assert "the latest 4 of 10 calls" in str(screen.query_one("#position").render())
        for _ in range(9):  # back past three calls' events
            await pilot.press("left")
        assert _rows(table) == ["c4", "c5", "c6", "c7"]
        await pilot.press("home")
        assert _rows(table) == [] and table.hidden == 0


async def test_long_call_ids_are_shown_whole() -> None:
    """A 20,000-call session: c19500 … c19509 are ten different calls, not ten rows of "c1950"."""
    events = [
        Event(
            seq,
            "s1",
            f"c{19500 + n}",
            kind,
            1000.0 + seq,
            {"tool": "write_note", "summary": f"note {n}"} if kind == "planned" else {},
        )
        for seq, (n, kind) in enumerate(((n, k) for n in range(10) for k in ("planned", "committed")), 1)
    ]
    app: App[None] = App()
    async with app.run_test(size=(140, 30)) as pilot:
        screen = TimelineScreen("long ids", Timeline(events))
        await app.push_screen(screen)
        await pilot.press("end")
        await pilot.pause()
        table = screen.query_one(MomentTable)
        assert _rows(table) == [f"c{19500 + n}" for n in range(10)]
        assert table.columns[ColumnKey("call")].get_render_width(table) >= len("c19500") + 2
