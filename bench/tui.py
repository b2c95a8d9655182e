"""6. The live TUI holding a 10,000-call session: the report screen's first render, and panel refreshes.

The real app (`agentstop.tui.make_app`, the factory the CLI and the TUI tests
use) runs headless under `App.run_test` at 140x42, with a planner that thinks
forever. Once its supervisor has started the session, `report_calls` calls are
bulk-written into that session through the app's own journal writer
(bench/sessions.py; receipts carry no undo deadline, so the report screen's
once-a-second recount of undo windows does not fire during the timings), and
the app takes them in the way it takes any journal events: the bridge polls
them in batches and the run screen's side-effect panel adds a row per call.
Then, with the app idle:

- **report screen, first render**: what the app does on Stop and when the
  session ends: push a new (not yet composed) report screen, then
  `refresh_report` (the live report the app keeps caught up with the journal:
  the events not delivered yet, the session row and grants; fill the screen's
  four tables; a session not followed live yet would be read in full, then the
  collector's settle); timed
  from the push until every row is in and the frame is painted
  (`pilot.pause(0)`: pending messages handled, layout and compositor
  refreshed; headless, so nothing is written to a terminal). The refresh is
  awaited once the screen is mounted, so the phases can be told apart.
- **panel refresh**: `changed` calls whose outcome was unknown are reconciled
  (unknown to committed) through `Journal.transition`; then one bridge poll is
  timed until the app has handled the batch (cells updated, the live report
  has taken the batch in) and the frame is painted. The bridge's own timer is
  stopped first, so each refresh is one poll (another every `POLL_AGAIN` s, as
  the timer would, should one not see the batch). Measured with the run screen
  shown (its side-effect panel holds a row per call) and with the report
  screen shown (the rows of the calls that changed are synced).

Inside each sample, the app's `refresh_report`, the mode's `take_in` (a batch
into the live report), the report screen's `show_report` and
`agentstop.tui.heap.settle` are timed by wrapping them (bench only, `Probe`),
so the results can split a sample into its parts (see `TuiResult.phases`). The
waits look every millisecond without forcing refreshes; the frame is painted
once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from agentstop import GrantSpec
from agentstop.journal import CallState
from agentstop.report_counts import ReportCounts
from agentstop.tools import ToolRegistry

from .common import Config, Dist, Noop, clock, cpu_clock
from .sessions import SessionShape, write_calls
from .stop import IdlePlanner

__all__ = [
    "CHANGED",
    "FIRST_PAINT",
    "FRAME",
    "LAG",
    "SECTIONS",
    "LiveTuiResult",
    "Probe",
    "TuiResult",
    "run_tui",
    "run_tui_live",
]

SESSION_ID = "bench-tui"
SIZE = (140, 42)
CHANGED = 5
SECTIONS = ("done", "interrupted", "in_flight", "undoable")
TIMEOUT = 600.0


@dataclass
class TuiResult:
    calls: int = 0
    shape: SessionShape = field(default_factory=SessionShape)
    rows: dict[str, int] = field(default_factory=dict)
    """Rows per report section at the first push."""
    load_seconds: float = 0.0
    """From the bulk write's commit to every call on the run screen's panel and in the report."""
    load_batches: int = 0
    """`JournalEvents` messages the bridge delivered while taking the session in."""
    rows_after_push_alone: int = 0
    """Rows the report screen showed 0.2 s after being pushed alone (Tab), before any refresh."""
    report_push: list[float] = field(default_factory=list)
    run_refresh: list[float] = field(default_factory=list)
    report_refresh: list[float] = field(default_factory=list)
    phases: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Per measurement, per sample, its parts in seconds (`Probe`). First render: "mount" (push to the screen
    mounted), "read" (`refresh_report` minus `show_report` and the collector's settle: the report read in
    full), "settle" (`heap.settle`), "show" (`show_report`: the tables filled), "paint" (to the frame painted).
    Refreshes: "take_in" (the mode's `take_in` minus `show_report`: the live report takes the batch in),
    "show", "rest" (reading the events, the panel's cells, layout and painting)."""
    cpu: dict[str, list[float]] = field(default_factory=dict)
    """This process's CPU seconds over each timed sample, by measurement (its wall time over its CPU time
    shows how much of it the machine's other load took)."""
    changed: int = CHANGED
    note: str = ""
    """Why some timings are missing (too few unknown calls in a small session)."""
    profiles: list[tuple[str, str]] = field(default_factory=list)
    """(what, pyinstrument text) of one untimed report push and one run-screen refresh, when profiling."""

    def dist(self, name: str) -> Dist:
        values: list[float] = getattr(self, name)
        return Dist.of(values)

    def cpu_dist(self, name: str) -> Dist | None:
        values = self.cpu.get(name)
        return Dist.of(values) if values else None

    def note_cpu(self, name: str, seconds: float) -> None:
        self.cpu.setdefault(name, []).append(seconds)

    def phase(self, name: str, part: str) -> Dist | None:
        values = self.phases.get(name, {}).get(part)
        return Dist.of(values) if values else None


