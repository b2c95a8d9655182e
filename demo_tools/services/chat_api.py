"""The chat webhook: messages reach the channel after a short delay.

`POST /messages` queues a message for `delay_s` seconds (3 by default); until
then `DELETE /messages/{key}` takes it back. Once delivered, a message is a line
in the channel file (`chat.jsonl`) and can only be followed by a retraction
(`POST /retractions`), which is another line everyone sees.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from demo_tools.services.delayed_queue import DelayedQueue, Item, Status
from demo_tools.services.jsonhttp import HttpError, Request, Route, require_number, require_str
from demo_tools.services.queue_routes import QueueRoutes

__all__ = ["DEFAULT_DELAY_S", "ChatService"]

DEFAULT_DELAY_S = 3.0


class ChatService(QueueRoutes):
    """The chat queue's storage, HTTP routes and delivery into the channel file."""

    after_delivery = "post a retraction instead"

    def __init__(self, queue: DelayedQueue, channel_file: Path) -> None:
        self.queue = queue
        self.channel_file = channel_file
        channel_file.touch()

    def routes(self) -> list[Route]:
        """The chat webhook's endpoints."""
        return [
            Route("POST", "/messages", self._post),
            *self.queue_routes("/messages"),
            Route("POST", "/retractions", self._retract),
        ]

    def deliver_due(self) -> int:
        """Post every message whose delay is over; return how many were posted."""
        return self.queue.deliver_due(self._post_to_channel)

    def _post(self, request: Request) -> tuple[int, Any]:
        body = request.json_object()
        key = require_str(body, "idempotency_key")
        channel = require_str(body, "channel")
        text = require_str(body, "text")
        delay = require_number(body, "delay_s", DEFAULT_DELAY_S)
        if not key or not channel:
            raise HttpError(400, "fields 'idempotency_key' and 'channel' must not be empty")
        item, created = self.queue.enqueue(key, {"channel": channel, "text": text}, delay)
        return (201 if created else 200), item.as_json()

    def _retract(self, request: Request) -> tuple[int, Any]:
        key = require_str(request.json_object(), "key")
        item = self.queue.transition(key, Status.DELIVERED, Status.RETRACTED, self._post_retraction)
        if item is None:
            raise HttpError(404, f"no message with key {key!r}")
        if item.status is not Status.RETRACTED:
            hint = "DELETE it instead" if item.status is Status.QUEUED else "nobody saw it"
            raise HttpError(
                409,
                f"message {key!r} is {item.status.value}, not delivered: {hint}",
                message=item.as_json(),
            )
        return 200, item.as_json()

    def _post_to_channel(self, item: Item) -> None:
        self._append({"kind": "message", **self._line(item), "text": item.payload["text"]})

    def _post_retraction(self, item: Item) -> None:
        text = f"(retracted) Please ignore my previous message: {item.payload['text']}"
        self._append({"kind": "retraction", **self._line(item), "text": text})

    @staticmethod
    def _line(item: Item) -> dict[str, Any]:
        return {"key": item.key, "channel": item.payload["channel"], "at": time.time()}

    def _append(self, line: dict[str, Any]) -> None:
        # Callers hold the queue's lock, so lines are never interleaved.
        with self.channel_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
