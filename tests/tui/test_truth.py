"""What the screen says is true at every moment: the grant, the summary, the Stop button, the columns, the undo."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button
from textual.widgets.data_table import ColumnKey

from agentstop import GrantSpec, Journal, Supervisor, ToolContext, ToolRegistry
from agentstop.report import Report
from agentstop.session import AttachedSession, fixed_tools
from agentstop.tui import AgentstopApp, JournalMode, make_journal_app
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.screens.run import RunPhase
from agentstop.tui.widgets.status import GrantShown, StatusLine
from agentstop.tui.wording import counted, standing
from demo_tools.chat import PostMessage
from demo_tools.mail import SendEmail
from tests.tui.helpers import (
    FROZEN_NOW,
    GatedNote,
    Puppet,
    app_for,
    attached_live,
    cell,
    ended,
    finish,
    note,
    press,
    rows,
    settle,
    shown,
    wait_until,
)

pytestmark = pytest.mark.anyio


def test_counts_are_said_in_words_not_with_s_in_brackets() -> None:
    assert counted(1, "call") == "1 call"
    assert counted(2, "call") == "2 calls"
    assert counted(20_000, "call") == "20,000 calls"
    assert counted(1, "undone call") == "1 undone call"


async def test_a_completed_session_says_its_grant_is_closed_not_active(tmp_path: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], Puppet([note("a")]))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: ended(app), "the agent finished")
        # (Queried in the wait: the report screen is shown at the end, and its widgets come a moment later.)
        await wait_until(
            pilot,
            lambda: app.report_screen.query_one(StatusLine).grant == GrantShown.ENDED,
            "the grant is shown closed",
        )
        line = app.report_screen.query_one(StatusLine)
        assert "CLOSED: the session has ended" in line.render().plain
        assert "ACTIVE" not in line.render().plain
        assert app.mode.run_screen.query_one(StatusLine).grant == GrantShown.ENDED
        await finish(pilot)


async def test_completed_is_not_said_while_calls_are_still_in_flight(tmp_path: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], Puppet([note("a"), note("b")]))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(
            pilot, lambda: ended(app) and app.report is not None and len(app.report.done) == 2, "the agent finished"
        )
        report = app.report
        assert report is not None
        assert standing(report) == "completed: 2 done, 0 interrupted, 0 in flight, 2 undoable"
        # The journal says completed while a call's outcome is still being settled (an abandoned commit):
        racing = replace(report, in_flight=report.done[:1], done=report.done[1:])
        assert standing(racing) == (
            "the agent finished; its last calls are still in flight: 1 done, 0 interrupted, 1 in flight, 2 undoable"
        )
        await finish(pilot)


async def test_once_stopped_the_big_stop_button_gives_way_to_the_report(tmp_path: Path, notes: GatedNote) -> None:
    notes.hold_prepare("b")
    app = app_for(tmp_path, [notes], Puppet([note("a"), note("b")]))
    async with app.run_test(size=(140, 42)) as pilot:
        await wait_until(pilot, lambda: notes.parked("b"), "b is held")
        run = app.mode.run_screen
        assert run.query_one("#stop", Button).display and not run.query_one("#to-report", Button).display
        await press(pilot, "s")
        await wait_until(pilot, lambda: ended(app) and run.phase is RunPhase.ENDED, "Stop settled")
        await press(pilot, "escape")
        assert app.screen is run
        assert not run.query_one("#stop", Button).display
        assert run.query_one("#to-report", Button).display
        assert "The session has ended" in shown(run, "#stop-hint")
        await pilot.click("#to-report")
        await wait_until(pilot, lambda: app.screen is app.report_screen, "the button shows the report")
        await finish(pilot)


async def test_long_ids_are_whole_and_long_texts_end_in_an_ellipsis(tmp_path: Path, notes: GatedNote) -> None:
    app = app_for(tmp_path, [notes], Puppet([note("a")]))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_until(
            pilot,
            lambda: (
                ended(app)
                and app.report is not None
                and bool(app.report.done)
                and app.screen is app.report_screen
                and app.report_screen.is_mounted
            ),
            "finished",
        )
        await settle(pilot)
        assert app.report is not None
        item = app.report.done[0]
        items = [
            replace(item, call_id=f"c{19500 + i}", summary=f"{i} " + "a very long summary " * 12) for i in range(10)
        ]
        table = app.report_screen.table("done")
        table.sync(items)
        await pilot.pause()
        assert [cell(table, f"c{19500 + i}", "call") for i in range(10)] == [f"c{19500 + i}" for i in range(10)]
        assert table.columns[ColumnKey("call")].width >= 6
        what = cell(table, "c19500", "what") or ""
        assert what.startswith("0 a very long summary") and what.endswith("…")
        assert len(what) == table.widths["what"]
        # The table fits the terminal: every column together is no wider than the screen.
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= 160
        await finish(pilot)


def test_email_and_chat_undos_say_what_they_do() -> None:
    later, earlier = time.time() + 60, time.time() - 60
    mail = {"key": "k", "message_id": "m", "to": "ada@example.com", "subject": "Q4", "reversible_until": later}
    assert SendEmail().undo_summary(mail) == "pull it back from the outbox (not delivered yet)"
    assert SendEmail().undo_summary({**mail, "reversible_until": earlier}) == (
        "send ada@example.com a “Please disregard my previous message” follow-up"
    )
    chat = {"key": "k", "channel": "general", "text": "hi", "reversible_until": later}
    assert PostMessage().undo_summary(chat) == "take it back before it reaches #general"
    assert PostMessage().undo_summary({**chat, "reversible_until": earlier}) == (
        "post “(retracted) Please ignore my previous message” in #general"
    )


class Clock:
    """A wall clock the test moves on by hand."""

    def __init__(self) -> None:
        self.now = FROZEN_NOW

    def __call__(self) -> float:
        return self.now


class ClockedNote(GatedNote):
    """A note whose receipt names a moment `after` seconds past its commit, on the test's clock, as `field`."""

    field, after = "undo_deadline", 60.0

    def __init__(self, root: Path, clock: Clock) -> None:
        super().__init__(root)
        self.clock = clock

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        receipt = await super().commit(prepared, ctx)
        return {**receipt, self.field: self.clock() + self.after}