class Probe:
    """Times, inside a sample, the app's parts it is made of (wrapped on the instances; bench only).

    `refresh`: the app's `refresh_report` (the report brought up to the journal); `take_in`: the mode's
    `take_in` (a batch of journal events taken into the live report); `show`: the report screen's
    `show_report` (inside either, when the screen is shown); `settle`: `agentstop.tui.heap.settle`
    (the collector's pass after a full read, inside `refresh_report`).
    """

    def __init__(self, app: Any) -> None:
        from agentstop.tui import heap

        self.app = app
        self.refresh = self.take_in = self.show = self.settle = 0.0
        refresh_report, take_in, settle = app.refresh_report, app.mode.take_in, heap.settle

        async def timed_refresh() -> None:
            self.wrap_screen()
            began = clock()
            try:
                await refresh_report()
            finally:
                self.refresh += clock() - began

        async def timed_take_in(events: Any) -> None:
            self.wrap_screen()
            began = clock()
            try:
                await take_in(events)
            finally:
                self.take_in += clock() - began

        def timed_settle(*, reclaim: bool) -> None:
            began = clock()
            try:
                settle(reclaim=reclaim)
            finally:
                self.settle += clock() - began

        app.refresh_report = timed_refresh
        app.mode.take_in = timed_take_in
        heap.settle = timed_settle
        self._settle = settle

    def close(self) -> None:
        """Give `heap.settle` back (the instances' wrappers go with the app)."""
        from agentstop.tui import heap

        heap.settle = self._settle

    def wrap_screen(self) -> None:
        screen = self.app.report_screen
        if "show_report" in vars(screen):
            return  # wrapped already
        original = screen.show_report

        def show_report(*args: Any, **kwargs: Any) -> None:
            began = clock()
            try:
                original(*args, **kwargs)
            finally:
                self.show += clock() - began

        screen.show_report = show_report

    def start(self) -> None:
        self.wrap_screen()
        self.refresh = self.take_in = self.show = self.settle = 0.0


async def fresh_report_screen(app: Any, clock: Any) -> Any:
    """A new, uncomposed report screen for the app's mode, installed as the mode installs its own.

    A screen that is not installed is destroyed when popped, and pushed again it mounts with
    no children (Textual issue #1169): the app's deferred `show_report` (a report asked for while
    another screen was on top) could push one so, and its `on_mount` found no `CallDetail`. The
    last one, off the stack, is uninstalled.
    """
    from agentstop.tui.screens.report import ReportScreen

    old = app.mode.report_screen
    screen = ReportScreen(clock)
    app.install_screen(screen, f"bench-report-{id(screen)}")
    app.mode.new_report_screen(screen)
    if old not in app.screen_stack:  # as `JournalMode._fresh_report_screen` lets the last one go
        if app.is_screen_installed(old):
            app.uninstall_screen(old)
        if old.is_mounted:
            await old.remove()  # done before anything is timed: the pruning is not measured with the next sample
    return screen


