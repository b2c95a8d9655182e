"""The single bridge from the journal to the UI: polls a session's durable events, posts them as messages."""

from __future__ import annotations

from textual.message_pump import MessagePump
from textual.timer import Timer

from agentstop.session import SessionControl

from .messages import JournalEvents

__all__ = ["JournalBridge"]

POLL_INTERVAL = 0.05


class JournalBridge:
    """Reads the session's events after the last seen seq (through its control) and posts them to `target`.

    The side-effect panel and the report only ever show what this delivers, so
    they show only what is durable in the journal.
    """

    def __init__(self, control: SessionControl, target: MessagePump) -> None:
        self.control = control
        self.target = target
        self.after = 0
        self._timer: Timer | None = None
        self._busy = False

    def start(self) -> None:
        """Begin polling on the target's event loop."""
        self._timer = self.target.set_interval(POLL_INTERVAL, self.poll, name="journal-bridge")

    def stop(self) -> None:
        """Stop polling."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    async def poll(self) -> None:
        """Deliver every event after the last delivered one (one batch per poll)."""
        if self._busy:
            return
        self._busy = True
        try:
            events = await self.control.events(after=self.after, limit=5000)
            if events:
                self.after = events[-1].seq
                self.target.post_message(JournalEvents(events))
        finally:
            self._busy = False
