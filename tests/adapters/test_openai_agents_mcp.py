"""The Agents SDK's own `MCPServerStdio` talks to `agentstop mcp-proxy`: one commit, then a refusal after a revoke.

The agent runs on the SDK's Runner with its Chat Completions model against the
strict loopback server; its MCP server is the proxy, started over stdio by the
SDK exactly as it starts any MCP server, in front of the fixture MCP server.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from agents.mcp import MCPServerStdio, MCPServerStdioParams
from openai import AsyncOpenAI

import agentstop
from tests.llm.fake_server import FakeChatServer, Stream, call_start, finish, text
from tests.mcp.conftest import FixtureServer
from tests.mcp.proxy_host import child_env, latest, proxy_task, stopped, wait_for

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

set_tracing_disabled(True)

OVERLAY = """
fixture:
  read_note: {class: read_only}
  write_note:
    class: compensable
    compensate: {tool: delete_note, args: {name: {jmes: args.name}}}
"""


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer(strict_transcript=True) as s:
        yield s
    assert not s.errors, s.errors


def write(call_id: str, name: str, words: str) -> Stream:
    args = json.dumps({"name": name, "text": words})
    return Stream([call_start(0, call_id, "fixture__write_note", args), finish("tool_calls")])


def say(words: str) -> Stream:
    return Stream([*text(words), finish()])


def content_text(content: str | list[dict[str, Any]]) -> str:
    """A tool message's text (the SDK sends an MCP result's text blocks as content parts)."""
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


async def test_the_sdks_mcp_server_stdio_goes_through_the_proxy_and_a_revoke_refuses_the_next_call(
    tmp_path: Path, server: FakeChatServer
) -> None:
    state = tmp_path / "fixture-state"
    state.mkdir()
    fixture = FixtureServer(state)
    task = proxy_task(tmp_path, fixture.entry(), OVERLAY)
    journal = tmp_path / "proxy.db"
    params: MCPServerStdioParams = {
        "command": sys.executable,
        "args": ["-m", "agentstop", "mcp-proxy", "--task", str(task)],
        "env": {"PYTHONPATH": child_env()["PYTHONPATH"]},
        "cwd": str(tmp_path),
    }
    server.add(
        write("call_1", "plan", "ship it"), say("Written."), write("call_2", "late", "too late"), say("I was stopped.")
    )
    async with (
        AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=30) as client,
        MCPServerStdio(params, name="agentstop", client_session_timeout_seconds=30) as proxy,
    ):
        agent = Agent(
            "notes",
            instructions="Keep notes.",
            mcp_servers=[proxy],
            model=OpenAIChatCompletionsModel("fake-model", client),
        )
        listed = {t.name for t in await proxy.list_tools()}
        assert {"fixture__write_note", "fixture__read_note"} <= listed

        first = await Runner.run(agent, "Write the plan down.")
        session, _ = await latest(journal)
        revoked = await anyio.to_thread.run_sync(
            lambda: agentstop.revoke(journal, session.session_id, by="the on-call engineer", reason="wrong goal")
        )
        assert revoked
        await wait_for(lambda: stopped(journal), "the proxy's session to stop")
        second = await Runner.run(agent, [*first.to_input_list(), {"role": "user", "content": "One more."}])

    assert first.final_output == "Written." and second.final_output == "I was stopped."
    answers = {
        m["tool_call_id"]: content_text(m["content"]) for m in server.received[-1].messages if m["role"] == "tool"
    }
    assert json.loads(answers["call_1"]) == {"written": "plan"}
    assert answers["call_2"] == "refused: grant revoked by the on-call engineer; nothing was sent"
    assert [c["args"]["name"] for c in fixture.calls()] == ["plan"]  # nothing else reached the server
    assert fixture.note("plan") == "ship it" and fixture.note("late") is None
    assert not server.rejected
    session, calls = await latest(journal)
    assert session.status == "stopped" and session.stopped_by == "the on-call engineer"
    [landed, refused] = calls
    assert (landed.tool, landed.state) == ("fixture.write_note", "committed")
    assert refused.args["name"] == "late" and refused.state in ("rejected", "discarded")  # never sent either way
