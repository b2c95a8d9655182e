"""`undo` on a session that still runs warns that it may commit more (issue 20, item 10)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import TASKS, Child, in_process


def test_undo_of_a_running_session_warns_and_still_undoes(start: Callable[..., Child], journal_path: Path) -> None:
    child = start(TASKS / "long.yaml")
    child.wait_until("c1 committed", lambda s, calls: any(c.call_id == "c1" and c.state == "committed" for c in calls))
    result = in_process("undo", "--journal", journal_path, "--session", "latest", "c1")
    assert result.code == 0, result
    assert "is still running" in result.stderr and f"pid {child.pid}" in result.stderr
    assert "agentstop stop --session" in result.stderr
    assert "undone" in result.stdout


def test_undo_of_an_ended_session_does_not_warn(files: Path, journal_path: Path) -> None:
    assert in_process("run", TASKS / "quick.yaml", "--headless", "--journal", journal_path).code == 0
    result = in_process("undo", "--journal", journal_path, "--session", "latest", "--all")
    assert result.code == 0, result
    assert "still running" not in result.stderr
