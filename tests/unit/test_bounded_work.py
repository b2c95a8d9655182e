"""Hostile sizes cost bounded work: a YAML alias bomb is refused while loading, the argument walk stops at its
cap, and a task file over the size limit is refused unread (issue 20, items 5 and 10).

"Bounded" is checked in this thread's CPU time (`time.thread_time`): an expanded bomb costs orders of
magnitude more of it, and neighbours on a loaded machine, which stretch wall time, do not add to it."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from agentstop import GrantSpec, InvalidArgs, Journal, Supervisor, TaskFileError
from agentstop.supervisor.shape import MAX_NODES, shape_problem
from agentstop.yaml_limits import MAX_FILE_BYTES_ENV

from ..fixtures.tasks.fixture_tools import WriteFile

BOMB_ANCHORS = "\n".join(
    [
        '  - &a0 ["", "", "", "", "", "", "", "", "", ""]',
        *(f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)),
    ]
)

BOMB_TASK = f"""\
name: Laughs
goal: Expand.
agent: {{kind: scripted, tokens_per_second: 0}}
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {{tools: [write_file], ttl: 10m}}
anchors_live_in_a_step: &steps
  - tool: write_file
    args:
      name: x
      text: y
      junk:
{BOMB_ANCHORS.replace("  - ", "        - ")}
steps: *steps
"""


def _bomb(depth: int = 8) -> list[object]:
    """10^(depth+1) leaves, shared: a few hundred objects."""
    value: list[object] = [""] * 10
    for _ in range(depth):
        value = [value] * 10
    return value


def test_a_yaml_alias_bomb_task_is_refused_at_once_with_its_line(tmp_path: Path) -> None:
    task = tmp_path / "bomb.yaml"
    task.write_text(BOMB_TASK)
    assert len(BOMB_TASK) < 1200
    from agentstop.task import load_task

    began = time.thread_time()
    with pytest.raises(TaskFileError, match="aliases") as err:
        load_task(task)
    assert time.thread_time() - began < 2.0
    assert err.value.line is not None


def test_ordinary_aliases_still_load(tmp_path: Path) -> None:
    from agentstop.task import parse_task

    text = """\
name: Shared args
goal: Reuse.
agent: {kind: scripted, tokens_per_second: 0}
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {tools: [write_file], ttl: 10m}
steps:
  - {tool: write_file, args: &same {name: a, text: "shared text"}}
  - {tool: write_file, args: *same}
"""
    assert len(parse_task(text, tmp_path / "t.yaml").model.steps) == 2


def test_the_argument_walk_stops_at_its_cap_whatever_the_expanded_size() -> None:
    began = time.thread_time()
    problem = shape_problem({"junk": _bomb()}, max_bytes=None)
    assert problem is not None and str(MAX_NODES) in problem
    assert time.thread_time() - began < 2.0


@pytest.mark.anyio
async def test_a_call_with_an_alias_bomb_argument_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the cap, the check walked all 10^9 leaves on the event loop: Stop and Ctrl+C waited for it."""
    monkeypatch.setenv("FIXTURE_FILES_DIR", str(tmp_path))
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [WriteFile()], GrantSpec(tools=["write_file"]))
        await sup.start()
        with anyio.fail_after(10), pytest.raises(InvalidArgs, match="values"):
            await sup.call("write_file", {"name": "x", "text": "y", "junk": _bomb()})
        report = await sup.stop("done")
    assert [c.state for c in report.interrupted] == ["rejected"]
    assert not list(tmp_path.glob("*.txt"))


def test_a_task_file_over_the_size_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentstop.task import load_task

    task = tmp_path / "huge.yaml"
    task.write_text("name: Huge\ngoal: " + "x" * (2 << 20) + "\n")
    with pytest.raises(TaskFileError, match=f"larger than 1 MiB.*{MAX_FILE_BYTES_ENV}"):
        load_task(task)
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, str(4 << 20))
    with pytest.raises(TaskFileError) as err:  # now read, and wrong for other reasons
        load_task(task)
    assert "larger than" not in str(err.value)
    monkeypatch.setenv(MAX_FILE_BYTES_ENV, "100")
    with pytest.raises(TaskFileError, match="larger than 100 bytes"):
        load_task(Path(__file__).parents[1] / "cli" / "tasks" / "quick.yaml")


def test_a_task_file_that_never_ends_is_refused(tmp_path: Path) -> None:
    from agentstop.task import load_task

    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    with pytest.raises(TaskFileError, match="larger than"):
        load_task("/dev/zero")


def test_an_mcp_overlay_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    pytest.importorskip("jmespath")
    from agentstop.mcp import McpConfigError, load_overlay

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("anchors:\n" + BOMB_ANCHORS + "\nmemory:\n  read_graph: {class: read_only}\n")
    began = time.thread_time()
    with pytest.raises(McpConfigError, match="aliases"):
        load_overlay(overlay)
    assert time.thread_time() - began < 2.0
