"""Replay reads a long session through checkpoints cached in the journal, and shows exactly what a full walk shows."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstop import Journal, JournalError
from agentstop.journal import SCHEMA_VERSION, TRANSITIONS, CallState, Event, EventKind
from agentstop.replay import JournalTimeline, Timeline, checkpoints, windowed
from agentstop.replay.seed import read_seed
from agentstop.replay.window_walk import WindowWalk

pytestmark = pytest.mark.anyio

INTERVAL = 16
WINDOW = 3
TAIL = 2


@pytest.fixture
def small_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoints every 16 events, 3 calls and 2 transcript lines a moment: a few dozen events cross them all."""
    _shrink(monkeypatch)


def _shrink(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoints, "CHECKPOINT", INTERVAL)
    monkeypatch.setattr(checkpoints, "WINDOW", WINDOW)
    monkeypatch.setattr(checkpoints, "TRANSCRIPT_TAIL", TAIL)
    monkeypatch.setattr(checkpoints, "BUILD", f"test/{INTERVAL}/{WINDOW}/{TAIL}")
    monkeypatch.setattr(checkpoints, "INLINE", checkpoints.INLINE)


class Clock:
    """The journal's clock, set by the session script: instants repeat and may step back (another process)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Step:
    """One thing that happens in a random session: `what` with a number to pick a call, state or text."""

    what: str
    pick: int
    dt: float


steps = st.lists(
    st.builds(
        Step,
        what=st.sampled_from(["think", "plan", "move", "move", "move", "move", "note", "approval", "stop", "resume"]),
        pick=st.integers(0, 10_000),
        dt=st.sampled_from([0.0, 0.0, 0.5, 1.0, -0.25]),
    ),
    min_size=20,
    max_size=150,
)


async def _play(journal: Journal, clock: Clock, sid: str, script: list[Step], states: dict[str, CallState]) -> None:
    """Append the script's events: calls move only along legal transitions (undo, re-apply and all)."""
    epoch = 1
    for n, step in enumerate(script):
        clock.now += step.dt
        if step.what == "think":
            await journal.append(sid, EventKind.TRANSCRIPT, {"text": f"thought {n}"})
        elif step.what == "plan" or not states:
            call_id = f"c{len(states) + 1}"
            states[call_id] = CallState.PLANNED
            await journal.append(sid, CallState.PLANNED, {"tool": f"tool{n % 3}", "summary": f"call {n}"}, call_id)
        elif step.what == "move":
            # Mostly one of the two calls planned last, so calls get far (undone, re-applied, undone again).
            ids = list(states)
            call_id = ids[-1 - step.pick % 2] if step.pick % 5 and len(ids) > 1 else ids[step.pick % len(ids)]
            nxt = sorted(TRANSITIONS[states[call_id]])
            if not nxt:
                continue
            state = nxt[step.pick % len(nxt)]
            states[call_id] = state
            data = {"reason": f"why {n}"} if step.pick % 3 == 0 else {}
            await journal.append(sid, state, data, call_id)
        elif step.what == "note":
            call_id = sorted(states)[step.pick % len(states)]
            await journal.append(sid, EventKind.UNDO_REFUSED, {"reason": "irreversible"}, call_id)
        elif step.what == "approval":
            call_id = sorted(states)[step.pick % len(states)]
            await journal.append(sid, EventKind.APPROVAL_REQUESTED, {}, call_id)
        elif step.what == "stop":
            await journal.append(sid, EventKind.REVOKED, {"by": f"user{n}"})
        else:
            epoch += 1
            said = "go on" if step.pick % 2 else ""
            await journal.append(sid, EventKind.SESSION_RESUMED, {"epoch": epoch, "by": "me", "instruction": said})


async def _equal_at(path: Path, sid: str, positions: list[int]) -> JournalTimeline:
    """Open the timeline from the journal and check it against the full walk at `positions` (and the ends)."""
    async with Journal.open(path, readonly=True) as journal:
        full = Timeline(await journal.events(sid))
    timeline = await JournalTimeline.open(path, sid)
    assert len(timeline) == len(full)
    assert timeline.stop_indices == full.stop_indices and timeline.resume_indices == full.resume_indices
    wanted = [-1, len(full) - 1, *(p % (len(full) + 1) - 1 for p in positions)]
    for index in wanted:  # in the drawn order: forwards, backwards and across intervals
        assert await timeline.moment(index) == windowed(full.at(index), WINDOW, TAIL), index
        assert await timeline.event(index) == (full.events[index] if index >= 0 else None)
    return timeline


