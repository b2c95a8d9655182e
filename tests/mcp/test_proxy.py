"""`agentstop mcp-proxy` over stdio, with pytest as the MCP host: calls go through the fence; Stop holds."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import anyio
import mcp_types as types
import pytest

import agentstop
from agentstop import Journal
from tests.support.postgres import PostgresServer

from .conftest import FixtureServer
from .proxy_host import agentstop as run_agentstop
from .proxy_host import latest, proxy_task, report, states, stdio_proxy, stopped, text_of, wait_for

pytestmark = pytest.mark.anyio

OVERLAY = """
fixture:
  read_note: {class: read_only}
  write_note:
    class: compensable
    compensate: {tool: delete_note, args: {name: {jmes: args.name}}}
  slow_write:
    probe: {tool: read_note, args: {name: {jmes: args.name}}, done_if: "result.structured_content.exists"}
    settle_time: %s
"""


def fixture_task(tmp_path: Path, fixture_server: FixtureServer, settle_time: float = 0) -> Path:
    return proxy_task(tmp_path, fixture_server.entry(), OVERLAY % settle_time)


async def test_a_call_goes_through_the_fence_and_the_host_gets_the_upstream_result(
    tmp_path: Path, fixture_server: FixtureServer
) -> None:
    task = fixture_task(tmp_path, fixture_server)
    async with stdio_proxy(task) as host:
        listed = {t.name: t for t in (await host.list_tools()).tools}
        # The names a model calls; the hints are agentstop's class, not the server's claims.
        assert {"fixture__write_note", "fixture__read_note", "fixture__slow_write"} <= set(listed)
        assert listed["fixture__read_note"].annotations is not None
        assert listed["fixture__read_note"].annotations.read_only_hint is True
        peek = listed["fixture__peek"].annotations  # claims read-only, but the overlay does not say so
        assert peek is not None and peek.read_only_hint is False and peek.destructive_hint is True
        assert (listed["fixture__write_note"].meta or {})["agentstop/name"] == "fixture.write_note"

        written = await host.call_tool("fixture__write_note", {"name": "plan", "text": "ship it"})
        refused = await host.call_tool("fixture__refuse", {"name": "plan"})
    assert not written.is_error
    assert written.structured_content == {"name": "plan", "previous": None}
    assert json.loads(text_of(written)) == {"written": "plan"}
    assert (written.meta or {})["agentstop/call-id"] == "c1"
    assert (
        "io.modelcontextprotocol/serverInfo" not in (written.meta or {})
        or (written.meta or {})["io.modelcontextprotocol/serverInfo"]["name"] == "agentstop"
    )
    assert refused.is_error and "quota exceeded" in text_of(refused)  # the upstream's own error result
    assert fixture_server.note("plan") == "ship it"
    [upstream_write, _] = fixture_server.calls()
    assert upstream_write["meta"]["agentstop/call-id"] == "c1"  # exactly one upstream call, with its id

    session, calls = await latest(tmp_path / "proxy.db")
    assert session.task_path == str(task) and session.status == "completed"
    assert [(c.call_id, c.tool, c.state) for c in calls] == [
        ("c1", "fixture.write_note", "committed"),
        ("c2", "fixture.refuse", "failed"),
    ]
    assert calls[0].receipt["result"]["structured_content"] == {"name": "plan", "previous": None}


async def test_revoked_from_another_process_the_next_call_is_refused_and_nothing_is_sent(
    tmp_path: Path, fixture_server: FixtureServer
) -> None:
    task = fixture_task(tmp_path, fixture_server)
    journal = tmp_path / "proxy.db"
    async with stdio_proxy(task) as host:
        first = await host.call_tool("fixture__write_note", {"name": "a", "text": "1"})
        session, _ = await latest(journal)
        revoked = await anyio.to_thread.run_sync(
            lambda: agentstop.revoke(journal, session.session_id, by="the on-call engineer", reason="wrong goal")
        )
        assert revoked
        second = await host.call_tool("fixture__write_note", {"name": "b", "text": "2"})
        # Stop ends the session; the proxy keeps answering, and keeps refusing.
        await wait_for(lambda: stopped(journal), "the session to stop")
        third = await host.call_tool("fixture__read_note", {"name": "a"})
    assert not first.is_error
    assert second.is_error and text_of(second) == "refused: grant revoked by the on-call engineer; nothing was sent"
    assert third.is_error and text_of(third).startswith("refused: grant revoked by the on-call engineer")
    assert [c["args"]["name"] for c in fixture_server.calls()] == ["a"]  # nothing else reached the server
    assert fixture_server.note("b") is None
    session, calls = await latest(journal)
    assert session.status == "stopped" and session.stopped_by == "the on-call engineer"
    # The second call met the revoke at the fence (rejected), or Stop first (discarded): never sent either way.
    assert [c.state for c in calls][::2] == ["committed", "discarded"] and calls[1].state in ("rejected", "discarded")


@pytest.mark.slow
async def test_on_postgresql_the_proxy_hears_a_revoke_at_once(
    tmp_path: Path, fixture_server: FixtureServer, postgres: PostgresServer
) -> None:
    url = postgres.create_database()
    task = proxy_task(tmp_path, fixture_server.entry(), OVERLAY % 0)
    task.write_text(task.read_text().replace("journal: ./proxy.db", f"journal: {url}"))
    try:
        async with stdio_proxy(task) as host:
            first = await host.call_tool("fixture__write_note", {"name": "a", "text": "1"})
            async with Journal.open(url, readonly=True) as j:
                sid = (await j.sessions())[-1].session_id
                revoked_at = time.monotonic()
                await anyio.to_thread.run_sync(lambda: agentstop.revoke(url, sid, by="the fleet's on-call"))
                # NOTIFY wakes the proxy's watch at once; without it, its fallback poll runs once a second.
                await wait_for(lambda: _ended(j, sid), "the proxy to stop", within=10)
                heard = time.monotonic() - revoked_at
            second = await host.call_tool("fixture__write_note", {"name": "b", "text": "2"})
    finally:
        postgres.drop_database(url.rsplit("/", 1)[1])
    assert not first.is_error
    assert text_of(second) == "refused: grant revoked by the fleet's on-call; nothing was sent"
    assert heard < 0.4, heard  # (measured: 30 to 70 ms; the poll it replaces runs once a second)
    assert fixture_server.note("b") is None


async def _ended(journal: Journal, session_id: str) -> bool:
    return (await journal.session(session_id)).status == "stopped"


@pytest.mark.slow
async def test_stop_with_a_call_in_flight_cancels_it_upstream_and_it_stays_in_flight_until_probed(
    tmp_path: Path, fixture_server: FixtureServer
) -> None:
    # settle_time: a cancelled call may still land for 2 s, so the probe right after Stop cannot settle it.
    task = fixture_task(tmp_path, fixture_server, settle_time=2)
    journal = tmp_path / "proxy.db"
    answers: list[types.CallToolResult] = []
    async with stdio_proxy(task) as host:
        session, _ = await latest(journal)

        async def call() -> None:
            answers.append(await host.call_tool("fixture__slow_write", {"name": "late", "seconds": 30}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await wait_for(fixture_server.calls, "the upstream to receive the call")
            stop = await anyio.to_thread.run_sync(
                lambda: run_agentstop("stop", "--journal", journal, "--session", session.session_id)
            )
            assert stop.returncode == 0, stop.stderr
            with anyio.fail_after(10):
                await wait_for(lambda: answers, "the host's answer")
        await wait_for((fixture_server.state / "cancelled").exists, "the upstream to see the cancel")
        code, while_running, _ = report(journal, session.session_id)  # the proxy is still running
    [answer] = answers
    assert answer.is_error and text_of(answer).startswith("stopped: outcome unknown (being checked)")
    assert code == 0
    assert states(while_running["in_flight"]) == [("fixture.slow_write", "unknown")]
    assert while_running["session"]["status"] == "stopped"
    assert fixture_server.note("late") is None

    # The proxy has exited; once the settle time is over, the next report's probe settles it.
    _, [slow] = await latest(journal)
    assert slow.fence_at is not None
    await anyio.sleep(max(0.0, slow.fence_at + 2.1 - time.time()))
    code, after, stderr = report(journal, session.session_id)
    assert code == 0, stderr
    assert after["in_flight"] == []
    [item] = after["interrupted"]
    assert item["state"] == "failed" and "lookup found no effect" in item["reason"]


async def test_a_cancel_from_the_host_cancels_the_call_upstream_and_the_grant_stays(
    tmp_path: Path, fixture_server: FixtureServer
) -> None:
    task = fixture_task(tmp_path, fixture_server)
    journal = tmp_path / "proxy.db"
    async with stdio_proxy(task) as host:
        with anyio.move_on_after(30) as waited:
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    await host.call_tool("fixture__slow_write", {"name": "late", "seconds": 30})

                tg.start_soon(call)
                await wait_for(fixture_server.calls, "the upstream to receive the call")
                tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the request
        assert not waited.cancelled_caught
        await wait_for((fixture_server.state / "cancelled").exists, "the upstream to see the cancel")
        after = await host.call_tool("fixture__write_note", {"name": "next", "text": "still allowed"})
    assert not after.is_error  # a host's cancel is not a Stop: the grant stays
    session, calls = await latest(journal)
    assert session.status == "completed"
    cancelled = calls[0]
    assert cancelled.tool == "fixture.slow_write" and cancelled.state == "failed"  # the probe found nothing
    assert (cancelled.reason or "").startswith("commit cancelled: the host cancelled its request")
    assert "Stop" not in (cancelled.reason or "")
    assert calls[1].state == "committed"
    assert fixture_server.note("late") is None and fixture_server.note("next") == "still allowed"


async def test_when_the_host_goes_away_with_a_call_in_flight_the_proxy_stops_it_before_exiting(
    tmp_path: Path, fixture_server: FixtureServer
) -> None:
    task = fixture_task(tmp_path, fixture_server)
    journal = tmp_path / "proxy.db"
    async with stdio_proxy(task) as host, anyio.create_task_group() as tg:

        async def call() -> None:
            await host.call_tool("fixture__slow_write", {"name": "late", "seconds": 30})

        tg.start_soon(call)
        await wait_for(fixture_server.calls, "the upstream to receive the call")
        tg.cancel_scope.cancel()  # then the host closes the proxy's stdin
    await wait_for((fixture_server.state / "cancelled").exists, "the upstream to see the cancel")
    session, [call_record] = await latest(journal)
    assert session.status == "stopped" and session.stopped_by == "agentstop mcp-proxy"
    assert call_record.state == "failed" and "lookup found no effect" in (call_record.reason or "")
    assert "Traceback" not in (tmp_path / "proxy.err").read_text()


PROGRESS_SERVER = """
import os
from pathlib import Path

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

