"""Real MCP servers for the MCP tests: the reference servers (npm, locked; git from PyPI) and a fixture server.

The reference memory, filesystem and "everything" servers are installed from
tests/mcp/servers/package-lock.json by `npm ci` (`.ci/mcp.sh` does it in CI;
the first test that needs one does it when any is missing, so a node_modules
installed before a server was added to the lock is completed). The git server
comes with the `test` extra. The fixture server is tests/mcp/servers/fixture_server.py,
written with the official Python SDK's server API and run over stdio, or over
streamable HTTP behind a bearer token.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SERVERS = Path(__file__).parent / "servers"
NPM_SERVERS = SERVERS / "node_modules" / "@modelcontextprotocol"
MEMORY_JS = NPM_SERVERS / "server-memory" / "dist" / "index.js"
FILESYSTEM_JS = NPM_SERVERS / "server-filesystem" / "dist" / "index.js"
EVERYTHING_JS = NPM_SERVERS / "server-everything" / "dist" / "index.js"
LOCKED = (MEMORY_JS, FILESYSTEM_JS, EVERYTHING_JS)
FIXTURE_PY = SERVERS / "fixture_server.py"


@pytest.fixture(scope="session")
def memory_js() -> Path:
    """The reference memory server's entry point; `npm ci` installs the locked servers if any is missing."""
    with (SERVERS / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test workers running in parallel install it once
        return _installed_memory_js()


def _installed_memory_js() -> Path:
    if not all(path.exists() for path in LOCKED):
        npm = shutil.which("npm")
        if shutil.which("node") is None or npm is None:
            pytest.fail(
                "the MCP tests run the reference memory server: install Node.js 20+ and npm "
                "(bash .ci/mcp.sh installs the server)"
            )
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=SERVERS,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not all(path.exists() for path in LOCKED):
            pytest.fail(f"npm ci in {SERVERS} failed: {done.stderr[-2000:]}")
    return MEMORY_JS


def write_task(directory: Path, servers: str, overlay: str | None = None) -> Path:
    """A task file holding `mcp_servers:` (YAML text, indented under it) and, when given, an overlay file."""
    text = "name: mcp test\nmcp_servers:\n" + textwrap.indent(textwrap.dedent(servers).strip("\n"), "  ") + "\n"
    if overlay is not None:
        (directory / "overlay.yaml").write_text(textwrap.dedent(overlay).lstrip("\n"))
        text += "mcp_overlay: overlay.yaml\n"
    task = directory / "task.yaml"
    task.write_text(text)
    return task


@dataclass
class FixtureServer:
    """The fixture server's state directory and how a task file names it."""

    state: Path

    def entry(self, name: str = "fixture", mode: str = "", extra: str = "") -> str:
        env: dict[str, str] = {"FIXTURE_DIR": str(self.state)}
        if mode:
            env["FIXTURE_MODE"] = mode
        fields = [
            f"command: {json.dumps(sys.executable)}",
            f"args: [{json.dumps(str(FIXTURE_PY))}]",
            f"env: {json.dumps(env)}",
        ]
        if extra:
            fields.append(extra)
        return f"{name}: {{{', '.join(fields)}}}\n"

    def note(self, name: str) -> str | None:
        path = self.state / "notes" / name
        return path.read_text() if path.exists() else None

    def calls(self) -> list[dict[str, Any]]:
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def fixture_server(tmp_path: Path) -> FixtureServer:
    state = tmp_path / "fixture-state"
    state.mkdir()
    return FixtureServer(state)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HttpFixture:
    url: str
    token: str
    state: Path


@pytest.fixture
def http_fixture_server(tmp_path: Path) -> Iterator[HttpFixture]:
    """The fixture server over streamable HTTP on 127.0.0.1, requiring `Authorization: Bearer <token>`."""
    state = tmp_path / "http-state"
    state.mkdir()
    port = _free_port()
    token = "fixture-token-6f1c2a9e"
    env = {**os.environ, "FIXTURE_DIR": str(state), "FIXTURE_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, str(FIXTURE_PY), "--http", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"the HTTP fixture server did not start: {err[-2000:]}")
                time.sleep(0.05)
        yield HttpFixture(f"http://127.0.0.1:{port}/mcp", token, state)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
