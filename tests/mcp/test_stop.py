"""Stop with an MCP call in flight: the upstream is told to cancel, and the call stays honest about its outcome."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from agentstop import GrantSpec, Interrupted, Journal, Supervisor, ToolFailed
from agentstop.mcp import McpClient, load_mcp_setup

from .conftest import FixtureServer, write_task

pytestmark = pytest.mark.anyio


async def wait_for(condition: Callable[[], object], within: float = 10.0) -> None:
    with anyio.fail_after(within):
        while not condition():
            await anyio.sleep(0.02)


async def test_stop_cancels_a_call_in_flight_upstream_and_the_probe_says_nothing_landed(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    overlay = """
    fixture:
      read_note: {class: read_only}
      slow_write:
        probe: {tool: read_note, args: {name: {jmes: args.name}}, done_if: "result.structured_content.exists"}
    """
    task = write_task(tmp_path, fixture_server.entry(), overlay)
    outcome: list[BaseException] = []
    async with McpClient.from_setup(load_mcp_setup(task)) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec(), grace=0.2)

        async def call() -> None:
            try:
                await sup.call("fixture.slow_write", {"name": "late", "seconds": 30})
            except Exception as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await wait_for(fixture_server.calls)  # the server received the call
            await sup.stop("wrong goal")
        await wait_for((fixture_server.state / "cancelled").exists)  # the server saw the cancel
        report = await sup.report()
    [exc] = outcome
    assert isinstance(exc, Interrupted) and "lookup found no effect" in str(exc)
    [item] = report.interrupted
    assert item.state == "failed" and "commit cancelled by Stop" in (item.reason or "")
    assert fixture_server.note("late") is None


async def test_a_call_that_times_out_is_cancelled_upstream_and_settled_by_its_probe(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    overlay = """
    fixture:
      read_note: {class: read_only}
      slow_write:
        probe: {tool: read_note, args: {name: {jmes: args.name}}, done_if: "result.structured_content.exists"}
    """
    task = write_task(tmp_path, fixture_server.entry(extra="timeout: 0.5"), overlay)
    async with McpClient.from_setup(load_mcp_setup(task)) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        with pytest.raises(ToolFailed, match=r"timed out.*lookup found no effect"):
            await sup.call("fixture.slow_write", {"name": "late", "seconds": 30})
        await wait_for((fixture_server.state / "cancelled").exists)  # the SDK's courtesy cancel arrived
        [item] = (await sup.report()).interrupted
    assert item.state == "failed" and fixture_server.note("late") is None
