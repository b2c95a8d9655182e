"""Virtual tables over a long session: the rows on screen are the journal's, wherever the table is scrolled.

The side-effect panel and the report's four sections draw only the rows on
screen (`agentstop.tui.widgets.virtual_table`). Here a session of a few
thousand calls is written straight into the app's journal (the supervisor's own
journal operations, in one transaction each batch, as a busy agent's would
land), the app takes it in the way it takes any journal events, and at seeded
random scroll positions the lines the table draws are read back and compared
with what an independent full read of the journal says (`Report.from_journal`,
`Journal.calls`).

A second test reads the lines as painted (the screen's compositor, which
keeps a table's lines until the table says which changed) while batches land:
a batch repaints only the lines it changed, and those are right.

A third test keeps a burst of calls landing (1,000 a second) while keys are
pressed: the keys take effect while the burst is still landing.
"""

from __future__ import annotations

import functools
import gc
import random
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from textual.pilot import Pilot

from agentstop.journal import CallState, Journal, ops
from agentstop.report import Bucket, Report, ReportItem
from agentstop.tui import AgentstopApp, RunMode, heap
from agentstop.tui.screens.report import SECTIONS
from agentstop.tui.widgets.virtual_table import VirtualTable
from tests.support.tools import WriteNote
from tests.tui.helpers import SESSION_ID, Park, Puppet, app_for, finish, press, wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CALLS = 3000
SIZE = (140, 42)
REVERSIBILITY = WriteNote(Path("world")).reversibility.value


def _write(conn: Any, first: int, n: int, grant_id: int, at: float) -> None:
    """`n` calls from call number `first` on, of a mix of outcomes (as a busy agent's calls land)."""
    for i in range(first, first + n):
        call_id: str = ops.plan_call(
            conn,
            session_id=SESSION_ID,
            tool="write_note",
            summary=f"note 'n{i}'",
            resource=f"file:n{i}",
            args={"name": f"n{i}"},
            reversibility=REVERSIBILITY,
            on_stop="wait",
            can_compensate=True,
            can_lookup=False,
            undo_hint="",
            idempotency_key=uuid.uuid4().hex,
            grant_id=grant_id,
            at=at,
        )
        kind = i % 5
        if kind == 0:
            ops.transition(conn, SESSION_ID, call_id, CallState.REJECTED, at, reason="invalid arguments")
            continue
        ops.transition(conn, SESSION_ID, call_id, CallState.PREPARED, at, prepared={"name": f"n{i}"})
        assert ops.fence(conn, SESSION_ID, call_id, grant_id, "write_note", "write_note", at) is None
        if kind == 1:
            ops.transition(conn, SESSION_ID, call_id, CallState.UNKNOWN, at, reason="cut off; outcome unknown")
        else:
            ops.transition(conn, SESSION_ID, call_id, CallState.COMMITTED, at, receipt={"path": f"n{i}"})


async def _land(journal: Journal, first: int, n: int) -> None:
    grant_id = (await journal.grants(SESSION_ID))[0].grant_id
    writer = journal._writer  # the journal's own writer: the calls land as the supervisor's would
    assert writer is not None
    await writer.run(lambda conn: _write(conn, first, n, grant_id, time.time()), durable=True)


def _ids_on(table: VirtualTable[Any]) -> list[str]:
    """The call ids on the lines the table draws (the "call" cell, found as the word that is a call id)."""
    out = []
    for y in range(1, table.scrollable_content_region.height):
        words = table.render_line(y).text.split()
        ids = [w for w in words if w.startswith("c") and w[1:].isdigit()]
        if not ids:
            break
        out.append(ids[0])
    return out


async def _scroll_to(pilot: Pilot[Any], table: VirtualTable[Any], row: int) -> None:
    table.move_cursor(row=row)
    await pilot.pause()


def _parked_app(tmp_path: Path) -> AgentstopApp[RunMode]:
    """An app whose agent parks after starting: the calls come from the test, written straight to the journal."""
    world = tmp_path / "world"
    world.mkdir()
    return app_for(tmp_path, [WriteNote(world)], Puppet([Park("forever")]))


async def _started(pilot: Pilot[Any], app: AgentstopApp[RunMode]) -> Journal:
    await wait_until(pilot, lambda: app.bridge is not None and app.mode.journal is not None, "the session started")
    journal = app.mode.journal
    assert journal is not None
    return journal


