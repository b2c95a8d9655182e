"""The run screen: the agent's transcript, and one live row per call as the journal has it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop.tui.widgets.status import StatusLine
from tests.tui.helpers import GatedNote, Park, Puppet, Think, app_for, cell, finish, note, rows, shown, wait_until

pytestmark = pytest.mark.anyio


async def test_the_transcript_shows_what_the_agent_says(tmp_path: Path, notes: GatedNote) -> None:
    puppet = Puppet([Think("First I will write the release notes."), note("release"), Park("end")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: puppet.parked_at == "end", "the agent parked after its call")
        transcript = app.mode.run_screen.transcript
        await wait_until(
            pilot,
            lambda: "First I will write the release notes." in transcript.text,
            "the thought is in the transcript",
        )
        assert "Goal: Write the release notes and tell the team." in shown(app.mode.run_screen, "#goal")
        puppet.release("end")
        await finish(pilot)


async def test_the_transcript_shows_each_call_as_it_is_planned(tmp_path: Path, notes: GatedNote) -> None:
    puppet = Puppet([Think("Writing it."), note("release"), Park("end")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=(140, 42)) as pilot:
        transcript = app.mode.run_screen.transcript
        await wait_until(pilot, lambda: "→ c1 note 'release'" in transcript.text, "the call is in the transcript")
        assert transcript.text.index("Writing it.") < transcript.text.index("→ c1")
        # The call's writes went through the journal's own thread: this loop draws the screen.
        assert app.mode.journal is not None and app.mode.journal._writer is not None
        assert app.mode.journal._writer.inline_units == 0
        puppet.release("end")
        await finish(pilot)


async def test_a_call_is_one_row_whose_state_updates_in_place(tmp_path: Path, notes: GatedNote) -> None:
    notes.hold_commit("release")
    puppet = Puppet([note("release"), note("announce"), Park("end")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=(140, 42)) as pilot:
        effects = app.mode.run_screen.effects
        await wait_until(pilot, lambda: notes.parked("release"), "the commit of c1 is held")
        await wait_until(
            pilot,
            lambda: "c1" in effects.rows and cell(effects, "c1", "state") == "committing…",
            "the panel shows c1 committing",
        )
        assert rows(effects) == ["c1"]
        assert cell(effects, "c1", "what") == "note 'release'"

        notes.release("release")
        await wait_until(pilot, lambda: cell(effects, "c1", "state") == "committed", "c1 committed on screen")
        await wait_until(
            pilot,
            lambda: "c2" in effects.rows and cell(effects, "c2", "state") == "committed",
            "c2 committed on screen",
        )
        assert rows(effects) == ["c1", "c2"]  # c1 moved planned -> committed without a second row
        assert cell(effects, "c1", "class") == " undo "
        puppet.release("end")
        await finish(pilot)


async def test_the_panel_shows_only_what_the_journal_has(tmp_path: Path, notes: GatedNote) -> None:
    """A call held before its prepare is on screen as planned: journaled, not yet sent."""
    notes.hold_prepare("release")
    puppet = Puppet([note("release")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=(140, 42)) as pilot:
        effects = app.mode.run_screen.effects
        await wait_until(pilot, lambda: notes.parked("release") and "c1" in effects.rows, "c1 is on screen")
        assert cell(effects, "c1", "state") == "planned"
        assert app.mode.run_screen.query_one(StatusLine).grant == "active"
        notes.release_all()
        await wait_until(pilot, lambda: app.mode.finished, "the agent finished")
        await finish(pilot)
