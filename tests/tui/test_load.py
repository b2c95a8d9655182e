"""A thousand calls through the TUI with a Stop in the middle: the panel keeps up, the fence holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import Agent
from tests.support.tools import WriteNote
from tests.tui.helpers import SESSION_ID, app_for, finish, press, settle, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CALLS = 1000


class Burst:
    """Issues CALLS note calls, 50 at a time."""

    async def run(self, agent: Agent) -> None:
        for start in range(0, CALLS, 50):
            await agent.call_parallel([("write_note", {"name": f"n{i}"}) for i in range(start, start + 50)])


@pytest.mark.timeout(300)
async def test_a_thousand_calls_and_a_stop_keep_the_panel_live_and_the_fence_shut(tmp_path: Path) -> None:
    world = tmp_path / "world"
    world.mkdir()
    notes = WriteNote(world)
    app = app_for(tmp_path, [notes], Burst())
    async with app.run_test(size=(140, 42)) as pilot:
        effects = app.mode.run_screen.effects
        await wait_until(pilot, lambda: effects.row_count >= 200, "200 calls on the panel", attempts=1500)
        await press(pilot, "s")  # handled while hundreds of rows are updating
        assert app.report_screen in app.screen_stack
        await wait_until(pilot, lambda: app.mode.finished, "Stop settled", attempts=1500)
        await settle(pilot)
        assert app.mode.journal is not None
        calls = await app.mode.journal.calls(SESSION_ID)
        events = await app.mode.journal.events(SESSION_ID)
        assert effects.row_count == len(calls)  # one row per call, none lost, none doubled
        revoked = next(e.seq for e in events if e.kind == "revoked")
        assert not [e for e in events if e.kind == "committing" and e.seq > revoked]
        report = app.report
        assert report is not None
        assert len(report.done) + len(report.interrupted) + len(report.in_flight) == len(calls)
        assert {i.summary for i in report.done} == {f"note '{n}'" for n in notes.landed()}
        await finish(pilot)
