"""The reference filesystem server (npm) behind the fence: moves and overwrites undone exactly, new files honestly not.

The server has no tool that deletes a file, so a `write_file` that created one
cannot be taken back: the overlay's `undoable_if` says so from what its capture
read, and the report shows the call done and not undoable, with the reason.
Its `check` reads the file before an undo, so a person's edit since is never
overwritten unasked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.mcp import McpClient, McpConfigError, load_mcp_setup

from .conftest import FILESYSTEM_JS, write_task

pytestmark = pytest.mark.anyio

OVERLAY = """
fs:
  read_text_file: {class: read_only}
  move_file:
    class: reversible
    compensate: {tool: move_file, args: {source: {jmes: args.destination}, destination: {jmes: args.source}}}
  write_file:
    class: compensable
    capture: [{tool: read_text_file, args: {path: {jmes: args.path}}, as: before, allow_error: true}]
    undoable_if:
      test: "capture.before.is_error == `false`"
      reason: "nothing could be read at this path before the write (a new file), and this server has no tool
        that deletes a file: delete it by hand if it should not exist"
    check:
      tool: read_text_file
      args: {path: {jmes: args.path}}
      allow_error: true
      drift_if: "result.is_error || result.structured_content.content != args.content"
      reason: "the file no longer holds what the agent wrote: someone changed or removed it since"
    compensate:
      tool: write_file
      args: {path: {jmes: args.path}, content: {jmes: capture.before.structured_content.content}}
