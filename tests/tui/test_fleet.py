"""The sessions browser as a fleet view: where each session runs, live counts, and Stop from here.

A headless run in a child process writes into the same journal (a SQLite file,
or a database on the test PostgreSQL server) that the browser reads; the
browser shows its host and pid, its counts grow while it works, and `s` stops
it through `agentstop.revoke`, after a confirmation naming it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from agentstop import GrantSpec, Journal, Supervisor, ToolRegistry
from agentstop.journal import SessionRecord, SessionStatus
from agentstop.report_counts import ReportCounts
from agentstop.session import fixed_tools
from agentstop.tui import AgentstopApp, JournalMode, make_journal_app
from agentstop.tui.screens.confirm import ConfirmScreen
from agentstop.tui.screens.sessions import SessionsScreen, how_it_ended
from agentstop.tui.widgets.sessions_table import SessionsTable
from tests.support.postgres import PostgresServer
from tests.support.tools import WriteNote
from tests.tui.helpers import cell, exited, press, shown, wait_until

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
LONG = ROOT / "tests" / "cli" / "tasks" / "long.yaml"
SIZE = (160, 30)


no_tools = fixed_tools(ToolRegistry([]), ["not needed here"])


async def rows_of(target: str | Path) -> list[tuple[SessionRecord, ReportCounts]]:
    async with Journal.open(target, readonly=True) as j:
        return [(s, await ReportCounts.read(j, s.session_id)) for s in await j.sessions()]


def table_of(app: AgentstopApp[JournalMode]) -> SessionsTable:
    return app.mode.sessions_screen.table


# -- a session of another process, stopped from the browser ------------------------------------


class Child:
    """`agentstop run long.yaml --headless --json` in a process of its own, on the given journal."""

    def __init__(self, target: str | Path, files: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        env["FIXTURE_FILES_DIR"] = str(files)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agentstop", "run", str(LONG), "--headless", "--json", "--journal", str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def finish(self, timeout: float) -> tuple[int, str, str]:
        stdout, stderr = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, stdout, stderr

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """The shared journal: a file, or a fresh database on the test server."""
    if request.param == "sqlite":
        yield tmp_path / "fleet.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def child(target: str | Path, tmp_path: Path) -> Iterator[Child]:
    files = tmp_path / "files"
    files.mkdir()
    running = Child(target, files)
    yield running
    running.close()


async def session_of(child: Child, target: str | Path, committed: int = 1) -> SessionRecord:
    """The child's session, once it has committed `committed` calls."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert child.proc.poll() is None, f"the run exited early: {child.proc.communicate()[1]}"
        try:
            async with Journal.open(target, readonly=True) as j:
                for s in await j.sessions():
                    if (
                        s.pid == child.proc.pid
                        and sum(c.state == "committed" for c in await j.calls(s.session_id)) >= committed
                    ):
                        return s
        except Exception:  # the child is still creating the journal
            pass
        await anyio.sleep(0.05)
    raise AssertionError("the child never committed a call")


@pytest.mark.slow
async def test_the_browser_shows_a_running_session_live_and_stops_it(target: str | Path, child: Child) -> None:
    session = await session_of(child, target)
    sid = session.session_id
    app = make_journal_app(target, await rows_of(target), no_tools)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: cell(table, sid, "how it ended") == "running", "the session shows running")
        assert cell(table, sid, "host") == socket.gethostname()
        assert cell(table, sid, "pid") == str(child.proc.pid)
        assert "1 running, refreshed every second · s stops one" in shown(app.mode.sessions_screen, "#sessions-title")
        done = int(cell(table, sid, "done") or 0)
        await wait_until(pilot, lambda: int(cell(table, sid, "done") or 0) > done, "its counts grow live", attempts=300)

        await press(pilot, "s")
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert shown(confirm, "#dialog-title").strip() == f"Stop “Write a long report” on {socket.gethostname()}?"
        assert f"session {sid} on {socket.gethostname()}, pid {child.proc.pid}" in shown(confirm, "#dialog-body")
        await press(pilot, "y")
        assert app.screen is app.mode.sessions_screen
        # At once: "revoking…" while the revoke runs in its thread, then "stopping…" until it has (on a
        # loaded machine the child may have stopped before this line runs).
        assert cell(table, sid, "how it ended") in ("revoking…", "stopping…", "stopped by you (TUI)")
        # The child stops in its own time (its call in flight gets the grace, 2 s, and a loaded machine slows
        # it more): wait for it to end, the app running meanwhile, then for the browser's next refresh.
        code, stdout, stderr = await anyio.to_thread.run_sync(child.finish, 120)
        await wait_until(
            pilot,
            lambda: cell(table, sid, "how it ended") == "stopped by you (TUI)",
            "the row says the session stopped",
            attempts=300,
        )
        assert "running" not in shown(app.mode.sessions_screen, "#sessions-title")
        app.exit()
        await exited(app)

    assert code == 1, stderr  # stopped: not a clean run
    report = json.loads(stdout)
    assert (report["session"]["status"], report["session"]["stopped_by"]) == ("stopped", "you (TUI)")
    assert report["in_flight"] == []


