"""Shared pieces for the model tests: a fake server per test, openai task files, a run helper.

Tasks use the fixture tools (tests/fixtures/tasks/fixture_tools.py), whose
effects are real files in a temporary directory, under a real Journal and
Supervisor, built exactly as `agentstop run` builds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from agentstop import Journal, Report, Supervisor, TranscriptChunk
from agentstop.task import TaskFile, parse_task

from .fake_server import FakeChatServer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer() as s:
        yield s
    assert not s.errors, s.errors


def openai_task(
    base_url: str, *, goal: str = "Write the release notes.", scopes: str = "files:*", **agent: Any
) -> TaskFile:
    """A kind-openai task file next to the fixture tools, pointed at `base_url`."""
    data = {
        "name": "model test",
        "goal": goal,
        "agent": {
            "kind": "openai",
            "model": "fake-model",
            "base_url": base_url,
            "max_retries": 0,
            "timeout": 5,
            **agent,
        },
        "tools": ["fixture_tools:WriteFile", "fixture_tools:ListFiles"],
        "grant": {"tools": ["*"], "scopes": [scopes], "ttl": "1m"},
    }
    return parse_task(yaml.safe_dump(data, sort_keys=False), FIXTURES / "llm.yaml")


@dataclass
class Run:
    """What one supervised run left behind."""

    report: Report
    error: BaseException | None
    chunks: list[TranscriptChunk] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def said(self) -> str:
        return "".join(c.text for c in self.chunks if c.kind == "thought")


def supervisor(task: TaskFile, journal: Journal, chunks: list[TranscriptChunk]) -> Supervisor:
    tools = task.load_tools()
    task.check_steps(tools)
    sup = Supervisor(
        journal, tools, task.grant_spec(), task.planner(), task_name=task.name, goal=task.goal, grace=task.grace_seconds
    )
    sup.on_transcript(chunks.append)
    return sup


async def run_task(task: TaskFile, journal: Journal) -> Run:
    """Run the task to its end; a planner error is kept, not raised."""
    chunks: list[TranscriptChunk] = []
    sup = supervisor(task, journal, chunks)
    error: BaseException | None = None
    started = anyio.current_time()
    try:
        await sup.run()
    except Exception as exc:
        error = exc
    return Run(await sup.report(), error, chunks, anyio.current_time() - started)


async def until(condition: Any, within: float = 5.0) -> None:
    """Wait for `condition()` to hold, checking every 10 ms."""
    with anyio.fail_after(within):
        while not condition():
            await anyio.sleep(0.01)


@pytest.fixture(autouse=True)
def _isolated_imports(isolated_imports: None) -> None:
    """Every test here loads fixture tools."""