async def _wait(pilot: Any, condition: Any, what: str, poll: Any = None) -> None:
    """Let the app run until `condition()`, looking every millisecond.

    It sleeps rather than `pilot.pause(0)`, which would also force a layout and
    a compositor refresh each time it looks: work the app does not do on its
    own. The caller paints once, with `pilot.pause(0)`, when the condition holds.

    `poll`: the bridge's poll, for a wait with the bridge's timer stopped; called
    again every `POLL_AGAIN` s meanwhile, as the timer would. (A single poll once
    missed a committed batch: its read ran inside another read's open statement on
    the journal's read connection; tests/integration/test_read_after_commit.py.)
    """
    began = again = clock()
    while not condition():
        now = clock()
        if now - began > TIMEOUT:
            raise TimeoutError(f"the TUI benchmark timed out waiting until {what}")
        if poll is not None and now - again > POLL_AGAIN:
            again = now
            await poll()
        await anyio.sleep(0.001)


POLL_AGAIN = 0.025
"""Seconds between the polls of a wait with the bridge's timer stopped (its timer polls every 0.05 s)."""


def _calls_in(app: Any) -> int:
    """How many calls the app's report holds (the live report's count: no list copied)."""
    live = app.mode.live
    if live is not None:
        return len(live)
    report = app.report
    return len(report.all_calls) if report is not None else 0


def _plain(table: Any, row: str, column: str) -> str:
    if row not in table.rows:
        return ""
    value = table.get_cell(row, column)
    return str(getattr(value, "plain", value))


