"""Runs every benchmark in one process, judges the targets, profiles the misses, writes the results."""

from __future__ import annotations

import itertools
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentstop import GrantSpec, Journal, Report, Supervisor

from .cli_report import EXPORTS as CLI_EXPORTS
from .cli_report import START as CLI_START
from .cli_report import TARGET as CLI_TARGET
from .cli_report import CliResult, run_cli_report
from .common import DASH, TIMES, Config, Dist, Noop, Spread, clock, fmt_ratio, fmt_time
from .concurrency import ConcurrencyResult, run_concurrency
from .fleet import FleetResult, run_fleet
from .live_report import LiveResult, run_live_report
from .machine import compile_bytecode, load_average, machine_info
from .overhead import OverheadResult, run_overhead
from .peers import PEER_KINDS, PEER_TARGETS
from .profiling import WriterProfile, have_pyinstrument, profile_loop
from .race import RaceResult, run_race
from .replay import LARGE_TARGET as REPLAY_LARGE_TARGET
from .replay import TARGET as REPLAY_TARGET
from .replay import ReplayResult, cli_rows, open_in_library, open_in_tui, run_replay
from .report10k import ReportResult, run_report
from .stop import StopResult, run_stop
from .tui import FIRST_PAINT as TUI_FIRST_PAINT
from .tui import FRAME as TUI_FRAME
from .tui import LAG as TUI_LAG
from .tui import LiveTuiResult, TuiResult, run_tui, run_tui_live
from .variants import SHAPE

__all__ = ["Results", "Target", "ladder_note", "revoke_facts", "run_all"]


@dataclass
class Target:
    """One target line: what was wanted, what was measured, and why it missed (if it did).

    `key` names the target for the code ("gated", "callers", "stop", "report", "race", "replay");
    `profiles` holds (what was profiled, the profile's text) for a missed target.
    """

    key: str
    name: str
    goal: str
    measured: str
    passed: bool
    why: list[str] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.measured} (target {self.goal})"


