"""Re-apply in the TUI: an undone row in Done offers e (Re-apply), asks first, and the note comes back.

The agent writes notes a, b and c; Stop comes while d is held in prepare. The
person undoes b, then decides it was right after all: on b's row in Done, e asks
"About to re-apply ...", y writes the note again, and b is back in Undoable. A
re-apply that fails shows on the row ("re-apply ✗" and why), and e retries it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentstop import ToolContext
from agentstop.tui import AgentstopApp
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.screens.report import ReportScreen
from tests.support.reapply_tools import ReapplyNote
from tests.tui.helpers import (
    GatedNote,
    Puppet,
    app_for,
    cell,
    ended,
    finish,
    note,
    press,
    rows,
    settle,
    shown,
    states_are,
    wait_until,
    world_notes,
)

SIZE = (140, 40)
Snap = Callable[..., bool]


class RedoNote(GatedNote):
    """The TUI tests' note tool (its prepares and commits can be held), with ReapplyNote's re-apply."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reapply_failures: dict[str, int] = {}
        self.keys: list[str] = []

    def reapply_summary(self, receipt: dict[str, Any]) -> str:
        return ReapplyNote.reapply_summary(self, receipt)  # type: ignore[arg-type]

    async def reapply(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        return await ReapplyNote.reapply(self, receipt, ctx)  # type: ignore[arg-type]


@pytest.fixture
def redo(world: Path) -> RedoNote:
    return RedoNote(world)


def three_notes(notes: RedoNote) -> Puppet:
    notes.hold_prepare("d")
    return Puppet([note("a"), note("b"), note("c"), note("d")])


async def stopped_with_b_undone(pilot: Pilot[Any], notes: RedoNote) -> None:
    """Stop while d is held; undo b (c2) from Undoable; then put the cursor on b's row in Done."""
    app = pilot.app
    assert isinstance(app, AgentstopApp)
    screen = app.report_screen
    await wait_until(pilot, lambda: notes.parked("d"), "d is held in prepare")
    assert not screen.check_action("reapply_row", ()), "nothing is undone yet: no Re-apply in the Footer"
    await press(pilot, "s")
    await wait_until(pilot, lambda: ended(app), "Stop settled")
    await wait_until(pilot, lambda: rows(screen.table("undoable")) == ["c3", "c2", "c1"], "three undoable rows")
    await wait_until(pilot, lambda: app.focused is screen.table("undoable"), "Undoable has the focus")
    await press(pilot, "down", "u", "y")  # the cursor is on c2
    await wait_until(pilot, lambda: states_are(app, c2="compensated"), "c2 undone")
    await wait_until(pilot, lambda: rows(screen.table("undoable")) == ["c3", "c1"], "c2 left Undoable")
    done = screen.table("done")
    await wait_until(pilot, lambda: cell(done, "c2", "state") == "compensated", "Done shows c2 undone")
    done.focus()
    done.move_cursor(row=rows(done).index("c2"))
    await pilot.pause()


@pytest.mark.anyio
async def test_e_on_an_undone_row_asks_then_reapplies_it(tmp_path: Path, world: Path, redo: RedoNote) -> None:
    app = app_for(tmp_path, [redo], three_notes(redo))
    async with app.run_test(size=SIZE) as pilot:
        await stopped_with_b_undone(pilot, redo)
        screen = app.report_screen
        done = screen.table("done")
        assert world_notes(world) == {"a", "c"}
        assert (cell(done, "c2", "detail") or "").endswith("undone · e: re-apply")
        assert cell(done, "c1", "detail") == "exact undo", "a row in effect offers no re-apply"
        assert screen.check_action("reapply_row", ()), "Re-apply shows in the Footer"

        await press(pilot, "e")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.title_text == "About to re-apply 1 undone call, earliest first:"
        preview = shown(app.screen, "#dialog-body")
        assert "c2" in preview and "→ write note 'b' again" in preview and "then undoable again" in preview
        await press(pilot, "y")

        await wait_until(pilot, lambda: states_are(app, c2="committed"), "c2 re-applied")
        assert world_notes(world) == {"a", "b", "c"}
        await wait_until(
            pilot,
            lambda: rows(screen.table("undoable")) == ["c2", "c3", "c1"],
            "c2 is undoable again, as the latest commit",
        )
        await wait_until(pilot, lambda: cell(done, "c2", "state") == "committed", "Done shows c2 committed")
        assert not screen.check_action("reapply_row", ()), "nothing is left to re-apply"
        assert app.mode.journal is not None
        [event] = [
            e
            for e in await app.mode.journal.events(app.mode.sup.session_id if app.mode.sup else "")
            if e.kind == "reapplying"
        ]
        assert (event.call_id, event.data["by"]) == ("c2", "you (TUI)"), "the journal says who re-applied it"
        await finish(pilot)
    assert world_notes(world) == {"a", "b", "c"}


@pytest.mark.anyio
async def test_escape_reapplies_nothing_and_e_on_a_row_in_effect_only_says_why(
    tmp_path: Path, world: Path, redo: RedoNote
) -> None:
    app = app_for(tmp_path, [redo], three_notes(redo))
    async with app.run_test(size=SIZE) as pilot:
        await stopped_with_b_undone(pilot, redo)
        await press(pilot, "e")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, ReportScreen)
        await pilot.pause(0.2)
        assert await states_are(app, c2="compensated") and world_notes(world) == {"a", "c"}

        await press(pilot, "up", "e")  # c1: in effect, nothing to re-apply
        assert isinstance(app.screen, ReportScreen), "no question for a row that cannot be re-applied"
        await finish(pilot)


