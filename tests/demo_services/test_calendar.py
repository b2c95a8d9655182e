"""create_event and list_events against the real calendar service and its .ics file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from pydantic import ValidationError

from agentstop import Reversibility
from demo_tools.calendar_tool import CreateEvent, ListEvents
from tests.demo_services.probe import Demo

pytestmark = pytest.mark.anyio

START = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)


def meeting(calendar: str = "team", title: str = "Design review", start: datetime = START) -> CreateEvent.Args:
    return CreateEvent.Args(title=title, start=start, minutes=45, calendar=calendar)


def test_declares_reversible_and_scopes_by_calendar() -> None:
    tool = CreateEvent()
    assert tool.reversibility is Reversibility.REVERSIBLE
    assert tool.resource(meeting("ops")) == "calendar:ops"
    assert ListEvents().is_read_only
    with pytest.raises(ValidationError):
        CreateEvent.Args(title="x", start=START, minutes=0)


async def test_create_lookup_and_undo_show_in_the_ics_file(demo: Demo) -> None:
    tool = CreateEvent()
    ctx = demo.ctx(tool, meeting())
    prepared = await tool.prepare(meeting(), ctx)
    assert prepared["uid"] == ctx.idempotency_key
    assert ctx.idempotency_key not in demo.events()  # prepare books nothing

    receipt = await tool.commit(prepared, ctx)
    assert receipt == {
        "uid": ctx.idempotency_key,
        "title": "Design review",
        "start": "2025-03-14T10:00:00+00:00",
        "end": "2025-03-14T10:45:00+00:00",
        "minutes": 45,
        "calendar": "team",
        "sequence": 0,
        "etag": receipt["etag"],
    }
    assert re.fullmatch(r"[0-9a-f]{20}", receipt["etag"])
    event = demo.events()[ctx.idempotency_key]
    assert str(event["summary"]) == "Design review"
    assert await tool.lookup(ctx) == receipt

    assert await tool.compensate(receipt, demo.undo_ctx(ctx)) == {"undo": "deleted", "uid": ctx.idempotency_key}
    assert ctx.idempotency_key not in demo.events()
    assert await tool.lookup(ctx) is None
    # Undo is idempotent: the event being gone already is success.
    retried = await tool.compensate(receipt, demo.undo_ctx(ctx, attempt=2))
    assert retried == {"undo": "already gone", "uid": ctx.idempotency_key}


async def test_commit_twice_with_one_key_books_once(demo: Demo) -> None:
    tool = CreateEvent()
    ctx = demo.ctx(tool, meeting())
    prepared = await tool.prepare(meeting(), ctx)
    first = await tool.commit(prepared, ctx)
    assert await tool.commit(prepared, ctx) == first
    cal = demo.ics_text()
    assert cal.count(f"UID:{ctx.idempotency_key}") == 1


async def test_a_start_with_an_offset_is_booked_in_utc(demo: Demo) -> None:
    tool = CreateEvent()
    start = datetime(2025, 3, 14, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    ctx = demo.ctx(tool, meeting(start=start))
    receipt = await tool.commit(await tool.prepare(meeting(start=start), ctx), ctx)
    assert receipt["start"] == "2025-03-14T10:00:00+00:00"


async def test_lookup_of_an_unknown_key_is_none(demo: Demo) -> None:
    tool = CreateEvent()
    assert await tool.lookup(demo.ctx(tool, meeting())) is None


async def test_list_events_returns_one_calendar_in_start_order(demo: Demo) -> None:
    calendar = f"cal-{uuid4().hex[:8]}"
    create = CreateEvent()
    for title, hour in (("Late", 15), ("Early", 9)):
        args = meeting(calendar, title, START.replace(hour=hour))
        ctx = demo.ctx(create, args)
        await create.commit(await create.prepare(args, ctx), ctx)
    other = meeting("elsewhere")
    other_ctx = demo.ctx(create, other)
    await create.commit(await create.prepare(other, other_ctx), other_ctx)

    tool = ListEvents()
    query = ListEvents.Args(calendar=calendar)
    ctx = demo.ctx(tool, query)
    listed = await tool.commit(await tool.prepare(query, ctx), ctx)
    assert listed["calendar"] == calendar
    assert [e["title"] for e in listed["events"]] == ["Early", "Late"]
