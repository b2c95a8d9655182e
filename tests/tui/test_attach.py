"""`agentstop tui`: attached to a session another supervisor runs, watched from the journal, stopped, undone.

The session runs in a Supervisor of its own on the same journal file (as a
library user's agent loop would), with a note tool the test holds at a gate;
the app only reads the journal and writes the revoke, the escalation and the undo.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from agentstop import GrantSpec, Journal, Supervisor, ToolRegistry
from agentstop.cli import main
from agentstop.journal import Event, EventKind, SessionRecord
from agentstop.report_counts import ReportCounts
from agentstop.session import SessionPhase, fixed_tools
from agentstop.tui import make_journal_app
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.widgets.status import StatusLine
from tests.tui.helpers import GatedNote, attached_live, cell, exited, press, shown, top_screen, wait_until

pytestmark = pytest.mark.anyio

SIZE = (150, 40)
SID = "20270115T080000-attach"


async def rows_of(path: Path) -> list[tuple[SessionRecord, ReportCounts]]:
    async with Journal.open(path, readonly=True) as j:
        return [(s, await ReportCounts.read(j, s.session_id)) for s in await j.sessions()]


async def state_of(path: Path, call_id: str) -> str:
    async with Journal.open(path, readonly=True) as j:
        return {c.call_id: c.state for c in await j.calls(SID)}[call_id]


async def test_attached_stop_revokes_at_once_says_what_it_waits_for_escalates_then_undoes(
    tmp_path: Path, world: Path
) -> None:
    path = tmp_path / "journal.db"
    notes = GatedNote(world)
    notes.hold_commit("slow")
    async with Journal.open(path) as journal, anyio.create_task_group() as tg:
        # The other process's session (a library's agent loop: `async with` watches the journal for a
        # revoke): one note written, one parked in its commit; a 30 s grace.
        sup = Supervisor(
            journal,
            [notes],
            GrantSpec(tools=["write_note"]),
            task_name="Tidy the notes",
            goal="Write two notes",
            grace=30.0,
            session_id=SID,
        )
        await sup.__aenter__()  # not `async with`: the task group outlives it
        await sup.call("write_note", {"name": "one"})
        outcome: dict[str, Any] = {}

        async def slow() -> None:
            try:
                await sup.call("write_note", {"name": "slow"})
            except Exception as exc:  # cut off by the escalation: the call raises to its caller
                outcome["raised"] = exc

        tg.start_soon(slow)
        try:
            await wait_until_parked(notes)
            await watch_stop_and_undo(path, notes, outcome)
        finally:
            notes.release_all()  # never leave the other session's commit parked (it is shielded)
            await sup.__aexit__(None, None, None)


async def watch_stop_and_undo(path: Path, notes: GatedNote, outcome: dict[str, Any]) -> None:
    app = make_journal_app(
        path, await rows_of(path), fixed_tools(ToolRegistry([notes])), session_id=SID, title="agentstop tui"
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: attached_live(app),
            "the running session opens live",
        )
        attachment = app.mode.attachment
        assert attachment is not None
        effects = attachment.run_screen.effects
        await wait_until(pilot, lambda: effects.row_count == 2, "both calls show, from the journal")
        assert "committed" in str(cell(effects, "c1", "state"))
        assert "committing" in str(cell(effects, "c2", "state"))
        await wait_until(
            pilot,
            lambda: (
                f"attached to session {SID} (Tidy the notes), run by pid {os.getpid()}"
                in " ".join(attachment.run_screen.transcript.text.split())
            ),  # long lines wrap
            "the transcript says whose session it is and where it runs",
        )
        assert "→ c2 write_note: note 'slow'" in attachment.run_screen.transcript.text

        # Stop: no question asked; the grant is revoked in the journal, the report shows what it waits for.
        await press(pilot, "s")
        assert not isinstance(app.screen, ConfirmScreen)
        assert top_screen(app) is app.report_screen
        await wait_until(
            pilot,
            lambda: "waiting for 1 call in flight: c2 write_note (committing)" in shown(app.screen, "#summary"),
            "the report says what Stop waits for",
        )
        assert "of 30.0 s grace left" in shown(app.screen, "#summary")
        async with Journal.open(path, readonly=True) as j:
            [grant] = await j.grants(SID)
        assert grant.revoked_by == "you (TUI)"

        # Again: the other supervisor skips its grace and cuts the commit; far sooner than 30 s.
        pressed = time.monotonic()
        await press(pilot, "s")
        await wait_until(
            pilot, lambda: attachment.control.phase is SessionPhase.ENDED, "the session ends", attempts=400
        )
        assert time.monotonic() - pressed < 10
        assert "raised" in outcome
        assert await state_of(path, "c2") != "committing"
        await wait_until(
            pilot,
            lambda: f"stopped · {SID}" in app.screen.query_one(StatusLine).render().plain,
            "the status line says it stopped",
        )
        assert "REVOKED by you (TUI)" in app.screen.query_one(StatusLine).render().plain

        # Undo the note that was written, from here.
        await wait_until(
            pilot,
            lambda: app.report_screen is not None and list(app.report_screen.table("undoable").items) == ["c1"],
            "c1 is undoable",
        )
        await press(pilot, "u")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "y")
        await wait_until(pilot, lambda: "one" not in notes.landed(), "the note is gone")
        assert await state_of(path, "c1") == "compensated"
        app.exit()
        await exited(app)


async def wait_until_parked(notes: GatedNote) -> None:
    with anyio.fail_after(10):
        while not notes.parked("slow"):
            await anyio.sleep(0.01)


async def test_tui_command_without_sessions_says_how_to_start_one(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    async with Journal.open(path):
        pass
    result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, ["tui", "--journal", str(path)]))
    assert result.exit_code == 2
    assert "has no sessions yet" in result.output and "agentstop mcp-proxy --task proxy.yaml" in result.output


async def test_tui_command_on_a_missing_journal_says_so(tmp_path: Path) -> None:
    result = await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(main, ["tui", "--journal", str(tmp_path / "nope.db")])
    )
    assert result.exit_code != 0
    assert "no journal at" in result.output and "Traceback" not in result.output


async def test_a_first_stop_whose_worker_finds_a_stop_from_elsewhere_escalates_nothing(
    tmp_path: Path, world: Path
) -> None:
    """The key is a first press (the session runs); before its worker runs, the bridge hears a revoke from
    another terminal. The worker must not take the press for a second one: no grace skipped, no escalation."""
    path = tmp_path / "journal.db"
    notes = GatedNote(world)
    notes.hold_commit("slow")
    async with Journal.open(path) as journal, anyio.create_task_group() as tg:
        sup = Supervisor(journal, [notes], GrantSpec(tools=["write_note"]), grace=30.0, session_id=SID)
        await sup.__aenter__()  # not `async with`: the task group outlives it
        tg.start_soon(functools.partial(sup.call, "write_note", {"name": "slow"}))
        try:
            await wait_until_parked(notes)
            app = make_journal_app(
                path, await rows_of(path), fixed_tools(ToolRegistry([notes])), session_id=SID, title="agentstop tui"
            )
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(pilot, lambda: attached_live(app), "the running session opens live")
                attachment = app.mode.attachment
                assert attachment is not None
                control = attachment.control

                def phase() -> SessionPhase:  # read afresh: it moves while the test awaits
                    return control.phase

                assert phase() is SessionPhase.RUNNING
                app.mode.stop()  # the key, handled while the session runs: its worker is scheduled, not begun
                elsewhere = Event(0, SID, None, EventKind.REVOKED, time.time(), {"by": "ops"})
                control.heard([elsewhere])  # heard by the bridge before the worker runs
                await wait_until(
                    pilot, lambda: all(w.is_finished for w in app.workers if w.group == "stop"), "the Stop's worker ran"
                )
                assert phase() is SessionPhase.STOPPING, "the first press escalated"
                kinds = {e.kind for e in await journal.events(SID)}
                assert EventKind.STOP_ESCALATED not in kinds and EventKind.REVOKED not in kinds
                assert notes.parked("slow"), "the commit keeps its grace"
        finally:
            notes.release_all()
            await sup.__aexit__(None, None, None)
