"""The sessions browser over a journal of thousands of sessions: the rows on screen are the journal's.

The browser draws only the sessions on screen (`SessionsTable`, a
`VirtualTable`). Here a journal gets a few thousand sessions of every kind of
ending, written straight into it (the journal's own operations, in one
transaction), and at seeded random scroll positions the lines the screen paints
are read back and compared with an independent read of the journal: latest
session first, each saying how it ended. A filter shows the sessions it finds,
and Enter opens the one under the cursor. How fast it opens belongs to the
benchmarks (bench/tui.py, 10,000 sessions), not here.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentstop.journal import Journal, SessionRecord, SessionStatus, ops
from agentstop.report_counts import ReportCounts
from agentstop.session import fixed_tools
from agentstop.tools import ToolRegistry
from agentstop.tui import AgentstopApp, JournalMode, make_journal_app
from agentstop.tui.messages import OpenSessionRequested
from agentstop.tui.screens.sessions import how_it_ended
from agentstop.tui.widgets.sessions_table import SessionsTable
from tests.tui.helpers import FROZEN_NOW, press

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SESSIONS = 3000
SIZE = (160, 40)
ID = re.compile(r"\bs\d{5}\b")
ENDINGS = (SessionStatus.COMPLETED, SessionStatus.STOPPED, SessionStatus.CRASHED, None)
"""How the sessions end, in turn (None: still running, its heartbeat long gone: it shows as crashed)."""


def _write(conn: Any) -> None:
    """`SESSIONS` sessions, one a second, ending in turn as `ENDINGS` says; every tenth on another host."""
    for i in range(SESSIONS):
        session_id, at = f"s{i:05d}", FROZEN_NOW - 10 * SESSIONS + i
        host = "builder-7" if i % 10 == 0 else "laptop"
        ops.create_session(
            conn,
            session_id=session_id,
            task_name=f"task {i}",
            goal="g",
            task_path=None,
            tools=[],
            pid=1000 + i,
            host=host,
            meta={},
            at=at,
        )
        ending = ENDINGS[i % len(ENDINGS)]
        if ending is not None:
            by = "you (TUI)" if ending == SessionStatus.STOPPED else None
            ops.end_session(conn, session_id, ending, at + 0.5, stopped_by=by)


async def _journal_of(path: Path) -> list[SessionRecord]:
    async with Journal.open(path) as journal:
        writer = journal._writer
        assert writer is not None
        await writer.run(_write, durable=True)
        return await journal.sessions()


def _painted(app: AgentstopApp[JournalMode], table: SessionsTable) -> list[tuple[str, str]]:
    """(session id, line) of the table's rows as the screen paints them now."""
    strips = app.screen._compositor.render_strips()
    region = table.region
    out = []
    for y in range(region.y + table.header_height, region.bottom):
        line = strips[y].crop(region.x, region.right).text
        found = ID.search(line)
        if found is None:
            break
        out.append((found.group(), line))
    return out


async def _scroll_to(pilot: Pilot[Any], table: SessionsTable, row: int) -> None:
    table.move_cursor(row=row)
    await pilot.pause()


@pytest.mark.timeout(300)
async def test_the_browser_shows_the_journals_sessions_at_any_scroll_position(tmp_path: Path) -> None:
    path = tmp_path / "fleet.db"
    sessions = await _journal_of(path)
    rows = [(s, ReportCounts(0, 0, 0, 0)) for s in sessions]
    latest_first = sorted(sessions, key=lambda s: -s.started_at)
    by_id = {s.session_id: s for s in sessions}
    app = make_journal_app(path, rows, fixed_tools(ToolRegistry([])), clock=lambda: FROZEN_NOW)
    opened: list[str] = []

    def hook(message: object) -> None:
        if isinstance(message, OpenSessionRequested):
            opened.append(message.session_id)

    rng = random.Random(2203)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await pilot.pause()
        table = app.mode.sessions_screen.table
        assert table.row_count == SESSIONS
        assert f"Sessions ({SESSIONS:,})" in str(app.mode.sessions_screen.query_one("#sessions-title").render())
        for row in [0, SESSIONS - 1, *rng.sample(range(SESSIONS), 10)]:
            await _scroll_to(pilot, table, row)
            top = int(table.scroll_y)
            shown = _painted(app, table)
            assert shown and row - top < len(shown), row
            assert [sid for sid, _ in shown] == [s.session_id for s in latest_first[top : top + len(shown)]], row
            for sid, line in shown:  # how each ended, and where it ran, as the journal says
                session = by_id[sid]
                assert how_it_ended(session, FROZEN_NOW) in line, (row, line)
                assert f" {session.host} " in line and f" {session.pid} " in line, (row, line)
            highlighted = app.mode.sessions_screen.highlighted()
            assert highlighted is not None and highlighted.session_id == latest_first[row].session_id

        # A filter shows what it finds (the sessions run on one host), latest first, from the top.
        await press(pilot, "slash")
        for key in "builder":
            await press(pilot, key)
        await pilot.pause()
        found = [s.session_id for s in latest_first if s.host == "builder-7"]
        assert table.row_count == len(found)
        table.focus()
        await press(pilot, "home")
        await pilot.pause()
        assert [sid for sid, _ in _painted(app, table)] == found[: len(_painted(app, table))]
        await press(pilot, "down", "down", "enter")
        await pilot.pause()
        assert opened[-1:] == [found[2]]
        app.exit()
