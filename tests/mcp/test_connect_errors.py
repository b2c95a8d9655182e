"""Servers that cannot be used, and overlays that do not fit them: clear errors naming the file, line and server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Supervisor, TaskFileError
from agentstop.mcp import McpClient, McpConfigError, McpServerError, load_mcp_setup

from .conftest import FixtureServer, HttpFixture, write_task

pytestmark = pytest.mark.anyio


async def start_error(task: Path, environ: dict[str, str] | None = None) -> McpConfigError:
    with pytest.raises(McpConfigError) as caught:
        async with McpClient.from_setup(load_mcp_setup(task), environ=environ):
            pass
    assert isinstance(caught.value, TaskFileError)
    return caught.value


async def test_a_missing_command_names_the_server_and_its_line(tmp_path: Path) -> None:
    err = await start_error(
        write_task(
            tmp_path,
            """
    notes: {command: no-such-mcp-server-4d1f}
    """,
        )
    )
    assert isinstance(err, McpServerError) and (err.server, err.line) == ("notes", 3)
    assert str(err) == (
        f"{tmp_path / 'task.yaml'}:3: field 'mcp_servers.notes': command 'no-such-mcp-server-4d1f' "
        "was not found or is not executable; install it, or give its full path in `command`"
    )


async def test_a_server_that_dies_before_initialize_says_what_it_printed(
    tmp_path: Path, fixture_server: FixtureServer
) -> None:
    err = await start_error(write_task(tmp_path, fixture_server.entry(mode="die_on_start")))
    assert err.line == 3 and err.field == "mcp_servers.fixture"
    assert "exited or closed the connection during initialize" in str(err)
    assert "its stderr says: fixture: cannot open its database" in str(err)


async def test_a_server_that_dies_during_initialize_is_reported(tmp_path: Path, fixture_server: FixtureServer) -> None:
    err = await start_error(write_task(tmp_path, fixture_server.entry(mode="die_on_init")))
    assert "during initialize" in str(err) and "giving up during initialize" in str(err)


async def test_a_server_that_never_answers_hits_init_timeout(tmp_path: Path, fixture_server: FixtureServer) -> None:
    err = await start_error(write_task(tmp_path, fixture_server.entry(mode="hang", extra="init_timeout: 0.5")))
    assert "did not finish initialize within 0.5 s (init_timeout)" in str(err)


async def test_the_first_failing_server_by_line_is_reported_and_the_others_are_stopped(
    tmp_path: Path, memory_js: Path
) -> None:
    servers = f"good: {{command: node, args: [{memory_js}]}}\nbad: {{command: no-such-mcp-server-4d1f}}\n"
    err = await start_error(write_task(tmp_path, servers))
    assert isinstance(err, McpServerError) and err.server == "bad" and err.line == 4


async def test_an_unset_env_variable_is_named_without_any_value(tmp_path: Path) -> None:
    err = await start_error(
        write_task(
            tmp_path,
            f"""
    notes: {{command: {sys.executable}, env: {{API_KEY: "${{env:AGENTSTOP_TEST_UNSET_KEY}}"}}}}
    """,
        ),
        environ={},
    )
    assert "env.API_KEY reads ${env:AGENTSTOP_TEST_UNSET_KEY}, which is not set or empty" in str(err)


def memory_entry(memory_js: Path, tmp_path: Path) -> str:
    return f"memory: {{command: node, args: [{memory_js}], env: {{MEMORY_FILE_PATH: {tmp_path / 'memory.jsonl'}}}}}\n"


async def test_an_overlay_naming_a_tool_the_server_lacks_is_reported_at_its_line(
    tmp_path: Path, memory_js: Path
) -> None:
    err = await start_error(
        write_task(
            tmp_path,
            memory_entry(memory_js, tmp_path),
            """
    memory:
      read_graph: {class: read_only}
      create_entity: {class: irreversible}
    """,
        )
    )
    assert err.path == str(tmp_path / "overlay.yaml") and (err.line, err.field) == (3, "memory.create_entity")
    assert "server 'memory' has no tool 'create_entity' (it lists: add_observations, create_entities," in str(err)


async def test_a_probe_must_call_a_read_only_tool(tmp_path: Path, memory_js: Path) -> None:
    err = await start_error(
        write_task(
            tmp_path,
            memory_entry(memory_js, tmp_path),
            """
    memory:
      create_entities:
        probe: {tool: delete_entities, args: {}, done_if: "`true`"}
    """,
        )
    )
    assert (err.line, err.field) == (3, "memory.create_entities.probe.tool")
    assert (
        "probe calls memory.delete_entities, which is irreversible here; a probe call must be read-only: "
        "mark delete_entities `class: read_only` in the overlay if it is"
    ) in str(err)


async def test_http_401_is_reported_without_the_token(tmp_path: Path, http_fixture_server: HttpFixture) -> None:
    err = await start_error(
        write_task(
            tmp_path,
            f"""
    remote: {{url: "{http_fixture_server.url}", headers: {{Authorization: "Bearer ${{env:FIXTURE_TEST_TOKEN}}"}}}}
    """,
        ),
        environ={"FIXTURE_TEST_TOKEN": "wrong-token-value"},
    )
    assert isinstance(err, McpServerError) and err.server == "remote" and err.line == 3
    assert "answered HTTP 401 Unauthorized; check the server's `headers`" in str(err)
    assert "wrong-token-value" not in str(err)


async def test_an_http_server_is_used_with_its_header_and_the_token_is_never_journaled(
    tmp_path: Path, journal: Journal, http_fixture_server: HttpFixture
) -> None:
    task = write_task(
        tmp_path,
        f"""
    remote: {{url: "{http_fixture_server.url}", headers: {{Authorization: "Bearer ${{env:FIXTURE_TEST_TOKEN}}"}}}}
    """,
    )
    environ = {"FIXTURE_TEST_TOKEN": http_fixture_server.token}
    async with McpClient.from_setup(load_mcp_setup(task), environ=environ) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec(tools=["remote.*"]))
        receipt = await sup.call("remote.write_note", {"name": "a", "text": "over http"})
        assert mcp.connection("remote").protocol_version is not None
    assert receipt["result"]["structured_content"] == {"name": "a", "previous": None}
    assert (http_fixture_server.state / "notes" / "a").read_text() == "over http"
    journal_bytes = b"".join(p.read_bytes() for p in Path(journal.location).parent.glob("journal.db*"))
    assert http_fixture_server.token.encode() not in journal_bytes
