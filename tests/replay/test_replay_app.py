"""The replay app: browse sessions, scrub the timeline, see the report and undo afterwards."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from textual.widgets import Label

from agentstop import GrantSpec, Journal, Supervisor, ToolRegistry
from agentstop.cli import main
from agentstop.journal import SessionRecord
from agentstop.replay import checkpoints
from agentstop.replay.checkpoints import JournalTimeline
from agentstop.report_counts import ReportCounts
from agentstop.session import fixed_tools
from agentstop.tui import AgentstopApp, JournalMode, make_journal_app
from agentstop.tui.screens.timeline import TimelineScreen
from agentstop.tui.widgets.moment_table import MomentTable
from tests.support.tools import WriteNote
from tests.tui.helpers import rows, wait_until

FROZEN = 1_800_000_000.0


def _clock() -> float:
    return FROZEN


async def _make_journal(path: Path, world: Path) -> None:
    async with Journal.open(path, clock=_clock) as journal:
        notes = WriteNote(world)
        sup = Supervisor(
            journal,
            [notes],
            GrantSpec(scopes=["notes:ok*"]),
            task_name="Write the notes",
            session_id="20270115T080000-replay",
        )
        await sup.say("I will write three notes.")
        await sup.end_thought()
        await sup.call("write_note", {"name": "ok1"})
        await sup.call("write_note", {"name": "ok2"})
        await sup.stop("the user changed their mind")
        try:
            await sup.call("write_note", {"name": "ok3"})
        except Exception:
            pass


def _app(path: Path, world: Path, rows: list[Any], session_id: str | None = None) -> AgentstopApp[JournalMode]:
    return make_journal_app(
        path, rows, fixed_tools(ToolRegistry([WriteNote(world)])), session_id=session_id, clock=_clock
    )


async def _rows(path: Path) -> list[tuple[SessionRecord, ReportCounts]]:
    """The browser's rows, with the host and pid the sessions browser shows pinned (they differ per run)."""
    async with Journal.open(path, readonly=True) as j:
        return [
            (replace(s, host="worker-1", pid=4242), await ReportCounts.read(j, s.session_id, now=FROZEN))
            for s in await j.sessions()
        ]


@pytest.fixture
def replay_journal(tmp_path: Path, world: Path) -> Path:
    path = tmp_path / "replay.db"
    anyio.run(_make_journal, path, world)
    return path


@pytest.mark.anyio
async def test_browse_scrub_and_undo_afterwards(replay_journal: Path, world: Path) -> None:
    app = _app(replay_journal, world, await _rows(replay_journal))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause(0.02)
            if isinstance(app.screen, TimelineScreen):
                break
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        assert screen.index == len(screen.timeline) - 1
        await pilot.pause()
        assert "1 call refused after the Stop" in str(screen.query_one("#position").render())  # ok3, rejected
        await pilot.press("s")
        stop_event = await screen.timeline.event(screen.index)
        assert stop_event is not None and stop_event.kind == "revoked"
        await pilot.press("left")
        assert (await screen.timeline.moment(screen.index)).revoked_at is None
        await pilot.press("home")
        assert (await screen.timeline.moment(screen.index)).calls == {}
        await pilot.press("r")
        await pilot.pause()
        assert app.screen is app.report_screen
        assert [r for r in app.report_screen.table("undoable").items] == ["c2", "c1"]
        report = app.report_screen
        await pilot.press("escape", "r", "escape", "r")  # back to the timeline and again: the same report, alive
        await pilot.pause()
        assert app.screen is report and report.is_mounted and app.is_screen_installed(report)
        assert [r for r in report.table("undoable").items] == ["c2", "c1"]
        await pilot.press("A")
        await pilot.pause()
        await pilot.press("y")
        for _ in range(100):
            await pilot.pause(0.02)
            if not WriteNote(world).landed():
                break
        assert WriteNote(world).landed() == set()


def test_sessions_browser_snapshot(replay_journal: Path, world: Path, snap_compare: Any) -> None:
    """You should see one session, "Write the notes" on worker-1 pid 4242, stopped by user, 2 done, 1 interrupted,
    0 in flight, 2 undoable (the counts' headers on two lines)."""
    rows = anyio.run(_rows, replay_journal)
    assert snap_compare(_app(replay_journal, world, rows), terminal_size=(140, 20))


