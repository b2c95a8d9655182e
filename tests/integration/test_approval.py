"""Approvals: calls that wait, prepared, at the fence until a person answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import GrantSpec, Journal, Rejected, Supervisor
from agentstop.supervisor.approval import Allow, ApprovalRequest
from tests.support.tools import Wire, WriteNote

pytestmark = pytest.mark.anyio


async def test_an_approved_irreversible_call_commits(journal: Journal, world: Path) -> None:
    seen: list[ApprovalRequest] = []

    async def yes(request: ApprovalRequest) -> bool:
        seen.append(request)
        return True

    sup = Supervisor(journal, [Wire(world), WriteNote(world)], GrantSpec(), approve="irreversible", approver=yes)
    await sup.call("write_note", {"name": "no approval needed"})
    await sup.call("wire", {"amount": 7})
    assert [(r.tool, r.reversibility, r.prepared) for r in seen] == [("wire", "irreversible", {"amount": 7})]
    assert (world / "wires.log").read_text().endswith(" 7\n")
    kinds = [e.kind for e in await journal.events(sup.session_id) if e.call_id == "c2"]
    assert kinds == ["planned", "prepared", "approval_requested", "approved", "committing", "committed"]


async def test_a_denied_call_is_rejected_with_the_message(journal: Journal, world: Path) -> None:
    async def no(request: ApprovalRequest) -> str:
        return "denied: wrong account"

    sup = Supervisor(journal, [Wire(world)], GrantSpec(), approve=["wire"], approver=no)
    with pytest.raises(Rejected, match="denied: wrong account; nothing was sent"):
        await sup.call("wire", {"amount": 7})
    assert not (world / "wires.log").exists()


async def test_without_an_approver_such_calls_are_rejected(journal: Journal, world: Path) -> None:
    sup = Supervisor(journal, [Wire(world)], GrantSpec(), approve="irreversible")
    with pytest.raises(Rejected, match="nobody can approve here"):
        await sup.call("wire", {"amount": 7})
    [item] = (await sup.report()).interrupted
    assert item.state == "rejected"


async def test_stop_denies_a_pending_approval(journal: Journal, world: Path) -> None:
    asked = anyio.Event()

    async def never(request: ApprovalRequest) -> bool:
        asked.set()
        await anyio.sleep_forever()
        return True

    sup = Supervisor(journal, [Wire(world)], GrantSpec(), approve="irreversible", approver=never)
    out: list[Any] = []

    async def call() -> None:
        try:
            out.append(await sup.call("wire", {"amount": 7}))
        except Rejected as exc:
            out.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await asked.wait()
        report = await sup.stop()
    assert isinstance(out[0], Rejected) and "denied: stopped" in out[0].reason
    assert [i.state for i in report.interrupted] == ["rejected"]
    assert not (world / "wires.log").exists()


async def test_an_approval_is_bound_to_its_effect_and_survives_a_restart(journal: Journal, world: Path) -> None:
    asked: list[object] = []
    first: Supervisor | None = None

    async def yes_but_stop_comes_first(request: ApprovalRequest) -> bool:
        asked.append(request.args)
        assert first is not None
        await journal.revoke(first.session_id, by="user")  # Stop lands between the yes and the fence
        return True

    first = Supervisor(journal, [Wire(world)], GrantSpec(), approve="irreversible", approver=yes_but_stop_comes_first)
    with pytest.raises(Rejected, match="revoked"):
        await first.call("wire", {"amount": 5})
    await first.stop()

    async def yes(request: ApprovalRequest) -> bool:
        asked.append(request.args)
        return True

    # A new process (a restarted TUI) resumes the session: the same effect is still approved...
    second = Supervisor(
        journal,
        [Wire(world)],
        GrantSpec(),
        approve="irreversible",
        approver=yes,
        session_id=first.session_id,
        resume=True,
    )
    await second.call("wire", {"amount": 5})
    assert asked == [{"amount": 5}]
    # ...a changed argument is a new effect, which needs its own approval...
    await second.call("wire", {"amount": 6})
    assert asked == [{"amount": 5}, {"amount": 6}]
    # ...and "once" was used up when the wire of 5 landed.
    await second.call("wire", {"amount": 5})
    assert asked == [{"amount": 5}, {"amount": 6}, {"amount": 5}]
    assert (world / "wires.log").read_text().count("\n") == 3
    approvals = [e.data for e in await journal.events(first.session_id) if e.kind == "approved"]
    assert [a.get("scope") for a in approvals] == ["once", "once", "once", "once"]
    assert approvals[1]["reused"] == "c1" and approvals[0]["effect"] == approvals[1]["effect"]


async def test_allow_for_this_session_covers_later_calls_of_the_tool(journal: Journal, world: Path) -> None:
    asked: list[object] = []

    async def for_the_session(request: ApprovalRequest) -> Allow:
        asked.append(request.args)
        return Allow.SESSION

    sup = Supervisor(journal, [Wire(world)], GrantSpec(), approve="irreversible", approver=for_the_session)
    for amount in (1, 2, 3):
        await sup.call("wire", {"amount": amount})
    assert asked == [{"amount": 1}]
    assert (world / "wires.log").read_text().count("\n") == 3