async def run_tui(cfg: Config, tmp: Path, log: Any, *, profile: bool = False) -> TuiResult:
    from agentstop.tui import SessionConfig, make_app
    from agentstop.tui.messages import JournalEvents

    res = TuiResult(calls=cfg.report_calls)
    config = SessionConfig(
        journal_path=tmp / "tui.db",
        tools=ToolRegistry([Noop()]),
        grant=GrantSpec(),
        planner=IdlePlanner(),
        task_name="TUI benchmark",
        goal="Hold a long session on screen.",
        session_id=SESSION_ID,
    )
    app = make_app(config)
    delivered = 0

    def count(message: Any) -> None:
        nonlocal delivered
        if isinstance(message, JournalEvents):
            delivered += 1

    probe: Probe | None = None
    try:
        async with app.run_test(size=SIZE, message_hook=count) as pilot:
            await _wait(pilot, lambda: app.bridge is not None and app.mode.journal is not None, "the session started")
            journal = app.mode.journal
            bridge = app.bridge
            assert journal is not None and bridge is not None and journal._writer is not None
            grant_id = (await journal.grants(SESSION_ID))[0].grant_id
            write = write_calls(SESSION_ID, grant_id, cfg.report_calls, deadline=False)

            def unit(conn: Any) -> tuple[SessionShape, int]:
                shape = write(conn)
                last = conn.execute("SELECT MAX(seq) FROM events WHERE session_id = ?", (SESSION_ID,)).fetchone()[0]
                return shape, int(last)

            res.shape, last_seq = await journal._writer.run(unit, durable=True)
            began, before = clock(), delivered
            effects = app.mode.run_screen.effects

            def taken_in() -> bool:
                report = app.report
                return (
                    bridge.after >= last_seq
                    and effects.row_count >= cfg.report_calls
                    and report is not None
                    and _calls_in(app) >= cfg.report_calls
                )

            await _wait(pilot, taken_in, "the run screen showed every call")
            await pilot.pause(0)
            res.load_seconds, res.load_batches = clock() - began, delivered - before
            probe = Probe(app)

            # -- the report screen's first render --------------------------------------------
            # Pushed alone (Tab), the screen's on_mount asks the app to fill it while Textual does not
            # count it as mounted yet, so it stays empty until the next refresh: probe that once.
            app.action_show_report()
            await _wait(
                pilot,
                lambda: app.screen is app.report_screen and app.report_screen.is_mounted,
                "the report screen was shown",
            )
            await pilot.pause(0.2)
            res.rows_after_push_alone = sum(app.report_screen.table(key).row_count for key in SECTIONS)
            app.action_show_run()
            await _wait(pilot, lambda: app.screen is app.mode.run_screen, "the run screen was back")

            async def push_report(record: bool = True) -> tuple[float, float]:
                screen = await fresh_report_screen(app, config.clock)  # a fresh, uncomposed screen each time
                probe.start()
                # What the app does on Stop (its stop worker) and when the session ends
                # (on_session_ended): push the screen, then refresh_report (the live report caught up,
                # fill the screen). Here the refresh is awaited once the screen is mounted, so
                # the phases do not overlap and can be told apart.
                began, cpu = clock(), cpu_clock()
                app.action_show_report()
                await _wait(pilot, lambda: app.screen is screen and screen.is_mounted, "the report screen was mounted")
                # What `show_report` and the settle took before (the screen's own on_mount shows the report
                # it was handed while composing: that is mounting) is not the refresh's.
                mounted, shown_before, settled_before = clock(), probe.show, probe.settle
                await app.refresh_report()
                refreshed = clock()
                shown, settled = probe.show - shown_before, probe.settle - settled_before
                report = app.report
                assert report is not None
                res.rows = {key: len(getattr(report, key)) for key in SECTIONS}
                want = dict(res.rows)  # a section's table has every row (it draws those on screen)
                await _wait(
                    pilot,
                    lambda: all(screen.table(key).row_count == n for key, n in want.items()),
                    "the report screen showed every row",
                )
                await pilot.pause(0)
                ended = clock()
                if record:
                    phases = res.phases.setdefault("report_push", {})
                    for part, seconds in (
                        ("mount", mounted - began),
                        ("read", refreshed - mounted - shown - settled),
                        ("settle", settled),
                        ("show", shown),
                        ("paint", ended - refreshed),
                    ):
                        phases.setdefault(part, []).append(seconds)
                spent = ended - began, cpu_clock() - cpu
                app.action_show_run()
                await _wait(pilot, lambda: app.screen is app.mode.run_screen, "the run screen was back")
                return spent

            for _ in range(cfg.tui_repeats):
                wall, cpu = await push_report()
                res.report_push.append(wall)
                res.note_cpu("report_push", cpu)

            # -- panel refreshes ---------------------------------------------------------------
            bridge.stop()  # from here each refresh is a poll driven below (again every POLL_AGAIN s until shown)
            report = app.report
            assert report is not None
            unknown = [i.call_id for i in report.in_flight if i.state == CallState.UNKNOWN.value]
            wanted = 2 * cfg.tui_repeats * CHANGED
            if len(unknown) < wanted:
                res.note = f"only {len(unknown)} calls of unknown outcome to reconcile; {wanted} wanted"

            async def refresh(ids: list[str], on_report: bool) -> tuple[float, float]:
                for call_id in ids:
                    await journal.transition(
                        SESSION_ID, call_id, CallState.COMMITTED, durable=True, receipt={"reconciled": True}
                    )
                old = app.report
                screen = app.report_screen

                def shown() -> bool:
                    if on_report:
                        # The live report took the batch in and its screen synced with it (the calls may be older
                        # than the latest WINDOW rows a section shows, so they are not looked for in the table).
                        return app.report is not old and screen.report is app.report
                    # The run screen shows the panel (the live report takes the batch in on the same pass).
                    return all(_plain(effects, call_id, "state") == CallState.COMMITTED.value for call_id in ids)

                probe.start()
                began, cpu = clock(), cpu_clock()
                await bridge.poll()
                await _wait(pilot, shown, "the refresh was shown", poll=bridge.poll)
                await pilot.pause(0)
                return clock() - began, cpu_clock() - cpu

            batches = [unknown[i : i + CHANGED] for i in range(0, len(unknown) - CHANGED + 1, CHANGED)]
            for on_report in (False, True):
                if on_report:
                    await fresh_report_screen(app, config.clock)
                    app.action_show_report()
                    app.call_later(app.refresh_report)
                    await _wait(
                        pilot,
                        lambda: (
                            app.screen is app.report_screen
                            and app.report_screen.is_mounted
                            and app.report_screen.table("done").row_count > 0
                        ),
                        "the report screen was shown",
                    )
                    await pilot.pause(0)
                for _ in range(cfg.tui_repeats):
                    if not batches:
                        break
                    spent, cpu = await refresh(batches.pop(0), on_report)
                    name = "report_refresh" if on_report else "run_refresh"
                    getattr(res, name).append(spent)
                    res.note_cpu(name, cpu)
                    phases = res.phases.setdefault(name, {})
                    for part, seconds in (
                        ("take_in", probe.take_in - probe.show),
                        ("show", probe.show),
                        ("rest", spent - probe.take_in),
                    ):
                        phases.setdefault(part, []).append(seconds)
            if profile:
                from .profiling import profile_loop

                app.action_show_run()
                await _wait(pilot, lambda: app.screen is app.mode.run_screen, "the run screen was back")
                ours = ("/agentstop/", "/textual/widgets/")
                res.profiles.append(
                    (
                        f"report screen, first render with {cfg.report_calls:,} calls",
                        await profile_loop(lambda: push_report(record=False), interval=0.001, flat=True, ours=ours),
                    )
                )
                if batches:
                    ids = batches.pop(0)

                    async def run_refresh() -> None:
                        await refresh(ids, False)

                    res.profiles.append(
                        (
                            f"run screen, one panel refresh ({CHANGED} of {cfg.report_calls:,} calls change)",
                            await profile_loop(run_refresh, interval=0.0005, flat=True, ours=ours),
                        )
                    )
            if app.mode.sup is not None:  # end the session before the app closes its journal under it
                await app.mode.sup.stop("the benchmark is done", "bench")
            app.exit()
    finally:
        if probe is not None:
            probe.close()
    for name in ("report_push", "run_refresh", "report_refresh"):
        if getattr(res, name):
            d = res.dist(name)
            log(
                f"  {name.replace('_', ' ')}: p50 {d.p50 * 1e3:.1f} ms (range {d.lo * 1e3:.1f}{'-'}{d.hi * 1e3:.1f} ms)"
            )
    log(f"  took in {cfg.report_calls:,} calls in {res.load_seconds:.2f} s ({res.load_batches} batches)")
    return res


