"""1. Per-call overhead: a gated durable call against a bare call and the physical floor.

Each repeat opens every variant (bench/variants.py) on a fresh file, warms each
up, then measures them in rotating blocks of a few calls each until every
variant has its samples. A variant's samples are therefore spread over the same
seconds as the floor's, and the per-repeat ratio compares like with like even
when a neighbour on the shared disk makes fsync ten times slower for a while.

Beside the floor, the table holds a ladder from the floor up to `Supervisor.call`
(agentstop's schema in the transactions a gated call makes, directly; the shape
from before the plan joined the fence; through the writer thread; through CallPath) so a gap can be
attributed step by step. The ladder models the call's transactions as
`variants.SHAPE`; the instrumented pass (`anatomy`) logs what `Supervisor.call`
really writes, so the results say so if the two ever differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentstop import GrantSpec, Journal, Supervisor

from .common import BatchCounter, Config, Noop, Spread, Summary, clock, fmt_ratio
from .instructions import count_instructions
from .peers import PeerResult, run_peers
from .variants import NAMES, SHAPE, make

__all__ = ["VARIANTS", "Anatomy", "OverheadResult", "run_overhead"]

VARIANTS = ("bare", *NAMES)
_WARMUP = 20
BLOCK = 5


async def _bare(i: int) -> dict[str, Any]:
    return {}


@dataclass
class Anatomy:
    """Where one gated call's time goes (one extra pass, instrumented; not the measured runs)."""

    calls: int
    total: float
    stages: dict[str, float]
    writer_busy: float
    writer_units: float
    batches_per_call: float
    durable_per_call: float
    inline_per_call: float
    """Of those transactions, how many ran on the caller's thread (a lone caller, the writer idle)."""
    empty_round_trip: float
    writer_by_kind: dict[str, float]
    shape: tuple[tuple[str, bool], ...]
    """The writer transactions of one call, in order: (journal writes, fsynced), as logged."""
    shape_share: float
    """The share of the calls whose transactions had exactly that shape."""

    @property
    def shape_text(self) -> str:
        return "; ".join(f"{kinds} ({'FULL' if durable else 'NORMAL'})" for kinds, durable in self.shape)

    @property
    def matches_ladder(self) -> bool:
        return self.shape == SHAPE


