"""A journal whose data pages are damaged (header intact): every command answers in one line, at once, and
nothing is written into it (issue 20, item 3)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from .conftest import TASKS, Result, as_process, in_process

PAGE = 4096


@pytest.fixture
def damaged(files: Path, tmp_path: Path) -> Path:
    """A real journal of three runs, then every data page after the first flipped in a few bytes."""
    path = tmp_path / "damaged.db"
    for _ in range(3):
        assert in_process("run", TASKS / "quick.yaml", "--headless", "--journal", path).code == 0
    with sqlite3.connect(path) as conn:  # everything into the main file, so the damage is what is read
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    for page in range(1, len(data) // PAGE):
        for offset in range(100, PAGE, 97):
            data[page * PAGE + offset] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_damage_line(result: Result) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "the journal is damaged" in lines[0] and "agentstop journal copy" in lines[0]


@pytest.mark.parametrize("args", [("report",), ("sessions",), ("undo", "--all"), ("report", "--json")])
def test_reading_a_damaged_journal_ends_at_once_in_one_line_and_writes_nothing(
    damaged: Path, args: tuple[str, ...]
) -> None:
    before = _digest(damaged)
    # As a real process: a reader thread left open used to keep it from ever exiting.
    _one_damage_line(as_process(*args, "--journal", damaged))
    assert _digest(damaged) == before


def test_a_run_never_writes_a_new_session_into_a_damaged_journal(damaged: Path) -> None:
    before = _digest(damaged)
    result = as_process("run", TASKS / "quick.yaml", "--headless", "--journal", damaged)
    _one_damage_line(result)
    assert "Free disk space" not in result.stderr
    assert _digest(damaged) == before


def test_journal_copy_salvages_the_sessions_that_still_read(files: Path, tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    for _ in range(3):
        assert in_process("run", TASKS / "quick.yaml", "--headless", "--journal", path).code == 0
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        last = conn.execute("SELECT max(rootpage) FROM sqlite_master").fetchone()[0]
    data = bytearray(path.read_bytes())
    for offset in range(8, 200):  # one page of one table: a few sessions lose rows, the others do not
        data[(last - 1) * PAGE + offset] ^= 0x5A
    path.write_bytes(bytes(data))
    copied = as_process("journal", "copy", path, tmp_path / "copy.db")
    assert "Traceback" not in copied.stderr
    assert copied.code in (0, 1), copied
    assert as_process("sessions", "--journal", tmp_path / "copy.db").code == 0
