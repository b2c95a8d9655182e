"""task.yaml with `agent: {kind: openai}`: loading, the planner it builds, and line-numbered mistakes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentstop import TaskFileError
from agentstop.planners.openai_chat import NO_KEY, OpenAIChatPlanner
from agentstop.task import TaskFile, parse_task, task_json_schema

from .conftest import FIXTURES


def task(*lines: str) -> TaskFile:
    return parse_task("\n".join(lines) + "\n", FIXTURES / "llm.yaml", shown_path="task.yaml")


def fails(*lines: str) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        task(*lines)
    return info.value


HEAD = (
    "name: Release notes",  # 1
    "goal: Write the release notes.",  # 2
    "tools: [fixture_tools:WriteFile]",  # 3
    "grant: {tools: ['*']}",  # 4
    "agent:",  # 5
    "  kind: openai",  # 6
)


def test_an_openai_task_loads_and_builds_the_openai_planner() -> None:
    t = task(
        *HEAD,
        "  model: llama3.1",
        "  base_url: http://127.0.0.1:11434/v1",
        "  max_steps: 5",
        "  temperature: 0.3",
        "  system: Be brief.",
        "  timeout: 30s",
    )
    t.check_steps(t.load_tools())
    assert t.model.steps == []
    planner = t.planner()
    assert isinstance(planner, OpenAIChatPlanner)
    assert (planner.model, planner.goal, planner.base_url) == (
        "llama3.1",
        "Write the release notes.",
        "http://127.0.0.1:11434/v1",
    )
    assert (planner.max_steps, planner.temperature, planner.system, planner.timeout) == (5, 0.3, "Be brief.", 30.0)
    assert planner.first_messages()[1] == {"role": "user", "content": "Write the release notes."}


def test_without_api_key_env_a_dummy_key_is_sent() -> None:
    planner = task(*HEAD, "  model: m", "  base_url: http://127.0.0.1:8000/v1").planner()
    assert isinstance(planner, OpenAIChatPlanner)
    assert planner._api_key == NO_KEY


def test_empty_steps_are_allowed_for_a_model() -> None:
    assert task(*HEAD, "  model: m", "steps: []").model.steps == []


def test_missing_model_names_its_line_and_field() -> None:
    err = fails(*HEAD, "  base_url: http://127.0.0.1:11434/v1")
    assert (err.line, err.field) == (5, "agent.model")
    assert err.problem.startswith("required field missing; add it: the model's name on the server")
    assert "(and" not in err.problem  # no knock-on complaint about steps


def test_steps_with_a_model_are_refused_at_their_line() -> None:
    err = fails(*HEAD, "  model: m", "steps:", "  - thought: hi")
    assert (err.line, err.field) == (8, "steps")
    assert "plans its own calls" in err.problem


def test_a_model_needs_a_goal() -> None:
    err = fails(
        "name: x", "tools: [fixture_tools:WriteFile]", "grant: {tools: ['*']}", "agent: {kind: openai, model: m}"
    )
    assert (err.line, err.field) == (4, "agent")
    assert "add `goal: ...`" in err.problem


def test_a_scripted_task_still_needs_steps() -> None:
    err = fails("name: x", "tools: [fixture_tools:WriteFile]", "grant: {tools: ['*']}")
    assert (err.line, err.field) == (1, "steps")
    assert err.problem.startswith("required field missing")
    err = fails("name: x", "tools: [fixture_tools:WriteFile]", "grant: {tools: ['*']}", "steps: []")
    assert (err.line, err.field) == (4, "steps")
    assert err.problem == "expected at least 1 item (got 0)"


@pytest.mark.parametrize(
    ("line", "field", "expected"),
    [
        ("  base_url: 127.0.0.1:11434", "agent.base_url", "expected an http(s) URL"),
        ("  max_steps: 0", "agent.max_steps", "expected a number >= 1"),
        ("  temperature: 3", "agent.temperature", "expected a number <= 2"),
        ("  timeout: 0s", "agent.timeout", "expected a positive duration"),
        ("  modle: m", "agent.modle", "did you mean 'model'"),
    ],
)
def test_bad_agent_fields_name_their_line(line: str, field: str, expected: str) -> None:
    extra = () if "modle" in line else ("  model: m",)
    err = fails(*HEAD, *extra, line)
    assert (err.line, err.field) == (7 + len(extra), field)
    assert expected in err.problem


def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it() -> None:
    key = "sk-proj-AbCdEf0123456789AbCdEf0123456789"
    err = fails(*HEAD, "  model: m", f"  api_key_env: {key}")
    assert (err.line, err.field) == (8, "agent.api_key_env")
    assert "NAME of an environment variable" in err.problem
    assert key not in str(err)


def test_a_missing_key_variable_is_a_task_file_error_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTSTOP_NO_SUCH_KEY", raising=False)
    t = task(*HEAD, "  model: m", "  api_key_env: AGENTSTOP_NO_SUCH_KEY")  # loading is fine
    with pytest.raises(TaskFileError) as info:
        t.planner()
    err = info.value
    assert (err.line, err.field) == (8, "agent.api_key_env")
    assert "AGENTSTOP_NO_SUCH_KEY is not set" in err.problem
    monkeypatch.setenv("AGENTSTOP_NO_SUCH_KEY", "  ")
    with pytest.raises(TaskFileError, match="AGENTSTOP_NO_SUCH_KEY"):
        t.planner()


def test_the_cli_exits_2_naming_the_missing_variable(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "fixture_tools.py", tmp_path)
    p = tmp_path / "task.yaml"
    p.write_text("\n".join([*HEAD, "  model: m", "  api_key_env: AGENTSTOP_NO_SUCH_KEY"]) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "AGENTSTOP_NO_SUCH_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "agentstop", "run", str(p), "--headless", "--journal", str(tmp_path / "j.db")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"{p}:8: field 'agent.api_key_env': the environment variable AGENTSTOP_NO_SUCH_KEY is not set" in done.stderr


def test_the_json_schema_knows_both_agents() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = task_json_schema()
    assert set(schema["properties"]["agent"]["discriminator"]["mapping"]) == {"scripted", "openai"}
    base = {"name": "x", "goal": "g", "tools": ["m:C"], "grant": {"tools": ["a"]}}
    jsonschema.validate({**base, "agent": {"kind": "openai", "model": "m"}}, schema)
    jsonschema.validate({**base, "agent": {"kind": "openai", "model": "m"}, "steps": []}, schema)
    for bad in (
        {**base, "agent": {"kind": "openai", "model": "m"}, "steps": [{"thought": "t"}]},
        base,
        {**base, "steps": []},
        {**base, "agent": {"kind": "openai"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_agentstop_does_not_import_the_sdk_until_a_model_is_used() -> None:
    code = (
        "import sys, agentstop, agentstop.task, agentstop.planners; "
        "print([m for m in sys.modules if m == 'openai' or m.startswith('openai.')][:3])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
