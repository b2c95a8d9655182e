"""9. A live report on a long session: one batch of 50 journal events taken in, against a full read.

`python -m bench.live_report [--quick] [--batches N]` runs this section alone and prints its table.

For each size (`Config.report_calls` and `Config.report_large_calls`: 10,000 and
100,000 calls in a full run) a session of the section-5 mix is bulk-written
through the journal's own ops (bench/sessions.py), and a `LiveReport` loads it
once. Then, batch after batch, the session goes on as a busy agent's would:
12 new calls each planned, prepared and fenced, and committed with an undo
window (4 events each), and one older call undone (2 events): 50 events,
written in one writer unit (not timed). Timed per batch, as the TUI would run
it: the bridge's read of the new events is left out (it is the same either
way); `LiveReport.apply(events)` (the re-read of the 13 calls and of the
grants, and the patching) plus `LiveReport.report()` (the snapshot) plus its
summary counts (`LiveReport.counts`, which read no list). Beside it, the cost
of the first read of a list of that report (`report.done`, made a tuple on
first use), and `Report.from_journal` on the same session: what each batch
cost before the live report (the TUI read the report in full at every batch).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentstop import GrantSpec, Journal, Report, Supervisor
from agentstop.journal import CallState, ops
from agentstop.live_report import LiveReport

from .common import Config, Dist, Noop, clock, cpu_clock, fmt_time
from .sessions import plan_noop, write_calls

__all__ = ["LiveResult", "LiveSize", "run_live_report"]

S = CallState
NEW_CALLS = 12
"""New calls per batch (4 events each); with one undo (2 events), 50 events."""


@dataclass
class LiveSize:
    """The timings at one session size."""

    calls: int
    events_per_batch: list[int] = field(default_factory=list)
    load: float = 0.0
    """`LiveReport.load`: the one full read."""
    apply: list[float] = field(default_factory=list)
    """Per batch: `apply(events)` + `report()` + `counts()`, wall time."""
    apply_cpu: list[float] = field(default_factory=list)
    """The same, this process's CPU time (the rest is waiting for the reads' thread, or the machine's load)."""
    first_read: list[float] = field(default_factory=list)
    """Per sampled batch: reading `report.done` the first time (its tuple made)."""
    from_journal: list[float] = field(default_factory=list)
    """`Report.from_journal` on the same session (a few times)."""

    def dist(self, name: str) -> Dist:
        values: list[float] = getattr(self, name)
        return Dist.of(values)


@dataclass
class LiveResult:
    sizes: list[LiveSize] = field(default_factory=list)
    batches: int = 0


def _batch(session_id: str, grant_id: int, first: int, undo: str | None) -> Any:
    """A writer unit: NEW_CALLS calls planned, fenced and committed, and `undo` undone: 50 events."""

    def unit(conn: Any) -> None:
        at = time.time()
        for i in range(first, first + NEW_CALLS):
            call_id = plan_noop(conn, session_id, grant_id, i, at)
            assert ops.fence(conn, session_id, call_id, grant_id, "noop", "noop", at, prepared={"n": i}) is None
            ops.transition(conn, session_id, call_id, S.COMMITTED, at, receipt={"id": i, "undo_deadline": at + 3600})
        if undo is not None:
            ops.transition(conn, session_id, undo, S.COMPENSATING, at, undo_by="bench")
            ops.transition(conn, session_id, undo, S.COMPENSATED, at)

    return unit


async def _one_size(calls: int, batches: int, tmp: Path, log: Any) -> LiveSize:
    res = LiveSize(calls=calls)
    async with Journal.open(tmp / f"live-{calls}.db") as journal:
        sup = Supervisor(journal, [Noop()], GrantSpec())
        await sup.start()
        sid = sup.session_id
        grant_id = (await journal.grants(sid))[0].grant_id
        writer = journal._writer
        assert writer is not None
        await writer.run(write_calls(sid, grant_id, calls), durable=True)
        after = (await journal.events(sid))[-1].seq
        t = clock()
        live = await LiveReport.load(journal, sid)
        res.load = clock() - t
        next_n = calls
        for b in range(batches):
            # An older committed call to undo, a different one each batch, spread over the session
            # (in the mix, call i ends committed when i % 20 >= 5).
            undo = f"c{(b * 7919) % (calls // 20) * 20 + 7}"  # call n = i + 1, with i % 20 == 6: committed
            await writer.run(_batch(sid, grant_id, next_n, undo if b < calls // 20 else None), durable=False)
            next_n += NEW_CALLS
            events = await journal.events(sid, after=after)
            after = events[-1].seq
            res.events_per_batch.append(len(events))
            t, c = clock(), cpu_clock()
            await live.apply(events)
            report = live.report()
            live.counts()
            res.apply.append(clock() - t)
            res.apply_cpu.append(cpu_clock() - c)
            if b % 10 == 0:
                t = clock()
                assert report.done
                res.first_read.append(clock() - t)
        for _ in range(3 if calls > 20_000 else 5):
            t = clock()
            await Report.from_journal(journal, sid)
            res.from_journal.append(clock() - t)
        await sup.close()
    a = res.dist("apply")
    log(
        f"  {calls:,} calls: apply+report p50 {fmt_time(a.p50)}, p99 {fmt_time(a.p99)} over {a.n} batches "
        f"of {min(res.events_per_batch)}-{max(res.events_per_batch)} events; "
        f"Report.from_journal p50 {fmt_time(res.dist('from_journal').p50)}"
    )
    return res


async def run_live_report(cfg: Config, tmp: Path, log: Any, batches: int | None = None) -> LiveResult:
    """Section 9 at both of the report section's sizes."""
    res = LiveResult(batches=batches or (20 if cfg.quick else 300))
    for calls in (cfg.report_calls, cfg.report_large_calls):
        res.sizes.append(await _one_size(calls, res.batches, tmp, log))
    return res


def markdown(res: LiveResult) -> list[str]:
    """The section's table."""
    lines = [
        "| session | batch: `apply` + `report()` + counts, p50 | p99 | max | its CPU, p50 | "
        "first read of `report.done` | `Report.from_journal`, p50 | `LiveReport.load` |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in res.sizes:
        a, c, f, j = size.dist("apply"), size.dist("apply_cpu"), size.dist("first_read"), size.dist("from_journal")
        lines.append(
            f"| {size.calls:,} calls | {fmt_time(a.p50)} | {fmt_time(a.p99)} | {fmt_time(a.hi)} | {fmt_time(c.p50)} "
            f"| {fmt_time(f.p50)} | {fmt_time(j.p50)} | {fmt_time(size.load)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live_report", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sessions, few batches")
    parser.add_argument("--batches", type=int, default=None, help="batches of 50 events per size (300)")
    args = parser.parse_args(argv)
    cfg = Config.smoke() if args.quick else Config.full()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    async def run() -> LiveResult:
        with tempfile.TemporaryDirectory(prefix="agentstop-bench-live-") as tmp:
            return await run_live_report(cfg, Path(tmp), log, args.batches)

    result = anyio.run(run)
    print("\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
