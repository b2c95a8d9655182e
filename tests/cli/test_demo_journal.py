"""Right after `agentstop demo`, `agentstop report` & co. with no journal given read the demo's journal.

The demo keeps its journal next to its world and notes where in the per-user data
directory; with no `$AGENTSTOP_JOURNAL` and no per-user journal yet, the reading
commands use it and say so. A journal that is not there is one line and exit 2,
naming the demo's journal when there is one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop.session import remember_demo_journal

from .conftest import in_process

TASK = """\
name: One file
goal: Write one.
agent: {kind: scripted, tokens_per_second: 0}
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {tools: [write_file], scopes: ["files:*"], ttl: 10m}
steps:
  - {thought: "One.", tool: write_file, args: {name: one}}
"""


@pytest.fixture
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A per-user data directory of the test's own, and no $AGENTSTOP_JOURNAL."""
    monkeypatch.delenv("AGENTSTOP_JOURNAL")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "agentstop"


@pytest.fixture
def demo_journal(tmp_path: Path, files: Path) -> Path:
    task = tmp_path / "one.yaml"
    task.write_text(TASK)
    journal = tmp_path / "world" / "demo.db"
    journal.parent.mkdir()
    assert in_process("run", task, "--headless", "--journal", journal).code == 0
    return journal


def test_with_no_journal_yet_the_reading_commands_read_the_last_demos(user_data: Path, demo_journal: Path) -> None:
    remember_demo_journal(demo_journal)

    report = in_process("report", "--json")
    sessions = in_process("sessions")

    assert report.code == 0, report.stderr
    assert report.json()["session"]["task_name"] == "One file"
    note = f"agentstop: reading the last demo's journal {demo_journal} (no journal at {user_data / 'journal.db'} yet"
    assert report.stderr.startswith(note)
    assert sessions.code == 0 and "One file" in sessions.stdout


def test_a_missing_journal_is_one_line_exit_2_naming_the_demos(
    user_data: Path, demo_journal: Path, tmp_path: Path
) -> None:
    remember_demo_journal(demo_journal)
    missing = tmp_path / "nowhere.db"

    result = in_process("report", "--journal", missing)

    assert result.code == 2
    assert result.stderr.strip() == (
        f"agentstop: no journal at {missing}. Run a task first (agentstop run TASK.yaml --headless), or pass the "
        f"journal's path with --journal; the last demo's journal is {demo_journal}."
    )
    assert not missing.exists()


def test_the_per_user_journal_wins_once_it_exists(
    user_data: Path, demo_journal: Path, tmp_path: Path, files: Path
) -> None:
    remember_demo_journal(demo_journal)
    task = tmp_path / "other.yaml"
    task.write_text(TASK.replace("One file", "Another file"))
    assert in_process("run", task, "--headless").code == 0  # writes the per-user journal

    report = in_process("report", "--json")

    assert report.json()["session"]["task_name"] == "Another file"
    assert "last demo" not in report.stderr
