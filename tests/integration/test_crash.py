"""Invariant 5: killing the process at any instant leaves a journal that reopens
into a consistent report, and recovery settles mid-commit calls by lookup."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from agentstop import Journal, ToolRegistry, recover
from tests.support import dies_in_commit
from tests.support.tools import WriteNote

ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(journal: Path, world: Path, seed: int, kill_after: float) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_child", str(journal), str(world), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    try:
        session_id = proc.stdout.readline().strip()
        assert session_id, "the child did not start its session"
        time.sleep(kill_after)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return session_id


async def _check(journal_path: Path, world: Path, session_id: str) -> None:
    tools = ToolRegistry([WriteNote(world)])
    async with Journal.open(journal_path) as journal:
        first = await recover(journal, tools, session_id)
        report = first.report
        ids = [i.call_id for i in report.done + report.interrupted + report.in_flight]
        assert len(ids) == len(set(ids)) == len(report.all_calls)
        # WriteNote has lookup, so nothing stays in flight after recovery.
        assert report.in_flight == ()
        landed = WriteNote(world).landed()

        def names(state: str) -> set[str]:
            return {i.summary.split("'")[1] for i in report.done if i.state == state}

        # Done lists everything that exists; an undo the kill cut off may or may not have removed its note.
        assert names("committed") <= landed <= names("committed") | names("compensation_failed"), (
            "Done must list exactly what exists in the world"
        )
        assert not (names("compensated") & landed)
        failed_undos = [i for i in report.done if i.state == "compensation_failed"]
        for item in failed_undos:  # died mid-undo: retryable, and retrying works
            assert item.undo.available
        if report.session.status != "completed":
            assert report.session.status == "crashed"
        # Recovery is idempotent.
        second = await recover(journal, tools, session_id)
        assert second.reconciled == {} and not second.marked_crashed
        assert second.report.to_json()["done"] == report.to_json()["done"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(16))
def test_sigkill_at_a_random_moment_reopens_consistent(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    world = tmp_path / "world"
    world.mkdir()
    journal = tmp_path / "j.db"
    session_id = _run_and_kill(journal, world, seed, kill_after=rng.uniform(0.0, 0.25))
    anyio.run(_check, journal, world, session_id)


@pytest.mark.anyio
@pytest.mark.both_backends
async def test_recovery_looks_a_call_up_with_the_tool_the_session_recorded_when_it_was_not_given(
    journal_target: str, journal: Journal, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process recovering a session need not hold its tools (an adapter adds a framework's tool on first use):
    the call the crash caught mid-commit is looked up with the tool imported by the path the session recorded."""
    await dies_in_commit.died_in_commit(journal_target, world, "died")
    monkeypatch.setenv(dies_in_commit.WORLD_ENV, str(world))

    result = await recover(journal, ToolRegistry([]), "died")

    assert result.marked_crashed and list(result.reconciled.values()) == ["committed"]
    [call] = await journal.calls("died")
    assert (call.state, call.receipt) == ("committed", {"path": "a", "found": True})
