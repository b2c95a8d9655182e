"""charge and wire_transfer: money moves in the demo ledger, once per idempotency key.

Every ledger entry carries its call's idempotency key under a UNIQUE
constraint, and each commit is one short transaction that checks for the key
first: a retried commit returns the entry already written instead of moving the
money twice. A charge can be refunded (a new entry, not a deletion); a wire
cannot be pulled back by agentstop at all.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, Field, field_validator

from agentstop import CommitRefused, Reversibility, StopPolicy, Tool, ToolContext
from demo_tools.latency import upstream
from demo_tools.local_stores import connect
from demo_tools.world_config import WorldConfig

__all__ = ["Charge", "WireTransfer", "check_iban"]

_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


def check_iban(value: str) -> str:
    """Normalise an IBAN (no spaces, upper case) and verify its check digits.

    Raises:
        ValueError: the IBAN is malformed or its check digits are wrong.
    """
    iban = value.replace(" ", "").upper()
    if not _IBAN.fullmatch(iban):
        raise ValueError(f"{value!r} is not an IBAN (two letters, two digits, then 11 to 30 letters or digits)")
    digits = "".join(str(int(ch, 36)) for ch in iban[4:] + iban[:4])
    if int(digits) % 97 != 1:
        raise ValueError(f"IBAN {value!r} has wrong check digits (a typo?)")
    return iban


def _entry_receipt(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, kind, account, counterparty, amount_cents, balance_after_cents FROM entries WHERE key = ?",
        (key,),
    ).fetchone()
    if row is None:
        return None
    receipt = {"entry_id": row[0], "account": row[2], "amount_cents": row[4], "balance_after_cents": row[5]}
    if row[1] == "wire":
        receipt["to_iban"] = row[3]
    return receipt


def _move(
    path: str, key: str, kind: str, account: str, amount: int, memo: str, counterparty: str | None
) -> dict[str, Any]:
    """Debit `account` by `amount` and write its entry, unless the key already has one."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        receipt = _entry_receipt(conn, key)
        if receipt is not None:
            return receipt
        row = conn.execute("SELECT balance_cents FROM accounts WHERE id = ?", (account,)).fetchone()
        if row is None:
            raise CommitRefused(f"unknown account {account!r}; nothing was moved")
        balance = row[0]
        if balance < amount:
            raise CommitRefused(
                f"insufficient funds: account {account!r} holds {balance} cents, the {kind} needs {amount}; "
                "nothing was moved"
            )
        conn.execute("UPDATE accounts SET balance_cents = ? WHERE id = ?", (balance - amount, account))
        conn.execute(
            "INSERT INTO entries (key, kind, account, counterparty, amount_cents, memo, balance_after_cents)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, kind, account, counterparty, amount, memo, balance - amount),
        )
        receipt = _entry_receipt(conn, key)
        conn.execute("COMMIT")
        assert receipt is not None  # the entry was written just above, in this transaction
        return receipt
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def _refund(path: str, entry_id: int | None, key: str) -> None:
    """Credit a charge back as a new entry keyed `<charge key>:refund`; once.

    The charge is found by the receipt's entry id, else by the charging call's key.
    """
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        where, value = ("id", entry_id) if entry_id is not None else ("key", key)
        charge = conn.execute(
            f"SELECT id, key, account, amount_cents, memo FROM entries WHERE {where} = ? AND kind = 'charge'",
            (value,),
        ).fetchone()
        if charge is None:
            raise RuntimeError(f"no charge with {where} {value} in the ledger; there is nothing to refund")
        entry_id, key, account, amount, memo = charge
        if conn.execute("SELECT 1 FROM entries WHERE key = ?", (f"{key}:refund",)).fetchone():
            return
        conn.execute("UPDATE accounts SET balance_cents = balance_cents + ? WHERE id = ?", (amount, account))
        balance = conn.execute("SELECT balance_cents FROM accounts WHERE id = ?", (account,)).fetchone()[0]
        conn.execute(
            "INSERT INTO entries (key, kind, account, amount_cents, memo, refund_of, balance_after_cents)"
            " VALUES (?, 'refund', ?, ?, ?, ?, ?)",
            (f"{key}:refund", account, amount, f"refund of entry {entry_id}: {memo}", entry_id, balance),
        )
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def _lookup(path: str, key: str) -> dict[str, Any] | None:
    conn = connect(path)
    try:
        return _entry_receipt(conn, key)
    finally:
        conn.close()


def _balance(path: str, account: str) -> int | None:
    conn = connect(path)
    try:
        row = conn.execute("SELECT balance_cents FROM accounts WHERE id = ?", (account,)).fetchone()
        return None if row is None else int(row[0])
    finally:
        conn.close()


async def _check_account(account: str) -> None:
    if await anyio.to_thread.run_sync(_balance, WorldConfig.load().ledger, account) is None:
        raise ValueError(f"unknown account {account!r}")


