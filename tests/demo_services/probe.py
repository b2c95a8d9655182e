"""A running demo world seen from the outside: its Maildir, channel file and calendar."""

from __future__ import annotations

import json
import mailbox
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

import anyio
from icalendar import Calendar, Event

from agentstop import Tool, ToolContext
from demo_tools.world_config import WorldConfig

T = TypeVar("T")


@dataclass(frozen=True)
class Demo:
    """The running world, seen from the outside (its Maildir, channel file and .ics)."""

    config: WorldConfig

    @staticmethod
    def ctx(tool: Tool, args: Any, key: str | None = None) -> ToolContext:
        """A fresh call context, with a new idempotency key unless one is given."""
        return ToolContext(session_id="s", call_id="c1", tool=tool.name, idempotency_key=key or uuid4().hex, args=args)

    @staticmethod
    def undo_ctx(ctx: ToolContext, attempt: int = 1) -> ToolContext:
        """The context the supervisor gives `compensate`: the call's key plus ":undo"."""
        return replace(ctx, idempotency_key=f"{ctx.idempotency_key}:undo", attempt=attempt)

    def mails(self, message_id: str) -> list[Message]:
        """Delivered mail with this Message-ID."""
        box = mailbox.Maildir(self.config.mailbox, create=False)
        return [msg for msg in box if msg["Message-ID"] == message_id]

    def chat(self, key: str) -> list[dict[str, Any]]:
        """Lines of the chat channel about the message with this key."""
        text = Path(self.config.dir, "chat.jsonl").read_text()
        # A line still being appended has no newline yet: leave it for the next poll.
        lines = [json.loads(raw) for raw in text.splitlines(keepends=True) if raw.endswith("\n")]
        return [line for line in lines if line["key"] == key]

    def ics_text(self) -> str:
        """The calendar file as text."""
        return Path(self.config.dir, "calendar.ics").read_text()

    def events(self) -> dict[str, Event]:
        """The events in calendar.ics, by uid."""
        cal = Calendar.from_ical(Path(self.config.dir, "calendar.ics").read_bytes())
        return {str(e["uid"]): e for e in cal.walk("VEVENT") if isinstance(e, Event)}

    @staticmethod
    async def eventually(check: Callable[[], T], what: str, within_s: float = 10.0) -> T:
        """Poll `check` until it returns something truthy; fail after `within_s` seconds."""
        with anyio.move_on_after(within_s):
            while not (value := check()):
                await anyio.sleep(0.02)
            return value
        raise AssertionError(f"still waiting after {within_s} s for {what}")
