"""The calendar service: events kept as iCalendar in one `.ics` file.

`PUT /events/{uid}` books an event unless one with that uid exists (the uid is
the caller's idempotency key), `PATCH /events/{uid}` edits it the way a person
does in a calendar app (title, start, length), `DELETE /events/{uid}` removes it
exactly, and `GET /events?calendar=team` lists what is booked. The file is
rewritten atomically on every change, so a reader never sees half a calendar.

Every event in an answer carries its `sequence` (iCalendar SEQUENCE: 0 when
booked, one more on each edit) and an `etag`, a hash of the event as stored,
which changes with any edit, even one made to the .ics file by hand. A DELETE
with `?if_etag=...` removes the event only while it still has that ETag, and
answers 412 otherwise, so an undo cannot delete an edit it has not seen.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from icalendar import Calendar, Event, vText

from demo_tools.services.jsonhttp import HttpError, Request, Route, require_str

__all__ = ["CalendarService"]

_UID = r"(?P<uid>[^/]+)"
_CALENDAR_PROP = "X-AGENTSTOP-CALENDAR"


class CalendarService:
    """The calendar's storage (an `.ics` file) and HTTP routes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        if not path.exists():
            self._save(_new_calendar())

    def routes(self) -> list[Route]:
        """The calendar service's endpoints."""
        return [
            Route("GET", "/events", self._list),
            Route("PUT", f"/events/{_UID}", self._put),
            Route("GET", f"/events/{_UID}", self._get),
            Route("PATCH", f"/events/{_UID}", self._patch),
            Route("DELETE", f"/events/{_UID}", self._delete),
        ]

    def _put(self, request: Request) -> tuple[int, Any]:
        uid = request.params["uid"]
        body = request.json_object()
        title = require_str(body, "title")
        calendar = require_str(body, "calendar", "team")
        start = _parse_start(require_str(body, "start"))
        minutes = _minutes(body.get("minutes", 30))
        with self._lock:
            cal = self._load()
            existing = _find(cal, uid)
            if existing is not None:
                return 200, _as_json(existing)
            event = Event()
            event.add("uid", uid)
            event.add("summary", title)
            event.add("dtstart", start)
            event.add("dtend", start + timedelta(minutes=minutes))
            event.add("dtstamp", datetime.now(UTC))
            event.add("sequence", 0)
            event.add(_CALENDAR_PROP, calendar)
            cal.add_component(event)
            self._save(cal)
        return 201, _as_json(event)

    def _patch(self, request: Request) -> tuple[int, Any]:
        uid = request.params["uid"]
        body = request.json_object()
        unknown = sorted(set(body) - {"title", "start", "minutes"})
        if unknown:
            raise HttpError(400, f"cannot edit {', '.join(map(repr, unknown))}: only 'title', 'start' and 'minutes'")
        if not body:
            raise HttpError(400, "the edit changes nothing: give one or more of 'title', 'start', 'minutes'")
        with self._lock:
            cal = self._load()
            event = _find(cal, uid)
            if event is None:
                raise HttpError(404, f"no event with uid {uid!r}")
            start: datetime = event.decoded("dtstart")
            length: timedelta = event.decoded("dtend") - start
            if "title" in body:
                event["summary"] = vText(require_str(body, "title"))
            if "start" in body:
                start = _parse_start(require_str(body, "start"))
            if "minutes" in body:
                length = timedelta(minutes=_minutes(body["minutes"]))
            now = datetime.now(UTC)
            for name, value in (
                ("dtstart", start),
                ("dtend", start + length),
                ("dtstamp", now),
                ("last-modified", now),
                ("sequence", int(event.get("sequence", 0)) + 1),
            ):
                event.pop(name, None)
                event.add(name, value)
            self._save(cal)
        return 200, _as_json(event)

    def _get(self, request: Request) -> tuple[int, Any]:
        event = _find(self._load(), request.params["uid"])
        if event is None:
            raise HttpError(404, f"no event with uid {request.params['uid']!r}")
        return 200, _as_json(event)

    def _delete(self, request: Request) -> tuple[int, Any]:
        uid = request.params["uid"]
        wanted_etag = request.query.get("if_etag")
        with self._lock:
            cal = self._load()
            event = _find(cal, uid)
            if event is None:
                raise HttpError(404, f"no event with uid {uid!r}")
            if wanted_etag is not None and _etag(event) != wanted_etag:
                raise HttpError(
                    412,
                    f"event {uid!r} changed (its ETag is no longer {wanted_etag}); not deleted",
                    current=_as_json(event),
                )
            cal.subcomponents.remove(event)
            self._save(cal)
        return 200, {**_as_json(event), "deleted": True}

    def _list(self, request: Request) -> tuple[int, Any]:
        wanted = request.query.get("calendar")
        events = [_as_json(e) for e in _events(self._load())]
        if wanted:
            events = [e for e in events if e["calendar"] == wanted]
        return 200, {"events": sorted(events, key=lambda e: e["start"])}

    def _load(self) -> Calendar:
        return Calendar.from_ical(self.path.read_bytes())

    def _save(self, cal: Calendar) -> None:
        tmp = self.path.with_suffix(".ics.tmp")
        tmp.write_bytes(cal.to_ical())
        os.replace(tmp, self.path)


def _new_calendar() -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//agentstop//demo calendar//EN")
    cal.add("version", "2.0")
    return cal


def _parse_start(text: str) -> datetime:
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise HttpError(400, f"field 'start' is not an ISO 8601 date-time: {text!r}") from None
    # Stored in UTC: a fixed offset such as +02:00 has no TZID iCalendar can name.
    return start if start.tzinfo is None else start.astimezone(UTC)


def _minutes(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 24 * 60:
        raise HttpError(400, "field 'minutes' must be a whole number of minutes from 1 to 1440")
    return value


def _events(cal: Calendar) -> list[Event]:
    return [e for e in cal.walk("VEVENT") if isinstance(e, Event)]


def _find(cal: Calendar, uid: str) -> Event | None:
    for event in _events(cal):
        if str(event.get("uid")) == uid:
            return event
    return None


def _as_json(event: Event) -> dict[str, Any]:
    start: datetime = event.decoded("dtstart")
    end: datetime = event.decoded("dtend")
    return {
        "uid": str(event.get("uid")),
        "title": str(event.get("summary", "")),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "minutes": int((end - start).total_seconds() // 60),
        "calendar": str(event.get(_CALENDAR_PROP, "")),
        "sequence": int(event.get("sequence", 0)),
        "etag": _etag(event),
    }


def _etag(event: Event) -> str:
    """A hash of the event as stored: any edit changes it (a serialisation round trip does not)."""
    return hashlib.sha256(event.to_ical()).hexdigest()[:20]
