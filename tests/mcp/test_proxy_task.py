"""The proxy's task file: a task whose agent is the MCP host. Every mistake: file, line, field, exit 2."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentstop.cli import main
from agentstop.cli.mcp_proxy import load_proxy_task, parse_bind

SERVER = "mcp_servers:\n  fixture: {command: python, args: [server.py]}\n"


def proxy(tmp_path: Path, text: str) -> tuple[int, str]:
    task = tmp_path / "proxy.yaml"
    task.write_text(textwrap.dedent(text).lstrip("\n"))
    result = CliRunner().invoke(main, ["mcp-proxy", "--task", str(task)], catch_exceptions=False)
    return result.exit_code, result.stderr


def test_a_proxy_task_needs_no_steps_and_keeps_the_task_fields(tmp_path: Path) -> None:
    task = tmp_path / "proxy.yaml"
    task.write_text(
        "name: notes\njournal: ./notes.db\n"
        + SERVER
        + "grant: {tools: ['fixture.*'], ttl: 10m, max_calls: 5}\nstop: {grace: 1s}\napprove: irreversible\n"
    )
    spec = load_proxy_task(task)
    assert spec.name == "notes" and spec.grace_seconds == 1.0 and spec.approve == "irreversible"
    grant = spec.grant_spec()
    assert grant.tools == ["fixture.*"] and grant.max_calls == 5
    assert spec.journal_target(tmp_path / "default.db") == tmp_path / "notes.db"
    assert spec.path == task.absolute()


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        (
            "name: x\n" + SERVER + "grant: {tools: ['*']}\nsteps:\n  - {thought: hi}\n",
            ":5: field 'steps'",
            "the MCP host plans the calls",
        ),
        (
            "name: x\nagent: {kind: scripted}\n" + SERVER + "grant: {tools: ['*']}\n",
            ":2: field 'agent'",
            "the MCP host is the agent",
        ),
        ("name: x\ntools: [a.b:C]\n" + SERVER + "grant: {tools: ['*']}\n", ":2: field 'tools'", "remove `tools`"),
        ("name: x\ngrant: {tools: ['*']}\n", ":1: field 'mcp_servers'", "give `mcp_servers`"),
        ("name: x\n" + SERVER + "grant: {tools: ['*'], ttl: soon}\n", ":4: field 'grant.ttl'", "duration"),
        (
            "name: x\n" + SERVER + "grant: {tools: ['*']}\nstop: {grace: 2s, wait: 1}\n",
            ":5: field 'stop.wait'",
            "unknown field",
        ),
    ],
)
def test_a_wrong_proxy_task_says_the_file_line_and_field_and_exits_2(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    code, stderr = proxy(tmp_path, text)
    assert code == 2
    assert f"proxy.yaml{where}" in stderr and says in stderr, stderr
    assert "Traceback" not in stderr


def test_a_missing_proxy_task_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["mcp-proxy", "--task", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "no such file" in result.stderr


@pytest.mark.parametrize(
    ("text", "bind"),
    [("127.0.0.1:8765", ("127.0.0.1", 8765)), ("[::1]:0", ("::1", 0)), ("localhost:80", ("localhost", 80))],
)
def test_http_binds_host_and_port(text: str, bind: tuple[str, int]) -> None:
    assert parse_bind(text) == bind


def test_a_wrong_http_address_is_a_usage_error(tmp_path: Path) -> None:
    task = tmp_path / "proxy.yaml"
    task.write_text("name: x\n" + SERVER + "grant: {tools: ['*']}\n")
    result = CliRunner().invoke(main, ["mcp-proxy", "--task", str(task), "--http", "8765"])
    assert result.exit_code == 2 and "HOST:PORT" in result.stderr


def test_a_busy_http_port_exits_2_before_any_server_starts(tmp_path: Path) -> None:
    task = tmp_path / "proxy.yaml"
    task.write_text("name: x\njournal: ./proxy.db\n" + SERVER + "grant: {tools: ['*']}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["mcp-proxy", "--task", str(task), "--http", f"127.0.0.1:{port}"])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "proxy.db").exists()
