"""Fixtures of the TUI tests: a frozen wall clock and time zone, and a world directory to write into."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tui.helpers import GatedNote


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Times on screen are local wall-clock times; pin the zone so snapshots read the same everywhere."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The directory the tools write into, as the relative path `world` (receipts on screen stay stable)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "world").mkdir()
    return Path("world")


@pytest.fixture
def notes(world: Path) -> GatedNote:
    """The note tool; its prepares and commits can be held at gates."""
    return GatedNote(world)