@dataclass
class LiveTuiResult:
    """The run screen following a long session live (issue 22's targets), per session size."""

    refresh: dict[int, list[float]] = field(default_factory=dict)
    """Calls in the session -> seconds per batch of ~50 events, from the bridge's poll to the frame painted."""
    first_paint: dict[int, list[float]] = field(default_factory=dict)
    """Calls -> seconds from pushing a fresh report screen to every section filled and the frame painted."""
    burst_lag: dict[int, float] = field(default_factory=dict)
    """Calls before the burst -> the event loop's worst lag (s) while 1,000 calls/s landed for `BURST_SECONDS`."""
    key_latency: dict[int, list[float]] = field(default_factory=dict)
    """Calls before the burst -> seconds from a key posted to its effect (the cursor moved), during the burst."""
    take_in: dict[int, float] = field(default_factory=dict)
    """Calls -> seconds to take the bulk-written session in (panel rows and the live report)."""
    browser_open: dict[int, list[float]] = field(default_factory=dict)
    """Sessions in the journal -> seconds from starting the journal app to its sessions browser painted, full."""
    browser_refresh: dict[int, list[float]] = field(default_factory=dict)
    """Sessions -> seconds from handing the browser fresh rows (its once-a-second refresh) to the frame painted."""


BATCH_CALLS = 10
"""Calls written per refresh sample: ~50 events (4.95 events a call in the mix)."""

BURST_SECONDS = 5.0

FRAME = 0.016
"""Issue 22: a run-screen refresh of a batch of ~50 events, p99, at the largest session (one frame)."""
FIRST_PAINT = 0.300
"""Issue 22: the report screen's first paint at the largest session."""
LAG = 0.050
"""Issue 22: the most a 1,000 calls/s burst may block the event loop (input), at every session size."""


async def run_tui_live(
    cfg: Config, tmp: Path, log: Any, sizes: tuple[int, ...] = (10_000, 100_000), samples: int = 40
) -> LiveTuiResult:
    """Run-screen refresh per batch of ~50 events, report first paint, and event-loop lag in a burst, per size."""
    res = LiveTuiResult()
    for size in sizes:
        await _live_size(tmp, log, size, samples, res)
    await _browser(tmp, log, 1_000 if cfg.quick else BROWSER_SESSIONS, res)
    return res


