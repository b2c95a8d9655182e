"""A valid task file loads, and its helpers give the supervisor what it needs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from agentstop import GrantSpec, TaskFileError, Tool
from agentstop.planners.scripted import ScriptedPlanner, ScriptedStep
from agentstop.task import TaskFile, load_task, parse_task

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"
VALID = FIXTURES / "valid.yaml"

pytestmark = pytest.mark.usefixtures("isolated_imports")


@pytest.fixture
def task() -> TaskFile:
    return load_task(VALID)


def test_valid_file_loads(task: TaskFile) -> None:
    assert task.name == "Write the release files"
    assert task.goal.startswith("Write the notes")
    assert task.path == VALID.absolute()
    assert task.path.is_absolute()
    assert task.approve == ["write_file"]
    assert task.grace_seconds == 0.5


def test_grant_spec(task: TaskFile) -> None:
    assert task.grant_spec() == GrantSpec(tools=["write_*", "list_files"], scopes=["files:*"], ttl=600.0, max_calls=20)


def test_grant_defaults(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text("name: x\ntools: [m:C]\ngrant: {tools: [a]}\nsteps: [{thought: t}]\n")
    task = load_task(p)
    assert task.grant_spec() == GrantSpec(tools=["a"], scopes=["**"], ttl=None, max_calls=None)
    assert task.grace_seconds == 2.0
    assert task.approve == "none"
    planner = task.planner()
    assert isinstance(planner, ScriptedPlanner) and planner.tokens_per_second == 40.0


def test_journal_path_is_relative_to_the_task_file(
    task: TaskFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the current directory does not matter
    assert task.journal_path(Path("/default.db")) == FIXTURES.absolute() / "journals" / "release.db"


def test_journal_path_default_and_absolute(tmp_path: Path) -> None:
    base = "name: x\ntools: [m:C]\ngrant: {tools: [a]}\nsteps: [{thought: t}]\n"
    assert parse_task(base, tmp_path / "t.yaml").journal_path(Path("/d.db")) == Path("/d.db")
    absolute = parse_task(base + f"journal: {tmp_path / 'j.db'}\n", "elsewhere/t.yaml")
    assert absolute.journal_path(Path("/d.db")) == tmp_path / "j.db"


def test_tools_import_from_next_to_the_task_file(
    task: TaskFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not found through the current directory
    before = list(sys.path)
    registry = task.load_tools()
    assert sys.path == before
    assert registry.names() == ["write_file", "list_files"]
    assert all(isinstance(t, Tool) for t in registry)
    assert sys.modules["fixture_tools"].__file__ == str(FIXTURES / "fixture_tools.py")
    task.check_steps(registry)


def test_tools_import_from_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "here_tools.py").write_text((FIXTURES / "fixture_tools.py").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "here_tools", raising=False)
    task = parse_task(
        "name: x\ntools: [here_tools:WriteFile]\ngrant: {tools: ['*']}\nsteps: [{thought: t}]\n",
        FIXTURES.parent / "t.yaml",
    )
    assert task.load_tools().names() == ["write_file"]
    sys.modules.pop("here_tools", None)


def test_sys_path_is_restored_when_import_fails() -> None:
    before = list(sys.path)
    task = parse_task(
        "name: x\ntools: [fixture_tools:Broken]\ngrant: {tools: ['*']}\nsteps: [{thought: t}]\n", FIXTURES / "t.yaml"
    )
    with pytest.raises(TaskFileError):
        task.load_tools()
    assert sys.path == before


def test_steps_become_plain_scripted_steps(task: TaskFile) -> None:
    steps = task.scripted_steps()
    assert steps == (
        ScriptedStep("First I will write the notes.", (("write_file", {"name": "notes", "text": "v1.0: faster"}),)),
        ScriptedStep(
            "Now the summary and the changelog, together.",
            (("write_file", {"name": "summary", "text": "short"}), ("write_file", {"name": "changelog"})),
            parallel=True,
        ),
        ScriptedStep("Let me look at what I wrote.", (("list_files", {}),)),
        ScriptedStep("Done."),
    )


def test_planner(task: TaskFile) -> None:
    planner = task.planner()
    assert isinstance(planner, ScriptedPlanner)
    assert planner.tokens_per_second == 0
    assert planner.steps == task.scripted_steps()


def test_error_str_names_file_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "task.yaml"
    p.write_text("name: x\ntools: [m:C]\ngrant: {tools: [a], ttl: -5s}\nsteps: [{thought: t}]\n")
    rel = os.path.relpath(p)
    with pytest.raises(TaskFileError) as info:
        load_task(rel)
    assert str(info.value) == (
        f"{rel}:3: field 'grant.ttl': expected a duration like 30s, 10m or 1h, or a number of seconds (got '-5s')"
    )
