"""`post_message`: a chat message through the demo webhook, after a short delay.

Until the delay is over the message can be taken back and nobody sees it; after
that only a retraction can follow it. A commit still in flight when Stop comes
is cancelled (`TRY_CANCEL`); `lookup` then tells whether it was queued.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from pydantic import BaseModel, Field, field_validator

from agentstop import Reversibility, StopPolicy, Tool, ToolContext
from demo_tools.http_client import UpstreamError, commit_receipt, path_key, request
from demo_tools.latency import upstream
from demo_tools.settings import CHAT_DELAY_ENV, env_seconds
from demo_tools.world_config import WorldConfig

__all__ = ["CHAT_DELAY_ENV", "PostMessage"]

DEFAULT_DELAY_S = 3.0


class PostMessage(Tool):
    """Post a message to a chat channel; take it back before delivery, or retract it after."""

    name: ClassVar[str] = "post_message"
    description: ClassVar[str] = "Post a message to a team chat channel (like general or releases)."
    reversibility: ClassVar[Reversibility] = Reversibility.COMPENSABLE
    on_stop: ClassVar[StopPolicy] = StopPolicy.TRY_CANCEL

    class Args(BaseModel):
        """Arguments of `post_message`."""

        channel: str = Field(pattern=r"^#?[A-Za-z0-9_.-]+$", description="The channel, like general.")
        text: str = Field(min_length=1, description="The message.")

        @field_validator("channel")
        @classmethod
        def _without_hash(cls, value: str) -> str:
            return value.removeprefix("#")

    def resource(self, args: PostMessage.Args) -> str:
        """`chat:<channel>`."""
        return f"chat:{args.channel}"

    def summary(self, args: PostMessage.Args) -> str:
        """`#general: text`."""
        return f"#{args.channel.lstrip('#')}: {args.text}"

    async def prepare(self, args: PostMessage.Args, ctx: ToolContext) -> dict[str, Any]:
        """The message to post and its delay; nothing is posted."""
        return {
            "channel": args.channel,
            "text": args.text,
            "delay_s": env_seconds(CHAT_DELAY_ENV, DEFAULT_DELAY_S),
        }

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Queue the message under the call's idempotency key."""
        world = WorldConfig.load()
        await upstream("post_chat")
        response = await request(
            "POST", f"{world.chat_api}/messages", {"idempotency_key": ctx.idempotency_key, **prepared}
        )
        return _receipt(commit_receipt(response, "chat webhook"))

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Take the message back if it is still queued, else post a retraction (once)."""
        world = WorldConfig.load()
        key = receipt["key"]
        pulled = await request("DELETE", f"{world.chat_api}/messages/{path_key(key)}")
        if pulled.status == 200:
            return {"undo": "pulled", "key": key}
        if pulled.status == 404:
            return {"undo": "nothing to undo: the webhook has no such message", "key": key}
        if pulled.status != 409:
            raise UpstreamError(f"the chat webhook could not take {key!r} back ({pulled.status}): {pulled.error}")
        retracted = await request("POST", f"{world.chat_api}/retractions", {"key": key})
        if retracted.status != 200:
            raise UpstreamError(f"the chat webhook did not retract {key!r} ({retracted.status}): {retracted.error}")
        return {"undo": "retracted", "key": key}

    def undo_summary(self, receipt: dict[str, Any]) -> str:
        """What the undo does now: take the message back while it is queued, else post a retraction."""
        if not isinstance(receipt, dict) or "channel" not in receipt:
            return ""
        until = receipt.get("reversible_until")
        if isinstance(until, int | float) and time.time() < until:
            return f"take it back before it reaches #{receipt['channel']}"
        return f"post “(retracted) Please ignore my previous message” in #{receipt['channel']}"

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        """The receipt of the message posted under this call's key, or None if there is none."""
        world = WorldConfig.load()
        response = await request("GET", f"{world.chat_api}/messages/{path_key(ctx.idempotency_key)}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise UpstreamError(f"the chat webhook could not look up the message ({response.status}): {response.error}")
        return _receipt(response.data)


def _receipt(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": message["key"],
        "channel": message["channel"],
        "text": message["text"],
        "status": message["status"],
        "deliver_at": message["deliver_at"],
        # Can be taken back without a trace until delivery; after that only retracted.
        "reversible_until": message["deliver_at"],
        "undo_deadline": None,
    }
