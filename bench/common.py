"""What every benchmark shares: statistics, formatting, the trivial tools, writer instrumentation.

Every number in docs/benchmarks.md is a per-repeat value summarised over the
repeats of one run: the median of the per-repeat medians, their spread (lowest
and highest repeat), and the median of the per-repeat p99s. Ratios are taken
inside each repeat (both sides measured seconds apart) and then summarised, so
a noisy shared machine moves both sides of a ratio together.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import BaseModel

from agentstop import Journal, Reversibility, StopPolicy, Tool, ToolContext
from agentstop.journal import CallState

__all__ = [
    "DASH",
    "TIMES",
    "BatchCounter",
    "BatchRecord",
    "Config",
    "Dist",
    "Noop",
    "Parked",
    "Spread",
    "Summary",
    "clock",
    "cpu_clock",
    "fmt_ratio",
    "fmt_time",
    "percentile",
    "unit_kind",
]

clock = time.perf_counter
cpu_clock = time.process_time
"""This process's CPU time (all its threads): beside a wall time, it shows how much of it was work."""

# Written as names: ruff flags the bare characters as look-alikes of x and -.
TIMES = "\N{MULTIPLICATION SIGN}"
DASH = "\N{EN DASH}"


@dataclass(frozen=True)
class Config:
    """How much of everything one run measures (`--quick` shrinks it to a smoke run)."""

    quick: bool
    repeats: int
    calls: int
    bare_calls: int
    callers: tuple[int, ...]
    concurrent_calls: int
    floor_calls_per_repeat: int
    stop_repeats: int
    in_flight: tuple[int, ...]
    race_rounds: int
    race_callers: int
    report_calls: int
    report_repeats: int
    report_large_calls: int
    """The second, larger session section 5 times `Report.from_journal` on (100,000 calls in a full run)."""
    deep_calls: int
    tui_repeats: int
    """Report-screen pushes and panel refreshes timed in the TUI (on a session of `report_calls` calls)."""
    replay_events: int
    replay_repeats: int
    peer_calls: int
    """Steps per peer measurement (each kind in its own process) and interleaved repeats of them."""
    peer_repeats: int
    profile: bool

    @classmethod
    def full(cls) -> Config:
        return cls(
            quick=False,
            repeats=7,
            calls=400,
            bare_calls=20_000,
            callers=(1, 4, 8, 16, 64),
            concurrent_calls=1_000,
            floor_calls_per_repeat=200,
            stop_repeats=40,
            in_flight=(0, 10, 100),
            race_rounds=20,
            race_callers=16,
            report_calls=10_000,
            report_repeats=9,
            report_large_calls=100_000,
            deep_calls=200,
            tui_repeats=5,
            replay_events=100_000,
            replay_repeats=5,
            peer_calls=1_000,
            peer_repeats=3,
            profile=True,
        )

    @classmethod
    def smoke(cls) -> Config:
        return cls(
            quick=True,
            repeats=2,
            calls=40,
            bare_calls=2_000,
            callers=(1, 8, 64),
            concurrent_calls=128,
            floor_calls_per_repeat=30,
            stop_repeats=3,
            in_flight=(0, 10, 100),
            race_rounds=2,
            race_callers=8,
            report_calls=500,
            report_repeats=2,
            report_large_calls=2_000,
            deep_calls=20,
            tui_repeats=2,
            replay_events=5_000,
            replay_repeats=2,
            peer_calls=100,
            peer_repeats=1,
            profile=False,
        )


def percentile(samples: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in 0..1) of a non-empty sample."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Summary:
    """Per-call samples of several repeats, summarised.

    Attributes:
        median: median over repeats of each repeat's median.
        lo, hi: the lowest and highest repeat median (the spread).
        p99: median over repeats of each repeat's p99.
        repeats: how many repeats.
        samples: samples per repeat.
    """

    median: float
    lo: float
    hi: float
    p99: float
    repeats: int
    samples: int

    @classmethod
    def of(cls, runs: Sequence[Sequence[float]]) -> Summary:
        medians = [statistics.median(r) for r in runs]
        p99s = [percentile(r, 0.99) for r in runs]
        return cls(
            statistics.median(medians),
            min(medians),
            max(medians),
            statistics.median(p99s),
            len(runs),
            min(len(r) for r in runs),
        )


@dataclass(frozen=True)
class Spread:
    """One value per repeat (a ratio, a throughput), summarised as median and range."""

    median: float
    lo: float
    hi: float
    repeats: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass(frozen=True)
class Dist:
    """One sample per repeat (a Stop, a report build), as p50, p99 and range."""

    p50: float
    p99: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Dist:
        return cls(statistics.median(values), percentile(values, 0.99), min(values), max(values), len(values))


def fmt_time(seconds: float) -> str:
    """A duration in the unit that reads best (ns, µs, ms, s); a negative one (a difference) keeps its sign."""
    if seconds < 0:
        return "-" + fmt_time(-seconds)
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}{TIMES}"


# -- the tools the benchmarks drive ----------------------------------------------


class NoopArgs(BaseModel):
    n: int = 0


class Noop(Tool):
    """The trivial gated tool: prepare echoes the arguments, commit returns {} at once."""

    name = "noop"
    description = "Does nothing, at once."
    reversibility = Reversibility.REVERSIBLE
    Args = NoopArgs

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        return {}