"""

ORIGINAL = "first line\r\nsecond line, ünïcödé\n\nno newline at the end".encode()


@pytest.fixture
def filesystem_js(memory_js: Path) -> Path:
    """The reference filesystem server, installed with the memory server by `npm ci` from the lock file."""
    return FILESYSTEM_JS  # memory_js installed every locked server


def filesystem(tmp_path: Path, filesystem_js: Path) -> tuple[McpClient, Path]:
    """A client for the filesystem server, allowed into tmp_path/files (created, empty)."""
    files = tmp_path / "files"
    files.mkdir()
    servers = f"fs: {{command: node, args: [{json.dumps(str(filesystem_js))}, {json.dumps(str(files))}]}}"
    return McpClient.from_setup(load_mcp_setup(write_task(tmp_path, servers, OVERLAY))), files


async def test_a_move_is_undone_by_moving_the_file_back_byte_for_byte(
    tmp_path: Path, journal: Journal, filesystem_js: Path
) -> None:
    mcp, files = filesystem(tmp_path, filesystem_js)
    old, new = files / "plan.bin", files / "archive" / "plan.bin"
    (files / "archive").mkdir()
    old.write_bytes(bytes(range(256)) + ORIGINAL)
    before = old.read_bytes()
    async with mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec(tools=["fs.*"]))
        await sup.call("fs.move_file", {"source": str(old), "destination": str(new)})
        assert not old.exists() and new.read_bytes() == before
        [offered] = (await sup.report()).undoable
        assert offered.tool == "fs.move_file" and mcp.tool("fs.move_file").can_check() is False
        [undone] = await sup.undo_all()
        report = await sup.report()
    assert undone.status == "compensated"
    assert old.read_bytes() == before and not new.exists()
    assert [(i.tool, i.state) for i in report.done] == [("fs.move_file", "compensated")]


async def test_an_overwrite_is_restored_exactly_from_what_the_capture_read(
    tmp_path: Path, journal: Journal, filesystem_js: Path
) -> None:
    mcp, files = filesystem(tmp_path, filesystem_js)
    target = files / "notes.txt"
    target.write_bytes(ORIGINAL)
    async with mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec(tools=["fs.*"]))
        await sup.call("fs.write_file", {"path": str(target), "content": "overwritten by the agent"})
        assert target.read_text() == "overwritten by the agent"
        [offered] = (await sup.report()).undoable
        assert offered.undo.detail == "compensation (leaves a trace)"
        [undone] = await sup.undo_all()
        report = await sup.report()
    assert undone.status == "compensated", undone.detail
    assert target.read_bytes() == ORIGINAL
    assert [(i.tool, i.state) for i in report.done] == [("fs.write_file", "compensated")]


async def test_a_write_that_created_a_file_is_done_and_honestly_not_undoable(
    tmp_path: Path, journal: Journal, filesystem_js: Path
) -> None:
    mcp, files = filesystem(tmp_path, filesystem_js)
    created = files / "new.txt"
    async with mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec(tools=["fs.*"]))
        receipt = await sup.call("fs.write_file", {"path": str(created), "content": "fresh"})
        report = await sup.report()
        results = await sup.undo_all()
        [asked] = await sup.undo(["c1"])  # asked for by id: still not run
    assert created.read_text() == "fresh"
    assert receipt["capture"]["before"]["is_error"] is True  # what the capture found: no file
    [item] = report.done
    assert (item.tool, item.state, item.reversibility) == ("fs.write_file", "committed", "compensable")
    assert (item.undo.available, item.undo.status) == (False, "not_undoable")
    assert item.undo.detail.startswith("not undoable: nothing could be read at this path before the write")
    assert "no tool that deletes a file" in item.undo.detail
    assert report.undoable == () and results == []
    assert asked.status == "skipped" and asked.detail == item.undo.detail


async def test_an_undo_is_refused_when_the_file_was_edited_since_and_forcing_restores_it(
    tmp_path: Path, journal: Journal, filesystem_js: Path
) -> None:
    mcp, files = filesystem(tmp_path, filesystem_js)
    target = files / "notes.txt"
    target.write_bytes(ORIGINAL)
    async with mcp:
        assert mcp.tool("fs.write_file").can_check() is True
        sup = Supervisor(journal, mcp.tools, GrantSpec(tools=["fs.*"]))
        await sup.call("fs.write_file", {"path": str(target), "content": "written by the agent"})
        target.write_text("written by the agent, then fixed by a person")  # someone else, by hand
        [refused] = await sup.undo_all()
        assert target.read_text() == "written by the agent, then fixed by a person"  # never overwritten unasked
        [still] = (await sup.report()).undoable
        [forced] = await sup.undo(["c1"], force=True)
        report = await sup.report()
    assert refused.status == "refused"
    assert refused.drift == "the file no longer holds what the agent wrote: someone changed or removed it since"
    assert "nothing was undone (force to undo anyway)" in refused.detail
    assert still.call_id == "c1" and still.state == "committed"
    assert forced.status == "compensated" and forced.forced
    assert target.read_bytes() == ORIGINAL
    assert [(i.tool, i.state) for i in report.done] == [("fs.write_file", "compensated")]


@pytest.mark.parametrize(
    ("where", "broken"),
    [
        ("undoable_if", "{test: 'capture.before.is_error ==', reason: new file}"),
        ("check", "{tool: read_text_file, drift_if: 'result.is_error ||', reason: changed}"),
    ],
)
def test_a_check_or_undoable_if_that_does_not_compile_is_found_at_load_time(
    tmp_path: Path, where: str, broken: str
) -> None:
    task = write_task(
        tmp_path,
        "fs: {command: node, args: [index.js, files]}",
        f"""
    fs:
      write_file:
        compensate: {{tool: write_file, args: {{path: {{jmes: args.path}}, content: ""}}}}
        {where}: {broken}
    """,
    )
    with pytest.raises(McpConfigError) as caught:
        load_mcp_setup(task)
    field = "test" if where == "undoable_if" else "drift_if"
    assert (caught.value.line, caught.value.field) == (4, f"fs.write_file.{where}.{field}")
    assert "does not compile" in str(caught.value)


def test_a_check_or_undoable_if_without_a_compensate_is_an_error(tmp_path: Path) -> None:
    task = write_task(
        tmp_path,
        "fs: {command: node, args: [index.js, files]}",
        """
    fs:
      read_text_file: {class: read_only}
      write_file:
        check: {tool: read_text_file, drift_if: "true", reason: changed}
    """,
    )
    with pytest.raises(McpConfigError, match="`check` is about the undo, and this tool has no `compensate`") as caught:
        load_mcp_setup(task)
    assert caught.value.line == 3


async def test_a_check_that_would_write_is_refused_when_the_servers_start(tmp_path: Path, filesystem_js: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    servers = f"fs: {{command: node, args: [{json.dumps(str(filesystem_js))}, {json.dumps(str(files))}]}}"
    task = write_task(
        tmp_path,
        servers,
        """
    fs:
      write_file:
        compensate: {tool: write_file, args: {path: {jmes: args.path}, content: ""}}
        check: {tool: write_file, args: {path: {jmes: args.path}, content: ""}, drift_if: "true", reason: x}
    """,
    )
    with pytest.raises(McpConfigError, match="a check call must be read-only") as caught:
        async with McpClient.from_setup(load_mcp_setup(task)):
            pass
    assert (caught.value.line, caught.value.field) == (4, "fs.write_file.check.tool")
