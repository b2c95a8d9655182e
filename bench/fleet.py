"""8. A shared journal: many agent processes on one SQLite file or one PostgreSQL database.

The same gated calls as section 2, but the callers live in several OS processes
(each its own session, as agents on several workers would), all writing one
journal: a SQLite file on this disk, or a PostgreSQL 15 server started for the
benchmark on 127.0.0.1 (the tests' throwaway server: `initdb` in a temporary
directory, `fsync` on). 1, 8 and 64 callers: 1 process; 8 processes of 1 caller;
8 processes of 8 callers. Each level runs on both backends back to back, and
the levels take turns, so both see the same machine. Cost per call is the wall
time from the common start to the last process's last call, divided by all calls.

Two counts per call besides, on PostgreSQL: round trips (each time a journal
connection waited on the server, as `Journal.round_trips` counts them, summed
over the processes) and WAL flushes (`pg_stat_wal.wal_sync` of the server over
the level: fewer than one process could reach alone means commits of several
sessions shared a flush, group commit across sessions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentstop import Journal

from .common import Config, Dist, percentile

__all__ = ["FleetLevel", "FleetResult", "run_fleet"]

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ((1, 1), (8, 1), (8, 8))
"""(processes, callers per process): 1, 8 and 64 callers."""

SERVER_SETTINGS = {"commit_delay": "2000", "commit_siblings": "2"}
"""The server's group-commit settings, as the README advises for a journal many agents share.

With `commit_delay` at its default 0, a commit joins another's WAL flush only
if it arrives while that flush is under way. With it, a committing backend
that sees at least `commit_siblings` other transactions open waits up to that
many microseconds before it flushes, so the commits of other sessions arriving
meanwhile share its flush. Alone (fewer siblings), a commit never waits.
"""


@dataclass
class FleetLevel:
    backend: str
    processes: int
    callers: int
    calls: int
    seconds: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    #: Per repeat, per call: the CPU time the agents' processes spent (all their threads, summed over them).
    cpu: list[float] = field(default_factory=list)
    #: Per repeat, per call: round trips to the server, and WAL flushes (PostgreSQL only).
    round_trips: list[float] = field(default_factory=list)
    wal_flushes: list[float] = field(default_factory=list)

    @property
    def total_callers(self) -> int:
        return self.processes * self.callers

    def cost(self) -> Dist:
        return Dist.of([s / self.calls for s in self.seconds])


@dataclass
class FleetResult:
    levels: list[FleetLevel] = field(default_factory=list)
    postgres: str = ""
    skipped: str = ""
    #: The server's settings the run added (`SERVER_SETTINGS` when it ran).
    settings: dict[str, str] = field(default_factory=dict)


def _calls_each(cfg: Config, callers: int) -> int:
    total = 400 if not cfg.quick else 48
    return max(4, total // callers)


def _run_level(target: str, processes: int, callers: int, calls: int) -> tuple[float, list[float], float, int]:
    """(seconds from the common start to the last call's end, every call's latency, CPU seconds, round trips)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start_at = time.time() + 1.5 + 0.1 * processes  # every process has opened its journal by then
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.fleet_child", target, str(callers), str(calls), repr(start_at)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(processes)
    ]
    outs = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"a fleet worker failed (exit {child.returncode})")
        outs.append(json.loads(out.strip().splitlines()[-1]))
    latencies = [lat for o in outs for lat in o["latencies"]]
    cpu = sum(float(o["cpu"]) for o in outs)
    return max(o["seconds"] for o in outs), latencies, cpu, sum(int(o["round_trips"]) for o in outs)


def _wal_syncs(url: str) -> int:
    """The server's WAL flushes so far (PostgreSQL 14+; every database of the throwaway server)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        row = conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()
    return int(row[0]) if row is not None else 0


async def run_fleet(cfg: Config, tmp: Path, log: Any) -> FleetResult:
    res = FleetResult()
    try:
        from tests.support.postgres import find_bindir, start_postgres

        find_bindir()
    except Exception as exc:  # no server binaries, or psycopg missing
        res.skipped = f"PostgreSQL not available here ({exc}); install it: bash .ci/postgres.sh"
        log(f"  {res.skipped}")
        return res
    server = start_postgres(settings=SERVER_SETTINGS)
    try:
        res.settings = dict(SERVER_SETTINGS)
        settings = "".join(f", `{k} = {v}`" for k, v in res.settings.items())
        res.postgres = f"the PostgreSQL of {find_bindir()} (fsync on{settings}), on 127.0.0.1"
        repeats = 1 if cfg.quick else 3
        for processes, callers in LEVELS:
            calls = _calls_each(cfg, processes * callers)
            for backend in ("sqlite", "postgresql"):
                res.levels.append(FleetLevel(backend, processes, callers, calls * processes * callers))
            for r in range(repeats):
                for level in res.levels[-2:]:
                    target = (
                        str(tmp / f"fleet-{processes}x{callers}-{r}.db")
                        if level.backend == "sqlite"
                        else server.create_database()
                    )
                    async with Journal.open(target):
                        pass  # the schema exists before the workers race to open it
                    syncs = _wal_syncs(target) if level.backend == "postgresql" else 0
                    seconds, latencies, cpu, trips = _run_level(target, processes, callers, calls)
                    level.cpu.append(cpu / level.calls)
                    if level.backend == "postgresql":
                        level.round_trips.append(trips / level.calls)
                        level.wal_flushes.append((_wal_syncs(target) - syncs) / level.calls)
                    level.seconds.append(seconds)
                    level.p50.append(percentile(latencies, 0.5))
                    level.p99.append(percentile(latencies, 0.99))
                    log(
                        f"  {level.backend:10} {processes} x {callers} callers: "
                        f"{seconds / level.calls * 1e6:.0f} µs per call"
                    )
    finally:
        server.stop()
    return res