class Charge(Tool):
    """Charge a customer's account; undone by a refund entry."""

    name = "charge"
    description = "Charge a customer account in the ledger (amount in cents). Undo issues a refund."
    reversibility = Reversibility.COMPENSABLE

    class Args(BaseModel):
        """Arguments of charge."""

        account: str = Field(min_length=1, max_length=64)
        amount_cents: int = Field(gt=0, le=100_000_000)
        memo: str = Field(default="", max_length=200)

    def resource(self, args: Charge.Args) -> str:
        """`payments:<account>`."""
        return f"payments:{args.account}"

    def summary(self, args: Charge.Args) -> str:
        """`charge acme $120.00: memo`."""
        return f"charge {args.account} ${args.amount_cents / 100:,.2f}: {args.memo}"

    async def prepare(self, args: Charge.Args, ctx: ToolContext) -> dict[str, Any]:
        """Check the account exists; move nothing.

        Returns:
            {"account", "amount_cents", "memo"}.
        """
        await _check_account(args.account)
        await upstream("authorize_charge")
        return args.model_dump(mode="json")

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Debit the account and write the charge entry, once per idempotency key.

        Returns:
            {"entry_id", "account", "amount_cents", "balance_after_cents"}.

        Raises:
            CommitRefused: insufficient funds or unknown account; nothing was moved.
        """
        await upstream("capture_charge")
        return await anyio.to_thread.run_sync(
            _move,
            WorldConfig.load().ledger,
            ctx.idempotency_key,
            "charge",
            prepared["account"],
            prepared["amount_cents"],
            prepared["memo"],
            None,
        )

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        """Refund the charge (entry `<charge key>:refund`); a second call does nothing.

        The charge is the one the receipt names; ctx may carry the undo's own key.
        """
        entry_id = receipt.get("entry_id") if isinstance(receipt, dict) else None
        key = ctx.idempotency_key.removesuffix(":undo")
        await anyio.to_thread.run_sync(_refund, WorldConfig.load().ledger, entry_id, key)

    def undo_summary(self, receipt: dict[str, Any]) -> str:
        """`refund $120.00 to acme (a refund entry in the ledger)`."""
        if not isinstance(receipt, dict) or "amount_cents" not in receipt:
            return ""
        amount = receipt["amount_cents"] / 100
        return f"refund ${amount:,.2f} to {receipt.get('account', '?')} (a refund entry in the ledger)"

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        """The receipt of the charge made with this key, or None."""
        return await anyio.to_thread.run_sync(_lookup, WorldConfig.load().ledger, ctx.idempotency_key)


class WireTransfer(Tool):
    """Wire money out of an account to an IBAN; no undo exists."""

    name = "wire_transfer"
    description = "Wire money from one of our accounts to an external IBAN (amount in cents). Irreversible."
    reversibility = Reversibility.IRREVERSIBLE
    on_stop = StopPolicy.WAIT
    undo_hint = "Call the bank to recall the wire; agentstop cannot undo it."

    class Args(BaseModel):
        """Arguments of wire_transfer."""

        from_account: str = Field(min_length=1, max_length=64)
        to_iban: str
        amount_cents: int = Field(gt=0, le=100_000_000)

        @field_validator("to_iban")
        @classmethod
        def _iban(cls, value: str) -> str:
            return check_iban(value)

    def resource(self, args: WireTransfer.Args) -> str:
        """`payments:<from_account>`."""
        return f"payments:{args.from_account}"

    def summary(self, args: WireTransfer.Args) -> str:
        """`wire $2,500.00 from ops to DE89…3000`."""
        iban = f"{args.to_iban[:4]}…{args.to_iban[-4:]}"
        return f"wire ${args.amount_cents / 100:,.2f} from {args.from_account} to {iban}"

    async def prepare(self, args: WireTransfer.Args, ctx: ToolContext) -> dict[str, Any]:
        """Check the source account exists; move nothing.

        Returns:
            {"from_account", "to_iban", "amount_cents"}.
        """
        await _check_account(args.from_account)
        return args.model_dump(mode="json")

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Debit the account and write the wire entry, once per idempotency key.

        Returns:
            {"entry_id", "account", "amount_cents", "balance_after_cents", "to_iban"}.

        Raises:
            CommitRefused: insufficient funds or unknown account; nothing was moved.
        """
        return await anyio.to_thread.run_sync(
            _move,
            WorldConfig.load().ledger,
            ctx.idempotency_key,
            "wire",
            prepared["from_account"],
            prepared["amount_cents"],
            "",
            prepared["to_iban"],
        )

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        """The receipt of the wire sent with this key, or None."""
        return await anyio.to_thread.run_sync(_lookup, WorldConfig.load().ledger, ctx.idempotency_key)
