from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
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


@pytest.fixture
def isolated_imports() -> Iterator[None]:
    """Loading a task's tools must not leave entries on sys.path; forget the fixture tool module after."""
    path = list(sys.path)
    yield
    assert sys.path == path, "loading tools must not leave entries on sys.path"
    sys.modules.pop("fixture_tools", None)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the fixture tools (tests/fixtures/tasks/fixture_tools.py) write their files."""
    root = tmp_path / "files"
    root.mkdir()
    monkeypatch.setenv("FIXTURE_FILES_DIR", str(root))
    return root
