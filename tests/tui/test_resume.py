"""Resume in the TUI: after Stop, the same app runs the session on as a new epoch, under a new grant.

A scripted agent (the task-file planner, whose keys are its places in the
script) is stopped while one of its notes is held in prepare. Resume asks for
an instruction and which tools stay allowed, then the run screen comes back
saying "epoch 2"; what landed before is not written again, what was cut off is
done now, and the report lists every call under its epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, SelectionList

from agentstop import AgentstopError, GrantSpec, Journal, revoke
from agentstop.cli.headless import run_headless
from agentstop.cli.resume import session_to_resume
from agentstop.journal import SessionStatus
from agentstop.journal.records import CallRecord
from agentstop.planners import ScriptedPlanner, ScriptedStep
from agentstop.task import load_task
from agentstop.tui import AgentstopApp, config_from_task, make_app
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.screens.resume import ResumeScreen
from agentstop.tui.widgets.status import StatusLine
from tests.tui.helpers import (
    SESSION_ID,
    GatedNote,
    Upload,
    app_for,
    call_states,
    cell,
    ended,
    exited,
    press,
    rows,
    settle,
    shown,
    top_screen,
    wait_until,
    world_notes,
)

pytestmark = pytest.mark.anyio

SIZE = (140, 40)
Snap = Callable[..., bool]
INSTRUCTION = "Carry on, but keep the changelog short."


def write(name: str, thought: str = "") -> ScriptedStep:
    return ScriptedStep(thought or f"Now the {name}.", (("write_note", {"name": name}),))


def script(*more: ScriptedStep) -> ScriptedPlanner:
    """Draft, changelog, announce (and `more`), streamed without pauses."""
    return ScriptedPlanner(
        [write("draft", "First the draft."), write("changelog"), write("announce"), *more], tokens_per_second=0
    )


def footer_keys(app: AgentstopApp) -> set[str]:
    """The keys the Footer of the current screen offers."""
    return {key for key, active in app.screen.active_bindings.items() if active.binding.show and active.enabled}


async def stopped_at_the_changelog(pilot: Pilot[Any], app: AgentstopApp, notes: GatedNote) -> None:
    """Stop while the changelog (c2) is held in prepare: c1 done, c2 interrupted."""
    await wait_until(pilot, lambda: notes.parked("changelog"), "c2 is held in prepare")
    await press(pilot, "s")
    await wait_until(pilot, lambda: ended(app), "Stop settled")
    await wait_until(pilot, lambda: rows(app.report_screen.table("interrupted")) == ["c2"], "c2 is interrupted")
    await wait_until(pilot, lambda: app.report_screen.resumable, "Resume is offered")
    notes.release("changelog")  # a second time, it goes through


async def open_the_resume_prompt(pilot: Pilot[Any], app: AgentstopApp) -> ResumeScreen:
    await press(pilot, "R")
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, ResumeScreen) and bool(app.screen.query(Input)),
        "the resume prompt is shown",
    )
    screen = app.screen
    assert isinstance(screen, ResumeScreen)
    screen.query_one(Input).cursor_blink = False
    return screen


async def test_resume_runs_a_new_epoch_in_the_same_app_and_a_clean_finish_exits_0(
    tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    notes.hold_prepare("changelog", "announce")
    app = app_for(tmp_path, [notes], script())
    async with app.run_test(size=SIZE) as pilot:
        await stopped_at_the_changelog(pilot, app, notes)
        assert "R" in footer_keys(app)  # Resume is in the Footer
        assert app.report_screen.query_one("#resume", Button).display

        prompt = await open_the_resume_prompt(pilot, app)
        assert shown(prompt, "#dialog-title").strip() == f"Resume session {SESSION_ID} as epoch 2?"
        prompt.query_one(Input).value = INSTRUCTION
        await press(pilot, "enter")  # in the instruction field: resume

        # The run screen is back, says "epoch 2", and the agent works again (held at 'announce').
        await wait_until(pilot, lambda: notes.parked("announce"), "epoch 2 reached the announcement")
        assert app.screen is app.mode.run_screen
        status = app.mode.run_screen.query_one(StatusLine)
        assert (status.epoch, status.grant) == (2, "active")
        assert "epoch 2" in status.render().plain
        transcript = " ".join(app.mode.run_screen.transcript.text.split())  # long lines wrap
        assert (
            f"── resumed as epoch 2: “{INSTRUCTION}” ── First the draft. → c1 note 'draft' (done before: not "
            "issued again) Now the changelog. → c3 note 'changelog'" in transcript
        )
        assert not app.report_screen.resumable

        notes.release("announce")
        await wait_until(
            pilot, lambda: ended(app) and app.report is not None and app.report.epochs == 2, "epoch 2 completed"
        )
        assert top_screen(app) is app.report_screen
        report = app.report
        assert report is not None and report.session.status == "completed" and report.clean
        assert [(i.call_id, i.summary, i.state, i.epoch) for i in report.all_calls] == [
            ("c1", "note 'draft'", "committed", 1),  # landed before the Stop: not written again
            ("c2", "note 'changelog'", "discarded", 1),  # cut off by the Stop...
            ("c3", "note 'changelog'", "committed", 2),  # ...and done after the Resume
            ("c4", "note 'announce'", "committed", 2),
        ]
        screen = app.report_screen
        await wait_until(pilot, lambda: rows(screen.table("done")) == ["c1", "c3", "c4"], "the report is shown")
        assert [cell(screen.table("done"), c, "epoch") for c in ("c1", "c3", "c4")] == ["  1  ", "  2  ", "  2  "]
        assert cell(screen.table("interrupted"), "c2", "epoch") == "  1  "
        summary = shown(screen, "#summary")
        assert "completed: 3 done, 1 interrupted" in summary
        assert "epoch 1: 1 done, 1 interrupted · epoch 2: 2 done, 0 interrupted" in summary

        assert app.mode.journal is not None
        [resumed] = [e for e in await app.mode.journal.events(SESSION_ID) if e.kind == "session_resumed"]
        assert (resumed.data["epoch"], resumed.data["instruction"]) == (2, INSTRUCTION)
        await settle(pilot)
        await press(pilot, "q")  # three notes could still be undone: it asks first
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await exited(app)
    assert app.return_value == 0  # the last epoch is clean: the interruption in epoch 1 was made good
    assert world_notes(world) == {"draft", "changelog", "announce"}


async def test_a_tool_unchecked_in_the_prompt_is_out_of_scope_in_the_new_epoch(
    tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    notes.hold_prepare("changelog")
    upload = Upload(world)
    slides = ScriptedStep("Then the slides.", (("upload", {"name": "slides"}),))
    app = app_for(tmp_path, [notes, upload], script(slides))
    async with app.run_test(size=SIZE) as pilot:
        await stopped_at_the_changelog(pilot, app, notes)
        prompt = await open_the_resume_prompt(pilot, app)
        tools = prompt.query_one(SelectionList)
        assert [tools.get_option_at_index(i).value for i in range(tools.option_count)] == ["write_note", "upload"]
        assert sorted(tools.selected) == ["upload", "write_note"]  # as before, unless narrowed
        await press(pilot, "tab", "down", "space")  # to the list, down to upload, uncheck it
        assert tools.selected == ["write_note"]
        await pilot.click("#resume")

        await wait_until(
            pilot, lambda: ended(app) and app.report is not None and app.report.epochs == 2, "epoch 2 ended"
        )
        assert app.mode.journal is not None
        grants = await app.mode.journal.grants(SESSION_ID)
        assert [g.tools for g in grants] == [["*"], ["write_note"]]
        states = await call_states(app)
        assert states == {"c1": "committed", "c2": "discarded", "c3": "committed", "c4": "committed", "c5": "rejected"}
        report = app.report
        assert report is not None
        [refused] = [i for i in report.interrupted if i.epoch == 2]
        assert refused.tool == "upload"
        assert "tool 'upload' is not in grant g2 (tools ['write_note'])" in (refused.reason or "")
        assert not report.clean
        await settle(pilot)
        app.action_quit_app()
        await pilot.pause()
        if isinstance(app.screen, ConfirmScreen):
            await press(pilot, "y")
        await exited(app)
    assert app.return_value == 1  # a call of the last epoch was refused: not a clean run
    assert world_notes(world) == {"draft", "changelog", "announce"}  # no slides


async def test_stop_works_again_in_the_new_epoch(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    notes.hold_prepare("changelog", "announce")
    app = app_for(tmp_path, [notes], script())
    async with app.run_test(size=SIZE) as pilot:
        await stopped_at_the_changelog(pilot, app, notes)
        await open_the_resume_prompt(pilot, app)
        await press(pilot, "enter")
        await wait_until(pilot, lambda: notes.parked("announce"), "epoch 2 is held at the announcement")
        assert "S" in footer_keys(app)  # "Stop after this step" is back too
        await pilot.click("#stop")
        assert app.screen is app.report_screen
        await wait_until(
            pilot,
            lambda: ended(app) and app.report is not None and app.report.epochs == 2 and len(app.report.all_calls) == 4,
            "the second Stop settled",
        )
        report = app.report
        assert report is not None and report.session.status == "stopped" and not report.clean
        assert [(i.summary, i.epoch) for i in report.interrupted] == [("note 'changelog'", 1), ("note 'announce'", 2)]
        assert app.mode.journal is not None
        assert [g.revoked_by for g in await app.mode.journal.grants(SESSION_ID)] == ["you (TUI)", "you (TUI)"]
        await wait_until(pilot, lambda: app.report_screen.resumable, "Resume is offered again (epoch 3)")
        await settle(pilot)
        app.action_quit_app()
        await pilot.pause()
        await press(pilot, "y")
        await exited(app)
    assert app.return_value == 1
    assert world_notes(world) == {"draft", "changelog"}


async def test_cancel_in_the_prompt_changes_nothing(tmp_path: Path, notes: GatedNote) -> None:
    notes.hold_prepare("changelog")
    app = app_for(tmp_path, [notes], script())
    async with app.run_test(size=SIZE) as pilot:
        await stopped_at_the_changelog(pilot, app, notes)
        await open_the_resume_prompt(pilot, app)
        await press(pilot, "escape")
        assert app.screen is app.report_screen
        assert app.report_screen.resumable
        assert app.mode.journal is not None
        assert len(await app.mode.journal.grants(SESSION_ID)) == 1
        await settle(pilot)
        app.exit()
        await exited(app)


async def test_resume_is_not_offered_while_the_agent_runs_or_stops(tmp_path: Path, notes: GatedNote) -> None:
    notes.hold_commit("changelog")
    app = app_for(tmp_path, [notes], script(), grace=60.0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: notes.parked("changelog"), "c2 is held in its commit")
        assert not app.mode.can_resume
        await press(pilot, "s")  # Stop waits for the commit (a minute of grace)
        assert app.screen is app.report_screen
        await pilot.pause(0.1)
        assert not app.report_screen.query_one("#resume", Button).display
        assert "R" not in footer_keys(app)
        await press(pilot, "R")
        assert app.screen is app.report_screen  # nothing opened
        notes.release("changelog")
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        await wait_until(pilot, lambda: app.report_screen.query_one("#resume", Button).display, "Resume shows")
        await settle(pilot)
        app.exit()
        await exited(app)


def test_the_resume_prompt(snap_compare: Snap, tmp_path: Path, notes: GatedNote, world: Path) -> None:
    """You should see the resume prompt over the report: "Resume session tui-session as epoch 2?", the summary
    "stopped by you (TUI): 1 done, 1 interrupted, 0 in flight, 1 undoable", what Resume does, the instruction
    field with its placeholder, the tools write_note ( undo ) and upload ( undo ) both checked, "scopes
    unchanged: *", and the buttons "▶ Resume (Enter)" and "Cancel (Esc)"."""
    notes.hold_prepare("changelog")
    slides = ScriptedStep("Then the slides.", (("upload", {"name": "slides"}),))
    app = app_for(tmp_path, [notes, Upload(world)], script(slides))

    async def run_before(pilot: Pilot[Any]) -> None:
        assert isinstance(pilot.app, AgentstopApp)
        await stopped_at_the_changelog(pilot, pilot.app, notes)
        await settle(pilot)
        await open_the_resume_prompt(pilot, pilot.app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_the_report_after_a_resume(snap_compare: Snap, tmp_path: Path, notes: GatedNote) -> None:
    """You should see the report after epoch 2 completed: "completed: 3 done, 1 interrupted, ... · epoch 1: 1 done,
    1 interrupted · epoch 2: 2 done, 0 interrupted"; an epoch column first in every list, 1 dimmed and 2 bold;
    Done c1 (epoch 1), c3 and c4 (epoch 2); Interrupted c2 (epoch 1, cancelled before the fence); the status line
    says epoch 2; the Resume button and R Resume in the Footer."""
    notes.hold_prepare("changelog")
    app = app_for(tmp_path, [notes], script())

    async def run_before(pilot: Pilot[Any]) -> None:
        assert isinstance(pilot.app, AgentstopApp)
        app = pilot.app
        await stopped_at_the_changelog(pilot, app, notes)
        await open_the_resume_prompt(pilot, app)
        await press(pilot, "enter")
        await wait_until(
            pilot, lambda: ended(app) and app.report is not None and app.report.epochs == 2, "epoch 2 completed"
        )
        await wait_until(pilot, lambda: rows(app.report_screen.table("done")) == ["c1", "c3", "c4"], "the report")
        await wait_until(pilot, lambda: app.report_screen.query_one("#resume", Button).display, "Resume shows")
        await wait_until(pilot, lambda: app.focused is app.report_screen.table("undoable"), "Undoable has the focus")
        app.clear_notifications()  # the picture is about the report
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


TASK = """\
name: Write three files
goal: Write one, two and three.
agent: {kind: scripted, tokens_per_second: 0}
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {tools: [write_file], scopes: ["files:*"], ttl: 10m}
stop: {grace: 5s}
steps:
  - {thought: "One.", tool: write_file, args: {name: one}}
  - {thought: "Two, slowly.", tool: write_file, args: {name: two, hold: release-two}}
  - {thought: "Three.", tool: write_file, args: {name: three}}
"""


def _two_committing(calls: list[CallRecord]) -> bool:
    return any(c.args.get("name") == "two" and c.state == "committing" for c in calls)


async def _when(journal: Path, condition: Callable[[list[CallRecord]], bool]) -> str:
    """The id of the journal's one session, once its calls meet `condition` (read every 20 ms, for 30 s at most)."""
    with anyio.fail_after(30):
        while True:
            try:
                async with Journal.open(journal, readonly=True) as j:
                    sessions = await j.sessions()
                    if sessions and condition(await j.calls(sessions[0].session_id)):
                        return sessions[0].session_id
            except AgentstopError:  # not there yet, or its schema still being written
                pass
            await anyio.sleep(0.02)


async def test_a_session_resumed_from_the_command_line_opens_at_its_new_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `agentstop run TASK --resume latest` (without --headless) runs: the app starts at epoch 2."""
    files = tmp_path / "files"
    files.mkdir()
    monkeypatch.setenv("FIXTURE_FILES_DIR", str(files))
    (tmp_path / "three.yaml").write_text(TASK)
    spec = load_task(tmp_path / "three.yaml")
    journal = tmp_path / "journal.db"
    # Epoch 1 is stopped while `two` commits (its write waits for a file the test makes once the revoke is
    # in): it lands in the grace, and `three` is left for epoch 2, however loaded the machine.
    codes: list[int] = []
    async with anyio.create_task_group() as tg:

        async def first_epoch() -> None:
            tools = spec.load_tools()
            codes.append(
                await run_headless(spec, tools, journal, stop_after=None, as_json=False, install_signals=False)
            )

        tg.start_soon(first_epoch)
        sid = await _when(journal, _two_committing)
        await anyio.to_thread.run_sync(lambda: revoke(journal, sid, by="user"))
        (files / "release-two").touch()
    assert codes == [1]
    assert await session_to_resume(journal, "latest", spec) == sid

    app = make_app(config_from_task(spec, spec.load_tools(), journal, resume=sid, instruction="the third one"))
    async with app.run_test(size=SIZE) as pilot:
        # Its report says so once it has read epoch 2's end (epoch 1 ended "stopped") and `three`'s events (the
        # session row can be read a poll before the events that led to it).
        await wait_until(
            pilot,
            lambda: (
                ended(app)
                and app.report is not None
                and app.report.session.status == SessionStatus.COMPLETED
                and len(app.report.done) == 3
            ),
            "epoch 2 completed, and its call on the report",
        )
        assert app.report is not None and app.report.epochs == 2
        assert app.mode.run_screen.query_one(StatusLine).epoch == 2
        report = app.report
        assert report is not None and report.clean
        assert [(i.args["name"], i.epoch) for i in report.done] == [("one", 1), ("two", 1), ("three", 2)]
        await settle(pilot)
        app.action_quit_app()
        await pilot.pause()
        await press(pilot, "y")
        await exited(app)
    assert app.return_value == 0
    assert sorted(p.stem for p in files.glob("*.txt")) == ["one", "three", "two"]


async def test_resuming_a_session_that_is_running_again_exits_2(tmp_path: Path, notes: GatedNote) -> None:
    """Between the command's check and the app's start another process resumed it: the app says so, exit 2."""
    async with Journal.open(tmp_path / "journal.db") as journal:
        await journal.create_session(SESSION_ID, task_name="release notes")  # running, owned by this process
        await journal.issue_grant(SESSION_ID, GrantSpec())
    app = app_for(tmp_path, [notes], script(), resume=True)
    async with app.run_test(size=SIZE):
        await exited(app)
    assert app.return_value == 2
