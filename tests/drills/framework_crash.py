"""The crash drill of an agent run under a framework adapter: kill it at a random moment, run it again.

Each framework's child module (tests/drills/*_child.py) is the agent a person
writes from that framework's page in docs/adapters/: its model asks for ledger
entries e1..eN (tests/drills/ledger_tool.py), one call a turn, each call with a
fresh tool-call id, strict about transcripts as a real API is. Run again on the
same files, the child does what the page says to do after a crash, and prints
`finished` once its run ends.

One drill: the child runs until the journal holds its k-th event (k seeded:
before the first call, at a fence, mid-commit, between turns) and is SIGKILLed
with its process group; then it runs again to its end. What must hold:

- the run again finishes (the model read a valid transcript at every turn);
- the ledger holds each entry exactly once: a call that landed before the kill
  is not issued again, one that had not landed is;
- the report agrees with the ledger: Done holds one committed call per entry,
  and nothing is left in flight (a call the kill caught mid-commit was settled
  by its lookup before the session ran on).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from agentstop import Journal, Report
from tests.drills.kill_moments import call_states, drill_journal, last_seq, seeds, wait_until
from tests.drills.ledger_model import LedgerModelServer
from tests.drills.ledger_tool import SESSION, ledger_lines
from tests.drills.stats import record

__all__ = ["ENTRIES", "EVENTS_PER_ENTRY", "SESSION", "drill_all", "drill_over_http"]

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = 8
EVENTS_PER_ENTRY = 4
"""What one entry's call journals: planned, prepared, committing, committed (the session adds 2 first)."""

Argv = Callable[[str, Path], list[str]]
"""The child's command line for a journal target and the drill's directory."""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _run_and_kill(argv: list[str], target: str, kill_at: int) -> bool:
    """Run the agent until the journal holds `kill_at` events, then SIGKILL it; False if it finished first."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(), start_new_session=True
    )
    try:
        wait_until(lambda: proc.poll() is not None or last_seq(target) >= kill_at, f"event {kill_at}")
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.communicate()[1][-3000:]
            return False
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return True
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.communicate()


async def _report(target: str) -> Report:
    async with Journal.open(target, readonly=True) as journal:
        return await Report.from_journal(journal, SESSION)


def _drill(seed: int, target: str, tmp: Path, argv: Argv) -> tuple[str, list[str]]:
    """One kill and one run again: (where the kill landed, what disagrees)."""
    kill_at = random.Random(seed).randint(1, 2 + EVENTS_PER_ENTRY * ENTRIES)
    killed = _run_and_kill(argv(target, tmp), target, kill_at)
    before = dict(Counter(ledger_lines(tmp / "ledger")))
    caught = "with a call committing" if "committing" in call_states(target).values() else "between calls"
    how = f"killed {caught} (event {kill_at}, {len(before)} entries in)" if killed else "finished before the kill"
    where = f"seed {seed} ({how})"
    again = subprocess.run(argv(target, tmp), capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=120)
    if again.returncode != 0 or "finished" not in again.stdout:
        return how, [f"{where}: the run again failed: {again.stderr[-3000:]}"]
    problems = []
    ledger = Counter(ledger_lines(tmp / "ledger"))
    if set(ledger) != {f"e{i}" for i in range(1, ENTRIES + 1)} or set(ledger.values()) != {1}:
        problems.append(f"{where}: the ledger holds {dict(ledger)} (after the kill {before})")
    report = anyio.run(_report, target)
    done = Counter(i.receipt["entry"] for i in report.done if i.state == "committed")
    if done != ledger or len(done) != len(report.done):
        problems.append(f"{where}: Done says {[(i.call_id, i.state, i.receipt) for i in report.done]}")
    if report.in_flight:
        problems.append(f"{where}: still in flight: {[(i.call_id, i.state) for i in report.in_flight]}")
    return how, problems


def drill_all(framework: str, argv: Argv, backend: str, request: pytest.FixtureRequest, scratch: Path) -> None:
    """Drill every seed of `backend` (2 in CI, 20 with AGENTSTOP_DRILL_FULL=1) and fail with every problem found."""
    problems: list[str] = []
    hows: list[str] = []
    for seed in seeds(backend, ci=2, full=20):
        tmp = scratch / f"{framework.replace(' ', '-')}-{backend}-{seed}-{time.monotonic_ns()}"
        tmp.mkdir()
        with drill_journal(backend, request, tmp) as target:
            how, found = _drill(seed, target, tmp, argv)
        hows.append(how.split(" (")[0])
        problems += found
    counts = ", ".join(f"{n} {how}" for how, n in sorted(Counter(hows).items()))
    record(
        f"crash of an agent under {framework} ({backend})",
        f"SIGKILL of an agent under the {framework} adapter, then the same run again: {counts}",
        len(hows),
        "nothing" if not problems else f"{len(problems)} problems",
    )
    assert problems == [], "\n".join(problems)


def drill_over_http(
    framework: str, child: str, state: str, backend: str, request: pytest.FixtureRequest, scratch: Path
) -> None:
    """`drill_all` for an agent that reaches its model over HTTP: a `LedgerModelServer` on 127.0.0.1 for it.

    `child` is the agent's module, run as `python -m child JOURNAL STATE LEDGER BASE_URL`, where STATE is
    the file `state` in the drill's directory (its conversation or history). The server outlives each kill,
    as a model's API does, and must have refused no transcript.
    """
    model = LedgerModelServer(ENTRIES)
    with model:

        def argv(target: str, tmp: Path) -> list[str]:
            return [sys.executable, "-m", child, target, str(tmp / state), str(tmp / "ledger"), model.base_url]

        drill_all(framework, argv, backend, request, scratch)
    assert model.rejected == [], [r.messages for r in model.rejected]
    assert not model.errors, model.errors
