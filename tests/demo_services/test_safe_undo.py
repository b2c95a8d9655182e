"""Safe undo against the real demo calendar: an event a person edited is not deleted unless forced."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.supervisor.undo import UNDO_REFUSED
from demo_tools.calendar_tool import CreateEvent
from demo_tools.http_client import UpstreamError, path_key, request
from tests.demo_services.probe import Demo

pytestmark = pytest.mark.anyio

REVIEW = {"title": "Release review", "start": "2025-03-14T10:00:00+00:00", "minutes": 30, "calendar": "drift"}


async def edit_event(demo: Demo, uid: str, **changes: Any) -> dict[str, Any]:
    """What a person does in their calendar app: move the meeting, rename it."""
    response = await request("PATCH", f"{demo.config.calendar_api}/events/{path_key(uid)}", changes)
    assert response.status == 200, response.data
    edited: dict[str, Any] = response.data
    return edited


async def test_an_edited_event_is_refused_then_removed_when_forced(demo: Demo, tmp_path: Path) -> None:
    async with Journal.open(tmp_path / "journal.db") as journal:
        sup = Supervisor(journal, [CreateEvent], GrantSpec())
        booked = await sup.call("create_event", REVIEW)
        assert (booked["sequence"], len(booked["etag"])) == (0, 20)
        edited = await edit_event(
            demo, booked["uid"], title="Release review (moved)", start="2025-03-14T11:30:00+00:00"
        )
        assert edited["sequence"] == 1 and edited["etag"] != booked["etag"]

        [refused] = await sup.undo(["c1"], by="ada")

        assert refused.status == "refused"
        assert refused.drift == (
            "the event was edited since the agent booked it (revision 0 → 1): "
            "title “Release review” → “Release review (moved)”; "
            "start Fri 14 Mar 10:00 → Fri 14 Mar 11:30"
        )
        assert str(demo.events()[booked["uid"]]["summary"]) == "Release review (moved)", "the event is still there"
        [event] = [e for e in await journal.events(sup.session_id) if e.kind == UNDO_REFUSED]
        assert (event.call_id, event.data["reason"], event.data["by"]) == ("c1", refused.drift, "ada")
        assert [i.call_id for i in (await sup.report()).undoable] == ["c1"]

        [forced] = await sup.undo(["c1"], by="ada", force=True)

        assert (forced.status, forced.forced) == ("compensated", True)
        assert booked["uid"] not in demo.events()
        compensated = [e for e in await journal.events(sup.session_id) if e.kind == "compensated"]
        assert compensated[0].data["forced"] is True


async def test_an_untouched_event_is_checked_and_deleted(demo: Demo, tmp_path: Path) -> None:
    async with Journal.open(tmp_path / "journal.db") as journal:
        sup = Supervisor(journal, [CreateEvent], GrantSpec())
        booked = await sup.call("create_event", REVIEW | {"title": "Untouched"})
        [result] = await sup.undo(["c1"])
    assert result.status == "compensated"
    assert booked["uid"] not in demo.events()


async def test_undo_all_deletes_the_others_and_keeps_the_edited_one(demo: Demo, tmp_path: Path) -> None:
    async with Journal.open(tmp_path / "journal.db") as journal:
        sup = Supervisor(journal, [CreateEvent], GrantSpec())
        uids = [(await sup.call("create_event", REVIEW | {"title": f"Meeting {n}"}))["uid"] for n in (1, 2, 3)]
        await edit_event(demo, uids[1], minutes=60)

        results = await sup.undo_all()

    assert [(r.call_id, r.status) for r in results] == [("c3", "compensated"), ("c2", "refused"), ("c1", "compensated")]
    assert "length 30 min → 60 min" in results[1].drift
    assert [uid in demo.events() for uid in uids] == [False, True, False]


async def test_the_delete_holds_only_for_the_etag_it_was_booked_with(demo: Demo) -> None:
    tool = CreateEvent()
    args = CreateEvent.Args.model_validate(REVIEW | {"title": "Raced"})
    ctx = demo.ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
    assert tool.undo_summary(receipt) == "delete “Raced” Fri 14 Mar 10:00 from drift"
    assert await tool.check(receipt, demo.undo_ctx(ctx)) is None
    await edit_event(demo, receipt["uid"], title="Raced (edited after the check)")

    with pytest.raises(UpstreamError, match="was edited after the drift check; it was not deleted"):
        await tool.compensate(receipt, demo.undo_ctx(ctx))
    assert receipt["uid"] in demo.events()


async def test_an_old_receipt_is_compared_field_by_field_and_a_deleted_event_is_no_drift(demo: Demo) -> None:
    tool = CreateEvent()
    args = CreateEvent.Args.model_validate(REVIEW | {"title": "Old receipt"})
    ctx = demo.ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
    old = {k: v for k, v in receipt.items() if k not in ("etag", "sequence")}  # booked before ETags existed

    assert await tool.check(old, demo.undo_ctx(ctx)) is None
    await edit_event(demo, receipt["uid"], title="Old receipt, renamed")
    assert await tool.check(old, demo.undo_ctx(ctx)) == (
        "the event was edited since the agent booked it: title “Old receipt” → “Old receipt, renamed”"
    )

    await tool.compensate(receipt, replace(demo.undo_ctx(ctx), forced=True))
    assert receipt["uid"] not in demo.events()
    assert await tool.check(receipt, demo.undo_ctx(ctx)) is None, "an event already gone is no drift"
