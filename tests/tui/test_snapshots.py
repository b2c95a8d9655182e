"""Snapshots of the moments that matter: mid-run, the Stop, the report, a row opened, the two questions.

Each scenario parks the agent (a `Puppet` at a gate, or a tool held in its
prepare or commit) before the picture is taken, and the clock, time zone and
session id are fixed, so the same picture comes out every run. Regenerate with
`python -m pytest tests/tui --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from agentstop.tui import AgentstopApp
from agentstop.tui.screens.approval import ApprovalScreen
from agentstop.tui.screens.confirm import ConfirmScreen
from tests.support.tools import Wire
from tests.tui.helpers import (
    Call,
    GatedNote,
    Puppet,
    Think,
    Together,
    Upload,
    app_for,
    ended,
    note,
    press,
    rows,
    settle,
    shown,
    states_are,
    wait_until,
)

SIZE = (140, 40)
Snap = Callable[..., bool]
RunBefore = Callable[[Pilot[Any]], Awaitable[None]]

THOUGHTS = (
    "The user wants the release notes written and the team told.",
    "First a draft of the notes, then the changelog.",
    "Now the announcement for the team.",
)


def release_agent(*then: Any) -> Puppet:
    return Puppet(
        [
            Think(THOUGHTS[0]),
            note("draft", text="2.0 notes"),
            Think(THOUGHTS[1]),
            note("changelog", text="## 2.0", api_token="tok-live-4f9a8c7e1d2b"),
            Think(THOUGHTS[2]),
            *then,
        ]
    )


def test_run_screen_mid_run(snap_compare: Snap, tmp_path: Path, notes: GatedNote) -> None:
    """You should see the run screen: the goal and three thoughts on the left; on the right c1 and c2
    committed and c3 (note 'announce') committing; the grant ACTIVE in the status line; the button "■ Stop (s)"
    and "s or Ctrl+C stops at once … Esc goes back and never stops."."""
    notes.hold_commit("announce")
    app = app_for(tmp_path, [notes], release_agent(note("announce"), note("never")))

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: notes.parked("announce"), "c3 is held in its commit")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_stop_moment(snap_compare: Snap, tmp_path: Path, notes: GatedNote) -> None:
    """You should see the report just after Stop: the status line says REVOKED by you (TUI); the summary says
    "Stopping… grant revoked; waiting for 1 call in flight: c3 write_note (committing)" with the grace
    left; c3 is In flight, c1 and c2 are Done and Undoable."""
    notes.hold_commit("announce")
    app = app_for(tmp_path, [notes], release_agent(note("announce"), note("never")))

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: notes.parked("announce"), "c3 is held in its commit")
        await settle(pilot)
        await press(pilot, "s")
        await wait_until(pilot, lambda: rows(app.report_screen.table("in_flight")) == ["c3"], "c3 shows in flight")
        await wait_until(
            pilot,
            lambda: "waiting for 1 call" in shown(app.report_screen, "#summary"),
            "the summary says what Stop waits for",
        )
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def stopped_with_all_four(tmp_path: Path, world: Path, notes: GatedNote) -> tuple[AgentstopApp, RunBefore]:
    """Done c1 c2 (undoable), c3 an upload whose commit Stop abandons (in flight), c4 discarded in prepare."""
    upload = Upload(world)
    upload.hold_commit("slides")
    notes.hold_prepare("announce")
    puppet = release_agent(Together((Call("upload", {"name": "slides"}, key="slides"), note("announce"))))
    app = app_for(tmp_path, [notes, upload], puppet, grace=0.1)

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: upload.parked("slides") and notes.parked("announce"), "c3 and c4 held")
        await wait_until(pilot, lambda: states_are(app, c3="committing", c4="planned"), "c3 committing, c4 planned")
        await press(pilot, "s")
        await wait_until(pilot, lambda: ended(app), "Stop settled (the upload abandoned after the grace)")
        await wait_until(
            pilot,
            lambda: [rows(app.report_screen.table(k)) for k in ("in_flight", "undoable")] == [["c3"], ["c2", "c1"]],
            "the report has all four sections",
            attempts=750,
        )
        await wait_until(pilot, lambda: app.focused is app.report_screen.table("undoable"), "Undoable has the focus")
        await settle(pilot)

    return app, run_before


def test_report_after_stop_with_all_four_sections(
    snap_compare: Snap, tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    """You should see the report after Stop: "stopped by you (TUI): 2 done, 1 interrupted, 1 in flight,
    2 undoable"; Done c1 c2; Interrupted c4 (note 'announce', cancelled before the fence); In flight c3
    (the upload, committing); Undoable c2 then c1 with "exact undo"."""
    app, run_before = stopped_with_all_four(tmp_path, world, notes)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_an_expanded_row(snap_compare: Snap, tmp_path: Path, world: Path, notes: GatedNote) -> None:
    """You should see the report after Stop with c2 (note 'changelog') expanded below the sections: its
    arguments with "api_token": "***", the prepared effect, the receipt world/changelog.json, and
    "undo available: exact undo"."""
    app, stopped = stopped_with_all_four(tmp_path, world, notes)

    async def run_before(pilot: Pilot[Any]) -> None:
        await stopped(pilot)
        await press(pilot, "enter")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_approval_modal(snap_compare: Snap, tmp_path: Path, world: Path, notes: GatedNote) -> None:
    """You should see the approval modal over the run screen: "Approve this call?", c3 · wire · irreversible,
    the prepared effect {"amount": 2500}, "If it goes wrong: call the bank to recall the wire", an empty
    message field whose placeholder starts "m:", the buttons "Approve once (a)", "Allow wire for this session (l)"
    and "Deny (d, Esc)", and "s or Ctrl+C stops the agent"; c3 awaits approval in the panel behind."""
    puppet = release_agent(Call("wire", {"amount": 2500}))
    app = app_for(tmp_path, [notes, Wire(world)], puppet, approve="irreversible")

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ApprovalScreen) and bool(app.screen.query(Input)),
            "the approval modal is shown",
        )
        app.screen.query_one(Input).cursor_blink = False
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_undo_confirmation(snap_compare: Snap, tmp_path: Path, notes: GatedNote) -> None:
    """You should see the confirmation after Undo all: "About to undo everything that can be undone
    (3 calls, latest first)", then c3, c2, c1 each with "→ exact undo", and the buttons "Undo (y)" and
    "Cancel (n, Esc)"."""
    notes.hold_prepare("never")
    app = app_for(tmp_path, [notes], release_agent(note("announce"), note("never")))

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: notes.parked("never"), "c4 is held in prepare")
        await press(pilot, "s")
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        await wait_until(
            pilot, lambda: rows(app.report_screen.table("undoable")) == ["c3", "c2", "c1"], "three undoable rows"
        )
        await wait_until(pilot, lambda: app.focused is app.report_screen.table("undoable"), "Undoable has the focus")
        await settle(pilot)
        await press(pilot, "A")
        assert isinstance(app.screen, ConfirmScreen)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
