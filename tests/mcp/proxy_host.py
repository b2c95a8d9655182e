"""pytest as the MCP host of `agentstop mcp-proxy`: the proxy runs as a real process, the host is the SDK's Client."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from agentstop import Journal
from agentstop.journal import CallRecord, SessionRecord

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 60.0


def child_env() -> dict[str, str]:
    """What a child `python -m agentstop` needs: the repository importable, and no per-user journal."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def agentstop(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """`python -m agentstop ARGS` as a new process."""
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *map(str, args)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def proxy_task(directory: Path, servers: str, overlay: str, *, grace: str = "0.3s", extra: str = "") -> Path:
    """A proxy's task file (servers and overlay as YAML text), its journal next to it."""
    (directory / "overlay.yaml").write_text(textwrap.dedent(overlay).lstrip("\n"))
    task = directory / "proxy.yaml"
    task.write_text(
        "name: proxy test\n"
        "journal: ./proxy.db\n"
        "mcp_servers:\n" + textwrap.indent(textwrap.dedent(servers).strip("\n"), "  ") + "\n"
        "mcp_overlay: overlay.yaml\n"
        "grant: {tools: ['*'], ttl: 10m}\n"
        f"stop: {{grace: {grace}}}\n" + extra
    )
    return task


@asynccontextmanager
async def stdio_proxy(task: Path) -> AsyncIterator[Client]:
    """`agentstop mcp-proxy --task TASK` started by the SDK's stdio client, as Claude Desktop starts it.

    Leaving closes its stdin: the proxy shuts down (its stderr is in proxy.err next to the task).
    """
    env = {"PYTHONPATH": child_env()["PYTHONPATH"]}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "agentstop", "mcp-proxy", "--task", str(task)], env=env, cwd=task.parent
    )
    with (task.parent / "proxy.err").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


def text_of(result: types.CallToolResult) -> str:
    return " ".join(b.text for b in result.content if isinstance(b, types.TextContent))


async def latest(journal: Path) -> tuple[SessionRecord, list[CallRecord]]:
    async with Journal.open(journal, readonly=True) as j:
        session = (await j.sessions())[-1]
        return session, await j.calls(session.session_id)


async def wait_for(condition: Callable[[], object], what: str, within: float = 15.0) -> None:
    """Poll `condition` (a function, or an async function) until it is true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await anyio.sleep(0.02)


async def stopped(journal: Path) -> bool:
    """True once the journal's latest session has stopped."""
    return (await latest(journal))[0].status == "stopped"


def report(journal: Path, session_id: str) -> tuple[int, dict[str, Any], str]:
    """`agentstop report --json` in a new process: exit code, the report, stderr."""
    done = agentstop("report", "--journal", journal, "--session", session_id, "--json")
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def states(section: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["tool"], item["state"]) for item in section]
