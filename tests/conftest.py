from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agentstop import Journal
from tests.support.postgres import PostgresServer, postgres_server
from tests.support.tools import WriteNote

# The demo's upstream latencies (demo_tools/latency.py) are off in tests, and in the processes they start,
# unless a test asks for them: only the demo-story tests are about timing.
os.environ.setdefault("AGENTSTOP_DEMO_LATENCY", "0")
# The person's own files stay theirs: no keys.toml of theirs moves a key under the tests, and no demo run by a
# test becomes the "last demo" their `agentstop report` reads (each worker gets empty per-user directories).
os.environ.pop("AGENTSTOP_KEYS", None)
os.environ.pop("AGENTSTOP_JOURNAL", None)
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="agentstop-tests-config-")
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="agentstop-tests-data-")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `both_backends` run once per journal backend; the rest on SQLite only."""
    if "journal_backend" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_backends") is not None
        metafunc.parametrize("journal_backend", ["sqlite", "postgresql"] if both else ["sqlite"])


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the whole run, started by the tests themselves."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def journal_target(journal_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Where the test's journal lives: a file, or a fresh database on the test server."""
    if journal_backend == "sqlite":
        yield str(tmp_path / "journal.db")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
async def journal(journal_target: str) -> AsyncIterator[Journal]:
    async with Journal.open(journal_target) as j:
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