BROWSER_SESSIONS = 10_000
"""Sessions in the journal the sessions browser opens on (issue 22: it opens at once)."""


def _write_sessions(n: int, now: float) -> Any:
    """A journal unit writing `n` sessions, one a second until `now`; all ended but the last (it runs)."""
    from agentstop.journal import SessionStatus, ops

    def unit(conn: Any) -> None:
        for i in range(n):
            at = now - n + i
            ops.create_session(
                conn,
                session_id=f"s{i:06d}",
                task_name=f"task {i}",
                goal="g",
                task_path=None,
                tools=[],
                pid=1000 + i,
                host="bench",
                meta={},
                at=at,
            )
            if i < n - 1:
                ops.end_session(conn, f"s{i:06d}", SessionStatus.COMPLETED, at + 0.5)

    return unit


async def _browser(tmp: Path, log: Any, sessions: int, res: LiveTuiResult, repeats: int = 3) -> None:
    """The journal app's sessions browser on a journal of `sessions` sessions: opened, then refreshed."""
    import time

    from agentstop.journal import Journal
    from agentstop.session import fixed_tools
    from agentstop.tui import make_journal_app

    path = tmp / f"tui-browser-{sessions}.db"
    now = time.time()
    async with Journal.open(path) as journal:
        assert journal._writer is not None
        await journal._writer.run(_write_sessions(sessions, now), durable=True)
        records = await journal.sessions()
    # The rows the command line hands the app (`agentstop tui`): each session with its report (no calls here).
    rows = [(s, ReportCounts(0, 0, 0, 0)) for s in records]
    opens: list[float] = []
    refreshes: list[float] = []
    for _ in range(repeats):
        opened, refreshed = await _browse(make_journal_app(path, list(rows), fixed_tools(ToolRegistry([]))), rows)
        opens.append(opened)
        refreshes += refreshed
    res.browser_open[sessions] = opens
    res.browser_refresh[sessions] = refreshes
    log(
        f"  sessions browser, {sessions:,} sessions: open p50 {Dist.of(opens).p50 * 1e3:.1f} ms, "
        f"refresh p50 {Dist.of(refreshes).p50 * 1e3:.1f} ms"
    )


