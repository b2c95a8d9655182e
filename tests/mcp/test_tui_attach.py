"""`agentstop tui` attached to an `agentstop mcp-proxy` session: watched live, stopped, then undone from the TUI.

The proxy is a real process in front of the reference memory server, pytest is
its MCP host over stdio, and the TUI (the real app, driven by a pilot) reads
the proxy's journal. After Stop and after the proxy has exited, Undo all in the
TUI starts the memory server again from the session's task file and runs the
overlay's compensation through it: the memory file is restored byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import Journal
from agentstop.report_counts import ReportCounts
from agentstop.session import SessionPhase, tools_from_session
from agentstop.tui import make_journal_app
from agentstop.tui.screens.confirm import ConfirmScreen
from tests.tui.helpers import attached_live, cell, exited, press, wait_until

from .proxy_host import latest, stdio_proxy, text_of
from .test_memory import ADA, GRACE, seed
from .test_undo_later import memory_proxy

pytestmark = pytest.mark.anyio

SIZE = (150, 40)
PATIENCE = 1500  # x 20 ms: servers and processes start slowly on a loaded machine


@pytest.mark.slow
async def test_attached_to_the_proxy_stop_refuses_the_hosts_next_call_and_undo_runs_through_the_restarted_server(
    tmp_path: Path, memory_js: Path
) -> None:
    task, memory = memory_proxy(tmp_path, memory_js)
    await seed(task)  # Grace exists before the agent runs
    before = memory.read_bytes()
    journal = tmp_path / "proxy.db"
    async with stdio_proxy(task) as host:
        created = await host.call_tool("memory__create_entities", {"entities": [ADA]})
        assert not created.is_error, text_of(created)
        session, _ = await latest(journal)
        async with Journal.open(journal, readonly=True) as j:
            rows = [(s, await ReportCounts.read(j, s.session_id)) for s in await j.sessions()]

        app = make_journal_app(journal, rows, tools_from_session, title="agentstop tui", session_id=session.session_id)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot,
                lambda: attached_live(app),
                "the proxy's running session opens live",
                attempts=PATIENCE,
            )
            attachment = app.mode.attachment
            assert attachment is not None
            effects = attachment.run_screen.effects
            await wait_until(pilot, lambda: effects.row_count == 1, "the host's call shows", attempts=PATIENCE)
            tool = str(cell(effects, "c1", "tool"))  # the panel fits its columns: a long name may end in "…"
            assert tool == "memory.create_entities" or (
                tool.endswith("…") and "memory.create_entities".startswith(tool[:-1])
            )
            assert "committed" in str(cell(effects, "c1", "state"))

            await press(pilot, "s")
            await wait_until(
                pilot,
                lambda: attachment.control.phase is SessionPhase.ENDED,
                "the proxy's session ends",
                attempts=PATIENCE,
            )
            refused = await host.call_tool("memory__create_entities", {"entities": [{**GRACE, "name": "Alan"}]})
            assert refused.is_error
            assert text_of(refused) == "refused: grant revoked by you (TUI); nothing was sent"
            app.exit()
            await exited(app)
    # The host has left and the proxy with it: the TUI's undo starts the server again from the task file.
    assert "Traceback" not in (tmp_path / "proxy.err").read_text()

    async with Journal.open(journal, readonly=True) as j:
        rows = [(s, await ReportCounts.read(j, s.session_id)) for s in await j.sessions()]
    app = make_journal_app(journal, rows, tools_from_session, title="agentstop tui")
    async with app.run_test(size=SIZE) as pilot:
        app.mode.open_session(session.session_id)
        await wait_until(pilot, lambda: app.report is not None, "the ended session opens", attempts=PATIENCE)
        await press(pilot, "r")
        assert app.screen is app.report_screen
        await wait_until(
            pilot,
            lambda: app.report_screen is not None and list(app.report_screen.table("undoable").items) == ["c1"],
            "c1 is undoable",
            attempts=PATIENCE,
        )
        await press(pilot, "A")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), "the undo is previewed", attempts=PATIENCE
        )  # the memory server starts first
        await press(pilot, "y")
        await wait_until(
            pilot, lambda: memory.read_bytes() == before, "the memory file is restored exactly", attempts=PATIENCE
        )
        await wait_until(
            pilot,
            # Undoable empties as the undo starts: wait for the report to say it is done.
            lambda: (
                app.report is not None and [i.state for i in app.report.done if i.call_id == "c1"] == ["compensated"]
            ),
            "the undo is journaled",
            attempts=PATIENCE,
        )
        app.exit()
        await exited(app)
    _, calls = await latest(journal)
    assert [c.state for c in calls if c.call_id == "c1"] == ["compensated"]
