"""2. Concurrency: throughput and cost per call with 1..64 concurrent callers, and group commit.

Callers are tasks of one anyio task group sharing one `Supervisor`; each takes
the next call until the run's total is reached. "Cost per call" is wall time
divided by calls (what a call costs the machine); "latency" is what one caller
waits. The writer's batches are counted by wrapping `Writer._run_batch` (read
from outside; agentstop is not edited): each batch is one commit, and a batch
holding a durable unit is one fsync, so fsyncs per call falling below 2 is group
commit at work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentstop import GrantSpec, Journal, Supervisor

from .common import BatchCounter, Config, Noop, Spread, Summary, clock, fmt_ratio
from .variants import RawFloor, raw_floor

__all__ = ["ConcurrencyResult", "run_concurrency"]


@dataclass
class Level:
    """Everything measured at one number of callers, one entry per repeat."""

    cost: list[float] = field(default_factory=list)
    throughput: list[float] = field(default_factory=list)
    latency: list[list[float]] = field(default_factory=list)
    batches_per_call: list[float] = field(default_factory=list)
    fsyncs_per_call: list[float] = field(default_factory=list)
    units_per_batch: list[float] = field(default_factory=list)
    cpu_per_call: list[float] = field(default_factory=list)
    writer_busy_per_call: list[float] = field(default_factory=list)
    writer_sql_per_call: list[float] = field(default_factory=list)
    writer_by_kind: list[dict[str, float]] = field(default_factory=list)
    max_batch: int = 0
    vs_floor: list[float] = field(default_factory=list)


@dataclass
class ConcurrencyResult:
    levels: dict[int, Level] = field(default_factory=dict)
    floor_cost: list[float] = field(default_factory=list)
    floor_latency: list[list[float]] = field(default_factory=list)

    def cost(self, callers: int) -> Spread:
        return Spread.of(self.levels[callers].cost)

    def latency(self, callers: int) -> Summary:
        return Summary.of(self.levels[callers].latency)


async def gated_concurrent(path: Path, callers: int, total: int) -> tuple[float, float, list[float], BatchCounter]:
    """Run `total` gated calls from `callers` concurrent tasks; wall and CPU time, latencies, batch counts.

    CPU time is the whole process's (both threads): CPU ÷ wall near 1.0 means one
    core's worth of work, i.e. the run is bound by the GIL, not by the disk.
    """
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [Noop()], GrantSpec())
        await sup.start()
        for i in range(20):
            await sup.call("noop", {"n": i})
        counter = BatchCounter(journal)
        latencies: list[float] = []
        left = total

        async def caller() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                began = clock()
                await sup.call("noop", {"n": left})
                latencies.append(clock() - began)

        began, cpu_began = clock(), time.process_time()
        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(caller)
        wall, cpu = clock() - began, time.process_time() - cpu_began
        counted = counter.freeze()
        await sup.close()
        return wall, cpu, latencies, counted


async def run_concurrency(cfg: Config, tmp: Path, log: Any) -> ConcurrencyResult:
    """Each level's run is bracketed by floor calls just before and just after it.

    The level's ratio to the floor uses that bracket only, so both sides of the
    ratio are measured within a second or two of each other.
    """
    res = ConcurrencyResult(levels={c: Level() for c in cfg.callers})
    bracket = max(5, cfg.floor_calls_per_repeat // 2)
    for r in range(cfg.repeats):
        floor = RawFloor(tmp / f"conc-floor-{r}.db")
        await floor.open()
        await raw_floor(floor, 20, start=-1000)
        floor_samples: list[float] = []
        shift = r % len(cfg.callers)
        try:
            for callers in cfg.callers[shift:] + cfg.callers[:shift]:
                before = await raw_floor(floor, bracket, start=len(floor_samples))
                wall, cpu, lat, counter = await gated_concurrent(
                    tmp / f"conc-{callers}-{r}.db", callers, cfg.concurrent_calls
                )
                after = await raw_floor(floor, bracket, start=len(floor_samples) + bracket)
                floor_samples += before + after
                # The floor's cost per call is the mean of its timed calls (one caller, so
                # mean latency and wall time per call are the same thing).
                floor_cost = sum(before + after) / (2 * bracket)
                level = res.levels[callers]
                n = cfg.concurrent_calls
                level.cost.append(wall / n)
                level.throughput.append(n / wall)
                level.latency.append(lat)
                level.batches_per_call.append(counter.batches / n)
                level.fsyncs_per_call.append(counter.durable / n)
                level.units_per_batch.append(counter.units / max(1, counter.batches))
                level.max_batch = max(level.max_batch, counter.max_units)
                level.cpu_per_call.append(cpu / n)
                level.writer_busy_per_call.append(counter.busy / n)
                level.writer_sql_per_call.append(counter.unit_time / n)
                level.writer_by_kind.append({k: v / n for k, v in counter.by_kind.items()})
                level.vs_floor.append((wall / n) / floor_cost)
        finally:
            await floor.close()
        res.floor_cost.append(sum(floor_samples) / len(floor_samples))
        res.floor_latency.append(floor_samples)
        log(
            f"  repeat {r + 1}/{cfg.repeats}: floor {res.floor_cost[-1] * 1e6:.0f} µs/call; "
            + ", ".join(
                f"{c} callers {res.levels[c].cost[-1] * 1e6:.0f} µs/call ({fmt_ratio(res.levels[c].vs_floor[-1])})"
                for c in cfg.callers
            )
        )
    return res
