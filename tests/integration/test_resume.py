"""Resume: Stop never ends a session for good; a new grant runs it on as a new epoch."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from agentstop import GrantSpec, Journal, JournalError, Supervisor
from agentstop.journal import EventKind
from agentstop.planners import ScriptedPlanner, ScriptedStep
from tests.support import dies_in_commit
from tests.support.plans import plan
from tests.support.tools import WriteNote

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]

STEPS = [
    ScriptedStep("one", (("write_note", {"name": "one"}),)),
    ScriptedStep("two", (("write_note", {"name": "two", "prepare_delay": 5}),)),
    ScriptedStep(
        "three and four", (("write_note", {"name": "three"}), ("write_note", {"name": "four"})), parallel=True
    ),
]


async def _stopped_while_step_two_prepares(journal: Journal, notes: WriteNote) -> str:
    sup = Supervisor(journal, [notes], GrantSpec(), planner=ScriptedPlanner(STEPS, tokens_per_second=0))
    async with anyio.create_task_group() as tg:
        tg.start_soon(sup.run)
        with anyio.fail_after(5):
            while len(await journal.calls(sup.session_id)) < 2:
                await anyio.sleep(0.01)
        report = await sup.stop("wrong order", "user")
    assert [(i.summary, i.state) for i in report.all_calls] == [
        ("note 'one'", "committed"),
        ("note 'two'", "discarded"),
    ]
    return sup.session_id


async def test_resume_runs_what_did_not_land_and_nothing_twice(journal: Journal, notes: WriteNote) -> None:
    session_id = await _stopped_while_step_two_prepares(journal, notes)
    fast = [
        ScriptedStep(s.thought, tuple((t, {**a, "prepare_delay": 0}) for t, a in s.calls), s.parallel) for s in STEPS
    ]
    resumed = Supervisor(
        journal,
        [notes],
        GrantSpec(tools=["write_note"]),
        planner=ScriptedPlanner(fast, 0),
        session_id=session_id,
        resume=True,
        instruction="carry on, in order",
    )
    report = await resumed.run()

    assert resumed.epoch == 2 and report.epochs == 2
    calls = [(i.summary, i.state, i.epoch) for i in report.all_calls]
    assert calls[:3] == [
        ("note 'one'", "committed", 1),  # landed before the Stop: replayed, not issued again
        ("note 'two'", "discarded", 1),  # interrupted by the Stop: listed under its epoch...
        ("note 'two'", "committed", 2),  # ...and carried out after the Resume
    ]
    assert sorted(calls[3:]) == [("note 'four'", "committed", 2), ("note 'three'", "committed", 2)]  # in parallel
    assert notes.landed() == {"one", "two", "three", "four"}
    assert report.session.status == "completed"
    assert report.clean  # the epoch-1 interruption was carried out again; it does not count against the run
    kinds = [e.kind for e in await journal.events(session_id) if e.call_id is None]
    assert kinds.count("grant_issued") == 2 and kinds.index("revoked") < kinds.index("session_resumed")
    resumed_event = next(e for e in await journal.events(session_id) if e.kind == "session_resumed")
    assert resumed_event.data["epoch"] == 2 and resumed_event.data["instruction"] == "carry on, in order"
    assert resumed_event.data["previous_status"] == "stopped"


async def test_a_call_still_in_flight_is_not_issued_again(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    key = "k-in-flight"
    await sup.start()
    # A call whose commit began before a crash: committing, outcome not yet settled.
    call_id = await plan(
        journal,
        sup.session_id,
        "write_note",
        key,
        summary="note 'x'",
        resource="notes:x",
        args={"name": "x"},
        can_lookup=True,
        grant_id=(await journal.grants(sup.session_id))[0].grant_id,
    )
    await journal.fence(
        sup.session_id,
        call_id,
        (await journal.grants(sup.session_id))[0].grant_id,
        "write_note",
        "notes:x",
        prepared={},
    )
    from agentstop import OutcomeUnknown

    with pytest.raises(OutcomeUnknown, match="still in flight"):
        await sup.call("write_note", {"name": "x"}, key=key)
    assert notes.landed() == set()
    assert len(await journal.calls(sup.session_id)) == 1


async def test_a_running_session_cannot_be_resumed(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.start()
    again = Supervisor(journal, [notes], GrantSpec(), session_id=sup.session_id, resume=True)
    with pytest.raises(JournalError, match="still running"):
        await again.start()
    await sup.close()


async def test_a_stop_of_the_resumed_epoch_ends_it_stopped_and_unclean(journal: Journal, notes: WriteNote) -> None:
    session_id = await _stopped_while_step_two_prepares(journal, notes)
    resumed = Supervisor(
        journal, [notes], GrantSpec(), planner=ScriptedPlanner(STEPS, 0), session_id=session_id, resume=True
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(resumed.run)
        with anyio.fail_after(5):
            while len(await journal.calls(session_id)) < 3:
                await anyio.sleep(0.01)
        report = await resumed.stop("still wrong", "user")
    assert report.session.status == "stopped" and not report.clean
    assert [(i.summary, i.state, i.epoch) for i in report.interrupted] == [
        ("note 'two'", "discarded", 1),
        ("note 'two'", "discarded", 2),
    ]


async def test_resuming_a_session_whose_process_died_settles_it_first_and_issues_nothing_twice(
    journal_target: str, journal: Journal, world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent killed inside a commit (the effect landed, the journal still says `committing`), started again
    as the docs say: `Supervisor(..., session_id=..., resume=True)`, then the same keyed call made again."""
    await dies_in_commit.died_in_commit(journal_target, world, "died")
    [left] = await journal.calls("died")
    assert left.state == "committing" and (world / "a").exists()

    monkeypatch.setenv(dies_in_commit.WORLD_ENV, str(world))
    again = Supervisor(journal, [dies_in_commit.write_then_die.Tool], GrantSpec(), session_id="died", resume=True)
    receipt = await again.call("write_then_die", {"path": "a"}, key="k1")

    assert receipt == {"path": "a", "found": True}, "the landed call's receipt (from lookup), not a second commit"
    [call] = await journal.calls("died")
    assert (call.call_id, call.state) == (left.call_id, "committed")
    kinds = [e.kind for e in await journal.events("died")]
    assert kinds.index(EventKind.SESSION_ENDED) < kinds.index(EventKind.SESSION_RESUMED), "marked crashed, then resumed"
    ended = next(e for e in await journal.events("died") if e.kind == EventKind.SESSION_ENDED)
    assert ended.data["status"] == "crashed"
    await again.close()