class Parked(Tool):
    """A tool whose commits park on an event until released (calls held in flight for Stop)."""

    name = "parked"
    description = "Commits when released."
    reversibility = Reversibility.REVERSIBLE
    on_stop = StopPolicy.ABANDON
    Args = NoopArgs

    def __init__(self, want: int) -> None:
        self.want = want
        self.parked = 0
        self.all_parked = anyio.Event()
        self.release = anyio.Event()
        if want == 0:
            self.all_parked.set()

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        self.parked += 1
        if self.parked >= self.want:
            self.all_parked.set()
        await self.release.wait()
        return {}


# -- reading the writer from outside (benchmark only: agentstop is not edited) ----


def unit_kind(fn: Callable[[Any], Any]) -> str:
    """Which journal write a writer unit is: "plan_call", "fence with prepared", "transition committed", "revoke"...

    Read from the unit function's qualified name ("Journal.fence.<locals>.unit")
    and, for a transition or a fence, from the variables it closes over (the
    target state; whether `prepared` rides along). Benchmark only: agentstop is
    read from outside, not edited.
    """
    parts = getattr(fn, "__qualname__", "unit").split(".")
    kind = parts[1] if len(parts) > 2 and parts[0] == "Journal" else parts[0]
    code, cells = getattr(fn, "__code__", None), getattr(fn, "__closure__", None)
    if code is None or not cells or kind not in ("transition", "fence"):
        return kind
    try:
        closed = dict(zip(code.co_freevars, (c.cell_contents for c in cells), strict=True))
    except ValueError:  # a cell not filled yet
        return kind
    state = closed.get("state")
    if kind == "transition" and isinstance(state, CallState):
        return f"transition {state.value}"
    if kind == "fence" and "prepared" in closed and type(closed["prepared"]) is not object:
        return "fence with prepared"  # (a bare object() is the journal's "not given" marker)
    return kind


@dataclass
class BatchRecord:
    """One writer transaction: the journal writes in it, whether it was fsynced, whether it jumped the queue."""

    kinds: tuple[str, ...]
    durable: bool
    urgent: bool
    busy: float
    """Seconds the writer spent on it (BEGIN to COMMIT, fsync included)."""

    @property
    def label(self) -> str:
        return f"{' + '.join(self.kinds)} ({'FULL' if self.durable else 'NORMAL'})"


class BatchCounter:
    """Counts and times the journal writer's transactions by wrapping `Writer._run_batch` and `Writer._run_inline`.

    A batch is one transaction on the writer's thread; a unit a lone caller ran
    on its own thread (`inline`) is a batch of one. Each is one commit; a batch with a durable unit in
    it is one fsync (synchronous=FULL). `unit_time` is the time spent in the
    units' own SQL; the rest of `busy` is BEGIN, savepoints (only in batches of
    several units), pragma switches and COMMIT (the fsync). `by_kind` splits the
    units' time by journal write (see `unit_kind`). With `log=True` every batch
    is kept as a `BatchRecord`, in order.
    """

    def __init__(self, journal: Journal, *, log: bool = False) -> None:
        writer = journal._writer
        assert writer is not None, "a read-only journal has no writer"
        self.keep_log = log
        self.log: list[BatchRecord] = []
        self.batches = 0
        self.durable = 0
        self.units = 0
        self.busy = 0.0
        self.unit_time = 0.0
        self.max_units = 0
        self.by_kind: dict[str, float] = {}
        original = writer._run_batch
        original_inline = writer._run_inline

        def timed(fn: Callable[[Any], Any], kind: str) -> Callable[[Any], Any]:
            def run(conn: Any) -> Any:
                began = clock()
                try:
                    return fn(conn)
                finally:
                    spent = clock() - began
                    self.unit_time += spent
                    self.by_kind[kind] = self.by_kind.get(kind, 0.0) + spent

            return run

        def count(record: BatchRecord) -> None:
            self.batches += 1
            self.units += len(record.kinds)
            self.max_units = max(self.max_units, len(record.kinds))
            if record.durable:
                self.durable += 1
            if self.keep_log:
                self.log.append(record)

        def counted(batch: list[Any]) -> None:
            kinds = []
            for unit in batch:
                kind = unit_kind(unit.fn)
                kinds.append(kind)
                unit.fn = timed(unit.fn, kind)
            # Logged before it runs: the batch wakes its callers when it ends, and a caller
            # may look at the log before this thread runs another line.
            record = BatchRecord(
                tuple(kinds), any(u.durable for u in batch), any(getattr(u, "urgent", False) for u in batch), 0.0
            )
            count(record)
            began = clock()
            try:
                original(batch)
            finally:
                record.busy = clock() - began
                self.busy += record.busy

        def counted_inline(fn: Callable[[Any], Any], durable: bool) -> tuple[bool, Any] | None:
            kind = unit_kind(fn)
            unit_time = self.unit_time
            began = clock()
            done = original_inline(timed(fn, kind), durable)
            if done is None:  # it goes through the thread after all (counted there)
                self.unit_time = unit_time
                return None
            record = BatchRecord((kind,), durable, False, clock() - began)
            count(record)
            self.busy += record.busy
            return done

        writer._run_batch = counted  # type: ignore[method-assign]
        writer._run_inline = counted_inline  # type: ignore[method-assign]

    def freeze(self) -> BatchCounter:
        """A copy that stops counting (take it before closing the journal: closing writes too)."""
        frozen = copy.copy(self)
        frozen.by_kind = dict(self.by_kind)
        frozen.log = list(self.log)
        return frozen

    def reset(self) -> None:
        self.batches = self.durable = self.units = self.max_units = 0
        self.busy = self.unit_time = 0.0
        self.by_kind = {}
        self.log = []
