"""Drill: SIGKILL the TUI while it undoes everything from the report screen.

`agentstop run` runs in a real terminal (a pseudo-terminal read back through pyte,
as tests/terminal/ does). The agent writes a seeded number of files, then its last
call is held mid-commit; the drill presses Stop, lets that call land, goes to the report (Tab), asks to
undo all (A, then y), and SIGKILLs the TUI once the journal holds a seeded number of
the undo's events (so before the first compensation, inside one before or after
its effect, or between two). Then, from fresh commands, on SQLite and PostgreSQL:

- `agentstop report` settles the dead undo: no call is left `compensating`,
  and every file the report still counts as Done is on disk;
- `agentstop undo --all` finishes the undo: no file is left, the report says
  nothing is undoable and every written call is compensated.

CI drills 2 seeds on SQLite and 1 on PostgreSQL; AGENTSTOP_DRILL_FULL=1 drills 12 per backend;
AGENTSTOP_DRILL_SEEDS=3,7 replays seeds.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.drills.kill_moments import FULL, call_states, drill_journal, last_seq, seeds
from tests.drills.stats import record
from tests.terminal.conftest import on_report
from tests.terminal.screen import Terminal

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).with_name("tui_undo_tools.py")
COMMAND_TIMEOUT = 60.0


def _env(files: Path) -> dict[str, str]:
    env = dict(os.environ, TUI_DRILL_DIR=str(files))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _agentstop(tmp: Path, files: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *args],
        capture_output=True,
        text=True,
        env=_env(files),
        cwd=tmp,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def _task(tmp: Path, count: int) -> Path:
    shutil.copy(TOOLS, tmp / TOOLS.name)
    steps = [f"  - {{tool: write_file, args: {{name: f{i}}}}}" for i in range(count - 1)]
    steps.append(f"  - {{tool: write_file, args: {{name: f{count - 1}, hold: go}}}}")
    task = tmp / "task.yaml"
    task.write_text(
        "\n".join(
            [
                "name: TUI undo drill",
                "goal: Write the files, then wait.",
                "agent: {kind: scripted, tokens_per_second: 0}",
                f"tools: [{TOOLS.stem}:SlowUndoFile]",
                "grant: {tools: ['*'], scopes: ['files:*'], ttl: 10m}",
                "stop: {grace: 0.2s}",
                "steps:",
                *steps,
            ]
        )
        + "\n"
    )
    return task


def _undo_in_the_tui_and_kill(task: Path, target: str, files: Path, count: int, kill_after: int) -> str:
    """Run the task in the TUI, Stop, undo all from the report, and SIGKILL the TUI `kill_after` events into the
    undo (or once the report says it is over). How the kill landed."""
    with Terminal.spawn(
        [sys.executable, "-m", "agentstop", "run", str(task), "--journal", target], cwd=task.parent, env=_env(files)
    ) as term:
        term.wait_for(f"c{count}", "committing…", f"write f{count - 1}.txt")
        term.press("s")
        term.wait_for("Stopping… grant revoked; waiting for 1 call in flight")
        (files / "go").touch()  # the held call lands while the Stop waits for it
        term.wait_for(f"stopped by you (TUI): {count} done, 0 interrupted, 0 in flight, {count} undoable")
        term.press("tab")
        term.wait_until(on_report, "the report")
        term.press("A")
        term.wait_for("About to undo everything", f"{count} calls, latest first")
        before = last_seq(target)
        term.press("y")
        over = f"{count} done, 1 interrupted, 0 in flight, 0 undoable"
        deadline = time.monotonic() + COMMAND_TIMEOUT
        # Keep reading the terminal meanwhile: a TUI whose output nobody reads blocks, and its undo with it.
        while last_seq(target) < before + kill_after and over not in term.text():
            assert term.pump(0.002), f"the TUI exited during the undo:\n{term.text()}"
            assert time.monotonic() < deadline, f"the undo wrote nothing for {COMMAND_TIMEOUT:.0f} s:\n{term.text()}"
        states = set(call_states(target).values())
        ended = over in term.text()
        assert term.child.pid is not None
        os.killpg(term.child.pid, signal.SIGKILL)
        term.wait_exit()
    if ended and "compensating" not in states:
        return "killed once the undo was over"
    return "killed mid-undo" if "compensating" in states else "killed between undos"


def _drill(seed: int, target: str, tmp: Path) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    count = rng.randint(2, 5)
    kill_after = rng.randint(0, 2 * count + 1)  # each undo writes compensating and compensated
    files = tmp / "files"
    files.mkdir()
    task = _task(tmp, count)
    how = _undo_in_the_tui_and_kill(task, target, files, count, kill_after)
    where = f"seed {seed} ({how}: {count} files, {kill_after} events into the undo)"
    problems: list[str] = []

    done = _agentstop(tmp, files, "report", "--journal", target, "--session", "latest", "--json")
    if done.returncode not in (0, 1) or not done.stdout.strip():
        return how, [f"{where}: report exited {done.returncode}: {done.stderr}"]
    report = json.loads(done.stdout)
    left = {k: s for k, s in call_states(target).items() if s in {"committing", "compensating"}}
    if left:
        problems.append(f"{where}: the report left {left}")
    on_disk = {p.stem for p in files.glob("*.txt")}
    for item in report["done"]:
        name = item["args"]["name"]
        if item["state"] == "committed" and name not in on_disk:
            problems.append(f"{where}: Done holds {item['call_id']} as committed but {name}.txt is gone")
    for item in report["done"]:
        if item["state"] == "compensated" and item["args"]["name"] in on_disk:
            problems.append(f"{where}: {item['call_id']} is compensated but its file is on disk")

    done = _agentstop(tmp, files, "undo", "--journal", target, "--all")
    if done.returncode != 0:
        problems.append(f"{where}: undo --all exited {done.returncode}: {done.stdout}{done.stderr}")
    left_files = sorted(p.name for p in files.glob("*.txt"))
    if left_files:
        problems.append(f"{where}: after undo --all the files {left_files} are still there")
    done = _agentstop(tmp, files, "report", "--journal", target, "--session", "latest", "--json")
    after = json.loads(done.stdout) if done.stdout.strip() else {}
    if after.get("undoable") or after.get("in_flight"):
        problems.append(f"{where}: after undo --all the report still has {after}")
    written = after.get("done", [])
    if len(written) != count or any(i["state"] != "compensated" for i in written):
        problems.append(
            f"{where}: after undo --all the report's Done is {[(i['call_id'], i['state']) for i in written]}"
        )
    return how, problems


@pytest.mark.both_backends
@pytest.mark.timeout(900 if FULL else 300)
def test_killing_the_tui_during_undo_all_leaves_what_recovery_and_a_rerun_undo_finish(
    journal_backend: str, request: pytest.FixtureRequest, scratch: Path
) -> None:
    problems: list[str] = []
    hows: list[str] = []
    for seed in seeds(journal_backend, ci=2 if journal_backend == "sqlite" else 1, full=12):
        tmp = scratch / f"tui-{journal_backend}-{seed}-{time.monotonic_ns()}"
        tmp.mkdir()
        with drill_journal(journal_backend, request, tmp) as target:
            how, found = _drill(seed, target, tmp)
        hows.append(how)
        problems += found
    counts = ", ".join(f"{n} {how}" for how, n in sorted(Counter(hows).items()))
    record(
        f"crash of the TUI's undo ({journal_backend})",
        f"SIGKILL of `agentstop run`'s TUI during undo all from the report: {counts}",
        len(hows),
        "nothing" if not problems else f"{len(problems)} problems",
    )
    assert problems == [], "\n".join(problems)
