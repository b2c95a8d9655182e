"""`create_event` and `list_events`: the demo calendar service as tools.

An event's uid is the call's idempotency key, so a repeated commit books it
once and the undo deletes exactly that event. The receipt keeps the event's
ETag as booked: before the undo, `check` refuses when someone has edited the
event since (its ETag changed), and the delete itself is conditional on that
ETag, so an edit made between the check and the delete is not lost either.
After an undo, `reapply` books the same event again under the same uid (a
retried re-apply finds it booked and books nothing more); its new ETag is in
the new receipt, which the next undo checks against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from agentstop import Reversibility, Tool, ToolContext
from demo_tools.http_client import UpstreamError, commit_receipt, path_key, request
from demo_tools.latency import upstream
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
        await upstream("find_slot")
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
        await upstream("book_event")
        event = {k: v for k, v in prepared.items() if k != "uid"}
        response = await request("PUT", f"{world.calendar_api}/events/{path_key(prepared['uid'])}", event)
        return commit_receipt(response, "calendar service")

    def undo_summary(self, receipt: dict[str, Any]) -> str:
        """`delete “Title” Tue 01 Dec 10:00 from team`."""
        if not isinstance(receipt, dict) or "uid" not in receipt:
            return ""
        return f"delete “{receipt.get('title', '?')}” {_when(receipt.get('start'))} from {receipt.get('calendar', '?')}"

    async def check(self, receipt: dict[str, Any], ctx: ToolContext) -> str | None:
        """Refuse the undo when the event was edited since it was booked (its ETag changed).

        Only reads. An event already deleted is not drift (the undo finds it gone).
        A receipt without an ETag (booked before the calendar had them) is compared
        field by field.
        """
        world = WorldConfig.load()
        uid = receipt["uid"]
        response = await request("GET", f"{world.calendar_api}/events/{path_key(uid)}")
        if response.status == 404:
            return None
        if response.status != 200 or not isinstance(response.data, dict):
            raise UpstreamError(f"the calendar service could not read {uid!r} ({response.status}): {response.error}")
        return _drift(receipt, response.data)

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Delete the event; an event already gone counts as deleted.

        Unless the undo is forced, the delete holds only while the event still has
        the ETag it was booked with.

        Raises:
            UpstreamError: the service failed, or the event changed since the check
                (not deleted; the next attempt's check says what changed).
        """
        world = WorldConfig.load()
        uid = receipt["uid"]
        url = f"{world.calendar_api}/events/{path_key(uid)}"
        if not ctx.forced and receipt.get("etag"):
            url += "?" + urlencode({"if_etag": receipt["etag"]})
        response = await request("DELETE", url)
        if response.status == 200:
            return {"undo": "deleted", "uid": uid}
        if response.status == 404:
            return {"undo": "already gone", "uid": uid}
        if response.status == 412:
            raise UpstreamError(f"the event {uid!r} was edited after the drift check; it was not deleted")
        raise UpstreamError(f"the calendar service could not delete {uid!r} ({response.status}): {response.error}")

    def reapply_summary(self, receipt: dict[str, Any]) -> str:
        """`book “Title” Tue 01 Dec 10:00 in team again`."""
        if not isinstance(receipt, dict) or "uid" not in receipt:
            return ""
        when, calendar = _when(receipt.get("start")), receipt.get("calendar", "?")
        return f"book “{receipt.get('title', '?')}” {when} in {calendar} again"

    async def reapply(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Book the undone event again, as it was booked (same uid, title, start, length, calendar).

        Idempotent: the uid is the event's, so a retry (or a re-apply that already
        landed before a crash) finds it booked and books nothing more.

        Returns:
            The event as booked now (its new ETag, SEQUENCE 0): the next undo's receipt.

        Raises:
            CommitRefused: the calendar refused the event (4xx); nothing was booked.
            UpstreamError: the service failed; the re-apply can be retried.
        """
        world = WorldConfig.load()
        uid = receipt["uid"]
        event = {
            "title": receipt["title"],
            "start": receipt["start"],
            "minutes": receipt.get("minutes", 30),
            "calendar": receipt.get("calendar", "team"),
        }
        response = await request("PUT", f"{world.calendar_api}/events/{path_key(uid)}", event)
        return commit_receipt(response, "calendar service")

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


def _when(start: Any) -> str:
    try:
        return f"{datetime.fromisoformat(str(start)):%a %d %b %H:%M}"
    except ValueError:
        return str(start)


def _drift(booked: dict[str, Any], now: dict[str, Any]) -> str | None:
    """What changed between the event as booked (the receipt) and as it is now, or None."""
    if booked.get("etag") and booked["etag"] == now.get("etag"):
        return None
    changes = [
        f"{label} {show(booked.get(key))} → {show(now.get(key))}"
        for key, label, show in (
            ("title", "title", lambda v: f"“{v}”"),
            ("start", "start", _when),
            ("minutes", "length", lambda v: f"{v} min"),
            ("calendar", "calendar", str),
        )
        if booked.get(key) != now.get(key)
    ]
    if not changes and not booked.get("etag"):
        return None  # an old receipt without an ETag: the fields are all it can compare
    seq = f" (revision {booked.get('sequence', 0)} → {now.get('sequence', '?')})" if "sequence" in booked else ""
    what = "; ".join(changes) if changes else "details changed"
    return f"the event was edited since the agent booked it{seq}: {what}"


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
