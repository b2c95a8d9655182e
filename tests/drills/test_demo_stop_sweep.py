"""Drill: Stop the seed demo at every second of its story; each report agrees with the world.

`agentstop demo --headless --stop-after T` with the upstreams' realistic latencies,
for T from 2 s to the end of the story in 1 s steps (AGENTSTOP_DRILL_FULL=1), or at
a few moments spread over it (CI). Every run: the report partitions the calls and
agrees with the world's own files, and once a call has run, Done is not empty.
Over the whole sweep: Interrupted is not empty in at least half of the runs (Stop
caught something being drafted, or cut off a migration), and some runs caught a
call in flight (in flight in the report, or landed during the grace, and said so).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.demo_command.world_state import WorldState, assert_partition, assert_world_matches

ROOT = Path(__file__).resolve().parents[2]
STORY_END_S = 25
FULL = os.environ.get("AGENTSTOP_DRILL_FULL") == "1"
MOMENTS = list(range(2, STORY_END_S + 1)) if FULL else [3, 8, 12, 18]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200 if FULL else 300)]


@dataclass(frozen=True)
class Stopped:
    stop_after: int
    code: int
    report: dict[str, Any]
    world: WorldState
    stderr: str


def run_demo(base: Path, stop_after: int) -> Stopped:
    directory = base / f"world-{stop_after}"
    env = {**os.environ, "AGENTSTOP_DEMO_LATENCY": "1", "AGENTSTOP_JOURNAL": str(base / "unused.db")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentstop",
            "demo",
            "--headless",
            "--json",
            "--dir",
            str(directory),
            "--stop-after",
            str(stop_after),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return Stopped(stop_after, proc.returncode, report, WorldState(directory), proc.stderr)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Stopped]]:
    base = tmp_path_factory.mktemp("sweep")
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield list(pool.map(lambda t: run_demo(base, t), MOMENTS))


def test_every_stopped_demo_reports_what_the_world_holds(sweep: list[Stopped]) -> None:
    for run in sweep:
        assert run.report, f"--stop-after {run.stop_after}: no report\n{run.stderr}"
        assert "Traceback" not in run.stderr
        assert_partition(run.report)
        assert_world_matches(run.report, run.world)
        calls = run.report["done"] + run.report["interrupted"] + run.report["in_flight"]
        ran = [c for c in calls if c["fence_at"] is not None]
        if ran:
            assert run.report["done"], f"--stop-after {run.stop_after}: a call passed the fence, none is done"
        for item in run.report["done"]:
            if item["landed_after_stop"]:
                assert f"{item['call_id']} " in run.stderr and "landed during the grace" in run.stderr


@pytest.mark.skipif(not FULL, reason="over the whole sweep only (AGENTSTOP_DRILL_FULL=1)")
def test_stop_catches_work_in_flight_at_most_moments(sweep: list[Stopped]) -> None:
    interrupted = [r.stop_after for r in sweep if r.report["interrupted"]]
    caught = [
        r.stop_after for r in sweep if r.report["in_flight"] or any(i["landed_after_stop"] for i in r.report["done"])
    ]
    assert len(interrupted) * 2 >= len(sweep), f"interrupted at {interrupted} of {MOMENTS}"
    assert caught, "no run caught a call in flight"