class Reservation(ClockedNote):
    """A note whose undo closes 60 s after it is written (its receipt's `undo_deadline`)."""

    name = "reserve"


@asynccontextmanager
async def _attached_after_one_call(
    tmp_path: Path, tool: ClockedNote, session_id: str
) -> AsyncIterator[tuple[AgentstopApp[JournalMode], Pilot[Any]]]:
    """A session running here that made one call of `tool`, and the journal app attached to it, on its report."""
    async with Journal.open(tmp_path / "journal.db", clock=tool.clock) as journal:
        sup = Supervisor(journal, [tool], GrantSpec(tools=[tool.name]), grace=5.0, session_id=session_id)
        await sup.__aenter__()
        try:
            await sup.call(tool.name, {"name": "one"})
            tools = fixed_tools(ToolRegistry([tool]))
            app = make_journal_app(journal.location, [], tools, session_id=session_id, clock=tool.clock)
            async with app.run_test(size=(160, 40)) as pilot:
                await wait_until(pilot, lambda: attached_live(app), "attached")
                await press(pilot, "tab")
                yield app, pilot
                app.exit()
        finally:
            await sup.__aexit__(None, None, None)


async def test_undo_windows_count_down_live_when_attached(tmp_path: Path, world: Path) -> None:
    clock = Clock()
    async with _attached_after_one_call(tmp_path, Reservation(world, clock), "20270115T080000-count") as (app, pilot):
        undoable = app.report_screen.table("undoable")
        await wait_until(pilot, lambda: "1 m 00 s left" in (cell(undoable, "c1", "detail") or ""), "the window shows")
        clock.now += 15
        await wait_until(
            pilot,
            lambda: "45.0 s left" in (cell(undoable, "c1", "detail") or ""),
            "the window counts down without a journal event",
            attempts=200,
        )
        clock.now += 60
        await wait_until(
            pilot,
            lambda: "the undo window has closed" in (cell(undoable, "c1", "detail") or "") or not undoable.items,
            "the window closes",
            attempts=200,
        )


