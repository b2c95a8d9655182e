from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentstop import Journal
from tests.support.tools import WriteNote


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with Journal.open(tmp_path / "journal.db") as j:
        yield j


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A directory the test tools write their side effects into."""
    d = tmp_path / "world"
    d.mkdir()
    return d


@pytest.fixture
def notes(world: Path) -> WriteNote:
    return WriteNote(world)