@pytest.mark.timeout(300)
async def test_virtual_tables_show_the_journals_rows_at_any_scroll_position(tmp_path: Path) -> None:
    app = _parked_app(tmp_path)
    rng = random.Random(22)
    async with app.run_test(size=SIZE) as pilot:
        journal = await _started(pilot, app)
        await _land(journal, 1, CALLS)
        effects = app.mode.run_screen.effects
        await wait_until(
            pilot,
            lambda: effects.row_count == CALLS and app.mode.live is not None and len(app.mode.live) == CALLS,
            "every call on the panel and in the live report",
            attempts=3000,
        )
        calls = sorted(await journal.calls(SESSION_ID), key=lambda c: c.n)
        planned = [c.call_id for c in calls]
        state = {c.call_id: c.state for c in calls}
        for row in [0, CALLS - 1, *rng.sample(range(CALLS), 12)]:
            await _scroll_to(pilot, effects, row)
            top = int(effects.scroll_y)
            shown = _ids_on(effects)
            assert shown and row - top < len(shown), row
            assert shown == planned[top : top + len(shown)], row
            assert [str(effects.get_cell(c, "state")) for c in shown] == [state[c] for c in shown], row

        await press(pilot, "tab")
        await wait_until(pilot, lambda: app.screen is app.report_screen, "the report is shown")
        oracle = await Report.from_journal(journal, SESSION_ID, now=app.mode.clock())
        screen = app.report_screen
        for key, _, _ in SECTIONS:
            want: tuple[ReportItem, ...] = getattr(oracle, key)
            table = screen.table(key)
            assert table.row_count == len(want), key
            assert f"({len(want):,})" in str(screen.query_one(f"#title-{key}").render()), key
            if not want:
                continue
            table.focus()
            for row in {0, len(want) - 1, *rng.sample(range(len(want)), min(8, len(want)))}:
                await _scroll_to(pilot, table, row)
                top = int(table.scroll_y)
                shown = _ids_on(table)
                assert shown == [i.call_id for i in want[top : top + len(shown)]], (key, row)
                highlighted = table.highlighted()
                assert highlighted is not None and highlighted.call_id == want[row].call_id, (key, row)
        # Counts and Undo all cover every call, on screen or not.
        assert len(oracle.undoable) == sum(1 for i in range(1, CALLS + 1) if i % 5 not in (0, 1))
        assert screen.table(Bucket.UNDOABLE).row_count == len(oracle.undoable)
        await finish(pilot)


def _painted(app: AgentstopApp[RunMode], table: VirtualTable[Any]) -> list[tuple[str, str]]:
    """(call id, line) of the table's rows as the screen paints them now (its lines as last drawn, kept)."""
    strips = app.screen._compositor.render_strips()
    region = table.region
    out = []
    for y in range(region.y + 1, region.bottom):
        line = strips[y].crop(region.x, region.right).text
        ids = [w for w in line.split() if w.startswith("c") and w[1:].isdigit()]
        if not ids:
            break
        out.append((ids[0], line))
    return out


async def _reconcile(journal: Journal, call_ids: list[str]) -> None:
    """Calls of unknown outcome found committed (as `agentstop reconcile` records it)."""
    writer = journal._writer
    assert writer is not None

    def unit(conn: Any) -> None:
        for call_id in call_ids:
            ops.transition(conn, SESSION_ID, call_id, CallState.COMMITTED, time.time(), receipt={"found": True})

    await writer.run(unit, durable=True)


