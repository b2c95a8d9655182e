"""Drill 7: load. 1,000 concurrent tool calls and a Stop in the middle of them.

The calls are the fast file-backed test tool (tests/support/tools.py), each
with a little seeded jitter in prepare and commit so that, when Stop comes,
calls are spread over every phase; every tenth waits in prepare until the Stop
is in, so some are behind the fence however loaded the machine is. Then: not one `committing` event after the
`revoked` event (the fence held under load), every one of the 1,000 calls in
exactly one bucket, nothing left in flight, and the world holding exactly
what Done lists.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import AgentstopError, GrantSpec, Journal, Supervisor, revoke
from agentstop.tools import ToolContext
from tests.drills.stats import record
from tests.support.tools import NoteArgs, WriteNote

pytestmark = pytest.mark.anyio

CALLS = 1_000
HELD_EVERY = 10
"""Every tenth call waits in prepare until the Stop is in: whatever the machine's load, some are behind the fence."""


class HeldNote(WriteNote):
    """`WriteNote` whose calls named `held-*` wait in prepare until the drill lets them go."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.release = anyio.Event()

    async def prepare(self, args: NoteArgs, ctx: ToolContext) -> dict[str, Any]:
        if args.name.startswith("held-"):
            await self.release.wait()
        return await super().prepare(args, ctx)


@pytest.mark.slow
@pytest.mark.parametrize("stopped_by", ["stop", "another process"])
async def test_a_thousand_concurrent_calls_with_a_stop_in_the_middle(scratch: Path, stopped_by: str) -> None:
    notes_dir = scratch / f"notes-{stopped_by.replace(' ', '-')}"
    notes_dir.mkdir()
    notes = HeldNote(notes_dir)
    rng = random.Random(1000)
    outcomes: list[Any] = []
    async with Journal.open(scratch / f"load-{stopped_by.replace(' ', '-')}.db") as journal:
        sup = Supervisor(journal, [notes], GrantSpec(), grace=2.0)

        async def one(i: int) -> None:
            name = f"held-{i}" if i % HELD_EVERY == 0 else f"n{i}"
            args = {"name": name, "prepare_delay": rng.uniform(0, 2.0), "commit_delay": rng.uniform(0, 0.005)}
            try:
                outcomes.append(await sup.call("write_note", args))
            except AgentstopError as exc:
                outcomes.append(exc)

        async with sup, anyio.create_task_group() as tg:
            for i in range(CALLS):
                tg.start_soon(one, i)
            with anyio.fail_after(30):  # Stop once a quarter have landed, most still behind the fence
                while sum(isinstance(o, dict) for o in outcomes) < CALLS // 4:
                    await anyio.sleep(0.002)
            if stopped_by == "stop":
                await sup.stop("the load drill pressed Stop")
            else:
                await anyio.to_thread.run_sync(lambda: revoke(journal.path, sup.session_id, by="load drill"))
            with anyio.fail_after(5):  # a revoke from elsewhere: the supervisor notices it and stops itself
                while not sup.stopping:
                    await anyio.sleep(0.01)
            notes.release.set()  # the held calls go on, into a fence that is closed (or a Stop that discards them)
        report = await sup.report()
        events = await journal.events(sup.session_id)

    revoked_at = next(e.seq for e in events if e.kind == "revoked")
    late = [(e.call_id, e.seq) for e in events if e.kind == "committing" and e.seq > revoked_at]
    ids = [i.call_id for i in report.done + report.interrupted + report.in_flight]
    landed = notes.landed()
    assert late == [], f"{len(late)} calls entered committing after the revoke"
    assert len(outcomes) == CALLS
    assert len(ids) == len(set(ids)) == CALLS
    assert report.in_flight == ()
    assert {i.summary.split("'")[1] for i in report.done} == landed
    assert 0 < len(report.done) < CALLS and report.interrupted, "Stop did not land in the middle"
    assert not any(name.startswith("held-") for name in landed), "a call held behind the fence landed after the Stop"
    assert {i.state for i in report.interrupted} <= {"rejected", "discarded", "failed"}
    assert report.session.status == "stopped"
    assert report.session.stopped_by == ("user" if stopped_by == "stop" else "load drill")
    how = "Stop" if stopped_by == "stop" else "a revoke from another process"
    record("load", f"1,000 concurrent calls, {how} in the middle: no commit after the revoke, all partitioned", CALLS)


async def test_a_session_revoked_from_elsewhere_is_recorded_stopped_even_if_it_ends_at_once(scratch: Path) -> None:
    notes_dir = scratch / "notes-revoked-then-closed"
    notes_dir.mkdir()
    async with Journal.open(scratch / "revoked-then-closed.db") as journal:
        sup = Supervisor(journal, [WriteNote(notes_dir)], GrantSpec())
        await sup.call("write_note", {"name": "before"})
        await anyio.to_thread.run_sync(lambda: revoke(journal.path, sup.session_id, by="terminal 2"))
        with pytest.raises(AgentstopError):
            await sup.call("write_note", {"name": "after"})
        await sup.close()
        report = await sup.report()
    assert (report.session.status, report.session.stopped_by) == ("stopped", "terminal 2")