@dataclass
class Results:
    cfg: Config
    machine: dict[str, str]
    overhead: OverheadResult
    concurrency: ConcurrencyResult
    stop: StopResult
    race: RaceResult
    report: ReportResult
    tui: TuiResult
    replay: ReplayResult
    fleet: FleetResult
    cli: CliResult
    live: LiveResult
    tui_live: LiveTuiResult
    targets: list[Target]
    seconds: float
    profiler_note: str

    def target(self, key: str) -> Target:
        return next(t for t in self.targets if t.key == key)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def judge(
    cfg: Config,
    o: OverheadResult,
    c: ConcurrencyResult,
    s: StopResult,
    race: RaceResult,
    rep: ReportResult,
    rp: ReplayResult,
    cli: CliResult,
    tl: LiveTuiResult,
) -> list[Target]:
    targets = []
    ratio = o.ratio("gated")
    targets.append(
        Target(
            "gated",
            "gated call at 1 caller vs raw floor",
            f"≤ {fmt_ratio(1.3)}",
            f"{fmt_ratio(ratio.median)} (spread {fmt_ratio(ratio.lo)}{DASH}{fmt_ratio(ratio.hi)} over {ratio.repeats} "
            f"repeats; {fmt_time(o.summary('gated').median)} vs {fmt_time(o.summary('raw').median)})",
            ratio.median <= 1.30,
        )
    )
    p = o.peers
    for peer, wanted in PEER_TARGETS.items():
        if not (p.ran(peer) and p.ran("gated")):
            continue
        times = Spread.of(p.ratios(peer, "gated"))
        targets.append(
            Target(
                "peer",
                f"gated call vs {PEER_KINDS[peer][0].split(':')[0]} step of a running "
                f"{'graph' if 'langgraph' in peer else 'workflow'}",
                f"≥ {wanted:g}{TIMES} cheaper",
                f"{times.median:.2f}{TIMES} cheaper (spread {times.lo:.2f}{DASH}{times.hi:.2f} over {times.repeats} "
                f"interleaved repeats, each kind in its own process; {fmt_time(p.median(peer))} a step vs "
                f"{fmt_time(p.median('gated'))} a gated call)",
                times.median >= wanted,
            )
        )
    top = max(cfg.callers)
    cost = c.cost(top)
    vs = Spread.of(c.levels[top].vs_floor)
    targets.append(
        Target(
            "callers",
            f"{top} callers: cost per call below the raw floor's single-caller cost",
            f"< {fmt_ratio(1.0)} the floor",
            f"{fmt_ratio(vs.median)} the floor measured around it (spread {fmt_ratio(vs.lo)}{DASH}{fmt_ratio(vs.hi)}; "
            f"{fmt_time(cost.median)} per call vs {fmt_time(Spread.of(c.floor_cost).median)})",
            vs.median < 1.0,
        )
    )
    worst = max(cfg.in_flight)
    revoked = s.phase(worst, "revoked")
    targets.append(
        Target(
            "stop",
            f"stop→revoked p99 with {worst} calls in flight",
            "< 5 ms",
            f"p99 {fmt_time(revoked.p99)}, p50 {fmt_time(revoked.p50)} over {revoked.n} stops",
            revoked.p99 < 0.005,
        )
    )
    fj = rep.dist("from_journal")
    targets.append(
        Target(
            "report",
            f"report for {rep.calls:,} calls (Report.from_journal, median)",
            "< 100 ms",
            f"{fmt_time(fj.p50)} (max {fmt_time(fj.hi)}; Report.build alone {fmt_time(rep.dist('build').p50)})",
            fj.p50 < 0.100,
        )
    )
    large = rep.dist("large_from_journal")
    targets.append(
        Target(
            "report_large",
            f"report for {rep.large_calls:,} calls (Report.from_journal, median)",
            "< 1 s",
            f"{fmt_time(large.p50)} (max {fmt_time(large.hi)} over {large.n} timings)",
            large.p50 < 1.0,
        )
    )
    targets.append(
        Target(
            "race",
            "fence race: no call passes the fence after a revoke",
            "0 violations",
            f"{race.violations} violations, {race.late_commits} late commits in {len(race.rounds)} rounds",
            race.violations == 0 and race.late_commits == 0,
        )
    )
    total, library = rp.dist("total"), rp.dist("library")
    targets.append(
        Target(
            "replay",
            f"opening a {rp.shape.events:,}-event session in replay (CLI + app to the first moment, median)",
            f"< {REPLAY_TARGET:.0f} s",
            f"{fmt_time(total.p50)} (range {fmt_time(total.lo)}{DASH}{fmt_time(total.hi)} over {total.n} repeats; "
            f"the library steps alone {fmt_time(library.p50)})",
            total.p50 < REPLAY_TARGET,
        )
    )
    if rp.opens:
        longest = rp.opens[-1]
        first = Dist.of(longest.first)
        targets.append(
            Target(
                "replay_large",
                f"opening a {longest.events:,}-event session in replay (a fresh process, spawn to the first moment, "
                "no checkpoints cached, median)",
                f"< {REPLAY_LARGE_TARGET:.0f} s",
                f"{fmt_time(first.p50)} (range {fmt_time(first.lo)}{DASH}{fmt_time(first.hi)} over {first.n} opens; "
                f"peak RSS by then {max(longest.rss_first) / 2**20:.0f} MB, over the process "
                f"{max(longest.rss_life) / 2**20:.0f} MB with its counts and index)",
                first.p50 < REPLAY_LARGE_TARGET,
            )
        )
    big = cli.largest
    wall = big.dist("report --json")
    targets.append(
        Target(
            "cli_report",
            f"`agentstop report --json` of a {big.calls:,}-call session (a process of its own, median)",
            f"< {CLI_TARGET:.0f} s",
            f"{fmt_time(wall.p50)} (range {fmt_time(wall.lo)}{DASH}{fmt_time(wall.hi)} over {wall.n} runs; "
            f"peak RSS {big.peak('report --json') / 2**20:.0f} MB)",
            wall.p50 < CLI_TARGET,
        )
    )
    for suffix in CLI_EXPORTS:
        command = f"replay --export {suffix}"
        wall = big.dist(command)
        targets.append(
            Target(
                f"cli_export{suffix}",
                f"`agentstop replay --export {suffix}` of the same session (a process of its own, median)",
                f"< {CLI_TARGET:.0f} s",
                f"{fmt_time(wall.p50)} (range {fmt_time(wall.lo)}{DASH}{fmt_time(wall.hi)} over {wall.n} runs; "
                f"peak RSS {big.peak(command) / 2**20:.0f} MB)",
                wall.p50 < CLI_TARGET,
            )
        )
    targets += _tui_live_targets(tl)
    return targets


