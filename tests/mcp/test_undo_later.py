"""Undo after the session's process has exited: the MCP servers are started again from the recorded task file."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from agentstop import CallState, GrantSpec, Journal
from agentstop.journal import SessionStatus

from .proxy_host import agentstop, latest, proxy_task, stdio_proxy, text_of
from .test_memory import ADA, GRACE, OVERLAY, seed

pytestmark = pytest.mark.anyio


def memory_proxy(tmp_path: Path, memory_js: Path) -> tuple[Path, Path]:
    memory = tmp_path / "memory.jsonl"
    servers = f'memory: {{command: node, args: ["{memory_js}"], env: {{MEMORY_FILE_PATH: "{memory}"}}}}'
    return proxy_task(tmp_path, servers, OVERLAY), memory


@pytest.mark.slow
async def test_undo_all_in_a_new_process_restores_the_memory_file_and_needs_the_task_file(
    tmp_path: Path, memory_js: Path
) -> None:
    task, memory = memory_proxy(tmp_path, memory_js)
    await seed(task)  # Grace exists before the agent runs
    before = memory.read_bytes()
    journal = tmp_path / "proxy.db"
    async with stdio_proxy(task) as host:
        created = await host.call_tool("memory__create_entities", {"entities": [ADA, {**GRACE, "observations": []}]})
    assert not created.is_error, text_of(created)
    assert memory.read_bytes() != before
    session, [call] = await latest(journal)
    assert session.status == "completed" and session.task_path == str(task)
    assert (call.tool, call.state) == ("memory.create_entities", "committed")
    sid = session.session_id

    # The task file gone: undo says so, exits 2, and does nothing.
    moved = task.rename(tmp_path / "elsewhere.yaml")
    gone = await anyio.to_thread.run_sync(lambda: agentstop("undo", "--journal", journal, "--session", sid, "--all"))
    assert gone.returncode == 2
    assert f"{task}: the task file of session {sid} is gone" in gone.stderr
    assert "Put the file back at this path" in gone.stderr and "nothing was undone" in gone.stderr
    assert "Traceback" not in gone.stderr
    assert memory.read_bytes() != before
    assert (await latest(journal))[1][0].state == "committed"

    # Back in place: a new process starts the memory server from it and runs the overlay's compensation.
    moved.rename(task)
    undone = await anyio.to_thread.run_sync(lambda: agentstop("undo", "--journal", journal, "--session", sid, "--all"))
    assert undone.returncode == 0, undone.stderr
    assert "undone" in undone.stdout + undone.stderr
    assert memory.read_bytes() == before  # exactly: Grace, who existed before, is untouched
    _, [call] = await latest(journal)
    assert call.state == "compensated"


async def test_report_of_a_call_in_flight_whose_task_file_is_gone_says_so_and_exits_2(tmp_path: Path) -> None:
    # A session whose process died with an MCP call in flight, as the journal has it (no server needed).
    journal = tmp_path / "journal.db"
    task = tmp_path / "proxy.yaml"  # never written: the file is gone
    async with Journal.open(journal) as j:
        await j.create_session(
            "s1",
            task_name="proxy",
            goal="",
            task_path=str(task),
            tools=["agentstop.mcp.tool:McpTool[fixture.slow_write]"],
            meta={},
        )
        grant = await j.issue_grant("s1", GrantSpec(tools=["*"]))
        cid = await j.plan_call(
            "s1",
            tool="fixture.slow_write",
            summary="slow",
            resource="fixture.slow_write",
            args={"name": "x", "seconds": 30},
            reversibility="irreversible",
            on_stop="try_cancel",
            can_compensate=False,
            can_lookup=True,
            undo_hint="",
            idempotency_key="k1",
            grant_id=grant,
        )
        await j.transition("s1", cid, CallState.PREPARED, durable=False)
        assert await j.fence("s1", cid, grant, "fixture.slow_write", "fixture.slow_write") is None
        await j.end_session("s1", SessionStatus.STOPPED, stopped_by="user", stop_reason="test")
    done = await anyio.to_thread.run_sync(
        lambda: agentstop("report", "--journal", journal, "--session", "s1", "--json")
    )
    assert done.returncode == 2
    assert [i["state"] for i in json.loads(done.stdout)["in_flight"]] == ["committing"]  # the report, still
    assert f"{task}: the task file of session s1 is gone" in done.stderr