@pytest.mark.anyio
async def test_a_failed_reapply_shows_on_the_row_and_e_retries_it(tmp_path: Path, world: Path, redo: RedoNote) -> None:
    redo.reapply_failures["c2"] = 10
    app = app_for(tmp_path, [redo], three_notes(redo))
    async with app.run_test(size=SIZE) as pilot:
        await stopped_with_b_undone(pilot, redo)
        done = app.report_screen.table("done")

        await press(pilot, "e", "y")
        await wait_until(pilot, lambda: states_are(app, c2="reapply_failed"), "the re-apply of c2 failed")
        await wait_until(pilot, lambda: cell(done, "c2", "state") == "re-apply ✗", "c2 shows the failed re-apply")
        why = cell(done, "c2", "detail") or ""
        assert why.startswith("undone; re-apply failed: ConnectionErr") and why.endswith("e: re-apply")
        assert "re-apply failed: ConnectionError: notes service unavailable" in done.items["c2"].undo.detail
        assert world_notes(world) == {"a", "c"}, "a failed re-apply left the note undone"

        redo.reapply_failures["c2"] = 0  # the notes service is back
        await press(pilot, "e")
        assert isinstance(app.screen, ConfirmScreen)
        assert "(a retry: the last re-apply failed)" in shown(app.screen, "#dialog-body")
        await press(pilot, "y")
        await wait_until(pilot, lambda: states_are(app, c2="committed"), "the retry re-applied c2")
        assert world_notes(world) == {"a", "b", "c"}
        await finish(pilot)


def test_the_report_with_an_undone_row_that_can_be_reapplied(
    snap_compare: Snap, tmp_path: Path, world: Path, redo: RedoNote
) -> None:
    """You should see the report after Stop and an undo of c2: Done lists c1 committed ("exact undo"), c2
    compensated ("undone · e: re-apply", highlighted) and c3 committed; Undoable lists c3 and c1; the Footer
    offers "e Re-apply"."""
    app = app_for(tmp_path, [redo], three_notes(redo))

    async def run_before(pilot: Pilot[Any]) -> None:
        await stopped_with_b_undone(pilot, redo)
        app.clear_notifications()
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_reapply_confirmation(snap_compare: Snap, tmp_path: Path, world: Path, redo: RedoNote) -> None:
    """You should see the question after e on c2: "About to re-apply 1 undone call, earliest first:", then
    c2 write_note: note 'b', "→ write note 'b' again", "then undoable again", the line saying the journal records
    who did it, and the buttons "Re-apply (y)" and "Cancel (n, Esc)"."""
    app = app_for(tmp_path, [redo], three_notes(redo))

    async def run_before(pilot: Pilot[Any]) -> None:
        await stopped_with_b_undone(pilot, redo)
        app.clear_notifications()
        await settle(pilot)
        await press(pilot, "e")
        assert isinstance(app.screen, ConfirmScreen)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
