"""Every error a person or the machine can cause is one line and exit 2, never a traceback (issue 20, item 4);
and the documented `undo --journal J --session S CALL_ID` form works (item 9)."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentstop.cli.common import one_line
from agentstop.errors import JournalFull

from .conftest import TASKS, Result, as_process, in_process


def _one_line(result: Result, *words: str) -> str:
    assert result.code == 2, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or lines[-1].startswith(("Error:", "agentstop:")), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    return lines[-1]


# -- a full disk: SQLITE_FULL at any write ------------------------------------------------------------------


@pytest.fixture
def page_limit(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """`page_limit(n)`: every SQLite connection this process opens may grow its database to n pages only.

    `PRAGMA max_page_count` makes SQLite answer SQLITE_FULL exactly as a full disk does, at whichever write
    needs the page: migration, the session's start, a fence, an outcome, a revoke.
    """
    real = sqlite3.connect
    limit: list[int] = []

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = real(*args, **kwargs)
        if limit:
            conn.execute(f"PRAGMA max_page_count = {limit[0]}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return limit.append


@pytest.mark.parametrize("pages", [1, 4, 8, 11, 14, 17, 20, 24])
def test_a_full_disk_at_any_write_of_a_run_is_one_line_saying_the_fence_held(
    files: Path, journal_path: Path, page_limit: Callable[[int], None], pages: int
) -> None:
    page_limit(pages)
    result = in_process("run", TASKS / "quick.yaml", "--headless", "--journal", journal_path)
    if result.code == 2:
        line = _one_line(result, "the disk is full", "The fence held")
        assert "Traceback" not in line
    else:  # the limit was high enough for the whole run
        assert result.code == 0, result
    # Whatever was journaled is consistent and reads back (the reader needs no new page).
    page_limit(10_000)
    report = in_process("report", "--journal", journal_path, "--json")
    assert report.code in (0, 2), report


def test_a_full_disk_during_migration_is_one_line(
    files: Path, journal_path: Path, page_limit: Callable[[int], None]
) -> None:
    page_limit(1)
    line = _one_line(
        in_process("run", TASKS / "quick.yaml", "--headless", "--journal", journal_path), "the disk is full"
    )
    assert "sqlite3" not in line


def test_a_full_disk_when_stop_revokes_is_one_line(
    files: Path, journal_path: Path, page_limit: Callable[[int], None]
) -> None:
    assert in_process("run", TASKS / "quick.yaml", "--headless", "--journal", journal_path).code == 0
    conn = sqlite3.connect(journal_path, isolation_level=None)  # a running session to revoke, as `stop` finds it
    conn.execute("UPDATE sessions SET status = 'running', pid = NULL, host = 'elsewhere'")
    conn.execute("UPDATE grants SET revoked_at = NULL")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    page_limit(pages)
    # The revoke's event carries the reason: one longer than a page needs a page the database may not grow.
    result = in_process("stop", "--journal", journal_path, "--session", "latest", "--reason", "x" * 9000)
    _one_line(result, "the disk is full", "The fence held")


def test_enospc_and_a_full_disk_in_a_task_group_read_as_one_line() -> None:
    assert "free disk space" in (one_line(OSError(errno.ENOSPC, "No space left on device", "/j.db")) or "")
    group = BaseExceptionGroup("tg", [JournalFull("/j.db", "database or disk is full")])
    assert "The fence held" in (one_line(ExceptionGroup("outer", [group])) or "")  # type: ignore[type-var]
    assert one_line(ExceptionGroup("bug", [KeyError("x")])) is None  # a bug stays a traceback


# -- bad paths and special files ----------------------------------------------------------------------------


def test_a_dangling_symlink_journal_is_one_line_and_creates_nothing(files: Path, tmp_path: Path) -> None:
    link = tmp_path / "journal.db"
    link.symlink_to(tmp_path / "missing-dir" / "journal.db")
    _one_line(in_process("run", TASKS / "quick.yaml", "--headless", "--journal", link), "symbolic link")
    assert not (tmp_path / "missing-dir").exists()


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
@pytest.mark.parametrize("command", [("run", str(TASKS / "quick.yaml"), "--headless"), ("report",), ("sessions",)])
def test_a_device_as_the_journal_is_one_line(files: Path, device: str, command: tuple[str, ...]) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device} here")
    result = as_process(*command, "--journal", device)
    assert result.code == 2, result
    assert "Traceback" not in result.stderr


# -- bad bytes and numbers in options -----------------------------------------------------------------------


def test_a_session_id_that_is_not_utf8_is_a_usage_error(files: Path, journal_path: Path) -> None:
    assert in_process("run", TASKS / "quick.yaml", "--headless", "--journal", journal_path).code == 0
    for command in (("report",), ("undo", "--all"), ("stop",)):
        result = as_process(*command, "--journal", journal_path, "--session", "\udcff\udcfe")
        _one_line(result, "not valid UTF-8")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_stop_after_refuses_numbers_that_are_not_finite(files: Path, journal_path: Path, value: str) -> None:
    result = in_process("run", TASKS / "quick.yaml", "--headless", "--journal", journal_path, "--stop-after", value)
    assert result.code == 2, result
    assert not journal_path.exists()


# -- item 9: the documented undo form ------------------------------------------------------------------------


def test_undo_with_journal_option_session_and_call_ids(files: Path, journal_path: Path) -> None:
    assert in_process("run", TASKS / "quick.yaml", "--headless", "--journal", journal_path).code == 0
    result = in_process("undo", "--journal", journal_path, "--session", "latest", "c1")
    assert result.code == 0, result
    assert "undone" in result.stdout and "c1" in result.stdout
    both = in_process("undo", "--journal", journal_path, "--session", "latest", "c2", "c3")
    assert both.code == 0, both
    assert "c2" in both.stdout and "c3" in both.stdout
