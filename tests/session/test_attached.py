"""`AttachedSession`: Stop, Stop again, undo and re-apply of a session another process runs, through its journal.

"Another process" is a supervisor on its own journal connection, as a headless
run or `agentstop mcp-proxy` would be: the control reaches it only through the
journal file (revoke, the escalation event) and undoes with tools loaded here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.errors import AgentstopError
from agentstop.journal import STOP_ESCALATED
from agentstop.planners import ScriptedPlanner, ScriptedStep
from agentstop.session import (
    STOPPED_BY,
    UNDONE_BY,
    AttachedSession,
    HeldTools,
    SessionControl,
    SessionPhase,
    fixed_tools,
)
from agentstop.tools import ToolRegistry
from tests.support.reapply_tools import ReapplyNote
from tests.tui.helpers import GatedNote

pytestmark = pytest.mark.anyio

SID = "20270301T100000-attached"
P = SessionPhase


@pytest.fixture
async def held() -> AsyncIterator[HeldTools]:
    """Held tools over nothing; each test hands its own tools where it undoes."""
    tools = HeldTools(fixed_tools(ToolRegistry([])))
    async with anyio.create_task_group() as tg:
        tg.start_soon(tools.run)
        yield tools
        await tools.close()


def phase(control: SessionControl) -> SessionPhase:
    """The control's phase now (read afresh: it moves while the test awaits)."""
    return control.phase


def journaled(control: AttachedSession) -> bool:
    """Whether the revoke has been read back from the journal, now."""
    return control.revoke_journaled


async def until(check: Callable[[], bool], what: str) -> None:
    with anyio.fail_after(10):
        while not check():
            await anyio.sleep(0.01)
    assert check(), what


async def test_stop_revokes_stop_again_escalates_and_the_journal_ends_it(
    tmp_path: Path, world: Path, held: HeldTools
) -> None:
    path = tmp_path / "journal.db"
    notes = GatedNote(world)
    notes.hold_commit("slow")
    steps = [ScriptedStep("", (("write_note", {"name": n}),)) for n in ("a", "slow")]
    async with Journal.open(path) as journal, anyio.create_task_group() as tg:
        sup = Supervisor(journal, [notes], GrantSpec(), ScriptedPlanner(steps, 0), grace=30.0, session_id=SID)
        tg.start_soon(sup.run)  # the other process: its planner, its watcher
        await until(lambda: notes.parked("slow"), "its commit of 'slow' waits at its gate")

        control = AttachedSession(path, await journal.session(SID), held)
        assert isinstance(control, SessionControl)
        heard: list[SessionPhase] = []
        control.on_phase(heard.append)
        assert phase(control) is P.RUNNING and not control.can_resume and control.grace == 30.0

        said = await control.stop("enough")
        assert said.startswith(f"Grant revoked: nothing new of session {SID} can commit")
        assert phase(control) is P.STOPPING and control.revoked_by == STOPPED_BY and not journaled(control)
        [grant] = await journal.grants(SID)
        assert (grant.revoked_by, grant.revoke_reason) == (STOPPED_BY, "enough")
        await control.events()
        assert journaled(control) and control.revoked_at == grant.revoked_at

        said = await control.stop("enough")  # again, while it waits for 'slow': skip the grace
        assert said.startswith("Stop pressed again") and phase(control) is P.ESCALATED
        assert [e.kind for e in await journal.events(SID)].count(STOP_ESCALATED) == 1
        assert (await control.stop("enough")).startswith("Already asked to skip the grace")

        with anyio.fail_after(10):  # far less than the 30 s of grace
            while phase(control) is not P.ENDED:
                await control.events()
                await anyio.sleep(0.05)
        assert heard == [P.STOPPING, P.ESCALATED, P.ENDED]
        assert await control.stop("enough") == "The session has ended; there is nothing to stop."
        report = await control.report()
        assert report.session.status == "stopped" and [i.call_id for i in report.done] == ["c1"]


async def test_a_revoke_that_cannot_be_written_leaves_it_running(tmp_path: Path, world: Path, held: HeldTools) -> None:
    async with Journal.open(tmp_path / "journal.db") as journal:
        sup = Supervisor(journal, [GatedNote(world)], GrantSpec(), session_id=SID)
        await sup.start()
        session = await journal.session(SID)
        await sup.close()
    elsewhere = tmp_path / "moved.db"  # a journal without the session: the revoke is refused
    async with Journal.open(elsewhere):
        pass
    control = AttachedSession(elsewhere, session, held)
    with pytest.raises(AgentstopError):
        await control.stop("enough")
    assert phase(control) is P.RUNNING and control.revoked_at is None  # pressing again tries again


async def test_stop_after_step_asks_its_process_through_the_journal(
    tmp_path: Path, world: Path, held: HeldTools
) -> None:
    path = tmp_path / "journal.db"
    async with Journal.open(path) as journal:
        await Supervisor(journal, [GatedNote(world)], GrantSpec(), session_id=SID).start()
        control = AttachedSession(path, await journal.session(SID), held)
        await control.stop_after_step("after this one")
        [asked] = [e for e in await journal.events(SID) if e.kind == "stop_after_step_requested"]
        assert asked.data == {"by": STOPPED_BY, "reason": "after this one"}
        assert phase(control) is P.RUNNING  # it stops when its step ends, which the journal will say


async def test_undo_and_reapply_run_through_tools_loaded_here(tmp_path: Path, world: Path) -> None:
    path = tmp_path / "journal.db"
    async with Journal.open(path) as journal:
        async with Supervisor(journal, [ReapplyNote(world)], GrantSpec(), session_id=SID) as sup:
            await sup.call("reapply_note", {"name": "minutes"})
        session = await journal.session(SID)
    assert session.status == "completed"

    again = ReapplyNote(world)  # this process's own instance of the tool, as `tools_from_session` would build
    held = HeldTools(fixed_tools(ToolRegistry([again])))
    async with anyio.create_task_group() as tg:
        tg.start_soon(held.run)
        control = AttachedSession(path, session, held)
        assert phase(control) is P.ENDED and control.can_reapply and not control.tools_start_programs
        [undone] = await control.undo(["c1"])
        assert undone.status == "compensated" and again.landed() == set()
        [redone] = await control.reapply(["c1"])
        assert redone.status == "reapplied" and again.landed() == {"minutes"}
        by = {e.kind: e.data.get("by") for e in await control.events() if e.call_id == "c1"}
        assert by["compensating"] == UNDONE_BY and by["reapplying"] == UNDONE_BY
        with pytest.raises(AgentstopError, match=f"--resume {SID}"):
            await control.resume(GrantSpec(), "go on")
        await held.close()
