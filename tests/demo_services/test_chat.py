"""post_message against the real chat webhook and its channel file."""

from __future__ import annotations

import pytest

from agentstop import Reversibility, StopPolicy
from demo_tools.chat import CHAT_DELAY_ENV, PostMessage
from tests.demo_services.probe import Demo

pytestmark = pytest.mark.anyio


def message(text: str = "Deploying v2 now") -> PostMessage.Args:
    return PostMessage.Args(channel="#releases", text=text)


def test_declares_compensable_try_cancel_and_scopes_by_channel() -> None:
    tool = PostMessage()
    assert tool.reversibility is Reversibility.COMPENSABLE
    assert tool.on_stop is StopPolicy.TRY_CANCEL
    assert tool.resource(message()) == "chat:releases"


async def test_delivered_after_the_delay_then_retracted_once(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHAT_DELAY_ENV, "0.3")
    tool = PostMessage()
    ctx = demo.ctx(tool, message())
    receipt = await tool.commit(await tool.prepare(message(), ctx), ctx)
    assert receipt["status"] == "queued"
    assert receipt["reversible_until"] == receipt["deliver_at"]

    [line] = await demo.eventually(lambda: demo.chat(ctx.idempotency_key), "the message in the channel")
    assert line["kind"] == "message"
    assert line["channel"] == "releases"
    assert line["text"] == "Deploying v2 now"
    assert line["at"] >= receipt["deliver_at"]
    assert (await tool.lookup(ctx) or {})["status"] == "delivered"

    retracted = {"undo": "retracted", "key": ctx.idempotency_key}
    assert await tool.compensate(receipt, demo.undo_ctx(ctx)) == retracted
    assert await tool.compensate(receipt, demo.undo_ctx(ctx, attempt=2)) == retracted
    kinds = [line["kind"] for line in demo.chat(ctx.idempotency_key)]
    assert kinds == ["message", "retraction"]
    assert (await tool.lookup(ctx) or {})["status"] == "retracted"


async def test_pulled_before_the_delay_never_reaches_the_channel(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHAT_DELAY_ENV, "1.0")
    tool = PostMessage()
    ctx = demo.ctx(tool, message())
    receipt = await tool.commit(await tool.prepare(message(), ctx), ctx)
    pulled = {"undo": "pulled", "key": ctx.idempotency_key}
    assert await tool.compensate(receipt, demo.undo_ctx(ctx)) == pulled
    assert await tool.compensate(receipt, demo.undo_ctx(ctx, attempt=2)) == pulled

    # Posted after it, due after it: once this one is in, the pulled one had its chance.
    later = demo.ctx(tool, message("sentinel"))
    await tool.commit(await tool.prepare(message("sentinel"), later), later)
    await demo.eventually(lambda: demo.chat(later.idempotency_key), "the sentinel message")
    assert demo.chat(ctx.idempotency_key) == []
    assert (await tool.lookup(ctx) or {})["status"] == "pulled"


async def test_commit_twice_with_one_key_posts_once(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHAT_DELAY_ENV, "0.2")
    tool = PostMessage()
    ctx = demo.ctx(tool, message())
    prepared = await tool.prepare(message(), ctx)
    first = await tool.commit(prepared, ctx)
    assert await tool.commit(prepared, ctx) == first
    await demo.eventually(lambda: demo.chat(ctx.idempotency_key), "the message")
    later = demo.ctx(tool, message("sentinel"))
    await tool.commit(await tool.prepare(message("sentinel"), later), later)
    await demo.eventually(lambda: demo.chat(later.idempotency_key), "the sentinel message")
    assert len(demo.chat(ctx.idempotency_key)) == 1


async def test_lookup_finds_the_receipt_or_none(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHAT_DELAY_ENV, "30")
    tool = PostMessage()
    ctx = demo.ctx(tool, message())
    receipt = await tool.commit(await tool.prepare(message(), ctx), ctx)
    assert await tool.lookup(ctx) == receipt
    assert await tool.lookup(demo.ctx(tool, message())) is None
    await tool.compensate(receipt, demo.undo_ctx(ctx))
