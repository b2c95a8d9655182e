"""Fixtures of the terminal journeys: a world directory, the journey's task, and a way to wait on files."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.terminal.screen import WAIT

TASKS = Path(__file__).parent / "tasks"
REPO = Path(__file__).resolve().parents[2]
"""The checkout the app under test is imported from (`python -m agentstop` run from here)."""


def agentstop(*args: str) -> list[str]:
    """The command line of `agentstop ARGS` from this checkout (not whichever agentstop is installed)."""
    return [sys.executable, "-m", "agentstop", *args]


def eventually(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Wait until `condition()` holds (a file written, a file gone), polling; fail saying `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(0.02)


RUN_VIEW = "Side effects, as the journal has them"
"""Text only the run view shows."""
REPORT = "Undoable (latest first)"
"""Text only the report shows."""


def on_run_view(screen: str) -> bool:
    """The run view is on screen, and the report is not."""
    return RUN_VIEW in screen and REPORT not in screen


def on_report(screen: str) -> bool:
    """The report is on screen, and the run view is not."""
    return REPORT in screen and RUN_VIEW not in screen


@dataclass(frozen=True)
class Journey:
    """The journey task copied into a temporary directory, with the directory its tools write into."""

    task: Path
    files: Path
    journal: Path

    @property
    def env(self) -> dict[str, str]:
        return {"JOURNEY_DIR": str(self.files)}

    def release(self, gate: str) -> None:
        """Let the call held at `gate` commit (its tool waits for this file)."""
        (self.files / gate).touch()

    def written(self) -> set[str]:
        """The files the tools have written and not undone (names without .txt)."""
        return {p.stem for p in self.files.glob("*.txt")}


@pytest.fixture
def journey(tmp_path: Path) -> Journey:
    for name in ("journey.yaml", "journey_tools.py"):
        shutil.copy(TASKS / name, tmp_path / name)
    files = tmp_path / "files"
    files.mkdir()
    return Journey(tmp_path / "journey.yaml", files, tmp_path / "journal.db")
