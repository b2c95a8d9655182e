"""Fixtures for the drills: a fast scratch directory, and one demo world per test module."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo_tools.world import running_world
from demo_tools.world_config import WorldConfig


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory for journals and worlds, in RAM when /dev/shm is there.

    The crash and load drills kill processes, they do not cut power: what the
    kernel holds survives a SIGKILL on tmpfs exactly as on a disk, and fsync
    costs nothing, so hundreds of kill points fit in a minute. (The power-loss
    drill checks the durability pragmas themselves.)
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 512 * 2**20:
        path = Path(tempfile.mkdtemp(prefix="agentstop-drills-", dir=shm))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("drills")


@pytest.fixture(scope="module")
def world(scratch: Path) -> Iterator[WorldConfig]:
    """One demo world (mail, calendar, chat, git, database, ledger) for the whole test module."""
    with running_world(scratch / "world") as config:
        yield config