@pytest.mark.timeout(300)
async def test_each_batch_repaints_the_panels_lines_it_changed(tmp_path: Path) -> None:
    app = _parked_app(tmp_path)
    rng = random.Random(2201)
    calls = 600
    async with app.run_test(size=SIZE) as pilot:
        journal = await _started(pilot, app)
        await _land(journal, 1, calls)
        effects = app.mode.run_screen.effects
        await wait_until(pilot, lambda: effects.row_count == calls, "every call on the panel", attempts=1500)
        for row in [0, *rng.sample(range(calls), 6), calls - 1]:
            await _scroll_to(pilot, effects, row)
            top = int(effects.scroll_y)
            before = _painted(app, effects)
            on_screen = [c for c, _ in before]
            unknown = [c for c, line in before if CallState.UNKNOWN.value in line.split()]
            assert unknown, row  # one call in five is left unknown by `_write`: some are on any screenful
            found = unknown[:3]
            await _reconcile(journal, found)
            await _land(journal, calls + 1, 20)  # appended below: off screen, the scrollbar alone moves
            calls += 20

            def taken_in(rows: int = calls, found: list[str] = found) -> bool:
                committed = all(str(effects.get_cell(c, "state")) == CallState.COMMITTED for c in found)
                return effects.row_count == rows and committed

            await wait_until(pilot, taken_in, "the batch taken in", attempts=1500)
            await pilot.pause()
            state = {c.call_id: c.state for c in await journal.calls(SESSION_ID)}
            planned = [c.call_id for c in sorted(await journal.calls(SESSION_ID), key=lambda c: c.n)]
            after = _painted(app, effects)
            assert int(effects.scroll_y) == top, row
            assert [c for c, _ in after] == on_screen == planned[top : top + len(on_screen)], row
            for call_id, line in after:  # every line painted says the call's state now
                assert state[call_id] in line.split(), (row, call_id, line)
        effects.focus()
        await press(pilot, "end")  # the rows appended off screen are there to scroll to
        await pilot.pause()
        last = _painted(app, effects)[-1][0]
        assert last == planned[-1] == f"c{calls}"
        await finish(pilot)


