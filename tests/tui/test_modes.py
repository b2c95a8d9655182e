"""One app, two ways in: what both modes share runs the same path in each, and what differs stays with its mode.

The app (`AgentstopApp`) runs a session here (`make_app`: the run mode) or
views a journal (`make_journal_app`: the journal mode). Undo (preview, ask
once, run, show the outcome) is written once, in `Mode`, over the session's
`SessionControl`: here it is asked for the same way in both modes, by the
message a report screen posts, and must do the same thing. The keys that
differ (Ctrl+C shown in the footer, Stop after this step) follow the mode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentstop import GrantSpec, Journal, Supervisor, ToolRegistry
from agentstop.report import UndoStatus
from agentstop.report_counts import ReportCounts
from agentstop.session import fixed_tools
from agentstop.tui import AgentstopApp, JournalMode, make_journal_app
from agentstop.tui.messages import UndoRequested
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.screens.timeline import TimelineScreen
from tests.support.tools import WriteNote
from tests.tui.helpers import (
    FROZEN_NOW,
    GatedNote,
    Park,
    Puppet,
    app_for,
    ended,
    exited,
    finish,
    note,
    press,
    settle,
    shown,
    wait_until,
    world_notes,
)

pytestmark = pytest.mark.anyio

SID = "20270115T080000-modes"
SIZE = (140, 42)


async def a_journal_with_one_note(path: Path, world: Path) -> list[tuple[Any, ReportCounts]]:
    """A session (run elsewhere, long ended) that wrote note a (c1); the sessions browser's rows."""
    async with Journal.open(path, clock=lambda: FROZEN_NOW) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec(), task_name="One note", session_id=SID)
        await sup.call("write_note", {"name": "a"})
        await sup.stop("done", "you")
    async with Journal.open(path, readonly=True) as journal:
        return [(s, await ReportCounts.read(journal, s.session_id)) for s in await journal.sessions()]


async def journal_app(tmp_path: Path, world: Path) -> AgentstopApp[JournalMode]:
    rows = await a_journal_with_one_note(tmp_path / "viewed.db", world)
    return make_journal_app(
        tmp_path / "viewed.db",
        rows,
        fixed_tools(ToolRegistry([WriteNote(world)])),
        session_id=SID,
        clock=lambda: FROZEN_NOW,
    )


async def undo_c1_as_a_report_screen_asks(pilot: Pilot[Any], app: AgentstopApp[Any], world: Path) -> None:
    """Post what the report screen posts for u on c1; the app previews and asks once; y undoes it."""
    await wait_until(
        pilot, lambda: app.report is not None and [i.call_id for i in app.report.undoable] == ["c1"], "c1 undoable"
    )
    app.post_message(UndoRequested(["c1"], "undo c1"))
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the undo is asked first")
    assert isinstance(app.screen, ConfirmScreen) and app.screen.confirm == "Undo"
    assert world_notes(world) == {"a"}, "asking undoes nothing"
    await press(pilot, "y")
    await wait_until(pilot, lambda: not world_notes(world), "the note is gone")
    # Undoable empties as the undo starts (its row says "undo in progress" meanwhile): wait for it to be done.
    await wait_until(
        pilot,
        lambda: app.report is not None and [i.undo.status for i in app.report.done] == [UndoStatus.DONE],
        "the report says c1 is undone",
    )
    assert app.report is not None and not app.report.undoable, "nothing is left to undo"


async def test_undo_runs_the_same_path_in_the_run_mode(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], Puppet([note("a")]))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        await settle(pilot)
        await undo_c1_as_a_report_screen_asks(pilot, app, world)
        await finish(pilot)


async def test_undo_runs_the_same_path_in_the_journal_mode(tmp_path: Path, world: Path) -> None:
    app = await journal_app(tmp_path, world)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the ended session opens")
        await undo_c1_as_a_report_screen_asks(pilot, app, world)
        app.exit()
        await exited(app)


async def test_ctrl_c_shows_in_the_run_modes_footer_and_stop_after_step_is_offered(
    tmp_path: Path, notes: GatedNote
) -> None:
    puppet = Puppet([note("a"), Park("thinking"), note("b")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: puppet.parked_at == "thinking", "the agent is mid-run")
        keys = app.screen.active_bindings
        assert keys["ctrl+c"].binding.show and keys["ctrl+c"].binding.action == "stop_shown"
        assert "S" in keys
        puppet.release("thinking")
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        await finish(pilot)


async def test_the_journal_viewer_hides_ctrl_c_and_has_no_stop_after_step(tmp_path: Path, world: Path) -> None:
    app = await journal_app(tmp_path, world)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the ended session opens")
        keys = app.screen.active_bindings
        assert keys["ctrl+c"].binding.action not in ("stop", "stop_shown"), "nothing watched live: Ctrl+C stops nothing"
        assert "S" not in keys
        app.exit()
        await exited(app)


async def test_ctrl_q_in_the_journal_viewer_asks_while_a_call_can_be_undone(tmp_path: Path, world: Path) -> None:
    app = await journal_app(tmp_path, world)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the ended session opens")
        await press(pilot, "ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        assert f"1 call of session {SID} can still be undone." in shown(app.screen, "#dialog-title")
        await press(pilot, "y")
        await exited(app)
    assert app.return_value is None


async def test_stop_and_quit_exits_when_the_agent_finished_while_it_was_asked(tmp_path: Path, notes: GatedNote) -> None:
    puppet = Puppet([note("a"), Park("thinking")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: puppet.parked_at == "thinking", "the agent is mid-run")
        await press(pilot, "q")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.confirm == "Stop and quit"
        puppet.release("thinking")  # the agent finishes by itself while the question is open
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        await press(pilot, "y")  # nothing left to stop: it exits, without waiting for a Stop that never comes
        await exited(app)
    assert app.return_value == 0  # it completed cleanly by itself: no Stop was needed
