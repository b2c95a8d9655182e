"""`send_email`: an email through the demo outbox, pullable until its undo window ends.

Until delivery the send is exactly reversible (the message is pulled from the
outbox and nobody sees it); after delivery only a correction email can follow
it, so the tool is compensable and its receipt says until when it is reversible.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from pydantic import BaseModel, Field, field_validator

from agentstop import Reversibility, Tool, ToolContext
from demo_tools.http_client import UpstreamError, commit_receipt, path_key, request
from demo_tools.latency import upstream
from demo_tools.settings import UNDO_WINDOW_ENV, env_seconds
from demo_tools.world_config import WorldConfig

__all__ = ["UNDO_WINDOW_ENV", "SendEmail"]

DEFAULT_UNDO_WINDOW_S = 10.0
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


class SendEmail(Tool):
    """Send one email; pull it back before delivery, or send a correction after."""

    name: ClassVar[str] = "send_email"
    description: ClassVar[str] = (
        "Send an email to one recipient. It waits in the outbox for a short undo window before delivery."
    )
    reversibility: ClassVar[Reversibility] = Reversibility.COMPENSABLE

    class Args(BaseModel):
        """Arguments of `send_email`."""

        to: str = Field(description="One recipient address, like ada@example.com.")
        subject: str = Field(description="The subject line.")
        body: str = Field(default="", description="The plain-text body.")

        @field_validator("to")
        @classmethod
        def _one_address(cls, value: str) -> str:
            if not _ADDRESS.fullmatch(value):
                raise ValueError(f"{value!r} is not one email address (like ada@example.com)")
            return value

    def resource(self, args: SendEmail.Args) -> str:
        """`mail:<recipient>`, so a grant can scope mail to addresses or domains."""
        return f"mail:{args.to}"

    def summary(self, args: SendEmail.Args) -> str:
        """`email ada@example.com: “Subject”`."""
        return f"email {args.to}: “{args.subject}”"

    async def prepare(self, args: SendEmail.Args, ctx: ToolContext) -> dict[str, Any]:
        """Compose the message; nothing is sent.

        Raises:
            ValueError: a line break in the recipient or subject (header injection).
        """
        for field in ("to", "subject"):
            value = getattr(args, field)
            if len(value.splitlines()) > 1 or value.splitlines(keepends=True) != value.splitlines():
                raise ValueError(f"the {field} of an email must be one line: a line break there could inject headers")
        await upstream("compose_email")
        return {
            "to": args.to,
            "subject": args.subject,
            "body": args.body,
            "undo_window_s": env_seconds(UNDO_WINDOW_ENV, DEFAULT_UNDO_WINDOW_S),
        }

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Queue the message in the outbox under the call's idempotency key."""
        world = WorldConfig.load()
        await upstream("relay_email")
        response = await request(
            "POST", f"{world.mail_api}/outbox", {"idempotency_key": ctx.idempotency_key, **prepared}
        )
        return _receipt(commit_receipt(response, "mail API"))

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Pull the message back if it is still queued, else send a correction.

        Idempotent: pulling twice is fine, and the correction has its own key
        (`<key>:undo`), so a retried compensation never sends two.
        """
        world = WorldConfig.load()
        key = receipt["key"]
        pulled = await request("DELETE", f"{world.mail_api}/outbox/{path_key(key)}")
        if pulled.status == 200:
            return {"undo": "pulled", "message_id": receipt.get("message_id")}
        if pulled.status == 404:
            return {"undo": "nothing to undo: the outbox has no such message"}
        if pulled.status != 409:
            raise UpstreamError(f"the mail API could not pull {key!r} back ({pulled.status}): {pulled.error}")
        correction = await request(
            "POST",
            f"{world.mail_api}/outbox",
            {
                "idempotency_key": f"{key}:undo",
                "to": receipt["to"],
                "subject": f"Please disregard my previous message: {receipt['subject']}",
                "body": f'Please disregard my previous message, "{receipt["subject"]}". It was sent by mistake.\n',
                "undo_window_s": 0,
                "in_reply_to": receipt.get("message_id"),
            },
        )
        if correction.status not in (200, 201):
            raise UpstreamError(
                f"the mail API did not queue the correction for {key!r} ({correction.status}): {correction.error}"
            )
        return {"undo": "correction sent", "message_id": correction.data["message_id"]}

    def undo_summary(self, receipt: dict[str, Any]) -> str:
        """What the undo does now: pull the email back while it is queued, else send a follow-up."""
        if not isinstance(receipt, dict) or "to" not in receipt:
            return ""
        until = receipt.get("reversible_until")
        if isinstance(until, int | float) and time.time() < until:
            return "pull it back from the outbox (not delivered yet)"
        return f"send {receipt['to']} a “Please disregard my previous message” follow-up"

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        """The receipt of the message sent under this call's key, or None if there is none."""
        world = WorldConfig.load()
        response = await request("GET", f"{world.mail_api}/outbox/{path_key(ctx.idempotency_key)}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise UpstreamError(f"the mail API could not look up the message ({response.status}): {response.error}")
        return _receipt(response.data)


def _receipt(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": message["key"],
        "message_id": message["message_id"],
        "to": message["to"],
        "subject": message["subject"],
        "status": message["status"],
        "deliver_at": message["deliver_at"],
        # Pullable (an exact undo) until delivery; after that only a correction.
        "reversible_until": message["deliver_at"],
        "undo_deadline": None,
    }
