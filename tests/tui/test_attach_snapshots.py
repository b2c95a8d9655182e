"""Snapshots of `agentstop tui` attached to a session another machine runs: live, and the moment after Stop.

The journal is written as that session's process would have left it (one call
committed, one still committing, on host build-7 as pid 4242, its heartbeat
fresh at the frozen clock), so the picture is the same every run. Regenerate
with `python -m pytest tests/tui --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from textual.pilot import Pilot

from agentstop import CallState, GrantSpec, Journal, ToolRegistry
from agentstop.session import fixed_tools
from agentstop.tui import AgentstopApp, JournalMode, make_journal_app
from tests.tui.helpers import FROZEN_NOW, frozen_clock, press, rows, wait_until

SIZE = (140, 36)
SID = "20270115T075500-b7c1"
Snap = Callable[..., bool]


async def _running_elsewhere(path: Path) -> None:
    async with Journal.open(path, clock=frozen_clock) as j:
        await j.create_session(
            SID,
            task_name="Tidy the release notes",
            goal="Write the notes and tell the team",
            tools=["tests.support.tools:WriteNote"],
            meta={"grace": 2.0, "tool_names": ["write_note"]},
        )
        grant = await j.issue_grant(SID, GrantSpec(tools=["write_note"]))
        await j.append(SID, "transcript", {"text": "First the notes, then the announcement."})
        for name, lands in (("notes", True), ("announce", False)):
            cid = await j.plan_call(
                SID,
                tool="write_note",
                summary=f"note {name!r}",
                resource=f"notes:{name}",
                args={"name": name},
                reversibility="reversible",
                on_stop="wait",
                can_compensate=True,
                can_lookup=True,
                undo_hint="",
                idempotency_key=f"key-{name}",
                grant_id=grant,
            )
            assert await j.fence(SID, cid, grant, "write_note", f"notes:{name}", prepared={"name": name}) is None
            if lands:
                await j.transition(
                    SID, cid, CallState.COMMITTED, durable=True, receipt={"path": f"world/{name}.json", "name": name}
                )
    with sqlite3.connect(path) as db:  # where it runs: another machine, alive by its heartbeat
        db.execute(
            "UPDATE sessions SET pid = 4242, host = 'build-7', heartbeat_at = ? WHERE session_id = ?", (FROZEN_NOW, SID)
        )


def _app(tmp_path: Path) -> AgentstopApp[JournalMode]:
    path = tmp_path / "journal.db"
    anyio.run(_running_elsewhere, path)
    return make_journal_app(
        path, [], fixed_tools(ToolRegistry([])), session_id=SID, clock=frozen_clock, title="agentstop tui"
    )


async def _attached(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, AgentstopApp) and isinstance(app.mode, JournalMode)
    mode: JournalMode = app.mode
    await wait_until(
        pilot,
        lambda: (
            mode.attachment is not None
            and app.screen is mode.attachment.run_screen
            and mode.attachment.run_screen.is_mounted
            and bool(mode.attachment.run_screen.query("#effects"))
            and mode.attachment.run_screen.effects.row_count == 2
        ),
        "attached, both calls shown",
    )
    await pilot.pause()


def test_attached_to_a_session_on_another_machine(snap_compare: Snap, tmp_path: Path) -> None:
    """You should see the run screen of a session run elsewhere: the status line says "attached" and the
    session id; the transcript says whose session it is ("run by pid 4242 on build-7"), then its thought
    and its two calls; on the right c1 committed and c2 committing. The "■ Stop (s)" button and its hint (Esc goes
    back, never stops) at the bottom."""
    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=_attached)


def test_attached_stop_says_what_it_waits_for(snap_compare: Snap, tmp_path: Path) -> None:
    """You should see the report right after s: the grant REVOKED by you (TUI), the summary "Stopping… grant
    revoked; waiting for 1 call in flight: c2 write_note (committing)" with the grace left; c2 In flight,
    c1 Done and Undoable."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await _attached(pilot)
        await press(pilot, "s")
        app = pilot.app
        assert isinstance(app, AgentstopApp) and isinstance(app.mode, JournalMode) and app.report_screen is not None
        screen = app.report_screen
        await wait_until(pilot, lambda: rows(screen.table("in_flight")) == ["c2"], "c2 shows in flight")
        await wait_until(
            pilot,
            lambda: app.mode.attachment is not None and app.mode.attachment.control.revoke_journaled,
            "the revoke came back from the journal",
        )
        await pilot.pause()

    assert snap_compare(_app(tmp_path), terminal_size=SIZE, run_before=run_before)