async def _live_size(tmp: Path, log: Any, size: int, samples: int, res: LiveTuiResult) -> None:
    """`run_tui_live` for one session size."""
    from textual import events

    from agentstop.tui import SessionConfig, make_app
    from agentstop.tui.screens.report import ReportScreen

    config = SessionConfig(
        journal_path=tmp / f"tui-live-{size}.db",
        tools=ToolRegistry([Noop()]),
        grant=GrantSpec(),
        planner=IdlePlanner(),
        task_name="TUI benchmark",
        goal="Hold a long session on screen.",
        session_id=SESSION_ID,
    )
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await _wait(pilot, lambda: app.bridge is not None and app.mode.journal is not None, "the session started")
        journal = app.mode.journal
        bridge = app.bridge
        assert journal is not None and bridge is not None and journal._writer is not None
        writer = journal._writer
        grant_id = (await journal.grants(SESSION_ID))[0].grant_id
        effects = app.mode.run_screen.effects
        written = 0

        async def land(n: int) -> None:
            nonlocal written
            await writer.run(write_calls(SESSION_ID, grant_id, n, deadline=False), durable=True)
            written += n

        began = clock()
        for _ in range(0, size, 10_000):
            await land(min(10_000, size - written))
        await _wait(pilot, lambda: effects.row_count >= written and _calls_in(app) >= written, "taken in")
        await pilot.pause(0)
        res.take_in[size] = clock() - began
        log(f"  {size:,} calls taken in: {res.take_in[size]:.1f} s")

        # -- run-screen refresh: one bridge poll of ~50 events, to the frame painted --------------------
        bridge.stop()
        times: list[float] = []
        for _ in range(samples):
            await land(BATCH_CALLS)
            began = clock()
            await bridge.poll()
            await _wait(
                pilot,
                lambda: effects.row_count >= written and _calls_in(app) >= written,
                "refreshed",
                poll=bridge.poll,
            )
            await pilot.pause(0)
            times.append(clock() - began)
        res.refresh[size] = times
        d = Dist.of(times)
        log(f"  run-screen refresh, {size:,} calls, ~50 events: p50 {d.p50 * 1e3:.1f} ms, p99 {d.p99 * 1e3:.1f} ms")

        # -- the report screen's first paint --------------------------------------------------------------
        paints: list[float] = []

        def filled(screen: ReportScreen) -> Any:
            return lambda: (
                app.screen is screen
                and screen.is_mounted
                and sum(screen.table(k).row_count for k in SECTIONS) >= written
            )

        for _ in range(3):
            screen = await fresh_report_screen(app, config.clock)
            began = clock()
            app.action_show_report()
            await _wait(
                pilot,
                filled(screen),
                "the report screen was filled",
            )
            await pilot.pause(0)
            paints.append(clock() - began)
            app.action_show_run()
            await _wait(pilot, lambda: app.screen is app.mode.run_screen, "the run screen was back")
        res.first_paint[size] = paints
        log(f"  report first paint, {size:,} calls: p50 {Dist.of(paints).p50 * 1e3:.1f} ms")

        # -- a burst of 1,000 calls/s with keys pressed: the event loop's worst lag ------------------------
        effects.focus()
        # Switching back from the report screen and the focus above each lay the run screen out again: the
        # footer is composed again for the focused widget's keys after the next refresh (~50-70 ms at 100,000
        # calls, with the collector's pass its allocations set off). Let that end first, so the worst lag and
        # the first key measure the burst and not the switch: a pause(0) ended before it (the worst "lag" of
        # the burst was that recompose, at its first moments).
        await _wait(pilot, lambda: app.screen.focused is effects, "the panel had the focus")
        await pilot.pause(0.25)
        bridge.start()
        lags: list[float] = []
        keys: list[float] = []
        over = anyio.Event()

        async def burst() -> None:
            end = clock() + BURST_SECONDS
            while clock() < end:
                began = clock()
                await land(50)
                await anyio.sleep(max(0.0, 0.05 - (clock() - began)))
            over.set()

        async def probe() -> None:
            while not over.is_set():
                began = clock()
                await anyio.sleep(0.002)
                lags.append(clock() - began - 0.002)

        async def press_keys() -> None:
            while not over.is_set():
                row = effects.cursor_row
                key = "down" if row < 20 else "up"
                began = clock()
                app.post_message(events.Key(key, None))
                await _wait(pilot, lambda row=row: effects.cursor_row != row, "the key took effect")
                keys.append(clock() - began)
                await anyio.sleep(0.1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(burst)
            tg.start_soon(probe)
            tg.start_soon(press_keys)
        res.burst_lag[size] = max(lags, default=0.0)
        res.key_latency[size] = keys
        k = Dist.of(keys)
        log(
            f"  burst 1,000 calls/s after {size:,}: worst loop lag {res.burst_lag[size] * 1e3:.1f} ms; "
            f"key to effect p50 {k.p50 * 1e3:.1f} ms, max {k.hi * 1e3:.1f} ms ({len(keys)} keys)"
        )
        if app.mode.sup is not None:
            await app.mode.sup.stop("the benchmark is done", "bench")
        await _wait(pilot, lambda: app.mode.run_screen.phase == "ended", "the app saw the session end")
        await pilot.pause(0.1)
        app.exit()


async def _browse(app: Any, rows: list[Any]) -> tuple[float, list[float]]:
    """Start the journal app on `rows`: seconds to its browser painted with the newest, then per refresh."""
    import time

    began = clock()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.mode.sessions_screen
        newest = rows[-1][0].session_id

        def painted() -> bool:  # the newest session on the screen as painted (the compositor renders it)
            if not (screen.is_mounted and screen.table.row_count == len(rows)):
                return False
            return any(newest in strip.text for strip in app.screen._compositor.render_strips())

        await _wait(pilot, painted, "the browser showed its sessions")
        opened = clock() - began
        refreshed: list[float] = []
        for _ in range(5):
            began = clock()
            screen.show_rows(list(rows), time.time())  # what the fleet's refresh hands it every second
            await pilot.pause(0)
            refreshed.append(clock() - began)
        app.exit()
    return opened, refreshed
