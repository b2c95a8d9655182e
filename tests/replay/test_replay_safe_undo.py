"""Undo afterwards, in replay: a note edited since the session is refused, then forced after a second question."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Supervisor, ToolRegistry
from agentstop.report_counts import ReportCounts
from agentstop.session import fixed_tools
from agentstop.tui import make_journal_app
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.screens.timeline import TimelineScreen
from tests.tui.test_safe_undo import EDITED, CheckedNote, edit_by_hand

pytestmark = pytest.mark.anyio

SESSION = "20270115T080000-drift"


async def session_with_two_notes(path: Path, world: Path) -> None:
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [CheckedNote(world)], GrantSpec(), task_name="Write two notes", session_id=SESSION)
        await sup.call("write_note", {"name": "a", "text": "v1"}, key="a")  # the file is world/a.json
        await sup.call("write_note", {"name": "b", "text": "v1"}, key="b")
        await sup.stop("done for today")


async def test_a_refused_undo_in_replay_is_forced_after_asking(tmp_path: Path, world: Path) -> None:
    path = tmp_path / "replay.db"
    await session_with_two_notes(path, world)
    edit_by_hand(world, "b")
    async with Journal.open(path, readonly=True) as j:
        rows = [(s, await ReportCounts.read(j, s.session_id)) for s in await j.sessions()]
    app = make_journal_app(path, rows, fixed_tools(ToolRegistry([CheckedNote(world)])), session_id=SESSION)

    async with app.run_test(size=(140, 40)) as pilot:
        for _ in range(100):
            await pilot.pause(0.02)
            if isinstance(app.screen, TimelineScreen):
                break
        await pilot.press("r")
        await pilot.pause()
        assert app.report_screen is not None and app.screen is app.report_screen
        await pilot.press("A")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.confirm == "Undo"
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.02)
            if isinstance(app.screen, ConfirmScreen) and app.screen.confirm == "Force undo":
                break
        assert isinstance(app.screen, ConfirmScreen) and app.screen.confirm == "Force undo"
        assert app.report_screen.refusals == {"c2": f"note 'b' was edited since the agent wrote it: “v1” → “{EDITED}”"}
        assert sorted(p.stem for p in world.glob("*.json")) == ["b"]
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.02)
            if not list(world.glob("*.json")):
                break
    assert list(world.glob("*.json")) == []
    async with Journal.open(path, readonly=True) as j:
        c2 = [e for e in await j.events(SESSION) if e.call_id == "c2"]
    assert [e.kind for e in c2][-3:] == ["undo_refused", "compensating", "compensated"]
    assert c2[-1].data == {"attempts": 1, "by": "you (replay)", "forced": True}
    assert c2[-3].data["by"] == "you (replay)"