def _tui_live_targets(tl: LiveTuiResult) -> list[Target]:
    """Section 11's three targets: the refresh and the first paint at the largest session, the burst at every size."""
    if not tl.refresh:
        return []
    size = max(tl.refresh)
    refresh, paint = Dist.of(tl.refresh[size]), Dist.of(tl.first_paint.get(size) or [0.0])
    lags = {n: tl.burst_lag[n] for n in sorted(tl.burst_lag)}
    targets = [
        Target(
            "tui_refresh",
            f"run-screen refresh of a batch of ~50 events, {size:,}-call session (p99 over {refresh.n} batches)",
            f"< {TUI_FRAME * 1e3:.0f} ms",
            f"{fmt_time(refresh.p99)} (p50 {fmt_time(refresh.p50)}, max {fmt_time(refresh.hi)})",
            refresh.p99 < TUI_FRAME,
        ),
        Target(
            "tui_first_paint",
            f"report screen's first paint, {size:,}-call session (median)",
            f"< {TUI_FIRST_PAINT * 1e3:.0f} ms",
            f"{fmt_time(paint.p50)} (range {fmt_time(paint.lo)}{DASH}{fmt_time(paint.hi)} over {paint.n} paints)",
            paint.p50 < TUI_FIRST_PAINT,
        ),
    ]
    if lags:
        worst = max(lags.values())
        targets.append(
            Target(
                "tui_burst",
                "event loop's worst lag while 1,000 calls/s land and keys are pressed (every session size)",
                f"< {TUI_LAG * 1e3:.0f} ms",
                ", ".join(f"{fmt_time(lag)} at {n:,} calls" for n, lag in lags.items()),
                worst < TUI_LAG,
            )
        )
    return targets


