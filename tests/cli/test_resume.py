"""`agentstop run TASK --resume ID|latest [--instruction TEXT]`: a stopped session runs on as a new epoch.

The task writes three files; the second is held mid-commit until the run has
been stopped (Ctrl+C, i.e. SIGINT, and its revoke is in the journal), then
released: it lands within the grace, and the third is never begun.
Resumed, the agent replays its script from the journal: the two files that
landed are not written again, the third is, and a clean last epoch exits 0.
A session that cannot be resumed is one line and exit 2.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import anyio
import pytest

from agentstop import Journal

from .conftest import COMMAND_TIMEOUT, Child, Invoke, in_process, written

TASK = """\
name: Write three files
goal: Write one, two and three.
agent: {kind: scripted, tokens_per_second: 0}
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {tools: [write_file], scopes: ["files:*"], ttl: 10m}
stop: {grace: 5s}
steps:
  - {thought: "One.", tool: write_file, args: {name: one}}
  - {thought: "Two, slowly.", tool: write_file, args: {name: two, hold: release-two}}
  - {thought: "Three.", tool: write_file, args: {name: three}}
"""


@pytest.fixture
def task(tmp_path: Path) -> Path:
    path = tmp_path / "three.yaml"
    path.write_text(TASK)
    return path


def stopped_run(task: Path, journal_path: Path) -> dict[str, object]:
    """Run the task and stop it while `two` is being written; its JSON report.

    The race is controlled: `two`'s commit waits for a release file; the test
    waits for the journal to say `committing`, presses Ctrl+C (SIGINT), waits
    for the revoke in the journal, and only then releases the write. (The
    run's planner is cancelled right after its revoke returns, which the
    writer answers before it answers `two`'s outcome: `three` is never planned.)
    """
    files = Path(os.environ["FIXTURE_FILES_DIR"])
    child = Child(journal_path, task)
    try:
        child.wait_until(
            "`two` committing",
            lambda _s, calls: any(c.args.get("name") == "two" and c.state == "committing" for c in calls),
        )
        child.signal(signal.SIGINT)
        child.wait_until("the revoke", lambda session, _c: session.stopped_by is not None)
        (files / "release-two").touch()
        result = child.finish(timeout=COMMAND_TIMEOUT)
    finally:
        child.close()
    assert result.code == 1, result.stderr
    report: dict[str, object] = result.json()
    return report


def test_resume_latest_runs_what_is_left_and_a_clean_epoch_exits_0(
    invoke: Invoke, task: Path, files: Path, journal_path: Path
) -> None:
    first = stopped_run(task, journal_path)
    assert written(files) == {"one", "two"}

    result = invoke(
        "run",
        task,
        "--headless",
        "--json",
        "--resume",
        "latest",
        "--instruction",
        "finish it",
        "--journal",
        journal_path,
    )

    assert result.code == 0, result.stderr
    report = result.json()
    sid = report["session"]["id"]
    assert sid == first["session"]["id"]  # type: ignore[index]
    assert report["session"]["status"] == "completed"
    assert [(i["args"]["name"], i["state"], i["epoch"]) for i in report["done"]] == [
        ("one", "committed", 1),
        ("two", "committed", 1),
        ("three", "committed", 2),
    ]
    assert report["interrupted"] == report["in_flight"] == [], json.dumps(report["interrupted"], indent=1)
    assert written(files) == {"one", "two", "three"}
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"session {sid} · resumed as epoch 2 · journal ")
    assert lines[1].startswith("note: a scripted agent plays its steps and does not read --instruction")
    assert not any("agent: Two, slowly." in line for line in lines[:1])
    assert lines[-1] == "completed: 3 done, 0 interrupted, 0 in flight, 3 undoable"

    async def resumed() -> dict[str, object]:
        async with Journal.open(journal_path, readonly=True) as j:
            [event] = [e for e in await j.events(sid) if e.kind == "session_resumed"]
            return event.data

    assert anyio.run(resumed)["instruction"] == "finish it"


def test_resume_by_id(task: Path, files: Path, journal_path: Path) -> None:
    sid = stopped_run(task, journal_path)["session"]["id"]  # type: ignore[index]
    result = in_process("run", task, "--headless", "--json", "--resume", sid, "--journal", journal_path)
    assert result.code == 0, result.stderr
    assert result.json()["session"]["id"] == sid


def one_line_exit_2(*args: str | Path) -> str:
    result = in_process("run", *args)
    assert result.code == 2, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return result.stderr.strip()


def test_a_session_that_cannot_be_resumed_is_one_line_and_exit_2(
    task: Path, files: Path, journal_path: Path, tmp_path: Path
) -> None:
    missing = one_line_exit_2(task, "--headless", "--resume", "latest", "--journal", tmp_path / "none.db")
    assert missing.startswith(f"agentstop: journal {tmp_path / 'none.db'}: does not exist, so it has no session")
    assert not (tmp_path / "none.db").exists()

    stopped_run(task, journal_path)
    unknown = one_line_exit_2(task, "--headless", "--resume", "20990101T000000-abcdef", "--journal", journal_path)
    assert "no session '20990101T000000-abcdef'" in unknown

    other = tmp_path / "other.yaml"
    other.write_text(TASK.replace("Write three files", "Write other files"))
    none_of_it = one_line_exit_2(other, "--headless", "--resume", "latest", "--journal", journal_path)
    assert f"no session of {other} to resume" in none_of_it
    sid = in_process("sessions", "--journal", journal_path, "--json").json()[0]["id"]
    foreign = one_line_exit_2(other, "--headless", "--resume", sid, "--journal", journal_path)
    assert f"session {sid} ran {task}, not {other}" in foreign

    alone = one_line_exit_2(task, "--headless", "--instruction", "hi", "--journal", journal_path)
    assert "--instruction goes with --resume" in alone


def test_a_running_session_is_not_resumed(task: Path, files: Path, journal_path: Path) -> None:
    async def running() -> None:
        async with Journal.open(journal_path) as j:  # owned by this process, which is alive
            await j.create_session("20270115T080000-alive", task_name="Write three files", task_path=str(task))

    anyio.run(running)
    message = one_line_exit_2(task, "--headless", "--resume", "latest", "--journal", journal_path)
    assert "session 20270115T080000-alive is still running (on " in message
    assert "Stop it first (agentstop stop --session 20270115T080000-alive)" in message
