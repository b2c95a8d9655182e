"""`agentstop undo` and `--force` against the real demo calendar: a refused undo says why and how to force it.

Each test that takes `invoke` runs twice: through click's CliRunner and as a real process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from icalendar import Calendar, Event

from agentstop import GrantSpec, Journal, Supervisor
from demo_tools.calendar_tool import CreateEvent
from demo_tools.http_client import path_key, request
from demo_tools.world import running_world
from demo_tools.world_config import WorldConfig

from .conftest import Invoke, in_process

START = "2025-03-14T10:00:00+00:00"


@pytest.fixture
def calendar(tmp_path: Path) -> Iterator[WorldConfig]:
    """The demo world, running (its address in $AGENTSTOP_DEMO_WORLD for this process and its children)."""
    with running_world(tmp_path / "world") as config:
        yield config


def booked(world: WorldConfig) -> dict[str, str]:
    """uid -> title of the events in the calendar file now."""
    cal = Calendar.from_ical(Path(world.dir, "calendar.ics").read_bytes())
    return {str(e["uid"]): str(e["summary"]) for e in cal.walk("VEVENT") if isinstance(e, Event)}


def agent_books(journal: Path, *titles: str) -> tuple[str, list[str]]:
    """A session that books one event per title; returns its id and the events' uids."""

    async def run() -> tuple[str, list[str]]:
        async with Journal.open(journal) as j, Supervisor(j, [CreateEvent], GrantSpec()) as sup:
            uids = [
                (await sup.call("create_event", {"title": t, "start": START, "calendar": "cli"}))["uid"] for t in titles
            ]
            return sup.session_id, uids

    return anyio.run(run)


def person_edits(world: WorldConfig, uid: str, **changes: Any) -> None:
    async def run() -> None:
        response = await request("PATCH", f"{world.calendar_api}/events/{path_key(uid)}", changes)
        assert response.status == 200, response.data

    anyio.run(run)


def test_a_refused_undo_prints_the_reason_exits_1_and_says_how_to_force(
    invoke: Invoke, calendar: WorldConfig, journal_path: Path
) -> None:
    sid, [uid] = agent_books(journal_path, "Review")
    person_edits(calendar, uid, title="Review with legal")

    result = invoke("undo", journal_path, "c1")

    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == (
        "REFUSED    c1 create_event: the event was edited since the agent booked it "
        "(revision 0 → 1): title “Review” → “Review with legal”\n"
    )
    assert (
        f"agentstop: 1 undo(s) refused: c1 changed since the agent acted (see above), and undoing would "
        f"overwrite that change; nothing was done to them. To undo anyway: agentstop undo {journal_path} "
        f"--session {sid} --force c1"
    ) in result.stderr
    assert booked(calendar) == {uid: "Review with legal"}

    forced = invoke("undo", journal_path, "--session", sid, "--force", "c1")

    assert forced.code == 0, forced.stderr
    assert forced.stdout == "undone     c1 create_event: undone (forced: no drift check)\n"
    assert booked(calendar) == {}
    report = in_process("report", journal_path, "--json").json()
    assert [i["state"] for i in report["done"]] == ["compensated"]


def test_undo_all_undoes_the_rest_and_exits_1_for_the_refused_one(
    invoke: Invoke, calendar: WorldConfig, journal_path: Path
) -> None:
    sid, uids = agent_books(journal_path, "One", "Two", "Three")
    person_edits(calendar, uids[0], start="2025-03-14T12:00:00+00:00")

    result = invoke("undo", journal_path, "--all")

    assert result.code == 1
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["undone", "c3"], ["undone", "c2"], ["REFUSED", "c1"]]
    assert "start Fri 14 Mar 10:00 → Fri 14 Mar 12:00" in lines[2]
    assert f"--session {sid} --force c1" in result.stderr
    assert booked(calendar) == {uids[0]: "One"}

    again = invoke("undo", journal_path, "--all", "--force")
    assert again.code == 0, again.stderr
    assert booked(calendar) == {}


def test_undo_help_shows_force_with_an_example() -> None:
    result = in_process("undo", "--help")

    assert result.code == 0
    assert "--force" in result.stdout
    assert "agentstop undo --force c3" in result.stdout