def _mid(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def explain(
    targets: list[Target],
    o: OverheadResult,
    c: ConcurrencyResult,
    s: StopResult,
    rep: ReportResult,
    rp: ReplayResult,
    cli: CliResult,
    tl: LiveTuiResult,
    cfg: Config,
) -> None:
    """Data-driven reasons for each missed target, from the measurements themselves."""
    by_key = {t.key: t for t in targets}
    _explain_gated(by_key["gated"], o)
    for t in targets:
        if t.key == "peer":
            _explain_peer(t, o)
    _explain_callers(by_key["callers"], c, cfg)
    _explain_stop(by_key["stop"], s, cfg)
    _explain_report(by_key["report"], rep, cfg.profile and have_pyinstrument())
    _explain_report(by_key["report_large"], rep, cfg.profile and have_pyinstrument())
    _explain_replay(by_key["replay"], rp)
    for t in targets:
        if t.key.startswith("cli_"):
            _explain_cli(t, cli)
        elif t.key.startswith("tui_"):
            _explain_tui_live(t, tl)


def _explain_tui_live(t: Target, tl: LiveTuiResult) -> None:
    """A missed section-11 target: its slowest samples beside its typical one (one outlier, or every sample)."""
    if t.passed or not tl.refresh:
        return
    size = max(tl.refresh)
    samples = {"tui_refresh": tl.refresh.get(size), "tui_first_paint": tl.first_paint.get(size)}.get(t.key)
    if t.key == "tui_burst":
        keys = {n: max(v) for n, v in tl.key_latency.items() if v}
        t.why = [
            "The worst lag is one stretch the loop did not come round, over the whole burst: "
            + "; ".join(
                f"at {n:,} calls {fmt_time(tl.burst_lag[n])}, the slowest key {fmt_time(keys.get(n, 0.0))}"
                for n in sorted(tl.burst_lag)
            )
            + ". Section 6's profile of a run-screen refresh (*Where the time goes*) shows what a batch costs the "
            "loop; the burst's own lag is not profiled (a profiler's overhead would be most of it)."
        ]
        return
    if not samples:
        return
    ordered = sorted(samples)
    t.why = [
        f"Its {len(ordered)} samples: median {fmt_time(ordered[len(ordered) // 2])}, the slowest "
        + ", ".join(fmt_time(x) for x in ordered[-3:])
        + ": "
        + (
            "the median is within the target: the miss is in the slowest samples, not the typical one."
            if ordered[len(ordered) // 2] < (TUI_FRAME if t.key == "tui_refresh" else TUI_FIRST_PAINT)
            else "every sample is slow, not a few."
        )
        + (
            " Section 6 profiles the same refresh and the report screen's first render (*Where the time goes*)."
            if tl.refresh
            else ""
        )
    ]


def _explain_cli(t: Target, cli: CliResult) -> None:
    """What a missed CLI target's time is made of: the CLI's start, the report, an export's timeline."""
    if t.passed:
        return
    big = cli.largest
    start, report = big.dist(CLI_START).p50, big.dist("report --json").p50
    why = (
        f"Of the wall time, starting Python and the CLI (`agentstop {CLI_START}`, timed the same way) takes "
        f"{fmt_time(start)}; `report --json` of this session {fmt_time(report)} in all"
    )
    suffix = t.key.removeprefix("cli_export")
    if suffix != t.key:
        export = big.dist(f"replay --export {suffix}").p50
        timeline = export - report
        why += (
            f". The export writes the same four lists (in {suffix}) and the session's timeline besides: "
            f"{big.events:,} events, each read from the journal, its data decoded and its line written; "
            f"{fmt_time(export)} against `report --json`'s {fmt_time(report)}, so the timeline costs about "
            f"{fmt_time(timeline)} ({fmt_time(timeline / max(big.events, 1))} an event)"
        )
    t.why = [
        why + ". Both are pure Python on one core (the JSON with an indent is written by Python's own "
        "encoder's rules, `agentstop.json_text`): the profile below is of the same command run in this process.",
    ]


def ladder_note(o: OverheadResult) -> str:
    """A sentence when the ladder's model of a gated call differs from what `Supervisor.call` wrote ("" if not)."""
    a = o.anatomy
    assert a is not None
    if a.matches_ladder:
        return ""
    model = "; ".join(f"{k} ({'FULL' if d else 'NORMAL'})" for k, d in SHAPE)
    return (
        f"The ladder models a gated call as {model}, but `Supervisor.call` wrote {a.shape_text} in "
        f"{a.shape_share:.0%} of the instrumented calls: the ladder's steps no longer add up to the gated call "
        "(update bench/variants.py)."
    )


def _explain_gated(t: Target, o: OverheadResult) -> None:
    a = o.anatomy
    assert a is not None
    floor = o.summary("raw").median
    floors = [_mid(r) for r in o.samples["raw"]]
    added = o.added_cost("gated")
    t.why = [
        "The ratio moves with the disk: the gated call and the floor pay the same two fsyncs, so a slow fsync "
        f"pushes the ratio toward 1. In this run the floor's median ranged {fmt_time(min(floors))}{DASH}"
        f"{fmt_time(max(floors))} between repeats; what agentstop added per call over it was "
        f"{fmt_time(added.median)} ({fmt_time(added.lo)}{DASH}{fmt_time(added.hi)}).",
    ]
    note = ladder_note(o)
    if note:
        t.why.append(note)
    if t.passed:
        return
    ladder = [
        ("raw", "the floor"),
        ("ops_2txn", f"agentstop's schema and `ops` in the call's {len(SHAPE)} transactions, no thread"),
        ("journal_api", f"the same {len(SHAPE)} writes through `Journal` (writer thread, async hops)"),
        ("journal_inline", "the same through `Journal` marked inline (a lone caller: no thread hop)"),
        ("gated", "`Supervisor.call` (CallPath on top)"),
    ]
    steps = []
    for (prev, _), (cur, label) in itertools.pairwise(ladder):
        before, after = o.summary(prev).median, o.summary(cur).median
        sign = "+" if after >= before else "-"
        steps.append(f"{label}: {fmt_time(after)} ({sign}{fmt_time(abs(after - before))})")
    merged, three = o.summary("ops_2txn").median, o.summary("ops_3txn").median
    t.why.append(
        f"The ladder from the floor ({fmt_time(floor)}) up, medians of the same run: "
        + "; ".join(steps)
        + ". The shape from before the plan joined the fence's transaction (3 transactions, the plan's at "
        f"NORMAL) measured {fmt_time(three)} ({'+' if three >= merged else '-'}{fmt_time(abs(three - merged))} "
        f"against {len(SHAPE)} transactions)."
    )
    normal = [kinds for kinds, durable in a.shape if not durable]
    one_unit = all(" + " not in kinds for kinds, _ in a.shape)
    statements = (
        "number the call, insert its row, read and update the grant, append its events, update its row; "
        "the outcome reads the call's state, appends its event and updates its row"
    )
    line = (
        f"A gated call is {a.batches_per_call:.1f} writer transactions, {a.durable_per_call:.1f} of them "
        f"fsynced, {a.inline_per_call:.1f} of them run on the caller's own thread (a lone caller and an idle "
        f"writer: no thread round trip) (logged: {a.shape_text}, in "
        f"{a.shape_share:.0%} of the calls). Each transaction runs several statements ({statements}: "
        f"{fmt_time(a.writer_units)} of SQL per call) and dirties more pages than the floor's one row."
    )
    if normal:
        line += (
            f" {' and '.join(f'`{k}`' for k in normal)} commit{'s' if len(normal) == 1 else ''} at NORMAL, "
            "but the next FULL commit's fsync covers the WAL frames written before it: "
            f"{'it costs' if len(normal) == 1 else 'they cost'} a transaction and its writes, not an fsync."
        )
    t.why.append(line)
    overhead = (
        "BEGIN, pragma switches, COMMIT and the FULL ones' fsync; no savepoints, each transaction holding one unit"
        if one_unit
        else "BEGIN, savepoints, pragma switches, COMMIT and the FULL ones' fsync"
    )
    python = a.total - sum(v for k, v in a.stages.items() if not k.startswith("rest"))
    t.why.append(
        f"Instrumented pass ({fmt_time(a.total)} per call): writer thread busy {fmt_time(a.writer_busy)} "
        f"(units' SQL {fmt_time(a.writer_units)}; {overhead}: {fmt_time(a.writer_busy - a.writer_units)}); "
        f"an empty unit's round trip is {fmt_time(a.empty_round_trip)}; CallPath's own Python {fmt_time(python)}."
    )
    if o.instructions:
        t.why.append(instructions_line(o.instructions))


def instructions_line(counted: dict[str, int]) -> str:
    """The instructions a call executes up the ladder, and what each rung adds (bench/instructions.py)."""
    rungs = [
        ("raw", "the floor"),
        ("ops_2txn", "agentstop's SQL (`ops`)"),
        ("journal_inline", "through `Journal`, inline"),
        ("gated", "`Supervisor.call`"),
    ]
    steps = [f"{label} {counted[rungs[0][0]] / 1000:,.0f}k" for label in (rungs[0][1],)]
    for (prev, _), (cur, label) in itertools.pairwise(rungs):
        steps.append(f"{label} {counted[cur] / 1000:,.0f}k (+{(counted[cur] - counted[prev]) / 1000:,.0f}k)")
    return (
        "Instructions per call (valgrind, user space, which the machine's noise does not move): "
        + "; ".join(steps)
        + " (the table under section 1's)."
    )


def _explain_peer(t: Target, o: OverheadResult) -> None:
    p = o.peers
    peer = next(k for k in PEER_TARGETS if PEER_KINDS[k][0].split(":")[0] in t.name)
    floor_ratio = Spread.of(p.ratios(peer, "floor")) if p.ran("floor") else None
    gated_ratio = Spread.of(p.ratios("gated", "floor")) if p.ran("floor") else None
    wanted = PEER_TARGETS[peer]
    t.why = [f"How it ran: {p.notes.get(peer, '')}."]
    if floor_ratio is not None and gated_ratio is not None:
        t.why.append(
            f"Measured against the raw floor in the same repeats, the peer's step is {fmt_ratio(floor_ratio.median)} "
            f"the floor and a gated call {fmt_ratio(gated_ratio.median)}. A gated call {wanted:g}{TIMES} cheaper than "
            f"this step would have to cost {fmt_ratio(floor_ratio.median / wanted)} the floor"
            + (
                ": below the two fsyncs that any write-ahead record of intent and outcome pays on this disk, "
                "which no journal that keeps both durable can reach."
                if floor_ratio.median / wanted < 1.0
                else "."
            )
        )
    if not t.passed:
        t.why.append(
            "Where a gated call's time goes is the *gated call at 1 caller* target's profile and ladder "
            "(the added cost over the floor is the journal's extra statements, the writer-thread hops "
            "and CallPath's Python)."
        )


def _explain_callers(t: Target, c: ConcurrencyResult, cfg: Config) -> None:
    top = max(cfg.callers)
    level = c.levels[top]
    vs = Spread.of(level.vs_floor)
    t.why = [
        f"The verdict moves with the disk. At {top} callers a call costs CPU ({fmt_time(_mid(level.cpu_per_call))} "
        f"per call, {_mid(level.cpu_per_call) / _mid(level.cost):.2f} cores busy) and almost no fsync "
        f"({_mid(level.fsyncs_per_call):.2f} per call); the floor costs two fsyncs. In this run the floor measured "
        f"around the runs ranged {fmt_time(min(c.floor_cost))}{DASH}{fmt_time(max(c.floor_cost))} per call "
        f"between repeats, and the per-repeat ratio {fmt_ratio(vs.lo)}{DASH}{fmt_ratio(vs.hi)}: below 1 when "
        "fsync is slow, above it when fsync is fast.",
    ]
    if t.passed:
        return
    kinds = {k for d in level.writer_by_kind for k in d}
    share = {k: _mid([d.get(k, 0.0) for d in level.writer_by_kind]) for k in kinds}
    largest = max(share, key=lambda k: share[k]) if share else ""
    t.why.append(
        f"Group commit works ({_mid(level.units_per_batch):.1f} units per batch, largest {level.max_batch}), so "
        "the disk is no longer the limit; the CPU is. The writer thread's SQL "
        f"({fmt_time(_mid(level.writer_sql_per_call))} per call) and the event loop's CallPath Python share "
        "one GIL, so they run one after the other rather than on both cores."
        + (
            f" By journal write, the largest share of that SQL is `{largest}` ({fmt_time(share[largest])} per call; "
            "section 2 has the split)."
            if largest
            else ""
        )
    )


def revoke_facts(s: StopResult) -> str:
    """How the revoke was committed in this run, from the writer's log of every stop."""
    urgent, n = s.share("revoke_urgent")
    durable, _ = s.share("revoke_durable")
    alone, _ = s.share("revoke_alone")
    samples = [x for rows in s.rows.values() for x in rows]
    before = max((x.batches_before for x in samples), default=0)
    own = Dist.of([x.revoke_busy for x in samples])
    if durable == 0:
        sync = (
            "at NORMAL, without an fsync of its own (it reaches the disk with the next durable commit: the WAL is "
            "synced in order, so no `committing` written after it can be on disk without it)"
        )
    elif durable == n:
        sync = "at FULL, with an fsync of its own"
    else:
        sync = f"at FULL (an fsync of its own) in {durable} of them and at NORMAL in the rest"
    queue = (
        "jumping the writer's queue (urgent) in every stop"
        if urgent == n
        else "in queue order"
        if urgent == 0
        else f"urgent in {urgent} of {n} stops"
    )
    return (
        f"In all {n} stops of this run the revoke (mark the stop, revoke the grant, append the event) was one "
        f"writer unit, {queue}; its transaction committed {sync}, held no other unit in {alone} of {n}, and "
        f"took the writer p50 {fmt_time(own.p50)}, p99 {fmt_time(own.p99)}. "
        + (
            f"At most {_count(before, 'transaction')} started between `stop()` and it."
            if before
            else "No other transaction started between `stop()` and it (one already running may have ended first)."
        )
    )


def _explain_stop(t: Target, s: StopResult, cfg: Config) -> None:
    if t.passed:
        return
    worst = max(cfg.in_flight)
    disk = Dist.of(s.disk_commit)
    rows = ", ".join(f"{n} in flight {fmt_time(s.phase(n, 'revoked').p99)}" for n in cfg.in_flight)
    revoked = s.phase(worst, "revoked")
    writer = s.phase(worst, "writer")
    t.why = [
        revoke_facts(s) + f" The p99 by calls in flight: {rows}.",
        f"Measured on each stop with {worst} in flight: the writer's time inside transactions up to the revoke "
        f"returning is p50 {fmt_time(writer.p50)}, p99 {fmt_time(writer.p99)}, against "
        f"{fmt_time(revoked.p50)} and {fmt_time(revoked.p99)} for the revoke; the rest (queue, thread hops, "
        "event loop) is the difference.",
    ]
    durable, _ = s.share("revoke_durable")
    t.why.append(
        f"For context, one bare committed INSERT at FULL on this disk, measured right before each stop: "
        f"p50 {fmt_time(disk.p50)}, p99 {fmt_time(disk.p99)} (worst {fmt_time(disk.hi)})"
        + ("." if durable else ", which the revoke no longer waits for.")
    )


def _explain_report(t: Target, rep: ReportResult, profiled: bool) -> None:
    if t.passed:
        return
    per = rep.calls
    fj, rc, b, rr = rep.dist("from_journal"), rep.dist("read_calls"), rep.dist("build"), rep.dist("read_rows")
    other = rep.dist("read_other")
    building = max(0.0, fj.p50 - rr.p50 - other.p50)
    t.why = [
        f"Measured separately on the {per:,}-call journal (p50s): `Journal.report_rows` (the read "
        f"`Report.from_journal` makes) {fmt_time(rr.p50)} ({fmt_time(rr.p50 / per)} a row), the session and grants "
        f"reads {fmt_time(other.p50)}; `Report.from_journal` {fmt_time(fj.p50)} in all, so building the items "
        f"took about {fmt_time(building)} ({fmt_time(building / per)} a call). "
        f"For comparison, `Journal.calls` (every column, decoded into `CallRecord`s) {fmt_time(rc.p50)} and "
        f"`Report.build` over those records {fmt_time(b.p50)}."
        + (
            " The profile under *Where the time goes* shows which functions inside them take the time."
            if profiled
            else ""
        ),
    ]
    timings, spent = (
        (rep.large_from_journal, rep.large_from_journal_gc)
        if t.key == "report_large"
        else (rep.from_journal, rep.from_journal_gc)
    )
    if spent:
        gc_p50 = Dist.of(spent).p50
        t.why.append(
            f"The cyclic garbage collector ran {fmt_time(gc_p50)} of each `Report.from_journal` timing "
            f"(median; at most {fmt_time(max(spent))}; the timing's median is {fmt_time(Dist.of(timings).p50)}): "
            "its passes over the rows and items the read and the build make, and over the older objects "
            "the benchmark's process holds by then (records and reports of its earlier timings)."
        )
    if t.key == "report_large":
        lg = rep.dist("large_from_journal")
        t.why.append(
            f"On the {rep.large_calls:,}-call session `Report.from_journal` took {fmt_time(lg.p50)}, "
            f"{fmt_time(lg.p50 / rep.large_calls)} a call, against {fmt_time(fj.p50 / per)} a call on the "
            f"{per:,}-call one: the cost is per call, so the target needs a cheaper call, not a cheaper "
            "session."
        )


def _explain_replay(t: Target, rp: ReplayResult) -> None:
    if t.passed:
        return
    d = {
        name: rp.dist(name).p50
        for name in ("cli_rows", "open_read", "open_counts", "timeline_end", "library", "tui", "total")
    }
    events, calls = rp.shape.events, rp.shape.calls
    steps = sorted(
        (
            ("the CLI's reports of every session (the sessions browser's rows)", d["cli_rows"]),
            ("reading the session's events", d["open_read"]),
            ("its counts (the report line; no call read)", d["open_counts"]),
            ("`Timeline.at(last)`, the first moment shown", d["timeline_end"]),
        ),
        key=lambda kv: -kv[1],
    )
    t.why = [
        f"The library steps take {fmt_time(d['library'])} (p50s): "
        + "; ".join(f"{what} {fmt_time(v)}" for what, v in steps)
        + ".",
    ]
    if rp.timeline_half:
        half = _mid(rp.timeline_half)
        growth = d["timeline_end"] / half if half else 0.0
        shape = (
            "it grows with the square of the events"
            if growth > 3
            else "it grows about in proportion"
            if growth >= 1.5
            else "it grows less than in proportion (fixed costs weigh at this size)"
        )
        line = (
            f"`Timeline.at(last)` on the first half of the events took {fmt_time(half)}, on all "
            f"{events:,} {fmt_time(d['timeline_end'])}: {growth:.1f}{TIMES} for twice the events, so {shape}."
        )
        t.why.append(line)
    ready = _mid(rp.tui_ready)
    opening = _mid([p - r for p, r in zip(rp.tui_populated, rp.tui_ready, strict=True)])
    painting = _mid([t - p for t, p in zip(rp.tui, rp.tui_populated, strict=True)])
    repeated = d["open_read"] + d["open_counts"] + d["timeline_end"]
    t.why.append(
        f"The app takes {fmt_time(d['tui'])} from start to the first moment painted (p50s): {fmt_time(ready)} until "
        f"it runs; {fmt_time(opening)} more until its timeline screen is mounted with a row per call "
        f"({calls:,}), of which the library steps it repeats (events, report, timeline) took about "
        f"{fmt_time(repeated)} on their own; then {fmt_time(painting)} to the first frame painted (Textual's "
        "layout of the new rows and the render)."
    )
    cpu = rp.cpu_dist("total")
    if cpu is not None:
        t.why.append(
            f"This process's CPU time over the whole open was {fmt_time(cpu.p50)} (p50) of "
            f"{fmt_time(d['total'])} wall: the rest is the machine's other load."
        )


async def _profile_calls(path: Path, callers: int, total: int) -> list[tuple[str, str]]:
    """Profiles of `total` gated calls from `callers` callers: event loop, then writer thread."""
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [Noop()], GrantSpec())
        await sup.start()
        writer = WriterProfile(journal)
        left = total

        async def caller() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await sup.call("noop", {"n": left})

        async def work() -> None:
            async with anyio.create_task_group() as tg:
                for _ in range(callers):
                    tg.start_soon(caller)

        loop = await profile_loop(work)
        await sup.close()
        return [
            ("event-loop thread, call tree in % of the profiled time (pyinstrument; library frames folded)", loop),
            ("journal writer thread, top functions by own time (cProfile)", writer.top()),
        ]


async def _profile_reports(path: Path) -> str:
    async with Journal.open(path, readonly=True) as journal:
        sid = (await journal.sessions())[-1].session_id

        async def reports() -> None:
            for _ in range(5):
                await Report.from_journal(journal, sid)

        return await profile_loop(reports, flat=True)


async def _profile_replay(path: Path, calls: int) -> list[tuple[str, str]]:
    async def library() -> None:
        await open_in_library(path)

    rows, sid = await cli_rows(path)

    async def tui() -> None:
        await open_in_tui(path, rows, sid, calls)

    tree = "event-loop thread, call tree in % of the profiled time (pyinstrument), then flat lists"
    return [
        (f"the library steps of one open; {tree}", await profile_loop(library, interval=0.001, flat=True)),
        (
            f"the app, from start to the first moment painted; {tree}",
            await profile_loop(tui, interval=0.001, flat=True, ours=("/agentstop/", "/textual/widgets/")),
        ),
    ]


async def _profile_cli(path: Path, suffix: str) -> str:
    """`report --json` (`suffix` not an export's) or `replay --export` of the session at `path`, in this process."""
    from agentstop.replay import export_session
    from agentstop.report_stream import StreamedReport, write_report_json

    async with Journal.open(path, readonly=True) as journal:
        sid = (await journal.sessions())[-1].session_id

        async def command() -> None:
            if suffix in CLI_EXPORTS:
                await export_session(journal, sid, path.with_name(f"profiled-export{suffix}"))
                return
            with path.with_name("profiled-report.json").open("w") as out:
                async with journal.read_snapshot():
                    report = await StreamedReport.open(journal, sid)
                    await write_report_json(report, out.write)

        return await profile_loop(command, interval=0.001, flat=True)


async def profile_misses(targets: list[Target], cfg: Config, tmp: Path, rp: ReplayResult, cli: CliResult) -> None:
    """pyinstrument (event loop) and cProfile (writer thread) on the workload of each missed target."""
    for target in targets:
        if target.passed or target.key in ("stop", "race"):
            # A sampling profile of whole stops is dominated by parking the calls; the
            # revoke itself is decomposed on every stop instead (section 3's table).
            continue
        log(f"  profiling: {target.name}")
        if target.key in ("gated", "callers"):
            callers = 1 if target.key == "gated" else max(cfg.callers)
            target.profiles = await _profile_calls(tmp / f"profile-{target.key}.db", callers, cfg.concurrent_calls)
        elif target.key in ("report", "report_large"):
            target.profiles = [
                (
                    "event-loop thread, 5 reports, call tree in % of the profiled time (pyinstrument)",
                    await _profile_reports(tmp / ("report.db" if target.key == "report" else "report-large.db")),
                )
            ]
        elif target.key == "replay":
            target.profiles = await _profile_replay(tmp / "replay.db", rp.shape.calls)
        elif target.key.startswith("cli_"):
            target.profiles = [
                (
                    "event-loop thread, the command's work in this process (no start), call tree in % "
                    "(pyinstrument), then flat lists",
                    await _profile_cli(tmp / f"cli-{cli.largest.calls}.db", target.key.removeprefix("cli_export")),
                )
            ]


async def run_all(cfg: Config) -> Results:
    began = clock()
    with tempfile.TemporaryDirectory(prefix="agentstop-bench-") as tmp_name:
        tmp = Path(tmp_name)
        machine = machine_info(tmp)
        machine["load average at start (1, 5, 15 min)"] = load_average()
        machine["agentstop's bytecode"] = compile_bytecode()
        profiling = cfg.profile and have_pyinstrument()
        log("1. per-call overhead")
        overhead = await run_overhead(cfg, tmp, log)
        log("2. concurrency")
        concurrency = await run_concurrency(cfg, tmp, log)
        log("3. stop latency")
        stop = await run_stop(cfg, tmp, log)
        log("4. fence race")
        race = await run_race(cfg, tmp, log)
        log("5. report")
        report = await run_report(cfg, tmp, log)
        log("6. TUI")
        tui = await run_tui(cfg, tmp, log, profile=profiling)
        log("7. replay")
        replay = await run_replay(cfg, tmp, log)
        log("8. shared journal: SQLite and PostgreSQL across processes")
        fleet = await run_fleet(cfg, tmp, log)
        log("9. a live report on a long session")
        live = await run_live_report(cfg, tmp, log)
        log("10. the CLI on a long session: report --json, replay --export")
        cli = await run_cli_report(cfg, tmp, log)
        log("11. the TUI following a long session live")
        sizes = (1_000,) if cfg.quick else (10_000, 100_000)
        tui_live = await run_tui_live(cfg, tmp, log, sizes=sizes, samples=5 if cfg.quick else 40)
        targets = judge(cfg, overhead, concurrency, stop, race, report, replay, cli, tui_live)
        explain(targets, overhead, concurrency, stop, report, replay, cli, tui_live, cfg)
        if not cfg.profile:
            note = "profiling skipped (--quick)"
        elif not profiling:
            note = "profiling skipped: pyinstrument is not installed (pip install -e .[bench])"
        else:
            note = "profiled with pyinstrument (event-loop thread) and cProfile (journal writer thread)"
            await profile_misses(targets, cfg, tmp, replay, cli)
    machine["load average at end (1, 5, 15 min)"] = load_average()
    return Results(
        cfg,
        machine,
        overhead,
        concurrency,
        stop,
        race,
        report,
        tui,
        replay,
        fleet,
        cli,
        live,
        tui_live,
        targets,
        clock() - began,
        note,
    )


def print_targets(results: Results) -> None:
    for target in results.targets:
        print(target.line())


def main_sync(cfg: Config) -> Results:
    results: Any = anyio.run(run_all, cfg)
    return results  # type: ignore[no-any-return]
