"""Drill: SIGKILL an agent running under the LangGraph adapter, run it again: every effect lands once.

The agent (tests/drills/langgraph_child.py) is what a person writes from
docs/adapters/langgraph.md: a `StateGraph` whose `ToolNode` is fenced,
checkpointed durably (`AsyncSqliteSaver`, `durability="sync"`), its model asking
for ledger entries one a turn, each call with a fresh tool-call id, and refusing
a transcript with a call unanswered or answered twice, as a real API does. When
the journal holds its k-th event (k seeded: before the first call, at a fence,
mid-commit, between turns), the agent is SIGKILLed with its process group. Then
it is run again as the docs say to after a crash: its session resumed
(agentstop settles what the dead process left first) and its thread invoked
again from the checkpoint. On SQLite and PostgreSQL:

- the second run finishes: the model read a valid transcript at every turn;
- the ledger holds each entry exactly once: a call that landed before the kill
  is not issued again (its key, the tool-call id the checkpoint kept, finds it),
  one that had not landed is issued;
- the report agrees with the ledger: Done holds one committed call per entry,
  and nothing is left in flight (a call the kill caught mid-commit was settled
  by its lookup before the session ran on).

CI drills 2 seeds per backend; AGENTSTOP_DRILL_FULL=1 drills 20; AGENTSTOP_DRILL_SEEDS=3,7 replays seeds.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest

pytest.importorskip("langgraph.checkpoint.sqlite")

from agentstop import Journal, Report
from tests.drills.kill_moments import call_states, drill_journal, last_seq, seeds, wait_until
from tests.drills.stats import record

from .langgraph_child import EVENTS_PER_ENTRY, SESSION

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = 8


def _child(target: str, tmp: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.drills.langgraph_child",
        target,
        str(tmp / "checkpoints.db"),
        str(tmp / "ledger"),
        str(ENTRIES),
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _run_and_kill(target: str, tmp: Path, kill_at: int) -> bool:
    """Run the agent until the journal holds `kill_at` events, then SIGKILL it; False if it finished first."""
    proc = subprocess.Popen(
        _child(target, tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
        start_new_session=True,
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


def _ledger(tmp: Path) -> list[str]:
    path = tmp / "ledger"
    return path.read_text().splitlines() if path.exists() else []


async def _report(target: str) -> Report:
    async with Journal.open(target, readonly=True) as journal:
        return await Report.from_journal(journal, SESSION)


def _drill(seed: int, target: str, tmp: Path) -> tuple[str, list[str]]:
    """One kill and one run again: (where the kill landed, what disagrees)."""
    kill_at = random.Random(seed).randint(1, 2 + EVENTS_PER_ENTRY * ENTRIES)
    killed = _run_and_kill(target, tmp, kill_at)
    before = dict(Counter(_ledger(tmp)))
    caught = "with a call committing" if "committing" in call_states(target).values() else "between calls"
    how = f"killed {caught} (event {kill_at}, {len(before)} entries in)" if killed else "finished before the kill"
    where = f"seed {seed} ({how})"
    again = subprocess.run(_child(target, tmp), capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=120)
    if again.returncode != 0 or "finished" not in again.stdout:
        return how, [f"{where}: the run again failed: {again.stderr[-3000:]}"]
    problems = []
    ledger = Counter(_ledger(tmp))
    if set(ledger) != {f"e{i}" for i in range(1, ENTRIES + 1)} or set(ledger.values()) != {1}:
        problems.append(f"{where}: the ledger holds {dict(ledger)} (after the kill {before})")
    report = anyio.run(_report, target)
    done = Counter(i.receipt["entry"] for i in report.done if i.state == "committed")
    if done != ledger or len(done) != len(report.done):
        problems.append(f"{where}: Done says {[(i.call_id, i.state, i.receipt) for i in report.done]}")
    if report.in_flight:
        problems.append(f"{where}: still in flight: {[(i.call_id, i.state) for i in report.in_flight]}")
    return how, problems


@pytest.mark.both_backends
@pytest.mark.timeout(600)
def test_a_langgraph_agent_killed_and_run_again_lands_every_entry_once_and_the_report_agrees(
    journal_backend: str, request: pytest.FixtureRequest, scratch: Path
) -> None:
    problems: list[str] = []
    hows: list[str] = []
    for seed in seeds(journal_backend, ci=2, full=20):
        tmp = scratch / f"langgraph-{journal_backend}-{seed}-{time.monotonic_ns()}"
        tmp.mkdir()
        with drill_journal(journal_backend, request, tmp) as target:
            how, found = _drill(seed, target, tmp)
        hows.append(how.split(" (")[0])
        problems += found
    counts = ", ".join(f"{n} {how}" for how, n in sorted(Counter(hows).items()))
    record(
        f"crash of a LangGraph agent ({journal_backend})",
        f"SIGKILL of an agent under the LangGraph adapter, then the same run again: {counts}",
        len(hows),
        "nothing" if not problems else f"{len(problems)} problems",
    )
    assert problems == [], "\n".join(problems)
