"""Quitting: never silently while the agent runs or while something can still be undone; the exit code tells."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from agentstop import Journal, revoke
from agentstop.tui.screens.confirm import ConfirmScreen
from tests.support.tools import ReadNotes
from tests.tui.helpers import (
    SESSION_ID,
    Call,
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


async def session_status(tmp_path: Path) -> str:
    async with Journal.open(tmp_path / "journal.db", readonly=True) as journal:
        return (await journal.session(SESSION_ID)).status


async def test_q_while_running_asks_then_stops_and_exits_1(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    puppet = Puppet([note("a"), Park("thinking"), note("b")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: puppet.parked_at == "thinking", "the agent is mid-run")
        await press(pilot, "q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "The agent is still running: it goes on working while this question is open." in shown(
            app.screen, "#dialog-title"
        )
        # The question follows the journal (it does not pause the agent): it says c1 once the app has read it.
        await wait_until(
            pilot,
            lambda: (
                "Meanwhile, live: 1 done, 0 in flight · latest: c1 write_note committed"
                in shown(app.screen, "#dialog-note")
            ),
            "the question says what the agent did meanwhile",
        )
        assert app.mode.sup is not None and not app.mode.sup.stopping  # asking is not stopping
        await press(pilot, "y")
        await exited(app)
    assert app.return_value == 1
    assert await session_status(tmp_path) == "stopped"
    assert world_notes(world) == {"a"}


async def test_escape_in_the_quit_question_keeps_running(tmp_path: Path, notes: GatedNote) -> None:
    puppet = Puppet([note("a"), Park("thinking"), note("b")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: puppet.parked_at == "thinking", "the agent is mid-run")
        await press(pilot, "q", "escape")
        assert app.screen is app.mode.run_screen
        assert app.mode.sup is not None and not app.mode.sup.stopping
        puppet.release("thinking")
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        await finish(pilot)


async def test_q_after_stop_asks_while_something_is_undoable(tmp_path: Path, notes: GatedNote) -> None:
    notes.hold_prepare("b")
    app = app_for(tmp_path, [notes], Puppet([note("a"), note("b")]))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("b"), "b is held in prepare")
        await press(pilot, "s")
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        await settle(pilot)
        await press(pilot, "q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "1 call can still be undone." in shown(app.screen, "#dialog-title")
        assert "agentstop undo" in shown(app.screen, "#dialog-body")
        await press(pilot, "y")
        await exited(app)
    assert app.return_value == 1  # stopped is never a clean exit


async def test_a_finished_read_only_run_shows_the_report_and_q_exits_0(tmp_path: Path, world: Path) -> None:
    app = app_for(tmp_path, [ReadNotes(world)], Puppet([Call("read_notes", {})]))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        await wait_until(pilot, lambda: app.screen is app.report_screen, "the report is shown by itself")
        assert app.report is not None and app.report.summary_line().startswith("completed: 1 done")
        await settle(pilot)
        await press(pilot, "q")  # nothing to undo: no question
        await exited(app)
    assert app.return_value == 0
    assert await session_status(tmp_path) == "completed"


async def test_a_finished_run_with_undoable_calls_asks_before_quitting(tmp_path: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], Puppet([note("a")]))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        await wait_until(pilot, lambda: app.screen is app.report_screen, "the report is shown by itself")
        await settle(pilot)
        await press(pilot, "q")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await exited(app)
    assert app.return_value == 0  # a clean, completed run, even with the note left in place


async def test_ctrl_q_asks_before_quitting_a_running_agent(tmp_path: Path, notes: GatedNote) -> None:
    puppet = Puppet([note("a"), Park("thinking"), note("b")])
    app = app_for(tmp_path, [notes], puppet)
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: puppet.parked_at == "thinking", "the agent is mid-run")
        await settle(pilot)
        await press(pilot, "ctrl+q")  # Textual's own quit key asks the same question
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await exited(app)
    assert app.return_value == 1
    assert await session_status(tmp_path) == "stopped"


async def test_the_app_closing_while_a_commit_hangs_cuts_it_off_and_journals_how(
    tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    notes.hold_commit("a")  # a commit that would never end (the tool waits for this gate)
    app = app_for(tmp_path, [notes], Puppet([note("a")]))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("a"), "a is held in its commit")
        app.exit()
    async with Journal.open(tmp_path / "journal.db", readonly=True) as journal:
        [call] = await journal.calls(SESSION_ID)
    assert call.state == "failed", call.reason  # cut off, and the tool's lookup found no note
    assert "you quit agentstop while it ran" in (call.reason or "")
    assert world_notes(world) == set()


async def test_stop_and_quit_after_a_stop_from_elsewhere_leaves_the_commit_its_grace(
    tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    """The question was asked while the agent ran; another terminal stopped it meanwhile; "Stop and quit"
    then waits for that Stop (its grace, the tool's on_stop), it does not press Stop a second time."""
    notes.hold_commit("a")
    app = app_for(tmp_path, [notes], Puppet([note("a")]))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("a"), "a's commit is under way")
        await press(pilot, "q")
        assert isinstance(app.screen, ConfirmScreen)
        await anyio.to_thread.run_sync(lambda: revoke(tmp_path / "journal.db", SESSION_ID, by="ada"))
        sup = app.mode.sup
        assert sup is not None
        await wait_until(pilot, lambda: sup.stopping, "the supervisor heard the revoke")
        await press(pilot, "y")
        assert not sup.escalated
        notes.release("a")
        await exited(app)
    assert not sup.escalated
    assert world_notes(world) == {"a"}
    async with Journal.open(tmp_path / "journal.db", readonly=True) as journal:
        assert [(c.call_id, c.state) for c in await journal.calls(SESSION_ID)] == [("c1", "committed")]
