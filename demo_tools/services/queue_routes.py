"""What the mail outbox and the chat queue share: list, get and pull back a queued message."""

from __future__ import annotations

from typing import Any

from demo_tools.services.delayed_queue import DelayedQueue, Status
from demo_tools.services.jsonhttp import HttpError, Request, Route

__all__ = ["KEY", "QueueRoutes"]

KEY = r"(?P<key>[^/]+)"


class QueueRoutes:
    """GET all, GET one and DELETE (pull back while still queued) over a `DelayedQueue`.

    Subclasses set `queue` and say, in `after_delivery`, what to do once a message
    can no longer be pulled back.
    """

    queue: DelayedQueue
    after_delivery = "it cannot be pulled back"

    def queue_routes(self, prefix: str) -> list[Route]:
        """The three shared endpoints under `prefix` ("/outbox", "/messages")."""
        return [
            Route("GET", prefix, self._list),
            Route("GET", f"{prefix}/{KEY}", self._get),
            Route("DELETE", f"{prefix}/{KEY}", self._delete),
        ]

    def _list(self, request: Request) -> tuple[int, Any]:
        return 200, {"messages": [item.as_json() for item in self.queue.items()]}

    def _get(self, request: Request) -> tuple[int, Any]:
        item = self.queue.get(request.params["key"])
        if item is None:
            raise HttpError(404, f"no message with key {request.params['key']!r}")
        return 200, item.as_json()

    def _delete(self, request: Request) -> tuple[int, Any]:
        key = request.params["key"]
        item = self.queue.transition(key, Status.QUEUED, Status.PULLED)
        if item is None:
            raise HttpError(404, f"no message with key {key!r}")
        if item.status is not Status.PULLED:
            raise HttpError(
                409, f"message {key!r} was already {item.status.value}; {self.after_delivery}", message=item.as_json()
            )
        return 200, item.as_json()