TICKS = Path(os.environ["TICKS"])


async def list_tools(ctx, params):
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}
    return types.ListToolsResult(tools=[types.Tool(name="tick", description="Counts, reporting progress.",
                                                   input_schema=schema)])


async def call_tool(ctx, params):
    count = int(params.arguments["count"])
    for i in range(1, count + 1):
        await ctx.session.report_progress(i, count, f"tick {i}")
        with TICKS.open("a") as log:
            log.write(f"{i}\\n")
        await anyio.sleep(0.05)
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"counted to {count}")])


async def main():
    server = Server("ticker", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
"""


@pytest.mark.slow
async def test_progress_is_forwarded_to_the_host_until_stop(tmp_path: Path) -> None:
    script = tmp_path / "ticker.py"
    script.write_text(PROGRESS_SERVER)
    ticks = tmp_path / "ticks.log"
    servers = (
        f"ticker: {{command: {json.dumps(sys.executable)}, args: [{json.dumps(str(script))}], "
        f"env: {{TICKS: {json.dumps(str(ticks))}}}}}"
    )
    task = proxy_task(tmp_path, servers, "ticker: {}", grace="1s")
    journal = tmp_path / "proxy.db"
    seen: list[tuple[float, str | None]] = []
    stopped_seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async def progress_after_stop(progress: float, total: float | None, message: str | None) -> None:
        stopped_seen.append(progress)

    async with stdio_proxy(task) as host:
        done = await host.call_tool("ticker__tick", {"count": 3}, progress_callback=on_progress)
        assert text_of(done) == "counted to 3"
        await wait_for(lambda: len(seen) == 3, "3 progress notifications")
        session, _ = await latest(journal)
        answers: list[types.CallToolResult] = []

        async def long_call() -> None:
            answers.append(await host.call_tool("ticker__tick", {"count": 1000}, progress_callback=progress_after_stop))

        async with anyio.create_task_group() as tg:
            tg.start_soon(long_call)
            await wait_for(lambda: len(stopped_seen) >= 3, "progress of the long call")
            await anyio.to_thread.run_sync(lambda: agentstop.revoke(journal, session.session_id, by="the test"))
            await wait_for(lambda: answers, "the host's answer")
    assert seen == [(1.0, "tick 1"), (2.0, "tick 2"), (3.0, "tick 3")]
    [answer] = answers
    assert text_of(answer).startswith("stopped: outcome unknown")
    # The upstream kept counting through the 1 s grace (about 20 ticks); the host heard none of it.
    upstream = len(ticks.read_text().split()) - 3
    assert upstream >= len(stopped_seen) + 10, (upstream, len(stopped_seen))
