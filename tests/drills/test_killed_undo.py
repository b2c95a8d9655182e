"""Issue 20, finding 1: an `agentstop undo` or `undo --reapply` killed half-way is recovered and retried.

Each test runs a task through the real CLI, then starts `agentstop undo --all`
(or `--reapply --all`) as a process whose tool stops dead at a chosen point of
the undo (before or after its effect: `held_tools.HeldNote`), SIGKILLs it
there, and then, on SQLite and on PostgreSQL:

- the journal holds the call `compensating` (`reapplying`), written ahead;
- the next command (`report`) settles it: `compensation_failed`
  (`reapply_failed`), "interrupted by a crash", never "in progress" for work
  nobody is doing, and it stays undoable (re-appliable);
- rerunning `undo --all` (`--reapply --all`) retries it: every note is gone
  (back), once.

Before the fix the killed call stayed `compensating` forever, dropped out of
Undoable, and the rerun said "nothing to undo" with the note still on disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from agentstop import Journal
from agentstop.cli import main
from tests.drills.held_tools import DIR_ENV, KILL_ENV
from tests.drills.stats import record

ROOT = Path(__file__).resolve().parents[2]

TASK = """\
name: Two notes
goal: Write a and b.
agent: {kind: scripted, tokens_per_second: 0}
tools: [tests.drills.held_tools:HeldNote]
grant: {tools: [held_note], scopes: ["note:*"], ttl: 10m}
steps:
  - {tool: held_note, args: {name: a}}
  - {tool: held_note, args: {name: b}}
"""


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _killed(notes: Path, point: str, *args: str, while_held: Callable[[], None] = lambda: None) -> None:
    """Run `agentstop ARGS` as a process that stops dead at `point`, call `while_held`, and SIGKILL it there."""
    env = {
        **os.environ,
        KILL_ENV: point,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentstop", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    marker = notes / f"at-{point}"
    deadline = time.monotonic() + 60
    try:
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(
                    f"agentstop {' '.join(args)} exited {proc.returncode} before {point}: " + proc.communicate()[1]
                )
            assert time.monotonic() < deadline, f"never reached {point}"
            time.sleep(0.01)
        while_held()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    marker.unlink()


def _states(target: str) -> dict[str, str]:
    async def read() -> dict[str, str]:
        async with Journal.open(target, readonly=True) as journal:
            [session] = await journal.sessions()
            return {c.call_id: c.state for c in await journal.calls(session.session_id)}

    return anyio.run(read)


@pytest.mark.both_backends
@pytest.mark.timeout(120)
@pytest.mark.parametrize("effect", ["before", "after"])
def test_a_killed_undo_and_a_killed_reapply_are_settled_and_a_rerun_finishes_them(
    journal_target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, effect: str
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    monkeypatch.setenv(DIR_ENV, str(notes))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    task = tmp_path / "notes.yaml"
    task.write_text(TASK)
    code, _, err = _cli("run", str(task), "--headless", "--journal", journal_target)
    assert code == 0, err
    assert {p.name for p in notes.iterdir()} == {"a.txt", "b.txt"}

    def live_undo_is_left_alone() -> None:
        # The session's process is long gone, the undo's is not: recovery must not cut it off.
        _cli("report", "--journal", journal_target, "--json")
        assert _states(journal_target)["c2"] == "compensating"

    # Undo all, killed in b's undo (latest commit first), before or after the note is deleted.
    _killed(
        notes, f"undo_{effect}_effect", "undo", "--journal", journal_target, "--all", while_held=live_undo_is_left_alone
    )
    assert _states(journal_target) == {"c1": "committed", "c2": "compensating"}, "written ahead of the undo"

    code, out, err = _cli("report", "--journal", journal_target, "--json")
    assert code in (0, 1), err
    assert _states(journal_target) == {"c1": "committed", "c2": "compensation_failed"}
    assert "cut off by a crash" in err
    assert "in progress" not in _cli("report", "--journal", journal_target)[1]

    code, out, err = _cli("undo", "--journal", journal_target, "--all")
    assert code == 0, out + err
    assert "nothing to undo" not in err
    assert _states(journal_target) == {"c1": "compensated", "c2": "compensated"}
    assert list(notes.iterdir()) == [], "the rerun took every note back"

    # Re-apply all, killed in a's re-apply (earliest commit first).
    _killed(notes, f"reapply_{effect}_effect", "undo", "--journal", journal_target, "--reapply", "--all")
    assert _states(journal_target) == {"c1": "reapplying", "c2": "compensated"}
    code, out, err = _cli("undo", "--journal", journal_target, "--reapply", "--all")
    assert code == 0, out + err
    assert _states(journal_target) == {"c1": "committed", "c2": "committed"}
    assert sorted(p.name for p in notes.iterdir()) == ["a.txt", "b.txt"]
    record("crash: SIGKILL of a CLI undo / re-apply", f"kill {effect} the effect, then report and rerun", 2)