# -- the browser without a running session ---------------------------------------------------------


async def _ended_session(path: Path, world: Path) -> None:
    async with Journal.open(path) as journal:
        sup = Supervisor(
            journal, [WriteNote(world)], GrantSpec(), task_name="Write the notes", session_id="20270115T080000-fleet"
        )
        await sup.call("write_note", {"name": "one"})
        await sup.stop("enough", "you (TUI)")


async def test_host_and_pid_show_and_an_ended_session_cannot_be_stopped(tmp_path: Path, world: Path) -> None:
    path = tmp_path / "fleet.db"
    await _ended_session(path, world)
    [(session, counts)] = await rows_of(path)
    rows = [(replace(session, host="worker-7", pid=4242), counts)]
    app = make_journal_app(path, rows, no_tools)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 1, "the session is listed")
        sid = session.session_id
        assert [cell(table, sid, c) for c in ("host", "pid", "how it ended", "done")] == [
            "worker-7",
            "4242",
            "stopped by you (TUI)",
            "1",
        ]
        assert "running" not in shown(app.mode.sessions_screen, "#sessions-title")
        await press(pilot, "s")
        assert isinstance(app.screen, SessionsScreen)  # nothing to confirm: it already ended
        app.exit()
        await exited(app)


def test_a_running_session_someone_asked_to_stop_says_stopping() -> None:
    running = SessionRecord(
        "s1",
        "Write",
        "",
        None,
        [],
        1.0,
        None,
        SessionStatus.RUNNING,
        "on-call",
        "incident",
        1,
        "far-away",
        time.time(),
        {},
    )
    assert how_it_ended(running) == "stopping… (by on-call)"
    assert how_it_ended(running, stopping="revoking…") == "revoking…"
    assert how_it_ended(replace(running, stopped_by=None)) == "running"  # its heartbeat is fresh
    assert how_it_ended(replace(running, stopped_by=None, heartbeat_at=1.0)) == "crashed (not yet recovered)"
    assert how_it_ended(replace(running, status=SessionStatus.STOPPED)) == "stopped by on-call"


class _SlowReads:
    """The browser's journal, whose every read of the sessions waits until the test lets it through."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.reads: list[anyio.Event] = []

    async def sessions(self) -> list[SessionRecord]:
        gate = anyio.Event()
        self.reads.append(gate)
        await gate.wait()
        return await self._journal.sessions()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


async def test_a_read_slower_than_the_refresh_interval_is_not_cut_off_and_its_rows_show(
    tmp_path: Path, world: Path
) -> None:
    """On a loaded machine, or with many sessions, a read of the rows can outlast the second between two
    refreshes. The next refresh waits for it rather than cutting it off (which, read after read, would
    leave the browser showing the rows it opened with for good)."""
    path = tmp_path / "fleet.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec(), task_name="Write the notes")
        await sup.call("write_note", {"name": "one"})  # it stays running: nobody ends it
    [(session, counts)] = await rows_of(path)
    sid = session.session_id
    stale = [(session, replace(counts, done=0))]  # what the browser opened with, before the call landed
    app = make_journal_app(path, stale, no_tools)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: cell(table, sid, "done") == "0", "the rows it opened with")
        fleet = app.mode.fleet
        slow = _SlowReads(await Journal.connect(path, readonly=True))
        await wait_until(
            pilot, lambda: fleet._reading is None or not fleet._reading.is_running, "no read of the rows under way"
        )
        old, fleet._journal = fleet._journal, cast(Journal, slow)  # (no await since: no read began meanwhile)
        if old is not None:
            await old.close()
        fleet.tick()
        await wait_until(pilot, lambda: len(slow.reads) == 1, "a read is under way")
        fleet.tick()  # a second later, that read still runs
        await pilot.pause()
        slow.reads[0].set()
        await wait_until(pilot, lambda: cell(table, sid, "done") == "1", "the slow read's rows show")
        assert len(slow.reads) == 1
        app.exit()
        await exited(app)
