"""'Stop after this step': the current step's calls may finish; no new step starts; then revoke."""

from __future__ import annotations

import anyio
import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.journal import request_stop_after_step
from agentstop.planners import ScriptedPlanner, ScriptedStep
from tests.support.tools import WriteNote

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]

STEPS = [
    ScriptedStep("first", (("write_note", {"name": "one", "commit_delay": 0.3}),), False),
    ScriptedStep("second", (("write_note", {"name": "two"}),), False),
]


async def _wait_committing(journal: Journal, session_id: str) -> None:
    with anyio.fail_after(5):
        while not [c for c in await journal.calls(session_id) if c.state == "committing"]:
            await anyio.sleep(0.005)


async def test_the_current_step_finishes_and_no_new_step_starts(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec(), planner=ScriptedPlanner(STEPS, tokens_per_second=0))
    async with anyio.create_task_group() as tg:
        tg.start_soon(sup.run)
        await sup.start()
        await _wait_committing(journal, sup.session_id)
        await sup.stop_after_step("enough after this", "test")
    report = await sup.report()
    assert [(i.summary, i.state) for i in report.all_calls] == [("note 'one'", "committed")]
    assert notes.landed() == {"one"}
    assert report.session.status == "stopped" and report.session.stopped_by == "test"
    kinds = [e.kind for e in await journal.events(sup.session_id)]
    assert kinds.index("stop_after_step_requested") < kinds.index("committed") < kinds.index("revoked")


async def test_another_process_can_ask_to_stop_after_the_step(
    journal: Journal, journal_target: str, notes: WriteNote
) -> None:
    sup = Supervisor(journal, [notes], GrantSpec(), planner=ScriptedPlanner(STEPS, tokens_per_second=0))
    async with anyio.create_task_group() as tg:
        tg.start_soon(sup.run)
        await sup.start()
        await _wait_committing(journal, sup.session_id)
        await anyio.to_thread.run_sync(lambda: request_stop_after_step(journal_target, sup.session_id, by="terminal 2"))
    report = await sup.report()
    assert notes.landed() == {"one"}
    assert report.session.stopped_by == "terminal 2"


async def test_without_a_planner_it_waits_for_calls_in_flight_then_stops(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    async with anyio.create_task_group() as tg:
        tg.start_soon(sup.call, "write_note", {"name": "slow", "commit_delay": 0.2})
        await sup.start()
        await _wait_committing(journal, sup.session_id)
        await sup.stop_after_step()
    report = await sup.report()
    assert [i.state for i in report.all_calls] == ["committed"]
    assert report.session.status == "stopped"