def _same_walk(seeded: WindowWalk, events: list[Event]) -> None:
    """The state read from queries is the state the walk reaches (of the rejected calls, those a Stop needs)."""
    walk = WindowWalk(WINDOW, TAIL)
    for e in events:
        walk.apply(e)
    assert seeded.calls == walk.calls and list(seeded.calls) == list(walk.calls)
    assert (seeded.earlier, list(seeded.transcript), seeded.epoch) == (walk.earlier, list(walk.transcript), walk.epoch)
    assert (seeded.revoked_at, seeded.revoked_by, seeded.late) == (walk.revoked_at, walk.revoked_by, walk.late)
    assert seeded.rejected is not None and walk.rejected is not None
    assert seeded.rejected.items() <= walk.rejected.items()


async def _equal_opened_at_the_end(path: Path, sid: str, positions: list[int]) -> None:
    """Opened at its last interval before its checkpoints are built: the same moments, before and after `index()`."""
    async with Journal.open(path, readonly=True) as journal:
        full = Timeline(await journal.events(sid))
        seed = await read_seed(journal, sid, INTERVAL, WINDOW, TAIL)
    _same_walk(seed.walk, full.events[: seed.position])
    timeline = await JournalTimeline.open(path, sid)
    assert len(timeline) == len(full) and timeline.ready(len(full) - 1)
    assert timeline.stop_indices == full.stop_indices and timeline.resume_indices == full.resume_indices
    wanted = [len(full) - 1, -1, *(p % (len(full) + 1) - 1 for p in positions)]
    for index in [i for i in wanted if timeline.ready(i)]:  # at once: the last interval, and the first
        assert await timeline.moment(index) == windowed(full.at(index), WINDOW, TAIL), index
    for index in wanted:  # further back waits for the checkpoints (`index()`, run by the first that needs it)
        assert await timeline.moment(index) == windowed(full.at(index), WINDOW, TAIL), index
        assert await timeline.event(index) == (full.events[index] if index >= 0 else None)
    await timeline.index()
    assert timeline.indexed == 1.0 and all(timeline.ready(i) for i in range(-1, len(full)))


def _forget_checkpoints(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM timeline_checkpoints")
    conn.commit()
    conn.close()


async def _check(root: Path, first: list[Step], more: list[Step], positions: list[int]) -> None:
    path, clock, states = root / "j.db", Clock(), dict[str, CallState]()
    async with Journal.open(path, clock=clock) as journal:
        await journal.create_session("s1", task_name="random")
        await _play(journal, clock, "s1", first, states)
    await _equal_at(path, "s1", positions)  # builds the checkpoints and caches them
    await _equal_at(path, "s1", positions[::-1])  # reads them back
    async with Journal.open(path, clock=clock) as journal:
        await _play(journal, clock, "s1", more, states)  # the session goes on (a Resume, say)
    await _equal_at(path, "s1", positions)  # extends the checkpoints from the last one
    _forget_checkpoints(path)
    checkpoints.INLINE = 0  # restored by the test's monkeypatch
    await _equal_opened_at_the_end(path, "s1", positions)  # none cached: opens at the end, then builds them
    async with Journal.open(path, clock=clock) as journal:
        await _play(journal, clock, "s1", first, states)  # goes on again
    await _equal_opened_at_the_end(path, "s1", positions[::-1])  # builds from the last one cached


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=steps, more=steps, positions=st.lists(st.integers(0, 10_000), max_size=12))
def test_checkpointed_moments_equal_the_full_walk_at_random_positions(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    first: list[Step],
    more: list[Step],
    positions: list[int],
) -> None:
    _shrink(monkeypatch)
    root = tmp_path_factory.mktemp("timeline")
    anyio.run(_check, root, first, more, positions)


