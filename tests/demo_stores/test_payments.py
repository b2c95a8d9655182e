"""charge and wire_transfer: money moves once per key; a charge is refunded, a wire is not undoable."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from agentstop import CommitRefused, Reversibility
from demo_tools.payments import Charge, WireTransfer
from demo_tools.world_config import WorldConfig

from .conftest import MakeCtx, undo_ctx

IBAN = "DE89 3704 0044 0532 0130 00"


def _rows(world: WorldConfig, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(world.ledger)) as conn:
        return conn.execute(sql, params).fetchall()


def _balance(world: WorldConfig, account: str) -> int:
    [(cents,)] = _rows(world, "SELECT balance_cents FROM accounts WHERE id = ?", account)
    return int(cents)


def _entries(world: WorldConfig) -> list[tuple[Any, ...]]:
    return _rows(world, "SELECT kind, account, amount_cents FROM entries ORDER BY id")


@pytest.mark.anyio
async def test_charge_prepare_moves_nothing(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = Charge(), Charge.Args(account="acme", amount_cents=1_250, memo="March invoice")
    prepared = await tool.prepare(args, make_ctx(tool, args))

    assert prepared == {"account": "acme", "amount_cents": 1_250, "memo": "March invoice"}
    assert _balance(world, "acme") == 50_000
    assert _entries(world) == []


@pytest.mark.anyio
async def test_charge_commit_debits_once_per_key(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = Charge(), Charge.Args(account="acme", amount_cents=1_250, memo="March invoice")
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    receipt = await tool.commit(prepared, ctx)
    again = await tool.commit(prepared, ctx)

    assert receipt == {"entry_id": 1, "account": "acme", "amount_cents": 1_250, "balance_after_cents": 48_750}
    assert again == receipt
    assert _balance(world, "acme") == 48_750
    assert _entries(world) == [("charge", "acme", 1_250)]
    assert _rows(world, "SELECT key FROM entries") == [(ctx.idempotency_key,)]


@pytest.mark.anyio
async def test_concurrent_retries_of_one_charge_move_the_money_once(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = Charge(), Charge.Args(account="acme", amount_cents=100)
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    receipts: list[dict[str, Any]] = []

    async def commit() -> None:
        receipts.append(await tool.commit(prepared, ctx))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(commit)

    assert len({r["entry_id"] for r in receipts}) == 1
    assert _balance(world, "acme") == 49_900


@pytest.mark.anyio
async def test_charge_lookup(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = Charge(), Charge.Args(account="globex", amount_cents=500)
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)

    assert await tool.lookup(ctx) == receipt
    assert await tool.lookup(make_ctx(tool, args)) is None


@pytest.mark.anyio
async def test_charge_compensation_is_one_refund_entry(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = Charge(), Charge.Args(account="globex", amount_cents=500, memo="setup fee")
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)

    await tool.compensate(receipt, undo_ctx(ctx))
    await tool.compensate(receipt, undo_ctx(ctx, attempt=2))
    await tool.compensate({}, ctx)  # without a receipt, the call's own key finds the charge

    assert _balance(world, "globex") == 1_500
    assert _entries(world) == [("charge", "globex", 500), ("refund", "globex", 500)]
    assert _rows(world, "SELECT key, refund_of FROM entries WHERE kind = 'refund'") == [
        (f"{ctx.idempotency_key}:refund", receipt["entry_id"])
    ]
    assert await tool.lookup(ctx) == receipt


@pytest.mark.anyio
async def test_compensating_a_charge_that_never_landed_fails_loudly(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = Charge(), Charge.Args(account="globex", amount_cents=500)
    with pytest.raises(RuntimeError, match="nothing to refund"):
        await tool.compensate({}, make_ctx(tool, args))
    assert _entries(world) == []


@pytest.mark.anyio
async def test_insufficient_funds_is_commit_refused_and_moves_nothing(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = Charge(), Charge.Args(account="globex", amount_cents=1_501)
    ctx = make_ctx(tool, args)
    with pytest.raises(CommitRefused, match="insufficient funds: account 'globex' holds 1500 cents"):
        await tool.commit(await tool.prepare(args, ctx), ctx)

    assert _balance(world, "globex") == 1_500
    assert _entries(world) == []
    assert await tool.lookup(ctx) is None


@pytest.mark.anyio
async def test_unknown_account_fails_prepare(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = Charge(), Charge.Args(account="nobody", amount_cents=1)
    with pytest.raises(ValueError, match="unknown account 'nobody'"):
        await tool.prepare(args, make_ctx(tool, args))


def test_charge_args_and_resource() -> None:
    assert Charge().resource(Charge.Args(account="acme", amount_cents=1)) == "payments:acme"
    assert Charge.reversibility is Reversibility.COMPENSABLE
    assert Charge.can_compensate()
    assert Charge.can_lookup()
    for bad in (0, -5):
        with pytest.raises(ValidationError, match="greater than 0"):
            Charge.Args(account="acme", amount_cents=bad)


@pytest.mark.anyio
async def test_wire_moves_money_once_and_is_found(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool = WireTransfer()
    args = WireTransfer.Args(from_account="ops", to_iban=IBAN, amount_cents=250_000)
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    assert _balance(world, "ops") == 1_000_000

    receipt = await tool.commit(prepared, ctx)
    assert await tool.commit(prepared, ctx) == receipt
    assert receipt == {
        "entry_id": 1,
        "account": "ops",
        "amount_cents": 250_000,
        "balance_after_cents": 750_000,
        "to_iban": "DE89370400440532013000",
    }
    assert _balance(world, "ops") == 750_000
    assert await tool.lookup(ctx) == receipt
    assert await tool.lookup(make_ctx(tool, args)) is None


@pytest.mark.anyio
async def test_wire_with_insufficient_funds_is_commit_refused(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool = WireTransfer()
    args = WireTransfer.Args(from_account="initech", to_iban=IBAN, amount_cents=1)
    ctx = make_ctx(tool, args)
    with pytest.raises(CommitRefused, match="insufficient funds"):
        await tool.commit(await tool.prepare(args, ctx), ctx)
    assert _entries(world) == []


def test_wire_has_no_undo_only_a_hint() -> None:
    assert WireTransfer.reversibility is Reversibility.IRREVERSIBLE
    assert not WireTransfer.can_compensate()
    assert "compensate" not in vars(WireTransfer)
    assert WireTransfer.can_lookup()
    assert WireTransfer.undo_hint == "Call the bank to recall the wire; agentstop cannot undo it."
    args = WireTransfer.Args(from_account="ops", to_iban=IBAN, amount_cents=1)
    assert WireTransfer().resource(args) == "payments:ops"


@pytest.mark.parametrize(
    ("iban", "reason"),
    [
        ("DE89 3704 0044 0532 0130 01", "check digits"),
        ("not an iban", "not an IBAN"),
        ("DE8937040044", "not an IBAN"),
    ],
)
def test_bad_ibans_are_rejected(iban: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        WireTransfer.Args(from_account="ops", to_iban=iban, amount_cents=1)
