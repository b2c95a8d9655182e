"""The run screen shows the processes of a shell command in flight, and says so when Stop cannot kill one.

The demo shell tool (demo_tools/shell.py) journals `processes` notes while its
command runs: session events naming the call in their data. The side-effect
panel puts the PIDs of the latest note on the call's row ("committing… pid
123 124") and, when Stop could not kill one, says that instead until the call
settles. The notes never count as the call's state. Real processes throughout;
whatever a test saw still running at the end is killed.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult

from agentstop import Event
from agentstop.tui import AgentstopApp
from agentstop.tui.widgets.effects import EffectsTable
from demo_tools.shell import Shell
from tests.tui.helpers import SESSION_ID, Call, Puppet, app_for, call_states, cell, ended, finish, press, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

SIZE = (140, 40)


def _state(pid: int) -> str | None:
    """The process's state letter from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()[0]


def running(pid: int) -> bool:
    return _state(pid) not in (None, "Z")  # a zombie waits only for init to reap it


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """PIDs a test saw; any still running at the end are killed."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if running(pid):
            os.kill(pid, signal.SIGKILL)


def shell_agent(command: str) -> Puppet:
    return Puppet([Call("shell", {"argv": ["sh", "-c", command], "timeout": 20}, key="build")])


def shell_app(tmp_path: Path, command: str, **options: Any) -> AgentstopApp:
    tool = Shell(term_grace=0.3, kill_wait=1.0, watch_interval=0.05)
    return app_for(tmp_path, [tool], shell_agent(command), **options)


async def latest_note(app: AgentstopApp) -> dict[str, Any] | None:
    assert app.mode.journal is not None
    notes = [e.data for e in await app.mode.journal.events(SESSION_ID) if e.kind == "processes"]
    return notes[-1] if notes else None


async def test_a_command_in_flight_shows_its_pids_until_stop_kills_them(
    tmp_path: Path, world: Path, strays: list[int]
) -> None:
    app = shell_app(tmp_path, "sleep 30 & wait", grace=0.2)
    async with app.run_test(size=SIZE) as pilot:
        effects = app.mode.run_screen.effects
        await wait_until(
            pilot, lambda: (cell(effects, "c1", "state") or "").count(" ") >= 3, "c1 shows two PIDs (sh and sleep)"
        )
        note = await latest_note(app)
        assert note is not None and note["call_id"] == "c1" and note["state"] == "running"
        pids: list[int] = note["pids"]
        strays.extend(pids)
        assert len(pids) == 2 and all(running(pid) for pid in pids)
        assert cell(effects, "c1", "state") == f"committing… pid {pids[0]} {pids[1]}"
        assert await call_states(app) == {"c1": "committing"}  # the notes are not states

        await press(pilot, "s")  # after 0.2 s of grace the command's group is killed
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        assert not any(running(pid) for pid in pids)
        gone = await latest_note(app)
        assert gone is not None and (gone["state"], gone["pids"]) == ("gone", [])
        await wait_until(pilot, lambda: cell(effects, "c1", "state") == "unknown", "the row lost its PIDs")
        assert app.report is not None and [i.call_id for i in app.report.in_flight] == ["c1"]
        await finish(pilot)


async def test_a_process_stop_could_not_kill_is_named_on_its_row(
    tmp_path: Path, world: Path, strays: list[int]
) -> None:
    # setsid takes one sleep out of the command's process group: killing the group misses it.
    app = shell_app(tmp_path, "setsid sleep 30 & sleep 30 & wait", grace=30.0)
    async with app.run_test(size=SIZE) as pilot:
        effects = app.mode.run_screen.effects
        await wait_until(pilot, lambda: (cell(effects, "c1", "state") or "").count(" ") >= 4, "c1 shows three PIDs")
        note = await latest_note(app)
        assert note is not None
        strays.extend(note["pids"])
        pgid = note["pgid"]
        await wait_until(
            pilot,
            lambda: any(_pgid(pid) not in (None, pgid) for pid in note["pids"]),
            "setsid took one process out of the group",
        )
        [escaped] = [pid for pid in note["pids"] if _pgid(pid) != pgid]

        await press(pilot, "s")
        await wait_until(pilot, lambda: app.mode.sup is not None and app.mode.sup.stopping, "Stop began")
        await press(pilot, "ctrl+c")  # again: no grace, kill the group now
        await wait_until(pilot, lambda: ended(app), "Stop settled")
        await wait_until(
            pilot,
            lambda: cell(effects, "c1", "state") == f"could not kill pid {escaped}",
            "the row names the process Stop could not kill",
        )
        assert running(escaped)
        assert await call_states(app) == {"c1": "unknown"}  # still running somewhere: in flight
        await finish(pilot)


def _pgid(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text[text.rfind(")") + 2 :].split()[2])


class Host(App[None]):
    """Just the side-effect panel."""

    def compose(self) -> ComposeResult:
        yield EffectsTable(id="effects")


def event(seq: int, kind: str, call: str | None, **data: Any) -> Event:
    return Event(seq, SESSION_ID, call, kind, 1_800_000_000.0, data)


async def test_notes_never_change_a_calls_state_and_a_settled_call_drops_its_pids(tmp_path: Path) -> None:
    """The panel alone, fed journal events: what a reader that takes call events as states must do."""
    host = Host()
    async with host.run_test(size=SIZE) as pilot:
        table = host.query_one(EffectsTable)
        table.apply(
            [
                event(1, "planned", "c1", tool="shell", summary="$ make"),
                event(2, "processes", None, call_id="c1", state="running", pids=[11, 12]),
                event(3, "committing", "c1"),
            ],
            {"shell": "irreversible"},
        )
        await pilot.pause()
        # A note that came before the commit began is not shown: it was not about a call in flight.
        assert cell(table, "c1", "state") == "committing…"
        table.apply(
            [event(4, "processes", None, call_id="c1", state="running", pids=[11, 12, 13, 14, 15], count=6)], {}
        )
        assert cell(table, "c1", "state") == "committing… pid 11 12 13 +3"
        table.apply([event(5, "processes", None, call_id="c9", state="running", pids=[99])], {})  # no such row
        table.apply([event(6, "processes", None, call_id="c1", state="not_killed", pids=[13])], {})
        assert cell(table, "c1", "state") == "could not kill pid 13"
        table.apply([event(7, "unknown", "c1")], {})
        assert cell(table, "c1", "state") == "could not kill pid 13"  # not settled: still in flight
        table.apply([event(8, "committed", "c1")], {})
        assert cell(table, "c1", "state") == "committed"
        table.apply([event(9, "processes", None, call_id="c1", state="running", pids=[11])], {})
        assert cell(table, "c1", "state") == "committed"  # a late note changes nothing
