"""Replay's side-effect panel is virtual: the lines on screen are the moment's calls at any scroll position."""

from __future__ import annotations

import random
from collections.abc import Callable

import anyio
import pytest
from textual.app import App

from agentstop import Event
from agentstop.formatting import clock
from agentstop.replay import CallView, Moment, Timeline
from agentstop.tui.screens.timeline import TimelineScreen
from agentstop.tui.widgets.badges import state_text
from agentstop.tui.widgets.moment_table import MomentTable

pytestmark = pytest.mark.anyio

STATES = ("committing", "committed", "rejected", "discarded", "failed")


def _events(calls: int) -> list[Event]:
    """`calls` calls, each planned then moved along (some rejected after a Stop near the end)."""
    events: list[Event] = []
    for i in range(1, calls + 1):
        events.append(Event(len(events) + 1, "s1", f"c{i}", "planned", 1000.0 + i, {"tool": "t", "summary": f"n{i}"}))
        events.append(Event(len(events) + 1, "s1", f"c{i}", STATES[i % len(STATES)], 1000.5 + i, {}))
        if i == calls - 20:
            events.append(Event(len(events) + 1, "s1", None, "revoked", 1000.6 + i, {"by": "me"}))
    return events


def _shown(table: MomentTable) -> list[tuple[str, str, str]]:
    """The (time, call, state) cells of every row line on screen, as drawn."""
    lines = []
    for y in range(1, table.scrollable_content_region.height):
        cells = table.render_line(y).text.split()
        if cells:
            lines.append((cells[0], cells[1], " ".join(cells[2:-2])))
    return lines


def _expected(calls: list[CallView], top: int, rows: int, revoked_at: float | None) -> list[tuple[str, str, str]]:
    out = []
    for c in calls[top : top + rows]:
        late = revoked_at is not None and c.state in ("rejected", "discarded") and c.at >= revoked_at
        out.append((clock(c.at), c.call_id, f"{c.state} after Stop" if late else state_text(c.state).plain))
    return out


async def test_the_lines_on_screen_are_the_moments_calls_at_random_scroll_positions() -> None:
    timeline = Timeline(_events(300))
    rng = random.Random(22)
    app: App[None] = App()
    async with app.run_test(size=(140, 30)) as pilot:
        screen = TimelineScreen("a long session", timeline)
        await app.push_screen(screen)
        await pilot.pause()
        table = screen.query_one(MomentTable)
        for _ in range(12):
            screen.index = rng.randrange(-1, len(timeline))  # a moment, scrubbed to
            await screen.show()
            moment = await timeline.moment(screen.index)
            calls = list(moment.calls.values())
            assert table.row_count == len(calls) and list(table.row_keys()) == [c.call_id for c in calls]
            for _ in range(5):  # and scrolled anywhere in it
                top = rng.randrange(0, max(1, len(calls)))
                table.scroll_to(y=top, animate=False, immediate=True)
                await pilot.pause()
                shown = _shown(table)
                first = int(table.scroll_y)
                assert first == min(top, max(0, len(calls) - len(shown)))
                assert shown == _expected(calls, first, len(shown), moment.revoked_at), (screen.index, top)
                assert len(shown) == min(len(calls) - first, table.scrollable_content_region.height - 1)


class _Indexing:
    """A `Timeline` whose moments before `tail` wait for an index that a test lets finish (`done`)."""

    def __init__(self, timeline: Timeline, tail: int) -> None:
        self.timeline = timeline
        self.tail = tail
        self.stop_indices = timeline.stop_indices
        self.resume_indices = timeline.resume_indices
        self.done = anyio.Event()
        self.built = False

    def __len__(self) -> int:
        return len(self.timeline)

    def stop_of_epoch(self, index: int) -> int | None:
        return self.timeline.stop_of_epoch(index)

    @property
    def indexed(self) -> float:
        return 1.0 if self.built else 0.4

    def ready(self, index: int) -> bool:
        return self.built or index >= self.tail

    async def index(self, progress: Callable[[float], None] | None = None) -> None:
        if progress is not None:
            progress(0.4)
        await self.done.wait()
        self.built = True

    async def moment(self, index: int) -> Moment:
        assert self.ready(index), "asked for a moment not indexed yet"
        return await self.timeline.moment(index)

    async def event(self, index: int) -> Event | None:
        assert self.ready(index), "asked for an event not indexed yet"
        return await self.timeline.event(index)


async def test_a_moment_further_back_than_the_index_shows_once_it_is_built() -> None:
    timeline = _Indexing(Timeline(_events(40)), tail=60)
    app: App[None] = App()
    async with app.run_test(size=(140, 30)) as pilot:
        screen = TimelineScreen("a session being indexed", timeline)
        await app.push_screen(screen)
        await pilot.pause()
        table = screen.query_one(MomentTable)
        position = screen.query_one("#position")
        assert table.row_count == 40 and "indexing the timeline 40%" in str(position.render())
        await pilot.press("home")  # before the index reaches it: said, nothing read
        assert screen.index == -1 and table.row_count == 40
        assert "indexing the timeline 40%: this moment shows when it is done" in str(position.render())
        timeline.done.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert table.row_count == 0 and "indexing" not in str(position.render())
        assert str(position.render()).startswith("event 0/")