def test_timeline_at_the_stop_snapshot(replay_journal: Path, world: Path, snap_compare: Any) -> None:
    """You should see the timeline at the Stop: two committed notes and the revoke, in red, marked."""
    rows = anyio.run(_rows, replay_journal)

    async def at_stop(pilot: Any) -> None:
        for _ in range(100):
            await pilot.pause(0.02)
            if isinstance(pilot.app.screen, TimelineScreen):
                break
        await pilot.press("s")

    assert snap_compare(
        _app(replay_journal, world, rows, session_id="20270115T080000-replay"),
        terminal_size=(140, 24),
        run_before=at_stop,
    )


def test_replay_export_from_the_command_line(replay_journal: Path, tmp_path: Path) -> None:
    out = tmp_path / "incident.md"
    result = CliRunner().invoke(main, ["replay", str(replay_journal), "--session", "latest", "--export", str(out)])
    assert result.exit_code == 0, result.output
    assert "Write the notes" in out.read_text()


def test_replay_of_a_damaged_journal_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 500)
    result = CliRunner().invoke(main, ["replay", str(bad)])
    assert result.exit_code == 2
    assert "not a usable agentstop journal" in result.output
    assert "Traceback" not in result.output


@pytest.mark.anyio
async def test_a_long_session_shows_its_last_moment_first_then_its_counts_and_reads_its_calls_when_asked(
    replay_journal: Path, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints every 4 events, none built at open: the session opens at its end, as a long one does.

    Its report line is counted without its calls; they are read when its report is shown
    (a session of a million events holds none of them while its timeline is looked at).
    """
    monkeypatch.setattr(checkpoints, "CHECKPOINT", 4)
    monkeypatch.setattr(checkpoints, "BUILD", "test/4")
    monkeypatch.setattr(checkpoints, "INLINE", 0)
    app = _app(replay_journal, world, [], session_id="20270115T080000-replay")
    async with app.run_test(size=(140, 40)) as pilot:
        for _ in range(100):
            await pilot.pause(0.02)
            if isinstance(app.screen, TimelineScreen):
                break
        screen = app.screen
        assert isinstance(screen, TimelineScreen) and screen.index == len(screen.timeline) - 1
        opening = [w for w in app.workers if w.group in ("open", "timeline-index")]
        await app.workers.wait_for_complete(opening)  # the counts, and the index (held tools run on)
        await pilot.pause()
        assert screen.timeline.indexed == 1.0
        title = str(screen.query_one("#timeline-title", Label).render())
        assert title.endswith("stopped by user: 2 done, 1 interrupted, 0 in flight, 2 undoable"), title
        assert app.mode.report is None, "no call is read to show the timeline"
        assert app.mode.undoable_now() == 2, "quitting asks about what can still be undone"
        await pilot.press("home")
        assert (await screen.timeline.moment(screen.index)).calls == {}
        await pilot.press("r")
        await wait_until(
            pilot,
            lambda: (
                app.screen is app.report_screen
                and app.report is not None
                and len(rows(app.report_screen.table("undoable"))) == 2
            ),
            "the report is read and shown",
        )
        report = app.report
        assert report is not None and (len(report.done), len(report.interrupted), len(report.undoable)) == (2, 1, 2)


@pytest.mark.anyio
async def test_a_timeline_taken_down_while_it_reads_a_moment_draws_nothing_and_fails_nothing(
    replay_journal: Path, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app quitting (or the screen going) while a moment is read: the read ends with the screen's widgets
    gone, and nothing is drawn or fails. It failed with `NoMatches` for the moment table when `app.exit()`
    came as the session opened, on a loaded machine (tests/tui/test_modes.py)."""
    app = _app(replay_journal, world, await _rows(replay_journal))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the session opens")
        screen = app.screen
        assert isinstance(screen, TimelineScreen)
        await wait_until(pilot, lambda: screen.query_one(MomentTable).row_count > 0, "its moment shows")

        held, reading, read = anyio.Event(), anyio.Event(), JournalTimeline.moment

        async def slow_moment(self: JournalTimeline, index: int) -> Any:
            reading.set()
            await held.wait()
            return await read(self, index)

        monkeypatch.setattr(JournalTimeline, "moment", slow_moment)
        async with anyio.create_task_group() as tg:
            tg.start_soon(screen.action_step, -1)  # a step whose moment is still being read ...
            await reading.wait()
            await app.pop_screen()  # ... when the screen goes
            assert not screen.is_attached and not screen.query(MomentTable)
            held.set()
        monkeypatch.setattr(JournalTimeline, "moment", read)
        assert app.is_running and app._exception is None
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TimelineScreen), "the session opens again")
        again = app.screen
        assert isinstance(again, TimelineScreen) and again is not screen
        await wait_until(pilot, lambda: again.query_one(MomentTable).row_count > 0, "its moment shows")
