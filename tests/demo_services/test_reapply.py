"""Re-apply against the real demo calendar: undo deletes the event, re-apply books it again, undo deletes it again.

The calendar file is read after every step: what the journal says is what the .ics holds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Supervisor
from demo_tools.calendar_tool import CreateEvent
from demo_tools.http_client import path_key, request
from tests.demo_services.probe import Demo

pytestmark = pytest.mark.anyio

PLANNING = {"title": "Sprint planning", "start": "2025-04-01T09:00:00+00:00", "minutes": 45, "calendar": "reapply"}


async def test_undo_reapply_undo_books_and_deletes_the_same_event(demo: Demo, tmp_path: Path) -> None:
    async with Journal.open(tmp_path / "journal.db") as journal:
        sup = Supervisor(journal, [CreateEvent], GrantSpec())
        booked = await sup.call("create_event", PLANNING)
        uid = booked["uid"]
        assert str(demo.events()[uid]["summary"]) == "Sprint planning"

        [undone] = await sup.undo(["c1"], by="ada")
        assert undone.status == "compensated"
        assert uid not in demo.events(), "undo deleted the event"

        tool = CreateEvent()
        [item] = (await sup.report()).reappliable
        assert tool.reapply_summary(item.receipt) == "book “Sprint planning” Tue 01 Apr 09:00 in reapply again"
        [redone] = await sup.reapply(["c1"], by="ada")
        assert redone.status == "reapplied"
        event = demo.events()[uid]
        assert (str(event["summary"]), event.decoded("dtstart").isoformat()) == (
            "Sprint planning",
            "2025-04-01T09:00:00+00:00",
        ), "re-apply booked the same event again"
        assert int((event.decoded("dtend") - event.decoded("dtstart")).total_seconds()) == 45 * 60
        assert (redone.receipt["uid"], redone.receipt["calendar"]) == (uid, "reapply")
        call = await journal.call(sup.session_id, "c1")
        assert (call.state, call.receipt["etag"]) == ("committed", redone.receipt["etag"]), (
            "the next undo checks the event against the re-applied booking"
        )

        [undone_again] = await sup.undo(["c1"], by="ada")
        assert undone_again.status == "compensated", undone_again.detail
        assert uid not in demo.events(), "the second undo deleted it again"
        assert [e.kind for e in await journal.events(sup.session_id) if e.call_id == "c1"][-6:] == [
            "compensating",
            "compensated",
            "reapplying",
            "committed",
            "compensating",
            "compensated",
        ]


async def test_a_reapplied_event_edited_since_is_protected_by_the_drift_check(demo: Demo, tmp_path: Path) -> None:
    async with Journal.open(tmp_path / "journal.db") as journal:
        sup = Supervisor(journal, [CreateEvent], GrantSpec())
        uid = (await sup.call("create_event", {**PLANNING, "title": "Retro"}))["uid"]
        await sup.undo(["c1"])
        await sup.reapply(["c1"])
        response = await request("PATCH", f"{demo.config.calendar_api}/events/{path_key(uid)}", {"title": "Retro!"})
        assert response.status == 200

        [refused] = await sup.undo(["c1"])

        assert refused.status == "refused"
        assert "title “Retro” → “Retro!”" in refused.drift
        assert str(demo.events()[uid]["summary"]) == "Retro!", "the person's edit of the re-applied event stays"


async def test_a_retried_reapply_books_the_event_once(demo: Demo) -> None:
    tool = CreateEvent()
    args = CreateEvent.Args.model_validate({**PLANNING, "title": "Once"})
    ctx = demo.ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
    await tool.compensate(receipt, demo.undo_ctx(ctx))
    again = demo.ctx(tool, args, key=f"{ctx.idempotency_key}:reapply1")

    first = await tool.reapply(receipt, again)
    second = await tool.reapply(receipt, again)

    assert first == second, "the second finds the event booked and books nothing more"
    assert [u for u, e in demo.events().items() if str(e["summary"]) == "Once"] == [receipt["uid"]]
