"""Safe undo in the TUI: the preview says what each undo does, a refused undo shows why, and force asks again.

The tool keeps in its receipt the text it wrote; a person edits one note after
Stop, the way someone fixes a draft by hand. Its undo is refused, the others go
through, and a second confirmation says what changed before forcing it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentstop import ToolContext
from agentstop.tui import AgentstopApp
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.widgets.call_detail import CallDetail
from agentstop.tui.widgets.call_table import CallTable
from tests.tui.helpers import (
    SESSION_ID,
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
    settle,
    shown,
    states_are,
    text_of,
    wait_until,
    world_notes,
)

SIZE = (140, 40)
Snap = Callable[..., bool]
EDITED = "v1, fixed by hand"
DRIFT = f"note 'b' was edited since the agent wrote it: “v1” → “{EDITED}”"


class CheckedNote(GatedNote):
    """GatedNote with an undo summary and a drift check: the receipt keeps the text the note was written with."""

    def undo_summary(self, receipt: dict[str, Any]) -> str:
        return f"delete {receipt['path']}"

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        receipt = await super().commit(prepared, ctx)
        return {**receipt, "text": json.loads(Path(receipt["path"]).read_text())["text"]}

    async def check(self, receipt: dict[str, Any], ctx: ToolContext) -> str | None:
        path = Path(receipt["path"])
        if not path.exists():
            return None
        now = json.loads(path.read_text())["text"]
        if now != receipt["text"]:
            return f"note {receipt['name']!r} was edited since the agent wrote it: “{receipt['text']}” → “{now}”"
        return None


@pytest.fixture
def checked(world: Path) -> CheckedNote:
    return CheckedNote(world)


def flat(text: str) -> str:
    """Text with its wrapping undone (a long line wraps in the dialog)."""
    return " ".join(text.split())


def edit_by_hand(world: Path, name: str) -> None:
    path = world / f"{name}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "text": EDITED}))


def three_notes_then_stop_point(notes: CheckedNote) -> Puppet:
    """Notes a, b, c land (text v1); d is held in prepare, where the test presses Stop."""
    notes.hold_prepare("d")
    return Puppet([note("a", text="v1"), note("b", text="v1"), note("c", text="v1"), note("d")])


async def stopped_and_b_edited(pilot: Pilot[Any], notes: CheckedNote, world: Path) -> None:
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
    edit_by_hand(world, "b")


async def undo_all_refuses_c2(pilot: Pilot[Any]) -> ConfirmScreen:
    """Undo all, confirmed: c3 and c1 are undone, c2 refused; returns the force confirmation that follows."""
    app = pilot.app
    assert isinstance(app, AgentstopApp)
    await press(pilot, "A", "y")
    await wait_until(pilot, lambda: states_are(app, c3="compensated", c1="compensated"), "c3 and c1 undone")
    await wait_until(
        pilot,
        lambda: (
            isinstance(app.screen, ConfirmScreen)
            and app.screen.confirm == "Force undo"
            and bool(app.screen.query("#dialog-body"))
        ),  # pushed is not yet composed: its body comes on mount
        "the force confirmation",
    )
    assert isinstance(app.screen, ConfirmScreen)
    return app.screen


@pytest.mark.anyio
async def test_the_preview_shows_each_compensation_and_its_check(
    tmp_path: Path, world: Path, checked: CheckedNote
) -> None:
    app = app_for(tmp_path, [checked], three_notes_then_stop_point(checked))
    async with app.run_test(size=SIZE) as pilot:
        await stopped_and_b_edited(pilot, checked, world)
        await press(pilot, "A")
        assert isinstance(app.screen, ConfirmScreen)
        preview = flat(shown(app.screen, "#dialog-body"))
        for n, name in ((3, "c"), (2, "b"), (1, "a")):
            assert f"c{n} write_note: note '{name}'" in preview
            assert f"→ delete world/{name}.json · exact undo · not if changed since" in preview
        await press(pilot, "escape")
        await finish(pilot)
    assert world_notes(world) == {"a", "b", "c"}


@pytest.mark.anyio
async def test_a_refused_undo_asks_to_force_saying_what_changed(
    tmp_path: Path, world: Path, checked: CheckedNote
) -> None:
    app = app_for(tmp_path, [checked], three_notes_then_stop_point(checked))
    async with app.run_test(size=SIZE) as pilot:
        await stopped_and_b_edited(pilot, checked, world)
        force = await undo_all_refuses_c2(pilot)

        assert force.title_text == "Not undone: 1 call changed since the agent acted. Undo anyway?"
        body = flat(shown(force, "#dialog-body"))
        assert "c2 write_note: note 'b'" in body and "c1" not in body and "c3" not in body
        assert f"changed: {DRIFT}" in body
        assert "→ forcing will delete world/b.json, and that change is lost" in body
        assert world_notes(world) == {"b"} and await states_are(app, c2="committed")

        await press(pilot, "y")
        await wait_until(pilot, lambda: states_are(app, c2="compensated"), "c2 undone, forced")
        await wait_until(pilot, lambda: rows(app.report_screen.table("undoable")) == [], "nothing left to undo")
        assert app.mode.journal is not None
        events = [e for e in await app.mode.journal.events(SESSION_ID) if e.call_id == "c2"]
        assert [e.kind for e in events][-3:] == ["undo_refused", "compensating", "compensated"]
        assert events[-1].data["forced"] is True and events[-3].data["reason"] == DRIFT
        assert app.report_screen.refusals == {}
        await finish(pilot)
    assert world_notes(world) == set()


@pytest.mark.anyio
async def test_declining_keeps_the_reason_on_the_row_and_f_forces_later(
    tmp_path: Path, world: Path, checked: CheckedNote
) -> None:
    app = app_for(tmp_path, [checked], three_notes_then_stop_point(checked))
    async with app.run_test(size=SIZE) as pilot:
        await stopped_and_b_edited(pilot, checked, world)
        await undo_all_refuses_c2(pilot)
        await press(pilot, "escape")
        assert app.screen is app.report_screen
        undoable = app.report_screen.table("undoable")
        await wait_until(pilot, lambda: rows(undoable) == ["c2"], "only c2 is left to undo")
        await wait_until(
            pilot,
            lambda: (cell(undoable, "c2", "detail") or "").startswith("not undone: note 'b'"),
            "the row says why it was not undone",
        )
        assert cell(undoable, "c2", "state") == "committed"
        assert (await call_states(app))["c2"] == "committed"

        await press(pilot, "enter")
        detail = app.report_screen.query_one("#detail", CallDetail)
        await wait_until(pilot, lambda: detail.display, "c2 is expanded")
        assert f"why undo refused: {DRIFT} (f: force)" in flat(text_of(detail))
        assert f"undo refused: not undone: {DRIFT} · f: force" in flat(text_of(detail))

        await press(pilot, "f")
        assert isinstance(app.screen, ConfirmScreen) and app.screen.confirm == "Force undo"
        assert f"changed: {DRIFT}" in flat(shown(app.screen, "#dialog-body"))
        await press(pilot, "y")
        await wait_until(pilot, lambda: states_are(app, c2="compensated"), "c2 undone, forced")
        await finish(pilot)
    assert world_notes(world) == set()


@pytest.mark.anyio
async def test_f_on_a_row_that_was_not_refused_forces_nothing(
    tmp_path: Path, world: Path, checked: CheckedNote
) -> None:
    app = app_for(tmp_path, [checked], three_notes_then_stop_point(checked))
    told: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await stopped_and_b_edited(pilot, checked, world)
        app.report_screen.notify = lambda message, **_: told.append(message)  # type: ignore[method-assign]
        await press(pilot, "f")  # on c3, whose undo was never refused
        await pilot.pause(0.1)
        assert app.screen is app.report_screen
        assert told == [
            "f forces an undo that was refused because the effect changed since; this row has none. Press u to undo it."
        ]
        assert set((await call_states(app)).values()) == {"committed", "discarded"}
        await finish(pilot)
    assert world_notes(world) == {"a", "b", "c"}


# -- snapshots ---------------------------------------------------------------------------------


def test_the_force_confirmation(snap_compare: Snap, tmp_path: Path, world: Path, checked: CheckedNote) -> None:
    """You should see, over the report, "Not undone: 1 call changed since the agent acted. Undo anyway?":
    c2 write_note note 'b', "changed: note 'b' was edited since the agent wrote it: “v1” → “v1, fixed by
    hand”", "→ forcing will delete world/b.json, and that change is lost", the line about the journal, and
    the buttons "Force undo (y)" and "Cancel (n, Esc)"."""
    app = app_for(tmp_path, [checked], three_notes_then_stop_point(checked))

    async def run_before(pilot: Pilot[Any]) -> None:
        await stopped_and_b_edited(pilot, checked, world)
        await undo_all_refuses_c2(pilot)
        await settle(pilot)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_a_refused_row_expanded(snap_compare: Snap, tmp_path: Path, world: Path, checked: CheckedNote) -> None:
    """You should see the report after the force was declined: Done c1 and c3 compensated, c2 committed;
    Undoable only c2, its undo status in yellow "not undone: note 'b' was edited since…"; c2 expanded below,
    its third line "why undo refused: note 'b' was edited since the agent wrote it: “v1” → “v1, fixed by hand”
    (f: force)", then its arguments."""
    app = app_for(tmp_path, [checked], three_notes_then_stop_point(checked))

    async def run_before(pilot: Pilot[Any]) -> None:
        await stopped_and_b_edited(pilot, checked, world)
        await undo_all_refuses_c2(pilot)
        await press(pilot, "escape")
        undoable = app.report_screen.query_one("#table-undoable", CallTable)
        await wait_until(pilot, lambda: rows(undoable) == ["c2"], "only c2 is left to undo")
        await wait_until(pilot, lambda: app.focused is undoable, "Undoable has the focus")
        await press(pilot, "enter")
        detail = app.report_screen.query_one("#detail", CallDetail)
        await wait_until(pilot, lambda: detail.display, "c2 expanded")
        await settle(pilot)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
