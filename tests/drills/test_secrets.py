"""Drill 5: secrets. Arguments and receipts are masked in the journal's bytes and in
`agentstop report --json`; a custom Redactor rule works; the journal files are private.

The secrets go through real demo tools (the ledger's charge and wire), and the
check is on the raw bytes of the journal, its -wal and its -shm, not on what the
API hands back.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentstop import CommitRefused, GrantSpec, Journal, Redactor, Reversibility, Supervisor, Tool, ToolContext
from agentstop.redact import DEFAULT_KEY_PATTERNS, DEFAULT_VALUE_PATTERNS
from demo_tools.mail import SendEmail
from demo_tools.payments import Charge, WireTransfer
from demo_tools.settings import UNDO_WINDOW_ENV
from demo_tools.world_config import WorldConfig
from tests.drills.stats import record

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "sk-drillDRILLdrill0123456789abcd"
PASSWORD = "correct horse battery staple"
TOKEN = "ghp_DrillDrillDrillDrill0123456789"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.drill.signature"
RECEIPT_TOKEN = "xoxb-drill-receipt-0123456789"
SECRETS = [API_KEY, PASSWORD, TOKEN, BEARER.split()[1], RECEIPT_TOKEN]


class AuthorizedCharge(Charge):
    """`charge` as a real payment API takes it: with credentials, and a receipt carrying a session token."""

    class Args(Charge.Args):
        """charge's arguments plus the credentials an upstream asks for."""

        api_key: str
        password: str
        auth_token: str
        headers: dict[str, str] = {}

    async def prepare(self, args: Any, ctx: ToolContext) -> dict[str, Any]:
        prepared = await super().prepare(args, ctx)
        return prepared  # the model dump: credentials included, as a careless tool would keep them

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        money = {k: prepared[k] for k in ("account", "amount_cents", "memo")}
        receipt = await super().commit(money, ctx)
        return {**receipt, "access_token": RECEIPT_TOKEN, "upstream": {"session_key": RECEIPT_TOKEN}}


def _journal_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(f"{path.name}*")))


