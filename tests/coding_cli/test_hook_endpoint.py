"""The resident hook endpoint, without a CLI: the secret, the fence's answers, parallel reads, its cost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.adapters.coding_cli.server import SECRET_HEADER, HookServer
from agentstop.adapters.coding_cli.settings import FORWARDER
from agentstop.adapters.coding_cli.tools import all_tools, tool_for

pytestmark = pytest.mark.anyio


def _post(url: str, body: dict[str, Any], secret: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _pre(tool: str, key: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "hook_event_name": "PreToolUse",
        "session_id": "cli-1",
        "tool_name": tool,
        "tool_use_id": key,
        "tool_input": tool_input,
    }


async def test_a_local_process_without_the_secret_is_refused_and_nothing_is_journaled(tmp_path: Path) -> None:
    async with (
        Journal.open(tmp_path / "j.db") as journal,
        Supervisor(journal, all_tools(), GrantSpec()) as sup,
        HookServer(sup.hook_gate(tool_for), "s3cret") as server,
    ):
        body = _pre("Bash", "toolu_1", {"command": "true"})
        status, answer = await anyio.to_thread.run_sync(_post, server.url, body, None)
        assert status == 403 and "answers only the CLI" in answer["error"]
        status, _ = await anyio.to_thread.run_sync(_post, server.url, body, "guess")
        assert status == 403
        assert await journal.calls(sup.session_id) == []
        status, answer = await anyio.to_thread.run_sync(_post, server.url, body, "s3cret")
        assert (status, answer) == (200, {})  # passed, no decision: the CLI's own permission rules still apply
        [call] = await journal.calls(sup.session_id)
        assert (call.tool, call.state, call.idempotency_key) == ("Bash", "committing", "toolu_1")


async def test_after_stop_every_pre_is_denied_with_the_shared_wording(tmp_path: Path) -> None:
    async with (
        Journal.open(tmp_path / "j.db") as journal,
        Supervisor(journal, all_tools(), GrantSpec()) as sup,
        HookServer(sup.hook_gate(tool_for), "k") as server,
    ):
        await sup.stop("enough", "a test")
        status, answer = await anyio.to_thread.run_sync(
            _post, server.url, _pre("Write", "toolu_9", {"file_path": str(tmp_path / "x"), "content": "x"}), "k"
        )
        assert status == 200
        out = answer["hookSpecificOutput"]
        assert out["permissionDecision"] == "deny"
        assert out["permissionDecisionReason"] == "refused: grant revoked by a test; nothing was sent"
        assert not (tmp_path / "x").exists()


async def test_parallel_read_only_calls_are_journaled_and_never_gated(tmp_path: Path) -> None:
    async with (
        Journal.open(tmp_path / "j.db") as journal,
        Supervisor(journal, all_tools(), GrantSpec(tools=["Write"])) as sup,
        HookServer(sup.hook_gate(tool_for), "k") as server,
    ):
        answers: list[tuple[int, dict[str, Any]]] = []

        async def read(i: int) -> None:
            answers.append(
                await anyio.to_thread.run_sync(
                    _post, server.url, _pre("Read", f"toolu_r{i}", {"file_path": f"/etc/f{i}"}), "k"
                )
            )

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(read, i)
        assert answers == [(200, {})] * 6
        calls = await journal.calls(sup.session_id)
        assert sorted(c.idempotency_key for c in calls) == [f"toolu_r{i}" for i in range(6)]
        assert {c.reversibility for c in calls} == {"read_only"}


async def test_a_write_outside_the_project_is_refused_at_the_fence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSTOP_PROJECT", str(tmp_path / "project"))
    async with (
        Journal.open(tmp_path / "j.db") as journal,
        Supervisor(journal, all_tools(), GrantSpec(scopes=["*", "project:**"])) as sup,
        HookServer(sup.hook_gate(tool_for), "k") as server,
    ):
        _, inside = await anyio.to_thread.run_sync(
            _post, server.url, _pre("Write", "t1", {"file_path": str(tmp_path / "project" / "a.txt")}), "k"
        )
        _, outside = await anyio.to_thread.run_sync(
            _post, server.url, _pre("Write", "t2", {"file_path": "/etc/passwd"}), "k"
        )
        assert inside == {}
        reason = outside["hookSpecificOutput"]["permissionDecisionReason"]
        assert reason.startswith("refused: resource 'file:/etc/passwd' is outside grant")


def test_the_command_hook_blocks_when_the_endpoint_is_down() -> None:
    """exit 2 is "blocked" to the CLIs, and the hooks also set onFailure block: the tool does not run."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(FORWARDER), "http://127.0.0.1:9/hook"],
        input=json.dumps(_pre("Bash", "t", {"command": "true"})),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "unreachable" in done.stderr and "blocked" in done.stderr


async def test_hook_cost_per_call(tmp_path: Path) -> None:
    """Pre + Post of one Bash call over HTTP, with the journal's durable fence: measured, and bounded."""
    async with (
        Journal.open(tmp_path / "j.db") as journal,
        Supervisor(journal, all_tools(), GrantSpec()) as sup,
        HookServer(sup.hook_gate(tool_for), "k") as server,
    ):
        n = 20
        started = time.perf_counter()
        for i in range(n):
            await anyio.to_thread.run_sync(_post, server.url, _pre("Bash", f"t{i}", {"command": "true"}), "k")
            await anyio.to_thread.run_sync(
                _post,
                server.url,
                {
                    "hook_event_name": "PostToolUse",
                    "tool_name": "Bash",
                    "tool_use_id": f"t{i}",
                    "tool_input": {"command": "true"},
                    "tool_response": {"stdout": ""},
                },
                "k",
            )
        per_call = (time.perf_counter() - started) / n
        print(f"\nhook cost: {per_call * 1000:.1f} ms per call (Pre + Post, HTTP, durable fence)")
        assert per_call < 0.5
        states = {c.state for c in await journal.calls(sup.session_id)}
        assert states == {"committed"}