async def anatomy(path: Path, n: int) -> Anatomy:
    """Time each journal await of a gated call, and the writer's own busy time."""
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [Noop()], GrantSpec())
        await sup.start()
        for i in range(_WARMUP):
            await sup.call("noop", {"n": i})
        spent: dict[str, float] = {}
        plan, transition, fence = journal.plan_call, journal.transition, journal.fence
        plan_and_fence = journal.plan_and_fence

        async def timed_plan_and_fence(*a: Any, **kw: Any) -> Any:
            began = clock()
            try:
                return await plan_and_fence(*a, **kw)
            finally:
                spent["plan_and_fence"] = spent.get("plan_and_fence", 0.0) + clock() - began

        async def timed_plan(*a: Any, **kw: Any) -> Any:
            began = clock()
            try:
                return await plan(*a, **kw)
            finally:
                spent["plan_call"] = spent.get("plan_call", 0.0) + clock() - began

        async def timed_transition(*a: Any, **kw: Any) -> Any:
            began = clock()
            try:
                return await transition(*a, **kw)
            finally:
                key = f"transition {a[2].value}"
                spent[key] = spent.get(key, 0.0) + clock() - began

        async def timed_fence(*a: Any, **kw: Any) -> Any:
            began = clock()
            try:
                return await fence(*a, **kw)
            finally:
                key = "fence (prepared, → committing)" if "prepared" in kw else "fence (→ committing)"
                spent[key] = spent.get(key, 0.0) + clock() - began

        journal.plan_call = timed_plan  # type: ignore[method-assign]
        journal.transition = timed_transition  # type: ignore[method-assign]
        journal.fence = timed_fence  # type: ignore[method-assign]
        journal.plan_and_fence = timed_plan_and_fence  # type: ignore[method-assign]
        counter = BatchCounter(journal, log=True)
        writer = journal._writer
        assert writer is not None
        inline_before = writer.inline_units
        began = clock()
        shapes: dict[tuple[tuple[str, bool], ...], int] = {}
        for i in range(n):
            before = len(counter.log)
            await sup.call("noop", {"n": i})
            shape = tuple((" + ".join(b.kinds), b.durable) for b in counter.log[before:])
            shapes[shape] = shapes.get(shape, 0) + 1
        total = clock() - began
        counted = counter.freeze()
        inline = writer.inline_units - inline_before
        empties = []
        for _ in range(max(n, 50)):
            t = clock()
            await writer.run(lambda conn: None, durable=False)
            empties.append(clock() - t)
        await sup.close()
    stages = {k: v / n for k, v in spent.items()}
    rest = "rest: CallPath in Python (validate, redact, prepare, commit, bookkeeping)"
    stages[rest] = total / n - sum(stages.values())
    empties.sort()
    shape, seen = max(shapes.items(), key=lambda kv: kv[1])
    return Anatomy(
        n,
        total / n,
        stages,
        counted.busy / n,
        counted.unit_time / n,
        counted.batches / n,
        counted.durable / n,
        inline / n,
        empties[len(empties) // 2],
        {k: v / n for k, v in counted.by_kind.items()},
        shape,
        seen / n,
    )


@dataclass
class OverheadResult:
    samples: dict[str, list[list[float]]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)
    added: dict[str, list[float]] = field(default_factory=dict)
    """Per repeat: the variant's median minus the floor's (what it adds, in seconds)."""
    anatomy: Anatomy | None = None
    peers: PeerResult = field(default_factory=PeerResult)
    """The peer comparison: every kind in its own process, repeats interleaved (bench/peers.py)."""
    instructions: dict[str, int] = field(default_factory=dict)
    """Instructions per call of the ladder's rungs, counted by valgrind (bench/instructions.py)."""
    instructions_skipped: str = ""
    """Why they were not counted ("" when they were)."""

    def summary(self, variant: str) -> Summary:
        return Summary.of(self.samples[variant])

    def ratio(self, variant: str) -> Spread:
        return Spread.of(self.ratios[variant])

    def added_cost(self, variant: str) -> Spread:
        return Spread.of(self.added[variant])


async def one_repeat(cfg: Config, tmp: Path, r: int) -> dict[str, list[float]]:
    """Every variant open at once, measured in rotating blocks of BLOCK calls."""
    variants = {name: make(name, tmp / f"overhead-{name}-{r}.db") for name in NAMES}
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    opened = []
    try:
        for v in variants.values():
            await v.open()
            opened.append(v)
            for i in range(_WARMUP):
                await v.call(-1 - i)
        bare_per_block = max(BLOCK, cfg.bare_calls * BLOCK // cfg.calls)
        blocks = cfg.calls // BLOCK
        for b in range(blocks):
            shift = (b + r) % len(VARIANTS)
            for name in VARIANTS[shift:] + VARIANTS[:shift]:
                out = samples[name]
                if name == "bare":
                    for i in range(bare_per_block):
                        began = clock()
                        await _bare(i)
                        out.append(clock() - began)
                    continue
                v = variants[name]
                for i in range(b * BLOCK, (b + 1) * BLOCK):
                    began = clock()
                    await v.call(i)
                    out.append(clock() - began)
    finally:
        for v in opened:
            await v.close()
    return samples


async def run_overhead(cfg: Config, tmp: Path, log: Any) -> OverheadResult:
    res = OverheadResult(
        samples={v: [] for v in VARIANTS}, ratios={v: [] for v in VARIANTS}, added={v: [] for v in VARIANTS}
    )
    for r in range(cfg.repeats):
        got = await one_repeat(cfg, tmp, r)
        medians = {}
        for name, values in got.items():
            res.samples[name].append(values)
            ordered = sorted(values)
            medians[name] = ordered[len(ordered) // 2]
        for name in VARIANTS:
            res.ratios[name].append(medians[name] / medians["raw"])
            res.added[name].append(medians[name] - medians["raw"])
        log(
            f"  repeat {r + 1}/{cfg.repeats}: floor {medians['raw'] * 1e6:.0f} µs, "
            f"gated {medians['gated'] * 1e6:.0f} µs ({fmt_ratio(medians['gated'] / medians['raw'])})"
        )
    res.anatomy = await anatomy(tmp / "anatomy.db", cfg.calls)
    res.peers = await run_peers(cfg.peer_calls, cfg.peer_repeats, tmp, log)
    if not cfg.quick:
        log("  instructions per call (valgrind)")
        res.instructions, res.instructions_skipped = await anyio.to_thread.run_sync(count_instructions, tmp)
    else:
        res.instructions_skipped = "not counted in a --quick run"
    return res
