"""A worker process of the shared-journal benchmark (bench/fleet.py).

    python -m bench.fleet_child TARGET CALLERS CALLS START_AT

Opens the journal (a SQLite file or a postgresql:// URL), starts one session,
waits until the wall clock reaches START_AT (so every process starts together),
then runs CALLERS concurrent callers making CALLS gated calls each, and prints
one JSON line: the wall time of its calls, each call's latency, the CPU time
the process spent meanwhile (all its threads: the journal's writer too), and
how many round trips to the server its journal made (0 on SQLite).
"""

from __future__ import annotations

import json
import sys
import time

import anyio

from agentstop import GrantSpec, Journal, Supervisor

from .common import Noop


async def main(target: str, callers: int, calls: int, start_at: float) -> None:
    async with Journal.open(target, busy_timeout=30) as journal:
        sup = Supervisor(journal, [Noop()], GrantSpec())
        await sup.start()
        latencies: list[float] = []

        async def caller() -> None:
            for i in range(calls):
                began = time.perf_counter()
                await sup.call("noop", {"n": i})
                latencies.append(time.perf_counter() - began)

        await anyio.sleep(max(0.0, start_at - time.time()))
        trips = journal.round_trips
        began, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(caller)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        trips = journal.round_trips - trips
        await sup.close()
    print(json.dumps({"seconds": seconds, "latencies": latencies, "cpu": cpu, "round_trips": trips}), flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
