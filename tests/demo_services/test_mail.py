"""send_email against the real outbox, SMTP server and Maildir."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from agentstop import CommitRefused, Reversibility
from demo_tools.mail import UNDO_WINDOW_ENV, SendEmail
from demo_tools.world_config import ENV_VAR, WorldNotRunning
from tests.demo_services.probe import Demo

pytestmark = pytest.mark.anyio


def email(subject: str = "Quarterly numbers") -> SendEmail.Args:
    return SendEmail.Args(to="ada@example.com", subject=subject, body="See attached.")


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("ada@example.com\r\nBcc: eve@example.com", "hello"),
        ("ada@example.com", "hello\nBcc: eve@example.com"),
        ("ada@example.com", "hello\r"),
    ],
)
async def test_prepare_rejects_header_injection(to: str, subject: str) -> None:
    tool = SendEmail()
    args = SendEmail.Args.model_construct(to=to, subject=subject, body="")
    with pytest.raises(ValueError, match="must be one line"):
        await tool.prepare(args, Demo.ctx(tool, args))


def test_args_accept_one_address_only() -> None:
    for bad in ("ada", "ada@example.com, eve@example.com", "Ada <ada@example.com>", "ada@example.com\n"):
        with pytest.raises(ValidationError, match="not one email address"):
            SendEmail.Args(to=bad, subject="x")


def test_declares_compensable_and_scopes_by_recipient() -> None:
    tool = SendEmail()
    assert tool.reversibility is Reversibility.COMPENSABLE
    assert tool.can_compensate()
    assert tool.can_lookup()
    assert tool.resource(email()) == "mail:ada@example.com"


async def test_undo_before_delivery_pulls_the_message(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "1.0")
    tool = SendEmail()
    ctx = demo.ctx(tool, email())
    receipt = await tool.commit(await tool.prepare(email(), ctx), ctx)
    assert receipt["status"] == "queued"
    assert receipt["reversible_until"] == receipt["deliver_at"] > time.time()
    assert receipt["undo_deadline"] is None

    assert await tool.compensate(receipt, demo.undo_ctx(ctx)) == {"undo": "pulled", "message_id": receipt["message_id"]}

    # A message queued later than the pulled one is delivered after it would have
    # been: once it is in the Maildir, the pulled one had its chance and did not come.
    later = demo.ctx(tool, email("sentinel"))
    sentinel = await tool.commit(await tool.prepare(email("sentinel"), later), later)
    await demo.eventually(lambda: demo.mails(sentinel["message_id"]), "the sentinel message")
    assert demo.mails(receipt["message_id"]) == []
    assert (await tool.lookup(ctx) or {})["status"] == "pulled"


async def test_undo_after_delivery_sends_one_correction(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "0.3")
    tool = SendEmail()
    ctx = demo.ctx(tool, email())
    receipt = await tool.commit(await tool.prepare(email(), ctx), ctx)
    await demo.eventually(lambda: demo.mails(receipt["message_id"]), "the original message")

    undo = await tool.compensate(receipt, demo.undo_ctx(ctx))
    assert undo["undo"] == "correction sent"
    # A retried undo sends no second correction.
    assert await tool.compensate(receipt, demo.undo_ctx(ctx, attempt=2)) == undo
    [correction] = await demo.eventually(lambda: demo.mails(undo["message_id"]), "the correction")
    assert correction["Subject"] == "Please disregard my previous message: Quarterly numbers"
    assert correction["In-Reply-To"] == receipt["message_id"]
    assert correction["To"] == "ada@example.com"
    [original] = demo.mails(receipt["message_id"])
    assert original["Subject"] == "Quarterly numbers"
    assert (await tool.lookup(ctx) or {})["status"] == "delivered"


async def test_commit_twice_with_one_key_sends_once(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "0.3")
    tool = SendEmail()
    ctx = demo.ctx(tool, email())
    prepared = await tool.prepare(email(), ctx)
    first = await tool.commit(prepared, ctx)
    again = await tool.commit(prepared, ctx)
    assert again["message_id"] == first["message_id"]
    assert again["deliver_at"] == first["deliver_at"]
    await demo.eventually(lambda: demo.mails(first["message_id"]), "the message")
    await tool.commit(prepared, ctx)  # after delivery too: still the same message
    later = demo.ctx(tool, email("sentinel"))
    sentinel = await tool.commit(await tool.prepare(email("sentinel"), later), later)
    await demo.eventually(lambda: demo.mails(sentinel["message_id"]), "the sentinel message")
    assert len(demo.mails(first["message_id"])) == 1


async def test_lookup_finds_the_receipt_or_none(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "30")
    tool = SendEmail()
    ctx = demo.ctx(tool, email())
    receipt = await tool.commit(await tool.prepare(email(), ctx), ctx)
    assert await tool.lookup(ctx) == receipt
    assert await tool.lookup(demo.ctx(tool, email())) is None
    await tool.compensate(receipt, demo.undo_ctx(ctx))


async def test_commit_refused_when_the_outbox_says_no(demo: Demo) -> None:
    tool = SendEmail()
    ctx = demo.ctx(tool, email())
    bad = {"to": "not an address", "subject": "x", "body": "", "undo_window_s": 0}
    with pytest.raises(CommitRefused, match="not one email address"):
        await tool.commit(bad, ctx)
    assert await tool.lookup(ctx) is None


async def test_bad_undo_window_setting_fails_prepare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "ten")
    tool = SendEmail()
    with pytest.raises(ValueError, match=UNDO_WINDOW_ENV):
        await tool.prepare(email(), Demo.ctx(tool, email()))


async def test_commit_without_a_world_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    tool = SendEmail()
    ctx = Demo.ctx(tool, email())
    with pytest.raises(WorldNotRunning, match="agentstop demo"):
        await tool.commit(await tool.prepare(email(), ctx), ctx)
