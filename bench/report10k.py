"""5. The four-way report for a session of 10,000 calls, and `Report.from_journal` on one of 100,000.

The session is made by a real `Supervisor` (session and grant rows), then its
calls are bulk-written through the journal's own ops in one writer transaction
(bench/sessions.py), in a realistic mix: mostly committed with an undo window,
some rejected, discarded, failed, compensated and unknown. Timed:
`Report.build` on rows already in memory (the pure function), and
`Report.from_journal` (three reads plus the build), as well as the `calls` read
alone. The same session then serves gated calls, to show
what a call costs once a session is that long.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentstop import GrantSpec, Journal, Report, Supervisor

from .common import Config, Dist, Noop, clock
from .sessions import write_calls

__all__ = ["ReportResult", "run_report"]


@dataclass
class ReportResult:
    calls: int = 0
    buckets: dict[str, int] = field(default_factory=dict)
    write_seconds: float = 0.0
    plan_first: float = 0.0
    plan_last: float = 0.0
    build: list[float] = field(default_factory=list)
    from_journal: list[float] = field(default_factory=list)
    read_calls: list[float] = field(default_factory=list)
    read_other: list[float] = field(default_factory=list)
    """The session and grants reads that `Report.from_journal` makes besides `calls`."""
    read_rows: list[float] = field(default_factory=list)
    """`Journal.report_rows`: the calls read `Report.from_journal` makes (only the columns it shows)."""
    large_calls: int = 0
    large_from_journal: list[float] = field(default_factory=list)
    """`Report.from_journal` on the larger session (`Config.report_large_calls`)."""
    from_journal_gc: list[float] = field(default_factory=list)
    """Of each `from_journal` timing, the seconds the cyclic garbage collector ran (its passes, any generation)."""
    large_from_journal_gc: list[float] = field(default_factory=list)
    large_write_seconds: float = 0.0
    large_plan_first: float = 0.0
    large_plan_last: float = 0.0
    deep_calls: list[float] = field(default_factory=list)

    def dist(self, name: str) -> Dist:
        values: list[float] = getattr(self, name)
        return Dist.of(values)


async def _session_of(journal: Journal, calls: int) -> tuple[Supervisor, float, float, float]:
    """A session of `calls` calls written straight through ops: (its supervisor, seconds it took to write,
    plan_call's mean over the first and over the last calls)."""
    sup = Supervisor(journal, [Noop()], GrantSpec())
    await sup.start()
    grant_id = (await journal.grants(sup.session_id))[0].grant_id
    writer = journal._writer
    assert writer is not None
    plan_times: list[float] = []
    began = clock()
    await writer.run(write_calls(sup.session_id, grant_id, calls, plan_times=plan_times), durable=True)
    seconds = clock() - began
    edge = max(1, min(100, len(plan_times) // 10))
    return sup, seconds, sum(plan_times[:edge]) / edge, sum(plan_times[-edge:]) / edge


@contextmanager
def collector_time() -> Iterator[list[float]]:
    """The seconds the cyclic garbage collector runs inside the block, in `[0]` once it ends."""
    spent = [0.0]
    began = [0.0]

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = clock()
        else:
            spent[0] += clock() - began[0]

    gc.callbacks.append(note)
    try:
        yield spent
    finally:
        gc.callbacks.remove(note)


async def run_report(cfg: Config, tmp: Path, log: Any) -> ReportResult:
    res = ReportResult(calls=cfg.report_calls)
    async with Journal.open(tmp / "report.db") as journal:
        sup, res.write_seconds, res.plan_first, res.plan_last = await _session_of(journal, cfg.report_calls)
        sid = sup.session_id
        log(
            f"  wrote {cfg.report_calls} calls through ops in {res.write_seconds:.1f} s "
            f"(plan_call {res.plan_first * 1e6:.0f} µs at the start, {res.plan_last * 1e6:.0f} µs at the end)"
        )

        session = await journal.session(sid)
        calls = await journal.calls(sid)
        grants = await journal.grants(sid)
        for _ in range(cfg.report_repeats):
            t = clock()
            report = Report.build(session, calls, grants)
            res.build.append(clock() - t)
            with collector_time() as collected:
                t = clock()
                await Report.from_journal(journal, sid)
                res.from_journal.append(clock() - t)
            res.from_journal_gc.append(collected[0])
            t = clock()
            await journal.calls(sid)
            res.read_calls.append(clock() - t)
            t = clock()
            await journal.session(sid)
            await journal.grants(sid)
            res.read_other.append(clock() - t)
            t = clock()
            await journal.report_rows(sid)
            res.read_rows.append(clock() - t)
        res.buckets = {
            "done": len(report.done),
            "interrupted": len(report.interrupted),
            "in flight": len(report.in_flight),
            "undoable": len(report.undoable),
        }

        for i in range(cfg.deep_calls):
            t = clock()
            await sup.call("noop", {"n": i})
            res.deep_calls.append(clock() - t)
        await sup.close()
    b, f = res.dist("build"), res.dist("from_journal")
    log(f"  Report.build p50 {b.p50 * 1e3:.1f} ms, Report.from_journal p50 {f.p50 * 1e3:.1f} ms")
    await _large(cfg, tmp, res, log)
    return res


async def _large(cfg: Config, tmp: Path, res: ReportResult, log: Any) -> None:
    """`Report.from_journal` on a session of `cfg.report_large_calls` calls (fewer timings: each is long)."""
    res.large_calls = cfg.report_large_calls
    async with Journal.open(tmp / "report-large.db") as journal:
        sup, res.large_write_seconds, res.large_plan_first, res.large_plan_last = await _session_of(
            journal, cfg.report_large_calls
        )
        sid = sup.session_id
        for _ in range(max(3, cfg.report_repeats // 3)):
            with collector_time() as collected:
                t = clock()
                await Report.from_journal(journal, sid)
                res.large_from_journal.append(clock() - t)
            res.large_from_journal_gc.append(collected[0])
        await sup.close()
    log(f"  {res.large_calls:,} calls: Report.from_journal p50 {res.dist('large_from_journal').p50 * 1e3:.0f} ms")
