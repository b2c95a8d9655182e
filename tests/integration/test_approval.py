"""Approvals: calls that wait, prepared, at the fence until a person answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import GrantSpec, Journal, Rejected, Supervisor
from agentstop.supervisor.approval import ApprovalRequest
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