async def _long_session(path: Path, calls: int) -> None:
    async with Journal.open(path) as journal:
        await journal.create_session("s1", task_name="long")
        for i in range(1, calls + 1):
            await journal.append("s1", EventKind.TRANSCRIPT, {"text": f"thought {i}"})
            await journal.append("s1", CallState.PLANNED, {"tool": "t", "summary": f"call {i}"}, f"c{i}")
            await journal.append("s1", CallState.COMPENSATED if i % 2 else CallState.REJECTED, {}, f"c{i}")


async def _rows(path: Path, build: str) -> list[tuple[Any, ...]]:
    async with Journal.open(path, readonly=True) as journal:
        return [(r.position, r.seq) for r in await journal.timeline_checkpoints("s1", build)]


async def test_the_checkpoints_are_built_once_and_read_back(tmp_path: Path, small_checkpoints: None) -> None:
    path = tmp_path / "j.db"
    await _long_session(path, 20)  # 60 events: checkpoints at 16, 32 and 48
    first = await JournalTimeline.open(path, "s1")
    assert first.cached and await _rows(path, checkpoints.BUILD) == [(16, 16), (32, 32), (48, 48)]
    again = await JournalTimeline.open(path, "s1")
    last = await again.moment(len(again) - 1)
    assert [c.call_id for c in last.calls.values()] == ["c18", "c19", "c20"] and last.earlier == 17
    assert last.transcript == ("thought 19", "thought 20")


async def test_checkpoints_of_another_layout_are_replaced(tmp_path: Path, small_checkpoints: None) -> None:
    path = tmp_path / "j.db"
    await _long_session(path, 20)
    await JournalTimeline.open(path, "s1")
    old = checkpoints.BUILD
    checkpoints.BUILD = "test/other"  # restored by the fixture's monkeypatch
    await JournalTimeline.open(path, "s1")
    assert await _rows(path, old) == [] and len(await _rows(path, "test/other")) == 3


async def test_a_journal_that_cannot_be_written_keeps_its_checkpoints_in_memory(
    tmp_path: Path, small_checkpoints: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.db"
    await _long_session(path, 20)

    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise JournalError(str(path), "is read-only", "Fix its permissions.")

    monkeypatch.setattr(Journal, "save_timeline_checkpoints", refuse)
    timeline = await JournalTimeline.open(path, "s1")
    assert not timeline.cached and await _rows(path, checkpoints.BUILD) == []
    async with Journal.open(path, readonly=True) as journal:
        full = Timeline(await journal.events("s1"))
    for index in (40, 3, 59, 17):
        assert await timeline.moment(index) == windowed(full.at(index), WINDOW, TAIL)


async def test_a_version_5_journal_gets_the_checkpoints_table(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    await _long_session(path, 3)
    conn = sqlite3.connect(path)  # make it look like a journal written by schema version 5
    conn.execute("DROP TABLE timeline_checkpoints")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    async with Journal.open(path) as journal:
        assert [e.kind for e in await journal.events("s1")][1:3] == [EventKind.TRANSCRIPT, CallState.PLANNED]
        assert await journal.timeline_checkpoints("s1", checkpoints.BUILD) == []
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'timeline_checkpoints'").fetchone()
    finally:
        conn.close()


@pytest.mark.both_backends
async def test_a_long_session_opens_at_its_end_on_both_backends(
    journal_target: str, small_checkpoints: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queries a long session opens with (plain SQL of both backends) give the full walk's moments."""
    monkeypatch.setattr(checkpoints, "INLINE", 0)
    clock, states = Clock(), dict[str, CallState]()
    script = [Step(what, n * 7, 0.5) for n, what in enumerate(["plan", "think", "move", "move", "note"] * 12)]
    script[40] = Step("stop", 0, 0.5)
    async with Journal.open(journal_target, clock=clock) as journal:
        await journal.create_session("s1", task_name="both")
        await _play(journal, clock, "s1", script, states)
        full = Timeline(await journal.events("s1"))
    timeline = await JournalTimeline.open(journal_target, "s1")
    assert timeline.is_long and timeline.indexed < 1.0 and timeline.stop_indices == full.stop_indices
    for index in (len(full) - 1, len(full) - 2, 3, 41, 17):
        assert await timeline.moment(index) == windowed(full.at(index), WINDOW, TAIL), index
    assert timeline.indexed == 1.0
