"""Mistakes in mcp_servers and the overlay: each one a clear error naming the file, the line and the server/tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import TaskFileError
from agentstop.mcp import McpConfigError, load_mcp_setup, load_overlay

from .conftest import write_task

SERVER = "memory: {command: node, args: [server.js]}\n"


def error_of(task: Path) -> McpConfigError:
    with pytest.raises(McpConfigError) as caught:
        load_mcp_setup(task)
    assert isinstance(caught.value, TaskFileError)  # the CLI reports it in one line and exits 2
    return caught.value


def test_a_jmespath_that_does_not_compile_names_the_file_line_server_and_tool(tmp_path: Path) -> None:
    task = write_task(
        tmp_path,
        SERVER,
        """
    memory:
      read_graph: {class: read_only}
      create_entities:
        class: compensable
        compensate:
          tool: delete_entities
          args: {entityNames: {jmes: "result.structured_content.entities[].name"}}
        probe: {tool: open_nodes, args: {names: {jmes: "args.entities[."}}, done_if: "true"}
    """,
    )
    err = error_of(task)
    assert err.path.endswith("overlay.yaml") and err.line == 8
    assert err.field == "memory.create_entities.probe.args.names.jmes"
    assert "JMESPath 'args.entities[.' does not compile" in str(err)
    assert str(err).startswith(f"{tmp_path / 'overlay.yaml'}:8: field 'memory.create_entities.probe")


def test_a_done_if_that_does_not_compile_is_found_at_load_time(tmp_path: Path) -> None:
    task = write_task(
        tmp_path,
        SERVER,
        """
    memory:
      open_nodes: {class: read_only}
      create_entities:
        probe: {tool: open_nodes, args: {}, done_if: "length(result"}
    """,
    )
    err = error_of(task)
    assert (err.line, err.field) == (4, "memory.create_entities.probe.done_if")


def test_an_overlay_for_a_server_the_task_does_not_have_is_an_error(tmp_path: Path) -> None:
    task = write_task(
        tmp_path,
        SERVER,
        """
    memory:
      read_graph: {class: read_only}
    memroy:
      read_graph: {class: read_only}
    """,
    )
    err = error_of(task)
    assert (err.line, err.field) == (3, "memroy")
    assert "names server 'memroy', which mcp_servers does not have (configured: memory)" in str(err)


def test_an_unknown_overlay_field_is_named_with_a_suggestion(tmp_path: Path) -> None:
    task = write_task(
        tmp_path,
        SERVER,
        """
    memory:
      create_entities:
        clas: compensable
    """,
    )
    err = error_of(task)
    assert (err.line, err.field) == (3, "memory.create_entities.clas")
    assert "unknown field 'clas' (did you mean 'class'?)" in str(err)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{class: reversible}", "class reversible needs `compensate`"),
        ("{class: read_only, compensate: {tool: x}}", "a read_only tool has nothing to undo"),
        ("{class: irreversible, compensate: {tool: x}}", "irreversible means no undo"),
        ("{class: sometimes}", "Input should be 'read_only', 'reversible', 'compensable' or 'irreversible'"),
        ("{capture: [{tool: a, as: x}, {tool: b, as: x}]}", "capture name 'x' is used twice"),
    ],
)
def test_an_overlay_entry_must_fit_its_class(tmp_path: Path, entry: str, problem: str) -> None:
    task = write_task(tmp_path, SERVER, f"memory:\n  create_entities: {entry}\n")
    err = error_of(task)
    assert err.line == 2 and problem in str(err)


@pytest.mark.parametrize(
    ("servers", "line", "field", "problem"),
    [
        (
            "memory: {command: node, url: 'http://127.0.0.1:1/mcp'}\n",
            3,
            "mcp_servers.memory",
            "give `command` (a program run over stdio) or `url` (streamable HTTP), not both",
        ),
        ("memory: {args: [x]}\n", 3, "mcp_servers.memory", "give `command`"),
        ("memory: {url: 'ftp://host/x'}\n", 3, "mcp_servers.memory", "an http:// or https:// address"),
        ("memory: {url: 'http://h/mcp', env: {A: b}}\n", 3, "mcp_servers.memory", "env only apply to a stdio server"),
        (
            "memory:\n  command: node\n  env: {TOKEN: '${TOKEN}'}\n",
            3,
            "mcp_servers.memory",
            "env.TOKEN: '${TOKEN}' is not a reference agentstop knows; write ${env:NAME}",
        ),
        ("memory:\n  command: node\n  timeout: -1\n", 5, "mcp_servers.memory.timeout", "greater than 0"),
        ("memory:\n  command: node\n  comand: x\n", 5, "mcp_servers.memory.comand", "did you mean 'command'?"),
        ("my__memory: {command: node}\n", 3, "mcp_servers.my__memory", "server name 'my__memory'"),
    ],
)
def test_a_server_entry_is_checked_with_its_line(
    tmp_path: Path, servers: str, line: int, field: str, problem: str
) -> None:
    err = error_of(write_task(tmp_path, servers))
    assert (err.line, err.field) == (line, field)
    assert problem in err.problem


def test_a_missing_overlay_file_is_named(tmp_path: Path) -> None:
    task = write_task(tmp_path, SERVER)
    task.write_text(task.read_text() + "mcp_overlay: nowhere.yaml\n")
    err = error_of(task)
    assert err.path == str(tmp_path / "nowhere.yaml") and "no such overlay file" in str(err)


def test_overlay_yaml_syntax_errors_carry_the_line(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("memory:\n  read_graph: {class: read_only\n  x: y\n")
    with pytest.raises(McpConfigError, match="YAML syntax error") as caught:
        load_overlay(overlay, ["memory"])
    assert caught.value.line == 3


def test_env_and_header_values_never_show_in_a_repr(tmp_path: Path) -> None:
    task = write_task(
        tmp_path,
        """
    memory: {command: node, env: {API_KEY: literal-secret-value}}
    remote: {url: "http://127.0.0.1:1/mcp", headers: {Authorization: "Bearer ${env:TOKEN}"}}
    """,
    )
    setup = load_mcp_setup(task)
    assert "literal-secret-value" not in repr(setup) and "Bearer" not in repr(setup)
    assert setup.servers["remote"].headers == {"Authorization": "Bearer ${env:TOKEN}"}  # resolved only at start
    assert setup.lines == {"memory": 3, "remote": 4}
