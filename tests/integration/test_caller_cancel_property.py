"""A property over random cancel moments: concurrent callers, some cancelled, and a revoke somewhere.

Whatever the interleaving: no call enters `committing` after the revoke, none is
left `committing` (or planned, or prepared) once the supervisor has closed, the
report puts every call in exactly one of its three lists, and what Done lists
is on disk while what Interrupted lists is not.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from agentstop import CallState, GrantSpec, Journal, Report, Reversibility, StopPolicy, Supervisor, Tool, ToolContext

pytestmark = pytest.mark.slow


class SleepyWrite(Tool):
    """Writes `<world>/<name>.txt` after sleeping in prepare and in commit; lookup finds the file."""

    name = "sleepy_write"
    reversibility = Reversibility.REVERSIBLE
    on_stop = StopPolicy.TRY_CANCEL

    class Args(BaseModel):
        name: str
        prepare_ms: int
        commit_ms: int

    def __init__(self, world: Path) -> None:
        self.world = world

    async def prepare(self, args: SleepyWrite.Args, ctx: ToolContext) -> dict[str, Any]:
        await anyio.sleep(args.prepare_ms / 1000)
        return args.model_dump()

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        await anyio.sleep(prepared["commit_ms"] / 1000)
        path = self.world / f"{prepared['name']}.txt"
        path.write_text("x")
        return {"path": str(path)}

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        name = ctx.args["name"] if isinstance(ctx.args, dict) else ctx.args.name
        path = self.world / f"{name}.txt"
        return {"path": str(path)} if path.exists() else None


call_plan = st.tuples(st.integers(0, 15), st.integers(0, 15), st.one_of(st.none(), st.integers(0, 30)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(call_plan, min_size=1, max_size=8), revoke_ms=st.integers(0, 40), grace_ms=st.integers(0, 20))
def test_random_cancels_and_a_revoke_leave_nothing_committing_and_nothing_after_the_revoke(
    tmp_path_factory: pytest.TempPathFactory, calls: list[tuple[int, int, int | None]], revoke_ms: int, grace_ms: int
) -> None:
    root = tmp_path_factory.mktemp("prop")
    world = root / "world"
    world.mkdir()

    async def main() -> None:
        async with Journal.open(root / "journal.db") as journal:
            sup = Supervisor(journal, [SleepyWrite(world)], GrantSpec(), grace=grace_ms / 1000)
            await sup.start()

            async def caller(i: int, prepare_ms: int, commit_ms: int) -> None:
                try:
                    await sup.call("sleepy_write", {"name": f"f{i}", "prepare_ms": prepare_ms, "commit_ms": commit_ms})
                except Exception:
                    pass  # refusals are answers here; the journal is what the property reads

            tasks = [asyncio.ensure_future(caller(i, p, c)) for i, (p, c, _) in enumerate(calls)]

            async def cancel_later(task: asyncio.Future[None], ms: int) -> None:
                await anyio.sleep(ms / 1000)
                task.cancel()

            async def revoke_later() -> None:
                await anyio.sleep(revoke_ms / 1000)
                await sup.stop("the property's revoke")

            async with anyio.create_task_group() as tg:
                for task, (_, _, cancel_ms) in zip(tasks, calls, strict=True):
                    if cancel_ms is not None:
                        tg.start_soon(cancel_later, task, cancel_ms)
                tg.start_soon(revoke_later)
                await asyncio.wait(tasks)
            await sup.close()

            events = await journal.events(sup.session_id)
            [revoked] = [e.seq for e in events if e.kind == "revoked"]
            late = [e for e in events if e.kind == CallState.COMMITTING and e.seq > revoked]
            assert late == [], f"calls entered committing after the revoke: {late}"
            records = await journal.calls(sup.session_id)
            unsettled = {CallState.PLANNED, CallState.PREPARED, CallState.COMMITTING}
            assert [c.call_id for c in records if c.state in unsettled] == []
            report = await Report.from_journal(journal, sup.session_id)
            buckets = [i.call_id for i in (*report.done, *report.interrupted, *report.in_flight)]
            assert sorted(buckets) == sorted(c.call_id for c in records)
            for item in report.done:
                assert (world / f"{item.args['name']}.txt").exists()
            for item in report.interrupted:
                assert not (world / f"{item.args['name']}.txt").exists()

    anyio.run(main)