def _report_json(journal: Path, session_id: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "agentstop", "report", str(journal), "--session", session_id, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    return done.stdout


def _leaks(blob: bytes | str, secrets: list[str]) -> list[str]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [s for s in secrets if s.encode() in data]


async def test_credentials_in_arguments_and_tokens_in_receipts_are_masked_on_disk_and_in_report_json(
    scratch: Path, world: WorldConfig
) -> None:
    path = scratch / "secrets.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [AuthorizedCharge()], GrantSpec())
        receipt = await sup.call(
            "charge",
            {
                "account": "acme",
                "amount_cents": 5,
                "memo": "drill",
                "api_key": API_KEY,
                "password": PASSWORD,
                "auth_token": TOKEN,
                "headers": {"Authorization": BEARER, "X-Trace": "ok"},
            },
        )
        assert receipt["access_token"] == RECEIPT_TOKEN  # the caller gets the real receipt
        await sup.undo_all()
        [item] = (await sup.report()).done
        on_disk = _journal_bytes(path)  # main file, -wal and -shm, while the journal is open
        session_id = sup.session_id
    on_disk += _journal_bytes(path)
    shown = _report_json(path, session_id)
    assert _leaks(on_disk, SECRETS) == []
    assert _leaks(shown, SECRETS) == []
    assert item.args["api_key"] == item.args["password"] == item.args["auth_token"] == "***"
    assert item.args["headers"] == "***" or item.args["headers"]["Authorization"] == "***"
    assert item.receipt["access_token"] == "***" and item.receipt["upstream"]["session_key"] == "***"
    assert json.loads(shown)["done"][0]["prepared"]["password"] == "***"
    record("secrets", "api key, password, token, bearer header in arguments; tokens in a receipt", 5)


async def test_a_custom_redactor_rule_masks_what_the_defaults_do_not(scratch: Path, world: WorldConfig) -> None:
    iban = "DE89370400440532013000"
    redactor = Redactor(keys=(*DEFAULT_KEY_PATTERNS, r"iban"), values=(*DEFAULT_VALUE_PATTERNS, r"\bDE\d{20}\b"))
    path = scratch / "custom.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [WireTransfer()], GrantSpec(), redactor=redactor)
        receipt = await sup.call("wire_transfer", {"from_account": "ops", "to_iban": iban, "amount_cents": 3})
        [item] = (await sup.report()).done
        on_disk = _journal_bytes(path)
        session_id = sup.session_id
    assert receipt["to_iban"] == iban
    assert item.args["to_iban"] == item.prepared["to_iban"] == item.receipt["to_iban"] == "***"
    assert _leaks(on_disk + _journal_bytes(path), [iban]) == []
    assert _leaks(_report_json(path, session_id), [iban]) == []
    # The same call without the rule journals the IBAN: the rule is what masked it.
    async with Journal.open(scratch / "no-rule.db") as journal:
        await Supervisor(journal, [WireTransfer()], GrantSpec()).call(
            "wire_transfer", {"from_account": "ops", "to_iban": iban, "amount_cents": 3}
        )
    assert _leaks(_journal_bytes(scratch / "no-rule.db"), [iban]) == [iban]
    record("secrets", "a custom Redactor rule (IBANs)", 1)


class Login(Tool):
    """A tool that keeps the base class's summary, which lists every argument."""

    name = "login"
    reversibility = Reversibility.REVERSIBLE

    class Args(BaseModel):
        user: str
        password: str

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        return {"user": prepared["user"]}

    async def compensate(self, receipt: Any, ctx: ToolContext) -> None:
        return None


async def test_secrets_in_free_text_and_in_default_summaries_stay_out_of_the_journal(
    scratch: Path, world: WorldConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "30")
    path = scratch / "summaries.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [SendEmail(), Charge(), Login()], GrantSpec())
        await sup.call(
            "send_email",
            {"to": "ada@example.com", "subject": f"the deploy token is {TOKEN}", "body": f"and the key is {API_KEY}"},
        )
        await sup.call("charge", {"account": "acme", "amount_cents": 1, "memo": f"auth {BEARER}"})
        await sup.call("login", {"user": "ada", "password": PASSWORD})
        await sup.undo_all()
        session_id = sup.session_id
    assert _leaks(_journal_bytes(path), SECRETS) == []
    assert _leaks(_report_json(path, session_id), SECRETS) == []


class EchoingCharge(Charge):
    """`charge` whose upstream, refusing, echoes the credential it was given (as many APIs do)."""

    class Args(Charge.Args):
        """charge's arguments plus an api key."""

        api_key: str

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        raise CommitRefused(f"401 Unauthorized: invalid api key {prepared['api_key']}")


async def test_a_secret_echoed_in_an_upstream_error_stays_out_of_the_journal(scratch: Path, world: WorldConfig) -> None:
    path = scratch / "echo.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [EchoingCharge()], GrantSpec())
        with pytest.raises(Exception, match="401 Unauthorized"):
            await sup.call("charge", {"account": "acme", "amount_cents": 1, "api_key": API_KEY})
        [item] = (await sup.report()).interrupted
    assert item.args["api_key"] == "***"
    assert _leaks(_journal_bytes(path), [API_KEY]) == []


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


async def test_the_journal_and_its_wal_and_shm_are_private_even_under_umask_0(
    scratch: Path, world: WorldConfig, permissive_umask: None
) -> None:
    path = scratch / "private" / "journal.db"
    async with Journal.open(path) as journal:
        await Supervisor(journal, [Charge()], GrantSpec()).call("charge", {"account": "acme", "amount_cents": 1})
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.glob("journal.db*")}
    assert modes == {"journal.db": 0o600, "journal.db-wal": 0o600, "journal.db-shm": 0o600}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record("secrets", "journal, -wal and -shm file modes (umask 0)", 3)
