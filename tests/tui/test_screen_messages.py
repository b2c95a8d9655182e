"""Screens talk upward in messages: what the person asks for on a screen reaches its app as a Message.

Each screen is hosted here by a bare App that has nothing but handlers recording
what reached it: no `request_undo`, no supervisor, no `can_resume`. A screen that
still called into its app (or probed it with getattr) would fail or do nothing
here. What the screen needs to know back (can it resume, can it re-apply, the
status line, the report) the host hands to it, as the real apps do.

The report is a real one: a session wrote notes a (c1) and b (c2), undid b,
and was stopped; so c1 is undoable and c2, undone, can be re-applied.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button

import agentstop.tui
from agentstop import GrantSpec, Journal, Report, Supervisor
from agentstop.report_counts import ReportCounts
from agentstop.supervisor import UndoOutcome, UndoResult
from agentstop.tui.messages import (
    ForceUndoRequested,
    OpenSessionRequested,
    ReapplyRequested,
    ResumeRequested,
    StopSessionRequested,
    UndoRequested,
)
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.screens.report import ReportScreen
from agentstop.tui.screens.sessions import SessionsScreen
from agentstop.tui.widgets.status import GrantShown, StatusLine
from tests.support.reapply_tools import ReapplyNote
from tests.tui.helpers import FROZEN_NOW, frozen_clock, rows

pytestmark = pytest.mark.anyio

SID = "20270115T080000-asks"
SIZE = (140, 40)


class Host(App[None]):
    """Shows one screen and records every request that reaches the app; it does none of them."""

    CSS_PATH = str(Path(agentstop.tui.__file__).parent / "app.tcss")

    def __init__(self, screen: Screen[None]) -> None:
        super().__init__()
        self.hosted = screen
        self.asked: list[Message] = []

    def on_mount(self) -> None:
        self.push_screen(self.hosted)

    def top(self) -> Screen[object]:
        """The screen on top now (a call: a type check in the test does not pin it for the rest of it)."""
        return self.screen

    def on_undo_requested(self, message: UndoRequested) -> None:
        self.asked.append(message)

    def on_force_undo_requested(self, message: ForceUndoRequested) -> None:
        self.asked.append(message)

    def on_reapply_requested(self, message: ReapplyRequested) -> None:
        self.asked.append(message)

    def on_resume_requested(self, message: ResumeRequested) -> None:
        self.asked.append(message)

    def on_open_session_requested(self, message: OpenSessionRequested) -> None:
        self.asked.append(message)

    def on_stop_session_requested(self, message: StopSessionRequested) -> None:
        self.asked.append(message)


@pytest.fixture
async def report(tmp_path: Path, world: Path) -> Report:
    """Notes a (c1) and b (c2) written, b undone, the session stopped."""
    async with Journal.open(tmp_path / "journal.db") as journal:
        sup = Supervisor(journal, [ReapplyNote(world)], GrantSpec(), task_name="Two notes", session_id=SID)
        await sup.call("reapply_note", {"name": "a"})
        await sup.call("reapply_note", {"name": "b"})
        await sup.undo(["c2"], by="you")
        await sup.stop("done", "you")
        return await Report.from_journal(journal, SID)


def report_screen(report: Report, *, resumable: bool = False, can_reapply: bool = False) -> ReportScreen:
    """A report screen handed what a host hands it before it is shown."""
    screen = ReportScreen(frozen_clock)
    screen.show_report(report, "stopped by you")
    screen.resumable = resumable
    screen.can_reapply = can_reapply
    return screen


def shown(screen: Screen[None], selector: str) -> bool:
    """Whether the button is displayed."""
    return screen.query_one(selector, Button).display


async def test_undo_keys_post_undo_requested_with_the_calls_and_what_was_asked(report: Report) -> None:
    screen = report_screen(report)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        assert rows(screen.table("undoable")) == ["c1"]
        await pilot.press("u")
        await pilot.press("A")
        assert app.asked == [
            UndoRequested(["c1"], "undo c1"),
            UndoRequested(["c1"], "undo everything that can be undone"),
        ]
        assert app.top() is screen, "the screen asks nothing itself: the app previews and asks"


async def test_forcing_a_refused_undo_asks_then_posts_force_undo_requested(report: Report) -> None:
    screen = report_screen(report)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        refused = UndoResult("c1", "reapply_note", UndoOutcome.REFUSED, "not undone", drift="note 'a' was edited since")
        screen.undo_finished([refused])  # what the app hands back after an undo the tool refused
        await pilot.pause()
        assert isinstance(app.top(), ConfirmScreen), "the screen asks, saying what changed"
        await pilot.press("n")
        assert app.top() is screen and app.asked == [], "no: nothing is asked of the app"

        await pilot.press("f")  # on c1, whose undo was refused
        assert isinstance(app.top(), ConfirmScreen)
        await pilot.press("y")
        assert app.asked == [ForceUndoRequested(["c1"])]


async def test_reapply_asks_then_posts_reapply_requested_where_the_app_can_reapply(report: Report) -> None:
    screen = report_screen(report)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        done = screen.table("done")
        done.focus()
        done.move_cursor(row=rows(done).index("c2"))
        await pilot.pause()
        assert not screen.check_action("reapply_row", ()), "a host that cannot re-apply is offered none"
        await pilot.press("e")
        assert app.top() is screen and app.asked == []

        screen.can_reapply = True
        assert screen.check_action("reapply_row", ())
        await pilot.press("e")
        assert isinstance(app.top(), ConfirmScreen), "the screen asks first"
        await pilot.press("y")
        assert app.asked == [ReapplyRequested(["c2"])]


async def test_resume_posts_resume_requested_only_while_the_app_says_it_can(report: Report) -> None:
    screen = report_screen(report)
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        assert not shown(screen, "#resume") and not screen.check_action("resume", ())
        await pilot.press("R")
        assert app.asked == []

        screen.resumable = True  # what the app does when the session can run on
        await pilot.pause()
        assert shown(screen, "#resume") and screen.check_action("resume", ())
        await pilot.press("R")
        await pilot.click("#resume")
        assert app.asked == [ResumeRequested(), ResumeRequested()]


async def test_the_status_handed_over_before_the_screen_shows_is_on_its_status_line(report: Report) -> None:
    screen = report_screen(report)
    screen.show_status({"task_name": "Two notes", "grant": GrantShown.REVOKED, "revoked_by": "you"})
    app = Host(screen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        line = screen.query_one(StatusLine)
        assert (line.task_name, line.grant, line.revoked_by) == ("Two notes", GrantShown.REVOKED, "you")
        screen.show_status({"task_name": "Two notes", "grant": GrantShown.ENDED})
        assert line.grant == GrantShown.ENDED


async def test_the_sessions_browser_posts_open_and_stop_requests(report: Report) -> None:
    app = Host(SessionsScreen([(report.session, ReportCounts.of(report))], FROZEN_NOW))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.press("enter")
        assert app.asked == [StopSessionRequested(SID), OpenSessionRequested(SID)]
