"""Re-apply from the journal viewer (`agentstop replay`/`tui`): no supervisor, the tools loaded again.

A session wrote two notes and its second was undone; opened later in the
viewer, e on the undone row in Done asks first, then writes the note again
through the tool loaded for the viewer, and the call is undoable again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Supervisor, ToolRegistry
from agentstop.report_counts import ReportCounts
from agentstop.session import fixed_tools
from agentstop.tui import make_journal_app
from agentstop.tui.screens.confirm import ConfirmScreen
from tests.support.reapply_tools import ReapplyNote
from tests.tui.helpers import cell, exited, press, rows, wait_until

pytestmark = pytest.mark.anyio

SID = "20270115T080000-redo"


async def test_e_in_the_viewer_reapplies_an_undone_call_with_the_tools_loaded_again(
    tmp_path: Path, world: Path
) -> None:
    path = tmp_path / "journal.db"
    notes = ReapplyNote(world)
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [notes], GrantSpec(), task_name="Two notes", session_id=SID)
        await sup.call("reapply_note", {"name": "a"})
        await sup.call("reapply_note", {"name": "b"})
        await sup.undo(["c2"], by="you")
        await sup.stop("done", "you")
        rows_ = [(s, await ReportCounts.read(journal, s.session_id)) for s in await journal.sessions()]
    assert notes.landed() == {"a"}

    app = make_journal_app(path, rows_, fixed_tools(ToolRegistry([ReapplyNote(world)])), session_id=SID)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.report is not None, "the session opens")
        await press(pilot, "r")
        screen = app.report_screen
        assert screen is not None and app.screen is screen
        done = screen.table("done")
        await wait_until(pilot, lambda: cell(done, "c2", "state") == "compensated", "Done shows c2 undone")
        assert screen.check_action("reapply_row", ()), "Re-apply is offered in the viewer"
        done.focus()
        done.move_cursor(row=rows(done).index("c2"))
        await pilot.pause()
        await press(pilot, "e")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await wait_until(pilot, lambda: notes.landed() == {"a", "b"}, "the note is written again")
        await wait_until(pilot, lambda: "c2" in rows(screen.table("undoable")), "c2 is undoable again")
        app.exit()
        await exited(app)
    async with Journal.open(path, readonly=True) as journal:
        call = next(c for c in await journal.calls(SID) if c.call_id == "c2")
        events = [e for e in await journal.events(SID) if e.call_id == "c2" and e.kind == "reapplying"]
    assert call.state == "committed" and call.reapplies == 1
    assert events and events[0].data.get("by") == "you (replay)"
