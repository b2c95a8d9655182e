"""Fixtures for the CLI tests: the same commands in-process (click's CliRunner) and as real processes.

Every test gets its own directory: the fixture tools write into `files/` there
($FIXTURE_FILES_DIR), journals live there, and $AGENTSTOP_JOURNAL points there
too, so nothing ever touches the per-user journal.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from agentstop import AgentstopError, Journal
from agentstop.cli import main
from agentstop.journal import CallRecord, SessionRecord

ROOT = Path(__file__).resolve().parents[2]
TASKS = Path(__file__).resolve().parent / "tasks"
FIXTURE_TASKS = ROOT / "tests" / "fixtures" / "tasks"
REPORT_KEYS = {"session", "done", "interrupted", "in_flight", "undoable"}
COMMAND_TIMEOUT = 60.0


@dataclass(frozen=True)
class Result:
    """How a command ended: its exit code and what it printed on each stream."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON (fails the test if anything else is on stdout)."""
        return json.loads(self.stdout)


Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every test in its own directory, with its own default journal."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AGENTSTOP_JOURNAL", str(tmp_path / "default-journal.db"))
    return tmp_path


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The directory the fixture tools write their files into."""
    d = tmp_path / "files"
    d.mkdir()
    monkeypatch.setenv("FIXTURE_FILES_DIR", str(d))
    return d


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


def in_process(*args: str | os.PathLike[str]) -> Result:
    """The command through click's CliRunner, in this process."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def child_env() -> dict[str, str]:
    """This process's environment, with the repository importable (for `tests.fixtures...` tools)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def command(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "agentstop", *(str(a) for a in args)]


def as_process(*args: str | os.PathLike[str]) -> Result:
    """The command as a real `python -m agentstop` process."""
    proc = subprocess.run(
        command(*args), capture_output=True, text=True, env=child_env(), timeout=COMMAND_TIMEOUT, check=False
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(params=["in_process", "as_process"])
def invoke(request: pytest.FixtureRequest) -> Invoke:
    """Runs an `agentstop` command line one way or the other (each test runs both ways)."""
    return in_process if request.param == "in_process" else as_process


# -- long-running sessions in a child process --------------------------------------------


class Child:
    """A headless run in a child process, with helpers to watch its journal."""

    def __init__(self, journal: Path, *args: str | os.PathLike[str]) -> None:
        self.journal = journal
        self.proc = subprocess.Popen(
            command("run", *args, "--headless", "--json", "--journal", journal),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 10.0) -> Result:
        """Wait for the process to exit; its exit code and output."""
        stdout, stderr = self.proc.communicate(timeout=timeout)
        return Result(self.proc.returncode, stdout, stderr)

    def wait_until(
        self, what: str, predicate: Callable[[SessionRecord, list[CallRecord]], bool], timeout: float = 10.0
    ) -> tuple[SessionRecord, list[CallRecord]]:
        """Poll the journal until `predicate(session, calls)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                result = self.finish()
                pytest.fail(f"the run exited ({result.code}) before {what}:\n{result.stderr}")
            snapshot = read_latest(self.journal)
            if snapshot is not None and predicate(*snapshot):
                return snapshot
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} in the journal after {timeout} s")
            time.sleep(0.02)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate()


def read_latest(journal: Path) -> tuple[SessionRecord, list[CallRecord]] | None:
    """The latest session of a journal and its calls, or None while there is none yet."""
    if not journal.exists():
        return None

    async def read() -> tuple[SessionRecord, list[CallRecord]] | None:
        async with Journal.open(journal, readonly=True) as j:
            sessions = await j.sessions()
            if not sessions:
                return None
            return sessions[-1], await j.calls(sessions[-1].session_id)

    try:
        return anyio.run(read)
    except (AgentstopError, sqlite3.Error):
        return None  # the child is still creating the journal


@pytest.fixture
def start(files: Path, journal_path: Path) -> Iterator[Callable[..., Child]]:
    """Start headless runs in child processes; any still running at the end are killed."""
    children: list[Child] = []

    def start_(task: Path, *args: str | os.PathLike[str]) -> Child:
        child = Child(journal_path, task, *args)
        children.append(child)
        return child

    yield start_
    for child in children:
        child.close()


def names(items: list[dict[str, Any]]) -> set[str]:
    """The file names of report items of write_file calls."""
    return {i["args"]["name"] for i in items if i["tool"] == "write_file"}


def written(files: Path) -> set[str]:
    """The names of the files the tools actually wrote."""
    return {p.stem for p in files.glob("*.txt")}
