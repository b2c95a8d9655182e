"""5. The four-way report for a session of 10,000 calls.

The session is made by a real `Supervisor` (session and grant rows), then its
calls are bulk-written through the journal's own ops (`ops.plan_call`,
`ops.transition`, `ops.fence`) in one writer transaction, in a realistic mix:
mostly committed with an undo window, some rejected, discarded, failed,
compensated and unknown. Timed: `Report.build` on rows already in memory (the
pure function), and `Report.from_journal` (three reads plus the build), as well
as the `calls` read alone. The same session then serves gated calls, to show
what a call costs once a session is that long.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentstop import GrantSpec, Journal, Report, Supervisor
from agentstop.journal import CallState, ops

from .common import Config, Dist, Noop, clock

__all__ = ["ReportResult", "run_report"]

S = CallState


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
    deep_calls: list[float] = field(default_factory=list)

    def dist(self, name: str) -> Dist:
        values: list[float] = getattr(self, name)
        return Dist.of(values)


def _bulk(conn: Any, session_id: str, grant_id: int, n: int, plan_times: list[float]) -> None:
    now = time.time()
    for i in range(n):
        began = clock()
        call_id = ops.plan_call(
            conn, session_id=session_id, tool="noop", summary=f"noop n={i}", resource="noop", args={"n": i},
            reversibility="reversible", on_stop="wait", can_compensate=True, can_lookup=False, undo_hint="",
            idempotency_key=uuid.uuid4().hex, grant_id=grant_id, at=now)
        plan_times.append(clock() - began)
        kind = i % 20
        if kind == 0:
            ops.transition(conn, session_id, call_id, S.REJECTED, now, reason="invalid arguments: n: not an int")
            continue
        ops.transition(conn, session_id, call_id, S.PREPARED, now, prepared={"n": i})
        if kind == 1:
            ops.transition(conn, session_id, call_id, S.DISCARDED, now, reason="stopped before the fence")
            continue
        assert ops.fence(conn, session_id, call_id, grant_id, "noop", "noop", now) is None
        if kind == 2:
            ops.transition(conn, session_id, call_id, S.FAILED, now, reason="refused upstream; nothing landed")
        elif kind == 3:
            ops.transition(conn, session_id, call_id, S.UNKNOWN, now, reason="commit cancelled; outcome unknown")
        else:
            ops.transition(conn, session_id, call_id, S.COMMITTED, now,
                           receipt={"id": i, "undo_deadline": now + 3600})
            if kind == 4:
                ops.transition(conn, session_id, call_id, S.COMPENSATING, now, undo_by="bench")
                ops.transition(conn, session_id, call_id, S.COMPENSATED, now)


async def run_report(cfg: Config, tmp: Path, log: Any) -> ReportResult:
    res = ReportResult(calls=cfg.report_calls)
    async with Journal.open(tmp / "report.db") as journal:
        sup = Supervisor(journal, [Noop()], GrantSpec())
        await sup.start()
        sid = sup.session_id
        grant_id = (await journal.grants(sid))[0].grant_id
        writer = journal._writer
        assert writer is not None
        plan_times: list[float] = []
        began = clock()
        await writer.run(lambda conn: _bulk(conn, sid, grant_id, cfg.report_calls, plan_times), durable=True)
        res.write_seconds = clock() - began
        edge = max(1, min(100, len(plan_times) // 10))
        res.plan_first = sum(plan_times[:edge]) / edge
        res.plan_last = sum(plan_times[-edge:]) / edge
        log(f"  wrote {cfg.report_calls} calls through ops in {res.write_seconds:.1f} s "
            f"(plan_call {res.plan_first * 1e6:.0f} µs at the start, {res.plan_last * 1e6:.0f} µs at the end)")

        session = await journal.session(sid)
        calls = await journal.calls(sid)
        grants = await journal.grants(sid)
        for _ in range(cfg.report_repeats):
            t = clock()
            report = Report.build(session, calls, grants)
            res.build.append(clock() - t)
            t = clock()
            await Report.from_journal(journal, sid)
            res.from_journal.append(clock() - t)
            t = clock()
            await journal.calls(sid)
            res.read_calls.append(clock() - t)
        res.buckets = {"done": len(report.done), "interrupted": len(report.interrupted),
                       "in flight": len(report.in_flight), "undoable": len(report.undoable)}

        for i in range(cfg.deep_calls):
            t = clock()
            await sup.call("noop", {"n": i})
            res.deep_calls.append(clock() - t)
        await sup.close()
    b, f = res.dist("build"), res.dist("from_journal")
    log(f"  Report.build p50 {b.p50 * 1e3:.1f} ms, Report.from_journal p50 {f.p50 * 1e3:.1f} ms")
    return res
