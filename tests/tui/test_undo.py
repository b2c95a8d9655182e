"""Undo from the report: select rows, confirm once, and the effects leave the world (latest first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentstop.tui import AgentstopApp
from agentstop.tui.screens.confirm import ConfirmScreen
from tests.tui.helpers import (
    GatedNote,
    Puppet,
    app_for,
    call_states,
    cell,
    ended,
    finish,
    note,
    press,
    rows,
    shown,
    states_are,
    top_screen,
    wait_until,
    world_notes,
)

pytestmark = pytest.mark.anyio


def three_notes_then_stop_point(notes: GatedNote) -> Puppet:
    """Notes a, b, c land; d is held in prepare, where the test presses Stop."""
    notes.hold_prepare("d")
    return Puppet([note("a"), note("b"), note("c"), note("d")])


async def stopped_with_three_done(pilot: Pilot[Any], notes: GatedNote) -> None:
    app = pilot.app
    assert isinstance(app, AgentstopApp)
    await wait_until(pilot, lambda: notes.parked("d"), "d is held in prepare")
    await press(pilot, "s")
    await wait_until(pilot, lambda: ended(app), "Stop settled")
    await wait_until(
        pilot,
        lambda: rows(app.report_screen.table("undoable")) == ["c3", "c2", "c1"],
        "three undoable rows, latest first",
    )
    await wait_until(pilot, lambda: app.focused is app.report_screen.table("undoable"), "Undoable has the focus")


async def test_undo_selected_then_undo_all(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], three_notes_then_stop_point(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await stopped_with_three_done(pilot, notes)
        undoable = app.report_screen.table("undoable")
        await press(pilot, "space", "down", "space")  # c3 and c2
        assert undoable.checked == {"c3", "c2"}
        assert cell(undoable, "c3", "check") == "[x]" and cell(undoable, "c1", "check") == "[ ]"
        await press(pilot, "U")
        assert isinstance(app.screen, ConfirmScreen)
        preview = shown(app.screen, "#dialog-body")
        assert "c1" not in preview and preview.index("c3") < preview.index("c2")  # only those, latest first
        await press(pilot, "y")
        await wait_until(pilot, lambda: states_are(app, c3="compensated", c2="compensated"), "c3 and c2 undone")
        assert world_notes(world) == {"a"}
        await wait_until(pilot, lambda: rows(undoable) == ["c1"], "only c1 is left to undo")
        await wait_until(
            pilot,
            lambda: cell(app.report_screen.table("done"), "c2", "state") == "compensated",
            "Done shows c2 compensated",
        )

        await press(pilot, "A")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await wait_until(pilot, lambda: states_are(app, c1="compensated"), "c1 undone")
        await wait_until(pilot, lambda: rows(undoable) == [], "nothing is left to undo")
        await finish(pilot)
    assert world_notes(world) == set()


async def test_escape_in_the_confirmation_undoes_nothing_and_u_undoes_one_row(
    tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    app = app_for(tmp_path, [notes], three_notes_then_stop_point(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await stopped_with_three_done(pilot, notes)
        await press(pilot, "A")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "escape")
        assert top_screen(app) is app.report_screen
        await pilot.pause(0.2)
        assert set((await call_states(app)).values()) == {"committed", "discarded"}
        assert world_notes(world) == {"a", "b", "c"}

        await press(pilot, "down", "u", "y")  # the cursor is on c2
        await wait_until(pilot, lambda: states_are(app, c2="compensated"), "c2 undone")
        assert await states_are(app, c1="committed", c3="committed")
        await finish(pilot)
    assert world_notes(world) == {"a", "c"}


async def test_a_failed_undo_shows_and_retry_succeeds(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    notes.compensate_failures["c3"] = 10
    app = app_for(tmp_path, [notes], three_notes_then_stop_point(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await stopped_with_three_done(pilot, notes)
        undoable = app.report_screen.table("undoable")
        retry = app.report_screen.query_one("#retry")
        hidden_at_first = not retry.display  # a name: asserting on retry.display would narrow it for good
        assert hidden_at_first

        await press(pilot, "space", "U", "y")
        await wait_until(pilot, lambda: states_are(app, c3="compensation_failed"), "the undo of c3 failed")
        await wait_until(pilot, lambda: cell(undoable, "c3", "state") == "undo failed", "c3 shows undo failed")
        why = cell(undoable, "c3", "detail") or ""
        assert why.startswith("undo failed: ConnectionError") and why.endswith("r: retry")  # cut to fit, key kept
        assert "notes service unavailable" in undoable.items["c3"].undo.detail
        assert retry.display
        assert world_notes(world) == {"a", "b", "c"}  # a failed undo left the note where it was

        notes.compensate_failures["c3"] = 0  # the notes service is back
        await press(pilot, "r")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await wait_until(pilot, lambda: states_are(app, c3="compensated"), "the retry undid c3")
        await wait_until(pilot, lambda: not retry.display, "the retry button is gone")
        await finish(pilot)
    assert world_notes(world) == {"a", "b"}
