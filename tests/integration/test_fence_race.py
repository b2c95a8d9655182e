"""Invariant 2 as a property: concurrent calls racing a revoke at a random moment.

Whatever the interleaving, once revoke has returned no call enters
`committing`; every call is in exactly one bucket; and the world holds exactly
what Done says.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentstop import AgentstopError, GrantSpec, Journal, Supervisor, revoke
from tests.support.tools import WriteNote

delays = st.floats(min_value=0, max_value=0.004, allow_nan=False)
call_plans = st.lists(st.tuples(delays, delays, delays), min_size=1, max_size=16)


async def _race(
    root: Path, plans: list[tuple[float, float, float]], revoke_after: float, from_other_process: bool
) -> None:
    world = root / "world"
    world.mkdir()
    notes = WriteNote(world)
    async with Journal.open(root / "j.db") as journal:
        sup = Supervisor(journal, [notes], GrantSpec())
        await sup.start()

        async def one(i: int, start: float, prep: float, commit: float) -> None:
            await anyio.sleep(start)
            try:
                await sup.call("write_note", {"name": f"n{i}", "prepare_delay": prep, "commit_delay": commit})
            except AgentstopError:
                pass

        async def revoker() -> None:
            await anyio.sleep(revoke_after)
            if from_other_process:
                await anyio.to_thread.run_sync(lambda: revoke(journal.path, sup.session_id, by="other"))
            else:
                await journal.revoke(sup.session_id, by="test")
            # Everything after this point must be rejected.
            for i in range(3):
                try:
                    await sup.call("write_note", {"name": f"late{i}"})
                except AgentstopError:
                    pass

        async with anyio.create_task_group() as tg:
            for i, (start, prep, commit) in enumerate(plans):
                tg.start_soon(one, i, start, prep, commit)
            tg.start_soon(revoker)

        events = await journal.events(sup.session_id)
        revoked_seq = next(e.seq for e in events if e.kind == "revoked")
        committing = {e.call_id: e.seq for e in events if e.kind == "committing"}
        violations = {cid: seq for cid, seq in committing.items() if seq > revoked_seq}
        assert violations == {}, f"calls entered committing after revoke: {violations}"

        report = await sup.stop()
        ids = [i.call_id for i in report.done + report.interrupted + report.in_flight]
        assert len(ids) == len(set(ids)) == len(plans) + 3
        assert report.in_flight == ()
        assert {i.summary.split("'")[1] for i in report.done} == notes.landed()
        assert not any(name.startswith("late") for name in notes.landed())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans=call_plans, revoke_after=st.floats(min_value=0, max_value=0.006), remote=st.booleans())
def test_no_call_commits_after_revoke_under_any_interleaving(
    plans: list[tuple[float, float, float]], revoke_after: float, remote: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(_race, Path(tmp), plans, revoke_after, remote)
