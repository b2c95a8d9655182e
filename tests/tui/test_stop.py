"""Stop: one key revokes the grant, the report replaces the run view, and nothing commits afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentstop.journal import Journal
from agentstop.live_report import LiveReport
from agentstop.report import Report
from agentstop.tui import AgentstopApp
from agentstop.tui.widgets.call_table import CallTable
from agentstop.tui.widgets.status import StatusLine
from tests.tui.helpers import (
    SESSION_ID,
    GatedNote,
    Puppet,
    Think,
    app_for,
    call_states,
    ended,
    finish,
    note,
    press,
    rows,
    settle,
    shown,
    states_are,
    top_screen,
    wait_until,
    world_notes,
)

pytestmark = pytest.mark.anyio


def mid_run_agent(notes: GatedNote) -> Puppet:
    """Two notes land; the third is held in prepare; two more would follow if nobody stopped it."""
    notes.hold_prepare("c")
    return Puppet([Think("Writing the notes."), note("a"), note("b"), note("c"), note("d"), note("e")])


async def stopped_with_c1_and_c2_done(pilot: Pilot[Any], app: AgentstopApp[Any], notes: GatedNote) -> None:
    """Stop pressed while c3 is held in prepare; back once it settled and the report shows c1 and c2 done."""
    await wait_until(pilot, lambda: notes.parked("c"), "c3 is held in prepare")
    await press(pilot, "s")
    await wait_until(pilot, lambda: ended(app), "Stop settled")
    await wait_until(pilot, lambda: rows(app.report_screen.table("done")) == ["c1", "c2"], "the report")
    await settle(pilot)  # no journal event is left that would refill the report by chance


@pytest.mark.parametrize("key", ["s", "ctrl+c"])
async def test_stop_key_revokes_at_once_and_nothing_commits_after(
    tmp_path: Path, world: Path, notes: GatedNote, key: str
) -> None:
    app = app_for(tmp_path, [notes], mid_run_agent(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("c"), "c3 is held in prepare")
        await wait_until(pilot, lambda: "c3" in app.mode.run_screen.effects.rows, "c3 is on screen")
        grant_shown: list[str] = []
        status = app.mode.run_screen.query_one(StatusLine)
        app.watch(status, "grant", lambda value: grant_shown.append(value), init=False)

        await press(pilot, key)
        # The frame that handled the key already says so, and shows the report.
        assert app.mode.run_screen.query_one(StatusLine).grant in ("revoking", "revoked")
        assert app.screen is app.report_screen

        await wait_until(pilot, lambda: ended(app), "Stop settled")
        assert app.mode.sup is not None and app.mode.sup.stopping
        status_after = app.report_screen.query_one(StatusLine)
        await wait_until(pilot, lambda: status_after.grant == "revoked", "the status line says REVOKED")
        assert status_after.revoked_by == "you (TUI)"
        assert grant_shown == ["revoking", "revoked"]  # said before the journal confirmed it
        assert app.mode.journal is not None
        [grant] = await app.mode.journal.grants(SESSION_ID)
        assert grant.revoked_at is not None and grant.revoked_by == "you (TUI)"
        kinds = [e.kind for e in await app.mode.journal.events(SESSION_ID)]
        after_revoke = kinds[kinds.index("revoked") :]
        assert "committing" not in after_revoke and "committed" not in after_revoke
        assert await call_states(app) == {"c1": "committed", "c2": "committed", "c3": "discarded"}
        await wait_until(
            pilot, lambda: rows(app.report_screen.table("interrupted")) == ["c3"], "c3 is listed as interrupted"
        )
        assert rows(app.report_screen.table("done")) == ["c1", "c2"]
        assert rows(app.report_screen.table("undoable")) == ["c2", "c1"]  # latest first
        await finish(pilot)
    assert world_notes(world) == {"a", "b"}
    assert not list(world.glob(".*.tmp"))  # the held prepare was discarded, not left behind


async def test_the_stop_button_stops_too(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], mid_run_agent(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("c"), "c3 is held in prepare")
        await pilot.click("#stop")
        assert app.screen is app.report_screen
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        await finish(pilot)
    assert world_notes(world) == {"a", "b"}


async def test_a_commit_in_flight_finishes_under_wait_and_the_summary_says_so(
    tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    notes.hold_commit("c")
    puppet = Puppet([note("a"), note("c"), note("d")])
    app = app_for(tmp_path, [notes], puppet, grace=0.2)
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("c"), "c2 is held in its commit")
        await press(pilot, "s")
        await wait_until(pilot, lambda: app.mode.sup is not None and app.mode.sup.stopping, "Stop began")
        assert await states_are(app, c2="committing")
        await wait_until(
            pilot,
            lambda: "waiting for 1 call in flight: c2 write_note (committing)" in shown(app.report_screen, "#summary"),
            "the summary says what Stop waits for",
        )
        await pilot.pause(0.3)  # past the 0.2 s grace
        assert not app.mode.finished  # StopPolicy.WAIT: Stop still waits for the commit to land
        assert await states_are(app, c2="committing")
        notes.release("c")
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        assert await call_states(app) == {"c1": "committed", "c2": "committed"}
        await wait_until(
            pilot,
            lambda: shown(app.report_screen, "#summary").startswith("stopped by you (TUI): 2 done"),
            "the summary shows the final count",
        )
        await finish(pilot)
    assert world_notes(world) == {"a", "c"}


async def test_escape_on_the_run_view_never_stops_and_says_how_to(
    tmp_path: Path, world: Path, notes: GatedNote
) -> None:
    app = app_for(tmp_path, [notes], mid_run_agent(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("c"), "c3 is held in prepare")
        await press(pilot, "escape", "escape")
        assert app.screen is app.mode.run_screen
        assert app.mode.sup is not None and not app.mode.sup.stopping
        assert any("Press s or Ctrl+C to stop it" in n.message for n in app._notifications)
        await press(pilot, "tab", "escape", "escape")  # the report and back: still running
        assert app.screen is app.mode.run_screen and not app.mode.sup.stopping
        notes.release("c")
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        await finish(pilot)
    assert world_notes(world) == {"a", "b", "c", "d", "e"}


async def test_after_stop_escape_shows_the_run_view_and_tab_the_report_again(tmp_path: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], mid_run_agent(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await stopped_with_c1_and_c2_done(pilot, app, notes)

        await press(pilot, "escape")
        assert app.screen is app.mode.run_screen
        assert app.mode.run_screen.query_one(StatusLine).grant == "revoked"
        # Installed, the report survives being put away: showing it again shows a live screen, not a dead one.
        await settle(pilot)
        assert app.report_screen.is_mounted and app.is_screen_installed(app.report_screen)
        await press(pilot, "tab")
        assert top_screen(app) is app.report_screen
        await wait_until(
            pilot,
            lambda: (
                bool(app.report_screen.query("#table-done"))
                and rows(app.report_screen.table("done")) == ["c1", "c2"]
                and rows(app.report_screen.table("interrupted")) == ["c3"]
            ),
            "the report, filled again",
        )
        await finish(pilot)


async def test_pressing_stop_again_cancels_the_commit_in_flight(tmp_path: Path, world: Path, notes: GatedNote) -> None:
    notes.hold_commit("c")
    app = app_for(tmp_path, [notes], Puppet([note("a"), note("c"), note("d")]), grace=60.0)
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("c"), "c2 is held in its commit")
        await press(pilot, "s")
        await wait_until(pilot, lambda: app.mode.sup is not None and app.mode.sup.stopping, "Stop began")
        assert not app.mode.finished  # a minute of grace for c2

        assert app.screen is app.report_screen  # where `s` is not bound: Ctrl+C is Stop everywhere
        await press(pilot, "ctrl+c")  # again: skip the grace, cancel the commit, ask the upstream what landed
        await wait_until(pilot, lambda: ended(app), "Stop settled without waiting out the grace")
        assert app.report is not None
        [cut] = app.report.interrupted
        assert (cut.call_id, cut.state) == ("c2", "failed")
        assert "lookup found no effect" in (cut.reason or "")
        await finish(pilot)
    assert world_notes(world) == {"a"}


async def test_stop_catches_the_report_up_instead_of_reading_the_session_again(
    tmp_path: Path, world: Path, notes: GatedNote, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report followed live is read in full once; Stop brings it up to the journal for what changed.

    On a session of 100,000 calls a full read at Stop is seconds of a frozen screen; what Stop
    changed is a revoke, the calls cut off and the session's end. The report it shows must be the
    journal's all the same.
    """
    loads: list[str] = []
    load = LiveReport.load.__func__  # type: ignore[attr-defined]

    async def counted(cls: type[LiveReport], /, journal: Journal, session_id: str, **options: Any) -> LiveReport:
        loads.append(session_id)
        live: LiveReport = await load(cls, journal, session_id, **options)
        return live

    monkeypatch.setattr(LiveReport, "load", classmethod(counted))
    app = app_for(tmp_path, [notes], mid_run_agent(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("c"), "c3 is held in prepare")
        await wait_until(pilot, lambda: app.mode.live is not None, "the report is followed live")
        assert loads == [SESSION_ID]
        await press(pilot, "s")
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        await settle(pilot)
        assert loads == [SESSION_ID], "Stop read the session again in full"
        shown_report = app.report
        assert shown_report is not None
        async with Journal.open(tmp_path / "journal.db", readonly=True) as journal:
            truth = await Report.from_journal(journal, SESSION_ID, now=shown_report.generated_at)
        for bucket in ("done", "interrupted", "in_flight", "undoable"):
            mine = [(i.call_id, i.state, i.reason) for i in getattr(shown_report, bucket)]
            assert mine == [(i.call_id, i.state, i.reason) for i in getattr(truth, bucket)], bucket
        assert shown_report.session.status == truth.session.status == "stopped"
        assert shown_report.revoked is not None and shown_report.summary_line() == truth.summary_line()
        await finish(pilot)


async def test_the_report_put_away_lets_its_drawn_cells_go_and_draws_them_again_when_shown(
    tmp_path: Path, notes: GatedNote
) -> None:
    """A report screen put away keeps no drawn cells (in the heap, and in every pass of the collector, while a burst
    of calls runs on the run view); shown again, it draws the same rows."""
    app = app_for(tmp_path, [notes], mid_run_agent(notes))
    async with app.run_test(size=(140, 42)) as pilot:
        await stopped_with_c1_and_c2_done(pilot, app, notes)
        done = app.report_screen.table("done")
        await wait_until(pilot, lambda: bool(done._drawn), "the report's cells are drawn")
        shown = [done.render_line(y).text for y in range(done.size.height)]
        await press(pilot, "escape")
        assert app.screen is app.mode.run_screen
        assert all(not table._drawn for table in app.report_screen.query(CallTable)), "cells kept while put away"
        await press(pilot, "tab")
        await wait_until(pilot, lambda: bool(done._drawn), "the cells are drawn again")
        assert [done.render_line(y).text for y in range(done.size.height)] == shown
        await finish(pilot)
