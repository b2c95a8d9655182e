"""7. Opening a long session in replay, the way `agentstop replay JOURNAL --session ID` does.

One session of `replay_events` events (100,000 in the full run) is bulk-written
through the journal's ops (bench/sessions.py): a thought before every call,
then the call's own events in the usual mix, a Stop near the end with calls
racing it rejected at the fence, and the session ended as stopped. Then, per
repeat, the two halves of opening it are timed separately:

- the library part, step by step as agentstop/cli/replay.py and
  `JournalMode.open_session` run it: the CLI opens the journal read-only and
  counts every session's report (the sessions browser's rows); the app opens it
  again, reads the session's events and counts its report's lists (the line
  above the timeline; a long session's calls are read only when its report is
  shown); the timeline screen
  starts at the last event, so `Timeline(events).at(last)`; and, as a separate
  user action, jumping to the Stop;
- the TUI part: the real journal viewer (`make_journal_app`) run headless (`App.run_test`), from entering
  the app until the timeline screen is current, its side-effect table holds a
  row for every call of the last moment, and the frame is painted. The app is
  given the rows the CLI built, as the CLI does.

The target (under 1 s) is judged on what a person waits for: the CLI's reading
plus the app until the first moment is shown.

Then the first open in a process of its own, as `agentstop replay JOURNAL --session ID`
runs: for this session and one ten times longer (1,000,000 events in the full
run, bulk-written the same way), with no timeline checkpoints cached, a fresh
Python (spawned by a small process of its own, so its peak RSS is its own)
imports the CLI, reads what the command reads, and runs the journal viewer
headless until the first moment is painted. Timed from the spawn; its peak RSS
by then, and over its life (a long session's counts and timeline index are read
after the first moment: until both are done); then the next open, the
checkpoints cached by the first.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentstop import GrantSpec, Journal
from agentstop.replay import Timeline
from agentstop.report_counts import ReportCounts
from agentstop.report_stream import StreamedReport
from agentstop.tools import ToolRegistry
from agentstop.tui.widgets import moment_table

from .common import TIMES, Config, Dist, Noop, clock, cpu_clock
from .sessions import SessionShape, write_replay_session

__all__ = [
    "LARGE_TARGET",
    "TARGET",
    "FirstOpen",
    "ReplayResult",
    "cli_rows",
    "first_open_child",
    "open_in_library",
    "open_in_tui",
    "run_replay",
    "write_session",
]

SESSION_ID = "bench-replay"
SIZE = (140, 42)
"""The terminal size the headless app renders at (the TUI tests' size)."""
TIMEOUT = 600.0
TARGET = 1.0
"""Seconds: the issue's target for opening a 100,000-event session in replay."""
EARLY_STOP = 10.0
LARGE = 10
"""The longer session of the first opens, in `replay_events` (1,000,000 events in the full run)."""
LARGE_TARGET = 3.0
"""Seconds: the issue's target for opening a 1,000,000-event session in replay."""
FIRST_OPENS = 3
"""First opens in a fresh process per size (each also opens again with the checkpoints cached)."""


@dataclass
class FirstOpen:
    """Opening one session in a process of its own, as `agentstop replay JOURNAL --session ID` does."""

    events: int
    calls: int = 0
    write_seconds: float = 0.0
    first: list[float] = field(default_factory=list)
    """Spawn to the first moment painted, no timeline checkpoints cached."""
    rss_first: list[float] = field(default_factory=list)
    """The process's peak RSS (bytes) by its first moment."""
    rss_life: list[float] = field(default_factory=list)
    """Its peak RSS over its life: until its counts and its timeline index were read too."""
    counts: list[float] = field(default_factory=list)
    """Spawn until the session's counts were read (after the first moment, on a long session; its calls
    are read only when its report is shown)."""
    indexed: list[float] = field(default_factory=list)
    """Spawn until the timeline's checkpoints were all built (any moment then shows at once)."""
    cached: list[float] = field(default_factory=list)
    """Spawn to the first moment painted, the checkpoints cached by the open before."""
    cached_rss: list[float] = field(default_factory=list)


@dataclass
class ReplayResult:
    events: int = 0
    shape: SessionShape = field(default_factory=SessionShape)
    write_seconds: float = 0.0
    cli_rows: list[float] = field(default_factory=list)
    """The CLI before the app: open read-only, list the sessions, count each one's report (`ReportCounts`)."""
    open_read: list[float] = field(default_factory=list)
    """`open_session`: open read-only, read the session's events, close (the counts excluded)."""
    open_counts: list[float] = field(default_factory=list)
    """`open_session`: the session's counts, as a long one's are read (no call read: `StreamedReport`)."""
    timeline_end: list[float] = field(default_factory=list)
    """`Timeline(events).at(last)`: the moment the timeline screen shows first."""
    jump_stop: list[float] = field(default_factory=list)
    """`at(stop_index)` right after (what pressing s costs)."""
    timeline_half: list[float] = field(default_factory=list)
    """`Timeline.at(last)` over the first half of the events (once, after the repeats)."""
    library: list[float] = field(default_factory=list)
    """The sum of the four steps above, per repeat: opening before any widget."""
    tui: list[float] = field(default_factory=list)
    """The journal viewer (`make_journal_app`): from entering the app to the first moment painted, rows and all."""
    tui_ready: list[float] = field(default_factory=list)
    """... of which until the app runs with its sessions screen."""
    tui_populated: list[float] = field(default_factory=list)
    """... until the timeline screen is mounted with its rows (its on_mount built the moment, added the rows)."""
    total: list[float] = field(default_factory=list)
    """`cli_rows` + `tui`: what a person waits for."""
    rows_shown: int = 0
    cpu: dict[str, list[float]] = field(default_factory=dict)
    """This process's CPU seconds over each sample of `library`, `tui` and `total`."""
    stopped_early: str = ""
    """Why fewer than the configured repeats ran, if they did."""
    opens: list[FirstOpen] = field(default_factory=list)
    """The first opens in a fresh process: this session, then one `LARGE` times longer."""

    def dist(self, name: str) -> Dist:
        values: list[float] = getattr(self, name)
        return Dist.of(values)

    def cpu_dist(self, name: str) -> Dist | None:
        values = self.cpu.get(name)
        return Dist.of(values) if values else None


async def write_session(path: Path, events: int) -> tuple[SessionShape, float]:
    """A journal holding one stopped session of exactly `events` events; (its shape, seconds to write it)."""
    async with Journal.open(path) as journal:
        await journal.create_session(
            SESSION_ID, task_name="replay benchmark", goal="Open me in replay.", tools=["noop"]
        )
        grant_id = await journal.issue_grant(SESSION_ID, GrantSpec())
        writer = journal._writer
        assert writer is not None
        began = clock()
        shape: SessionShape = await writer.run(write_replay_session(SESSION_ID, grant_id, events), durable=True)
        return shape, clock() - began


async def open_in_library(path: Path) -> dict[str, float]:
    """Each step of opening the session in replay, without the widgets (seconds by step)."""
    steps: dict[str, float] = {}
    began = clock()
    async with Journal.open(path, readonly=True) as j:  # agentstop/cli/replay.py
        sessions = await j.sessions()
        sid = await j.resolve_session(SESSION_ID)
        rows = [(s, await ReportCounts.read(j, s.session_id)) for s in sessions]
    steps["cli_rows"] = clock() - began
    assert rows and sid == SESSION_ID
    began = clock()
    async with Journal.open(path, readonly=True) as journal:  # JournalMode.open_session
        events = await journal.events(sid)
        t = clock()
        async with journal.read_snapshot():  # as `JournalMode` reads a long past session's report line
            streamed = await StreamedReport.open(journal, sid, now=time.time())
            await streamed.undoable_count()
            streamed.epoch_counts()
        steps["open_counts"] = clock() - t
    steps["open_read"] = clock() - began - steps["open_counts"]
    began = clock()
    timeline = Timeline(events)  # TimelineScreen starts at the last event
    timeline.at(len(timeline) - 1)
    steps["timeline_end"] = clock() - began
    began = clock()
    stop = timeline.stop_index
    assert stop is not None
    timeline.at(stop)
    steps["jump_stop"] = clock() - began
    return steps


async def timeline_half(path: Path) -> float:
    """`Timeline.at(last)` over the first half of the session's events: how that step grows with a session."""
    async with Journal.open(path, readonly=True) as journal:
        events = await journal.events(SESSION_ID)
    first = Timeline(events[: len(events) // 2])
    began = clock()
    first.at(len(first) - 1)
    return clock() - began


async def cli_rows(path: Path) -> tuple[list[Any], str]:
    """What agentstop/cli/replay.py hands the app: every session with its report, and the session to open."""
    async with Journal.open(path, readonly=True) as j:
        sessions = await j.sessions()
        sid = await j.resolve_session(SESSION_ID)
        return [(s, await ReportCounts.read(j, s.session_id)) for s in sessions], sid


async def open_in_tui(
    path: Path, rows: list[Any], sid: str, calls: int, phases: dict[str, float] | None = None
) -> tuple[float, float]:
    """Seconds from entering the replay app to its timeline screen showing the last moment, painted (wall, CPU).

    `phases`, when given, receives the wall time to each milestone: "ready" (the app is running, its
    sessions screen pushed), "populated" (the timeline screen is mounted with a row per call: its
    `on_mount` built the moment and added the rows) and "painted".
    """
    from agentstop.session import fixed_tools
    from agentstop.tui import make_journal_app
    from agentstop.tui.screens.timeline import TimelineScreen
    from agentstop.tui.widgets.moment_table import MomentTable

    app = make_journal_app(path, rows, fixed_tools(ToolRegistry([Noop()])), session_id=sid)
    began, cpu = clock(), cpu_clock()
    async with app.run_test(size=SIZE) as pilot:
        ready = clock() - began
        while True:
            screen = app.screen
            if isinstance(screen, TimelineScreen) and screen.is_mounted:
                tables = list(screen.query(MomentTable))
                if tables and tables[0].row_count >= min(calls, moment_table.WINDOW):
                    break
            if clock() - began > TIMEOUT:
                raise TimeoutError(f"the replay app did not show the session within {TIMEOUT:.0f} s")
            await anyio.sleep(0.001)  # looks without forcing a refresh (see bench/tui.py's _wait)
        populated = clock() - began
        await pilot.pause(0)  # the layout and the frame of what was just added
        shown, used = clock() - began, cpu_clock() - cpu
        if phases is not None:
            phases.update(ready=ready, populated=populated, painted=shown)
        app.exit()
    return shown, used


async def run_replay(cfg: Config, tmp: Path, log: Any) -> ReplayResult:
    path = tmp / "replay.db"
    res = ReplayResult(events=cfg.replay_events)
    res.shape, res.write_seconds = await write_session(path, cfg.replay_events)
    log(f"  wrote a session of {res.shape.events:,} events ({res.shape.calls:,} calls) in {res.write_seconds:.1f} s")
    for r in range(cfg.replay_repeats):
        cpu = cpu_clock()
        steps = await open_in_library(path)
        library_cpu = cpu_clock() - cpu
        for name, value in steps.items():
            getattr(res, name).append(value)
        res.library.append(steps["cli_rows"] + steps["open_read"] + steps["open_counts"] + steps["timeline_end"])
        cpu = cpu_clock()
        rows, sid = await cli_rows(path)
        rows_cpu = cpu_clock() - cpu
        phases: dict[str, float] = {}
        tui, tui_cpu = await open_in_tui(path, rows, sid, res.shape.calls, phases)
        res.tui_ready.append(phases["ready"])
        res.tui_populated.append(phases["populated"])
        res.tui.append(tui)
        res.total.append(steps["cli_rows"] + tui)
        for name, value in (("library", library_cpu), ("tui", tui_cpu), ("total", rows_cpu + tui_cpu)):
            res.cpu.setdefault(name, []).append(value)
        log(
            f"  repeat {r + 1}/{cfg.replay_repeats}: library {res.library[-1] * 1e3:.0f} ms "
            f"(timeline at the end {steps['timeline_end'] * 1e3:.0f} ms), app to the first moment "
            f"{tui * 1e3:.0f} ms"
        )
        if r >= 1 and min(res.total) > EARLY_STOP * TARGET and r + 1 < cfg.replay_repeats:
            res.stopped_early = (
                f"stopped after {r + 1} of {cfg.replay_repeats} repeats: every one took more than "
                f"{EARLY_STOP:.0f}{TIMES} the {TARGET:.0f} s target, so more repeats could not "
                "change the verdict"
            )
            log(f"  {res.stopped_early}")
            break
    res.timeline_half.append(await timeline_half(path))
    res.rows_shown = res.shape.calls
    res.opens.append(first_opens(path, FirstOpen(res.shape.events, res.shape.calls, res.write_seconds), log))
    large = tmp / "replay-large.db"
    shape, seconds = await write_session(large, cfg.replay_events * LARGE)
    log(f"  wrote a session of {shape.events:,} events ({shape.calls:,} calls) in {seconds:.1f} s")
    res.opens.append(first_opens(large, FirstOpen(shape.events, shape.calls, seconds), log))
    large.unlink()
    return res


def _forget_checkpoints(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("DELETE FROM timeline_checkpoints")
        conn.commit()
    finally:
        conn.close()


def first_opens(path: Path, size: FirstOpen, log: Any) -> FirstOpen:
    """`FIRST_OPENS` first opens of the session in a fresh process, each followed by an open with the cache."""
    from .cli_report import _timed  # the spawner that reads a process's own peak RSS

    for r in range(FIRST_OPENS):
        _forget_checkpoints(path)
        for cached in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                facts = Path(tmp) / "facts.json"
                code = "from bench.replay import first_open_child; first_open_child()"
                argv = [sys.executable, "-c", code, str(path), SESSION_ID, str(size.calls)]
                argv += [str(time.time()), str(facts)]
                _, rss = _timed(argv, Path(tmp) / "stdout")
                got = json.loads(facts.read_text())
            if cached:
                size.cached.append(got["first"])
                size.cached_rss.append(got["rss_first"])
                continue
            size.first.append(got["first"])
            size.rss_first.append(got["rss_first"])
            size.rss_life.append(rss)
            size.counts.append(got["counts"])
            size.indexed.append(got["indexed"])
        log(
            f"  {size.events:,} events, first open {r + 1}/{FIRST_OPENS}: the first moment at "
            f"{size.first[-1]:.2f} s ({size.rss_first[-1] / 2**20:.0f} MB), its counts at {size.counts[-1]:.2f} s, "
            f"indexed at {size.indexed[-1]:.2f} s (peak {size.rss_life[-1] / 2**20:.0f} MB); "
            f"cached {size.cached[-1]:.2f} s"
        )
    return size


def first_open_child() -> None:
    """A process of its own opening the session as `agentstop replay JOURNAL --session ID` (see the module)."""
    path, sid, calls, spawned, facts = sys.argv[1:6]
    got = anyio.run(_first_open, Path(path), sid, int(calls), float(spawned))
    Path(facts).write_text(json.dumps(got))


async def _first_open(path: Path, sid: str, calls: int, spawned: float) -> dict[str, float]:
    import agentstop.cli  # noqa: F401  (what `agentstop replay` imports before it reads a byte)
    from agentstop.replay import checkpoints
    from agentstop.session import fixed_tools
    from agentstop.tui import make_journal_app
    from agentstop.tui.screens.timeline import TimelineScreen
    from agentstop.tui.widgets.moment_table import MomentTable

    async with Journal.open(path, readonly=True) as j:  # agentstop/cli/replay.py: --session, so no rows
        await j.sessions()
        sid = await j.resolve_session(sid)
    app = make_journal_app(path, [], fixed_tools(ToolRegistry([Noop()])), session_id=sid)
    got: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        while True:
            screen = app.screen
            if isinstance(screen, TimelineScreen) and screen.is_mounted:
                tables = list(screen.query(MomentTable))
                if tables and tables[0].row_count >= min(calls, checkpoints.WINDOW):
                    break
            if time.time() - spawned > TIMEOUT:
                raise TimeoutError(f"the replay app did not show the session within {TIMEOUT:.0f} s")
            await anyio.sleep(0.001)  # looks without forcing a refresh (see bench/tui.py's _wait)
        await pilot.pause(0)  # the layout and the frame of what was just added
        got["first"] = time.time() - spawned
        got["rss_first"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0  # kilobytes on Linux
        while "counts" not in got or "indexed" not in got:
            # A long session's counts; a short one's whole report, read before its first moment.
            if "counts" not in got and (app.mode.past_counts is not None or app.mode.report is not None):
                got["counts"] = time.time() - spawned
            if "indexed" not in got and screen.timeline.indexed >= 1.0:
                got["indexed"] = time.time() - spawned
            if time.time() - spawned > TIMEOUT:
                raise TimeoutError(f"the session's counts and index were not read within {TIMEOUT:.0f} s")
            await anyio.sleep(0.005)
        app.exit()
    return got
