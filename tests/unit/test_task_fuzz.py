"""`load_task` raises nothing but TaskFileError, whatever the file holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstop import TaskFileError
from agentstop.task import load_task

VALID = (Path(__file__).parents[1] / "fixtures" / "tasks" / "valid.yaml").read_text()

FIELDS = [
    "name",
    "goal",
    "journal",
    "agent",
    "kind",
    "scripted",
    "tokens_per_second",
    "tools",
    "grant",
    "scopes",
    "ttl",
    "max_calls",
    "stop",
    "grace",
    "approve",
    "steps",
    "thought",
    "tool",
    "args",
    "parallel",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["10m", "-5s", "[abc", "m:C", "fixture_tools:WriteFile", "*", "irreversible", "scripted"]),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
documents = st.dictionaries(keys, values, max_size=9)


@pytest.fixture(scope="module")
def task_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "task.yaml"


def _only_task_file_errors(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    try:
        task = load_task(path)
    except TaskFileError as exc:
        error: TaskFileError | None = exc
    else:
        error = None
        task.grant_spec()
        task.scripted_steps()
    if error is not None:
        assert str(error).startswith(str(path))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_random_text(task_path: Path, text: str) -> None:
    _only_task_file_errors(task_path, text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(documents, values))
def test_random_yaml(task_path: Path, doc: Any) -> None:
    _only_task_file_errors(task_path, yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(VALID)), st.integers(0, 8), st.text(max_size=4))
def test_mutated_valid_file(task_path: Path, at: int, cut: int, insert: str) -> None:
    _only_task_file_errors(task_path, VALID[:at] + insert + VALID[at + cut :])
