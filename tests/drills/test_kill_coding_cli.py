"""Drill: SIGKILL `agentstop claude` / `agentstop codex` while the real CLI makes gated calls.

The real CLI (tests/coding_cli: installed by .ci/coding-clis.sh) runs under `agentstop
claude` (against a loopback Messages API) or `agentstop codex` (a loopback Responses
API) scripting a seeded sequence of turns: writes of new files (Claude's `Write`, Codex's
`apply_patch`: reversible, agentstop captures the file before and restores it on undo)
and a shell command that writes a file (`Bash`, `exec_command`: irreversible). When the journal holds its k-th event (k
seeded: half the time a call's `committing`, so the CLI is between its Pre and Post hooks
and the effect may be landing; else any event, from the session's start to its end),
agentstop's process is SIGKILLed, and only it: the CLI is left running, as it would be
when agentstop alone crashes. Its next hooks find no endpoint and must fail closed (a
file written past them would be on disk and in no section of the report); the drill
waits until the CLI and what it started have exited. Then, from fresh
commands, on SQLite and PostgreSQL:

- `agentstop report` settles the dead session: no call is left `committing`; every
  write it counts as Done is on disk as written, every file on disk is Done or In flight
  (the outcome recovery cannot know), and Interrupted holds none that landed;
- `agentstop undo --all` takes every write back: none of the written files is left.

CI drills one seed of Claude Code on SQLite and one of Codex on PostgreSQL (each CLI takes
seconds to start); AGENTSTOP_DRILL_FULL=1 drills 8 per CLI and backend; AGENTSTOP_DRILL_SEEDS=3,7
replays seeds.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agentstop.adapters.coding_cli.runner import descendants
from tests.coding_cli.conftest import CLAUDE, CODEX, codex_home, need
from tests.coding_cli.fake_models import FakeModelServer, ToolUse, Turn
from tests.drills.kill_moments import FULL, call_states, drill_journal, last_seq, seeds, wait_until
from tests.drills.stats import record

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 60.0
#: What follows `agentstop CLI --journal J --`: a one-shot run that may write files and run commands.
CLI_ARGS = {
    "claude": ("-p", "make the files", "--allowedTools", "Write,Bash"),
    "codex": ("exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "make the files"),
}
#: Which (CLI, backend) pairs CI drills (one seed each); AGENTSTOP_DRILL_FULL=1 drills all four.
IN_CI = {("claude", "sqlite"), ("codex", "postgresql")}


def _env(tmp: Path, cli: str, model_url: str) -> dict[str, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "OPENAI_", "CODEX_"))}
    env.update(
        HOME=str(home),
        ANTHROPIC_API_KEY="sk-ant-fake",
        ANTHROPIC_BASE_URL=model_url,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        AGENTSTOP_CLAUDE=str(CLAUDE),
        AGENTSTOP_CODEX=str(CODEX),
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    )
    return codex_home(env, model_url) if cli == "codex" else env


def _agentstop(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def _script(rng: random.Random, cli: str, project: Path) -> tuple[list[Turn], dict[str, str]]:
    """A seeded script of turns for `cli`, and the files its writes write (name: content)."""
    turns: list[Turn] = []
    writes: dict[str, str] = {}
    for i in range(rng.randint(2, 4)):
        name = f"w{i}.txt"
        if rng.random() < 0.25:
            command = f"echo ran > {project}/bash{i}.out"
            turns.append(
                [ToolUse(f"toolu_bash{i}", "Bash", {"command": command, "description": "note"})]
                if cli == "claude"
                else [ToolUse(f"call_shell{i}", "exec_command", {"cmd": command, "yield_time_ms": 60000})]
            )
            continue
        writes[name] = f"written {i}\n"
        patch = f"*** Begin Patch\n*** Add File: {name}\n+written {i}\n*** End Patch\n"
        turns.append(
            [ToolUse(f"toolu_write{i}", "Write", {"file_path": str(project / name), "content": writes[name]})]
            if cli == "claude"
            else [ToolUse(f"call_patch{i}", "apply_patch", patch)]
        )
    turns.append("done")
    return turns, writes


def _files_of(item: dict[str, Any]) -> set[str]:
    """The drill's files a report item's call writes (a Write's file_path, the files an apply_patch adds)."""
    if item["tool"] not in {"Write", "apply_patch"}:
        return set()
    return set(re.findall(r"w\d+\.txt", json.dumps(item["args"])))


def _gone(pids: list[int]) -> bool:
    return not any(Path(f"/proc/{pid}").exists() and _running(pid) for pid in pids)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _run_and_kill(env: dict[str, str], cli: str, project: Path, target: str, kill_at: int) -> str:
    """`agentstop CLI ...` in PROJECT, SIGKILLed (it alone) once the journal holds `kill_at` events; waits
    for the CLI it left to finish. How the kill landed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "agentstop", cli, "--journal", target, "--", *CLI_ARGS[cli]],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while last_seq(target) < kill_at and process.poll() is None:
            assert time.monotonic() < deadline, f"agentstop {cli} wrote {last_seq(target)} events in 60 s"
            time.sleep(0.002)
        if process.poll() is not None:
            return "finished first"
        left = descendants(process.pid)  # the CLI and its tools: agentstop's death leaves them running
        caught = sorted({s for s in call_states(target).values() if s in {"committing", "prepared", "planned"}})
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        wait_until(lambda: _gone(left), "the CLI left by the killed agentstop to exit")
        return f"killed with a call {'/'.join(caught)}" if caught else "killed between calls"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _drill(seed: int, cli: str, target: str, tmp: Path) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    project = tmp / "project"
    project.mkdir()
    turns, writes = _script(rng, cli, project)
    calls = len(turns) - 1
    # The journal: session_started, grant_issued, then planned, prepared, committing, committed per call, then
    # session_ended. Half the seeds kill right at a call's `committing` (the CLI is between its Pre and Post
    # hooks: the effect may be landing), the rest anywhere.
    at_commit = rng.random() < 0.5
    kill_at = 2 + 4 * rng.randrange(calls) + 3 if at_commit else rng.randint(1, 3 + 4 * calls)
    with FakeModelServer(turns, kind="anthropic" if cli == "claude" else "openai") as model:
        env = _env(tmp, cli, model.url)
        how = _run_and_kill(env, cli, project, target, kill_at)
    where = f"{cli} seed {seed} ({how}, at event {kill_at}; {calls} tool turns)"
    if last_seq(target) == 0:
        return how, []  # killed before the session began: nothing journaled, nothing to settle
    problems: list[str] = []

    done = _agentstop(env, tmp, "report", "--journal", target, "--session", "latest", "--json")
    if done.returncode not in (0, 1) or not done.stdout.strip():
        return how, [f"{where}: report exited {done.returncode}: {done.stderr}"]
    report = json.loads(done.stdout)
    left = {k: s for k, s in call_states(target).items() if s in {"committing", "compensating"}}
    if left:
        problems.append(f"{where}: the report left {left}")
    on_disk = {p.name: p.read_text() for p in project.glob("w*.txt")}
    named = {
        section: {name for item in report[section] for name in _files_of(item)}
        for section in ("done", "interrupted", "in_flight")
    }
    for name in named["done"]:
        if on_disk.get(name) != writes[name]:
            problems.append(f"{where}: Done holds the write of {name} but the file is {on_disk.get(name)!r}")
    for name in set(on_disk) - named["done"] - named["in_flight"]:
        problems.append(f"{where}: {name} is on disk but not Done: {json.dumps(report)}")
    for name in named["interrupted"] & set(on_disk):
        problems.append(f"{where}: the write of {name} is Interrupted but the file is on disk")

    done = _agentstop(env, tmp, "undo", "--journal", target, "--session", "latest", "--all")
    if done.returncode not in (0, 1):
        problems.append(f"{where}: undo --all exited {done.returncode}: {done.stdout}{done.stderr}")
    still = sorted(p.name for p in project.glob("w*.txt"))
    if still:
        problems.append(f"{where}: after undo --all {still} are still there: {done.stdout}{done.stderr}")
    return how, problems


@pytest.mark.both_backends
@pytest.mark.timeout(900 if FULL else 300)
@pytest.mark.parametrize("cli", ["claude", "codex"])
def test_killing_agentstop_over_a_coding_cli_during_gated_calls_leaves_a_report_that_agrees_with_the_files(
    cli: str, journal_backend: str, request: pytest.FixtureRequest, scratch: Path
) -> None:
    need(CLAUDE if cli == "claude" else CODEX)
    chosen = seeds(journal_backend, ci=1 if (cli, journal_backend) in IN_CI else 0, full=8)
    if not chosen:
        pytest.skip(f"{cli} on {journal_backend} is drilled with AGENTSTOP_DRILL_FULL=1 (CI drills {sorted(IN_CI)})")
    problems: list[str] = []
    hows: list[str] = []
    for seed in chosen:
        tmp = scratch / f"{cli}-{journal_backend}-{seed}-{time.monotonic_ns()}"
        tmp.mkdir()
        with drill_journal(journal_backend, request, tmp) as target:
            how, found = _drill(seed, cli, target, tmp)
        hows.append(how)
        problems += found
    counts = ", ".join(f"{n} {how}" for how, n in sorted(Counter(hows).items()))
    record(
        f"crash of agentstop {cli} ({journal_backend})",
        f"SIGKILL of `agentstop {cli}` (the real CLI left running) during gated calls: {counts}",
        len(hows),
        "nothing" if not problems else f"{len(problems)} problems",
    )
    assert problems == [], "\n".join(problems)