class Outbox(ClockedNote):
    """A note that sits in an outbox for 10 s (its receipt's `reversible_until`): pulled back until then, after
    that only followed up, as the demo's email is."""

    name = "queue"
    field, after = "reversible_until", 10.0

    def undo_summary(self, receipt: dict[str, Any]) -> str:
        if self.clock() < receipt["reversible_until"]:
            return "pull it back from the outbox"
        return "send a follow-up"


async def test_the_undo_question_stays_true_while_it_is_open(tmp_path: Path, world: Path) -> None:
    """What the question says an undo will do changes when the undo does: it counts down, then says "now: ...".

    It used to be drawn once: a person who read "pull it back from the outbox · exact undo" and said yes
    after the window had closed sent a follow-up they were never shown.
    """
    clock = Clock()
    async with _attached_after_one_call(tmp_path, Outbox(world, clock), "20270115T080000-queue") as (app, pilot):
        undoable = app.report_screen.table("undoable")
        await wait_until(pilot, lambda: bool(undoable.items), "c1 undoable")
        await press(pilot, "A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question is open")
        question = app.screen

        def says(text: str) -> Callable[[], bool]:
            return lambda: text in shown(question, "#dialog-body")

        await wait_until(pilot, says("→ pull it back from the outbox · exact undo · exact for 10.0 s"), "asked")
        clock.now += 4
        await wait_until(pilot, says("exact for 6.0 s"), "the question counts down", attempts=200)
        clock.now += 10
        await wait_until(
            pilot,
            says("→ now: send a follow-up · compensation (leaves a trace)"),
            "the question says what the undo does now",
            attempts=200,
        )
        assert "pull it back" not in shown(question, "#dialog-body")
        await press(pilot, "n")


PAST = "20270115T080000-past"


async def test_a_past_sessions_windows_count_down_and_it_is_read_again_only_when_one_closes(
    tmp_path: Path, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report read in full (a past session) redraws its countdowns; it is read again when a window closes.

    Every second it used to be read again in full while any undoable call had a deadline, even long
    past: a second of its own on a long session, again and again, while the person only looks at it.
    """
    clock = Clock()
    path = tmp_path / "journal.db"
    tool = Reservation(world, clock)
    async with Journal.open(path, clock=clock) as journal:
        sup = Supervisor(journal, [tool], GrantSpec(tools=["reserve"]), task_name="Reserve", session_id=PAST)
        await sup.call("reserve", {"name": "room"})
        await sup.close()
    reads: list[float] = []
    read = AttachedSession.report

    async def counted_read(self: AttachedSession) -> Report:
        reads.append(clock())
        return await read(self)

    monkeypatch.setattr(AttachedSession, "report", counted_read)
    app = make_journal_app(path, [], fixed_tools(ToolRegistry([tool])), session_id=PAST, clock=clock)
    ticks: list[float] = []
    tick = app.mode.tick

    def counted_tick() -> None:
        ticks.append(clock())
        tick()

    app.mode.tick = counted_tick  # type: ignore[method-assign]  # the app's interval calls it by this name

    async def ticked_after(seconds: float) -> None:
        """Move the clock on, then let the mode's tick run twice at the new time (no race with it)."""
        clock.now += seconds
        seen = len(ticks)
        await wait_until(pilot, lambda: len(ticks) >= seen + 2, "the mode ticked at the new time")
        await pilot.pause()

    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: app.report is not None, "the session opens")
        await press(pilot, "r")
        undoable = app.report_screen.table("undoable")
        await wait_until(pilot, lambda: "1 m 00 s left" in (cell(undoable, "c1", "detail") or ""), "the window shows")
        await ticked_after(0)
        read_before = len(reads)
        await ticked_after(15)
        assert "45.0 s left" in (cell(undoable, "c1", "detail") or "")
        await ticked_after(10)
        assert "35.0 s left" in (cell(undoable, "c1", "detail") or "")
        assert len(reads) == read_before, "the report was read again while no window closed"
        await ticked_after(60)
        await wait_until(pilot, lambda: len(reads) == read_before + 1, "read again when the window closed")
        await wait_until(pilot, lambda: "c1" not in rows(undoable), "Undoable no longer lists it")
        for _ in range(3):
            await ticked_after(5)
        assert len(reads) == read_before + 1, "no window left: never read again"
        app.exit()
