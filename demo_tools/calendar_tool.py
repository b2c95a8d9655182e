"""`create_event` and `list_events`: the demo calendar service as tools.

An event's uid is the call's idempotency key, so a repeated commit books it
once and the undo deletes exactly that event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from agentstop.tools.base import Reversibility, Tool, ToolContext
from demo_tools.http_client import UpstreamError, commit_receipt, path_key, request
from demo_tools.world_config import WorldConfig

__all__ = ["CreateEvent", "ListEvents"]

_CALENDAR_NAME = r"^[A-Za-z0-9_.-]+$"


class CreateEvent(Tool):
    """Book an event in a calendar; undo deletes it."""

    name: ClassVar[str] = "create_event"
    description: ClassVar[str] = "Book a meeting in a calendar (the team calendar unless told otherwise)."
    reversibility: ClassVar[Reversibility] = Reversibility.REVERSIBLE

    class Args(BaseModel):
        """Arguments of `create_event`."""

        title: str = Field(min_length=1, description="What the meeting is.")
        start: datetime = Field(description="When it starts (ISO 8601; with an offset, or local time).")
        minutes: int = Field(default=30, gt=0, le=24 * 60, description="How long it lasts.")
        calendar: str = Field(default="team", pattern=_CALENDAR_NAME, description="Which calendar.")

    def resource(self, args: CreateEvent.Args) -> str:
        """`calendar:<name>`."""
        return f"calendar:{args.calendar}"

    def summary(self, args: CreateEvent.Args) -> str:
        """`book “Title” Tue 01 Dec 10:00, 45 min (team)`."""
        return f"book “{args.title}” {args.start:%a %d %b %H:%M}, {args.minutes} min ({args.calendar})"

    async def prepare(self, args: CreateEvent.Args, ctx: ToolContext) -> dict[str, Any]:
        """The event to book, with the call's key as its uid; nothing is booked."""
        return {
            "uid": ctx.idempotency_key,
            "title": args.title,
            "start": args.start.isoformat(),
            "minutes": args.minutes,
            "calendar": args.calendar,
        }

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Book the event; booking the same uid again returns the existing event."""
        world = WorldConfig.load()
        event = {k: v for k, v in prepared.items() if k != "uid"}
        response = await request("PUT", f"{world.calendar_api}/events/{path_key(prepared['uid'])}", event)
        return commit_receipt(response, "calendar service")

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Delete the event; an event already gone counts as deleted."""
        world = WorldConfig.load()
        uid = receipt["uid"]
        response = await request("DELETE", f"{world.calendar_api}/events/{path_key(uid)}")
        if response.status == 200:
            return {"undo": "deleted", "uid": uid}
        if response.status == 404:
            return {"undo": "already gone", "uid": uid}
        raise UpstreamError(f"the calendar service could not delete {uid!r} ({response.status}): {response.error}")

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        """The booked event with this call's key as uid, or None."""
        world = WorldConfig.load()
        response = await request("GET", f"{world.calendar_api}/events/{path_key(ctx.idempotency_key)}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise UpstreamError(
                f"the calendar service could not look up the event ({response.status}): {response.error}"
            )
        result: dict[str, Any] = response.data
        return result


class ListEvents(Tool):
    """List the events booked in a calendar (no side effect)."""

    name: ClassVar[str] = "list_events"
    description: ClassVar[str] = "List the meetings booked in a calendar, earliest first."
    reversibility: ClassVar[Reversibility] = Reversibility.READ_ONLY

    class Args(BaseModel):
        """Arguments of `list_events`."""

        calendar: str = Field(default="team", pattern=_CALENDAR_NAME, description="Which calendar.")

    def resource(self, args: ListEvents.Args) -> str:
        """`calendar:<name>`."""
        return f"calendar:{args.calendar}"

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """The calendar's events."""
        world = WorldConfig.load()
        query = urlencode({"calendar": prepared["calendar"]})
        response = await request("GET", f"{world.calendar_api}/events?{query}")
        data = commit_receipt(response, "calendar service")
        return {"calendar": prepared["calendar"], "events": data["events"]}