@pytest.mark.timeout(300)
async def test_keys_take_effect_while_a_burst_of_calls_lands(tmp_path: Path) -> None:
    app = _parked_app(tmp_path)
    # 50 calls every 50 ms (1,000 a second) for as long as the keys below take to act, at most 400 batches:
    # the burst runs until the keys have acted, so "while calls land" is how the test is built, not a race.
    cap, per_batch = 400, 50
    landed = 0
    keys_acted = anyio.Event()
    async with app.run_test(size=SIZE) as pilot:
        journal = await _started(pilot, app)

        async def burst() -> None:
            nonlocal landed
            b = 0
            while not keys_acted.is_set() and b < cap:
                began = time.monotonic()
                await _land(journal, 1 + b * per_batch, per_batch)
                landed += per_batch
                b += 1
                await anyio.sleep(max(0.0, 0.05 - (time.monotonic() - began)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(burst)
            effects = app.mode.run_screen.effects
            await wait_until(pilot, lambda: effects.row_count >= 500, "the burst is on the panel", attempts=1500)
            await press(pilot, "tab")  # to the report, while calls land
            await wait_until(pilot, lambda: app.screen is app.report_screen, "the report is shown", attempts=500)
            done = app.report_screen.table("done")
            done.focus()
            last_before = done.row_count - 1  # rows only grow: End lands at this row or a later one
            await press(pilot, "end")
            await wait_until(pilot, lambda: done.cursor_row >= last_before, "End took effect", attempts=3000)
            at_end = done.cursor_row  # later rows are appended below it; the cursor stays
            await press(pilot, "up", "up")
            await wait_until(pilot, lambda: done.cursor_row == at_end - 2, "Up took effect", attempts=3000)
            assert landed < cap * per_batch, f"the keys took effect only after the burst's last batch ({landed} calls)"
            keys_acted.set()
        await wait_until(
            pilot,
            lambda: app.mode.live is not None and len(app.mode.live) == landed,
            "the live report took in the whole burst",
            attempts=3000,
        )
        await finish(pilot)


@pytest.mark.timeout(300)
async def test_a_backlog_taken_in_leaves_the_garbage_collectors_generations(tmp_path: Path) -> None:
    """The session's objects are frozen out of the collector's way once taken in, and given back on exit."""
    app = _parked_app(tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            journal = await _started(pilot, app)
            await _land(journal, 1, 1000)  # ~5,000 events: batches of a backlog
            effects = app.mode.run_screen.effects
            await wait_until(
                pilot,
                lambda: effects.row_count == 1000 and app.mode.live is not None and len(app.mode.live) == 1000,
                "the backlog taken in",
                attempts=1500,
            )
            live = app.mode.live
            assert live is not None
            item = live.item("c1")
            assert item is not None and gc.is_tracked(item)
            young_or_old = gc.get_objects()  # the collector's three generations, not what is frozen
            assert not any(o is item for o in young_or_old), "the first call's item is still walked by the collector"
            assert gc.get_freeze_count() > 0
            del young_or_old
            await finish(pilot)
        assert gc.get_freeze_count() == 0  # the app gave everything back as it closed
    finally:
        gc.unfreeze()


@pytest.mark.timeout(300)
async def test_calls_landing_after_a_backlog_leave_the_panels_rows_out_of_the_collectors_passes(
    tmp_path: Path,
) -> None:
    """The side-effect panel's per-call rows are never walked again by the collector as calls keep landing.

    Strings in dicts of their own: CPython stops tracking such a dict. A tuple per call put
    the panel's whole table back among the collector's objects at each new call, and every
    full pass walked it (~20 ms a pass at 100,000 calls, on the loop the keys share).
    """
    app = _parked_app(tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            journal = await _started(pilot, app)
            effects = app.mode.run_screen.effects
            await _land(journal, 1, 1000)
            await wait_until(pilot, lambda: effects.row_count == 1000, "the calls taken in", attempts=1500)
            await press(pilot, "tab")  # the report, then back: putting it away settles the heap
            await wait_until(pilot, lambda: app.screen is app.mode.report_screen, "the report shown")
            await press(pilot, "escape")
            await wait_until(pilot, lambda: app.screen is app.mode.run_screen, "the run view back")
            await _land(journal, 1001, 20)  # then calls land as usual, in small batches
            await wait_until(pilot, lambda: effects.row_count == 1020, "the new calls taken in", attempts=1500)
            walked = {id(o) for o in gc.get_objects()}  # the collector's generations, not what is frozen
            per_call = [v for v in vars(effects).values() if isinstance(v, dict) and len(v) == 1020]
            assert len(per_call) >= 4, "the panel keeps its rows per call"
            assert not [v for v in per_call if id(v) in walked], "a per-call table of the panel is walked again"
            del walked
            await finish(pilot)
    finally:
        gc.unfreeze()


@pytest.mark.timeout(300)
async def test_a_steady_stream_of_small_batches_settles_the_heap_once_it_adds_up_to_a_backlog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls landing a few at a time, as a busy agent's do, are settled out of the collector's way as they add up.

    Else every full pass of the collector walks all they added since the last settle, longer each
    time, on the loop the keys share (bench/tui.py's burst: worst lag 30 ms at 10,000 calls, 17 ms so).
    """
    settled: list[bool] = []
    monkeypatch.setattr(heap, "settle", lambda *, reclaim: settled.append(reclaim))
    app = _parked_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        journal = await _started(pilot, app)
        effects = app.mode.run_screen.effects
        await _land(journal, 1, 1)
        await wait_until(pilot, lambda: effects.row_count == 1 and app.mode.live is not None, "the first call read")
        settled.clear()  # the session read in full settles the heap (`Mode.live_read`): not this test's business
        start = await journal.event_count(SESSION_ID)
        landed = 1
        while not settled:
            await _land(journal, landed + 1, 10)  # ~50 events: far below a backlog on its own
            landed += 10
            await wait_until(pilot, functools.partial(_last_taken_in, app, landed), "the batch taken in", attempts=1500)
            taken = await journal.event_count(SESSION_ID) - start
            if not settled:
                assert taken < RunMode.BACKLOG, f"{taken} events taken in, in small batches, and the heap unsettled"
        assert settled == [False]  # what the stream added since, not the whole heap again
        assert taken > RunMode.BACKLOG // 2  # once the batches added up, not at each of them
        await finish(pilot)


def _last_taken_in(app: AgentstopApp[RunMode], n: int) -> bool:
    """Whether the app has taken in every event `_land` wrote up to call `n`'s last (its final state)."""
    final = {0: CallState.REJECTED, 1: CallState.UNKNOWN}.get(n % 5, CallState.COMMITTED)
    item = app.mode.live.item(f"c{n}") if app.mode.live is not None else None
    return item is not None and item.state == final


async def test_putting_the_report_away_settles_the_heap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the report drew stays while it is hidden: out of the collector's passes from when it is put away."""
    settled: list[bool] = []
    monkeypatch.setattr(heap, "settle", lambda *, reclaim: settled.append(reclaim))
    app = _parked_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _started(pilot, app)
        await press(pilot, "tab")
        await wait_until(pilot, lambda: app.screen is app.mode.report_screen, "the report shown")
        await wait_until(pilot, lambda: app.mode.live is not None, "the report read")
        settled.clear()  # the report read in full settles the heap (`Mode.live_read`): not this test's business
        await press(pilot, "escape")
        await wait_until(pilot, lambda: app.screen is app.mode.run_screen, "the run view back")
        assert settled == [False]  # what was new since the last settle, not the whole heap again
        await finish(pilot)
