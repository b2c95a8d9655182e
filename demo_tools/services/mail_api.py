"""The mail API: an outbox with an undo window in front of a real SMTP server.

`POST /outbox` queues a message until `now + undo_window_s`; until then
`DELETE /outbox/{key}` pulls it back and nobody ever sees it. The world's
delivery worker then sends due messages over SMTP, with a Message-ID derived
from the idempotency key, to the SMTP server that files them in the Maildir.
"""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from demo_tools.services.delayed_queue import DelayedQueue, Item
from demo_tools.services.jsonhttp import HttpError, Request, Route, require_number, require_str
from demo_tools.services.queue_routes import QueueRoutes

__all__ = ["SENDER", "MailService", "message_id"]

SENDER = "agent@agentstop.demo"
DEFAULT_UNDO_WINDOW_S = 10.0
_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


def message_id(key: str) -> str:
    """The RFC 5322 Message-ID of the message sent with this idempotency key."""
    return "<" + re.sub(r"[^A-Za-z0-9._-]", ".", key) + "@agentstop.demo>"


class MailService(QueueRoutes):
    """The outbox's storage, HTTP routes and delivery."""

    after_delivery = "it cannot be pulled back"

    def __init__(self, queue: DelayedQueue, smtp_port: int) -> None:
        self.queue = queue
        self.smtp_port = smtp_port

    def routes(self) -> list[Route]:
        """The mail API's endpoints."""
        return [
            Route("POST", "/outbox", self._post),
            *self.queue_routes("/outbox"),
        ]

    def deliver_due(self) -> int:
        """Send every message whose undo window is over; return how many were sent."""
        return self.queue.deliver_due(self._send)

    def _post(self, request: Request) -> tuple[int, Any]:
        body = request.json_object()
        key = require_str(body, "idempotency_key")
        to = require_str(body, "to")
        subject = require_str(body, "subject")
        text = require_str(body, "body", "")
        window = require_number(body, "undo_window_s", DEFAULT_UNDO_WINDOW_S)
        in_reply_to = body.get("in_reply_to")
        if in_reply_to is not None and not isinstance(in_reply_to, str):
            raise HttpError(400, "field 'in_reply_to' must be a string (a Message-ID)")
        if not key:
            raise HttpError(400, "field 'idempotency_key' must not be empty")
        if _has_newline(to) or _has_newline(subject) or _has_newline(in_reply_to or ""):
            raise HttpError(400, "line breaks are not allowed in 'to', 'subject' or 'in_reply_to'")
        if not _ADDRESS.fullmatch(to):
            raise HttpError(400, f"'to' is not one email address: {to!r}")
        payload = {"to": to, "subject": subject, "body": text, "message_id": message_id(key)}
        if in_reply_to:
            payload["in_reply_to"] = in_reply_to
        item, created = self.queue.enqueue(key, payload, window)
        return (201 if created else 200), item.as_json()

    def _send(self, item: Item) -> None:
        payload = item.payload
        msg = EmailMessage()
        msg["From"] = SENDER
        msg["To"] = payload["to"]
        msg["Subject"] = payload["subject"]
        msg["Message-ID"] = payload["message_id"]
        msg["Date"] = formatdate(item.deliver_at, localtime=True)
        if "in_reply_to" in payload:
            msg["In-Reply-To"] = payload["in_reply_to"]
            msg["References"] = payload["in_reply_to"]
        msg.set_content(payload["body"] or "")
        with smtplib.SMTP("127.0.0.1", self.smtp_port, local_hostname="localhost", timeout=10) as smtp:
            smtp.send_message(msg)


def _has_newline(text: str) -> bool:
    # Every line boundary Python knows (NEL, U+2028, form feed, ...), not only CR and LF.
    return len(text.splitlines()) > 1 or text.splitlines(keepends=True) != text.splitlines()
