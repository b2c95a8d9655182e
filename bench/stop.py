"""3. Stop latency: from `stop()` to grant revoked, to planner cancelled, to report built.

A supervisor runs an idle planner (it thinks forever) while N calls are parked
inside their commit (past the fence, `on_stop=ABANDON`, grace 0). Each repeat
opens a fresh journal. "Revoked" is when `Journal.revoke` returned inside Stop,
which is after its transaction committed (from then on every fence sees it);
"planner cancelled" is when the planner's await raised the cancellation;
"report" is when `stop()` returned its report (the session ended durably and N
calls read back). The "busy" row stops a session whose writer is saturated by
64 callers running gated calls flat out (their commits are let finish: `WAIT`).

Every writer transaction of the stop is logged (`BatchCounter(log=True)`), so
the results can say, from this run, how the revoke was committed: in a
transaction of its own or with other units, ahead of queued units or behind
them, with its own fsync (FULL) or without (NORMAL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentstop import CallCutOff, GrantSpec, Journal, Supervisor

from .common import BatchCounter, Config, Dist, Noop, Parked, clock
from .variants import RawFloor

__all__ = ["StopResult", "run_stop"]

BUSY = -64


class IdlePlanner:
    """A planner that thinks forever, noting when it was cancelled."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.cancelled_at: float | None = None

    async def run(self, agent: Any) -> None:
        self.started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.cancelled_at = clock()
            raise


@dataclass
class StopSample:
    revoked: float
    planner: float
    report: float
    reported_in_flight: int
    writer: float
    """Time the writer spent in transactions between stop() and the revoke returning (the revoke's own
    transaction plus the batches started before it; one already running at stop() is not counted)."""
    revoke_durable: bool = False
    """The revoke's transaction committed at FULL (an fsync of its own)."""
    revoke_urgent: bool = False
    """The revoke's unit was marked urgent (it jumps the writer's queue)."""
    revoke_alone: bool = False
    """The revoke's transaction held no other unit."""
    batches_before: int = 0
    """Writer transactions started between stop() and the revoke's own."""
    revoke_busy: float = 0.0
    """The writer's time inside the revoke's own transaction (SQL and COMMIT)."""


@dataclass
class StopResult:
    rows: dict[int, list[StopSample]] = field(default_factory=dict)
    disk_commit: list[float] = field(default_factory=list)
    """One committed INSERT at FULL on raw sqlite3, taken right before each stop: the disk's share."""

    def phase(self, in_flight: int, name: str) -> Dist:
        return Dist.of([getattr(s, name) for s in self.rows[in_flight]])

    def share(self, name: str) -> tuple[int, int]:
        """(stops where the boolean `name` held, stops), over every row."""
        samples = [s for rows in self.rows.values() for s in rows]
        return sum(1 for s in samples if getattr(s, name)), len(samples)


async def one_stop(path: Path, in_flight: int) -> StopSample:
    async with Journal.open(path) as journal:
        busy = in_flight == BUSY
        parked = Parked(0 if busy else in_flight)
        planner = IdlePlanner()
        sup = Supervisor(journal, [parked, Noop()], GrantSpec(), planner, grace=0.0)
        revoked_at: list[float] = []
        revoke = journal.revoke
        done_calls = 0

        async def park(i: int) -> None:
            try:
                await sup.call("parked", {"n": i})
            except CallCutOff:
                pass

        async def hammer() -> None:
            nonlocal done_calls
            try:
                while True:
                    await sup.call("noop", {"n": 0})
                    done_calls += 1
            except CallCutOff:
                pass

        async with anyio.create_task_group() as tg:
            tg.start_soon(sup.run)
            await planner.started.wait()
            if busy:
                for _ in range(-BUSY):
                    tg.start_soon(hammer)
                while done_calls < 200:
                    await anyio.sleep(0.001)
            else:
                for i in range(in_flight):
                    tg.start_soon(park, i)
                await parked.all_parked.wait()
            counter = BatchCounter(journal, log=True)

            async def timed_revoke(*args: Any, **kwargs: Any) -> list[int]:
                ids = await revoke(*args, **kwargs)
                revoked_at.append(clock())
                return ids

            journal.revoke = timed_revoke  # type: ignore[method-assign]
            began = clock()
            report = await sup.stop("benchmark", "bench")
            ended = clock()
            parked.release.set()
        assert planner.cancelled_at is not None and revoked_at
        at = next((i for i, b in enumerate(counter.log) if "revoke" in b.kinds), None)
        # Summed from the log once the stop is over: a batch's time is known only when it ends,
        # and it wakes its callers before that.
        writer = sum(b.busy for b in counter.log[: (at if at is not None else -1) + 1])
        sample = StopSample(
            revoked_at[0] - began, planner.cancelled_at - began, ended - began, len(report.in_flight), writer
        )
        if at is not None:
            batch = counter.log[at]
            sample.revoke_durable, sample.revoke_urgent = batch.durable, batch.urgent
            sample.revoke_alone, sample.batches_before, sample.revoke_busy = len(batch.kinds) == 1, at, batch.busy
        return sample


async def run_stop(cfg: Config, tmp: Path, log: Any) -> StopResult:
    rows = (*cfg.in_flight, BUSY)
    res = StopResult(rows={n: [] for n in rows})
    disk = RawFloor(tmp / "stop-disk.db")
    await disk.open()
    try:
        for r in range(cfg.stop_repeats):
            for n in rows:
                for k in range(2):
                    began = clock()
                    disk.commit_one(r * 100 + k)
                    res.disk_commit.append(clock() - began)
                res.rows[n].append(await one_stop(tmp / f"stop-{n}-{r}.db", n))
    finally:
        await disk.close()
    for n in rows:
        s = res.phase(n, "revoked")
        label = "busy (64 callers)" if n == BUSY else f"{n} in flight"
        log(f"  {label}: stop→revoked p50 {s.p50 * 1e3:.2f} ms, p99 {s.p99 * 1e3:.2f} ms")
    d = Dist.of(res.disk_commit)
    log(f"  the disk alone (one FULL commit): p50 {d.p50 * 1e3:.2f} ms, p99 {d.p99 * 1e3:.2f} ms")
    return res
