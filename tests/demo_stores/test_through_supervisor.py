"""The three local-store tools driven by agentstop's own Supervisor: fence, receipts, undo all."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, OutOfScope, Supervisor, ToolFailed
from demo_tools.database import MigrateDatabase
from demo_tools.git_pr import OpenDraftPR
from demo_tools.payments import Charge, WireTransfer
from demo_tools.world_config import WorldConfig

pytestmark = pytest.mark.anyio

PR = {"branch": "feat/gold", "title": "Gold tier", "files": {"gold.md": "gold\n"}}
MIGRATION = {
    "statements": ["UPDATE customers SET plan = 'gold' WHERE country = 'NL'"],
    "description": "gold for NL",
}


def _scalar(path: str, sql: str) -> object:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchone()[0]


async def test_a_session_lands_its_effects_and_undo_all_takes_them_back(world: WorldConfig, journal: Journal) -> None:
    migrate = MigrateDatabase()
    sup = Supervisor(
        journal,
        [OpenDraftPR(), migrate, Charge(), WireTransfer()],
        GrantSpec(scopes=["git:main", "db:*", "payments:*"]),
    )
    try:
        pr = await sup.call("open_draft_pr", PR)
        with pytest.raises(OutOfScope):
            await sup.call("open_draft_pr", PR | {"branch": "feat/hotfix", "base": "release"})
        await sup.call("migrate_database", MIGRATION)
        await sup.call("charge", {"account": "acme", "amount_cents": 700, "memo": "gold upgrade"})
        await sup.call("wire_transfer", {"from_account": "ops", "to_iban": "GB82WEST12345698765432", "amount_cents": 5})
        with pytest.raises(ToolFailed, match="insufficient funds"):
            await sup.call("charge", {"account": "initech", "amount_cents": 1})

        assert pr["pr_number"] == 1
        assert _scalar(world.database, "SELECT plan FROM customers WHERE id = 5") == "gold"
        assert _scalar(world.ledger, "SELECT balance_cents FROM accounts WHERE id = 'acme'") == 49_300

        results = await sup.undo_all()
        assert [(r.tool, r.status) for r in results] == [
            ("charge", "compensated"),
            ("migrate_database", "compensated"),
            ("open_draft_pr", "compensated"),
        ]
        report = await sup.report()
    finally:
        await sup.close()
        migrate.close()

    assert [r["state"] for r in json.loads(Path(world.prs).read_text())] == ["closed"]
    assert _scalar(world.database, "SELECT plan FROM customers WHERE id = 5") == "free"
    assert _scalar(world.ledger, "SELECT balance_cents FROM accounts WHERE id = 'acme'") == 50_000
    assert _scalar(world.ledger, "SELECT balance_cents FROM accounts WHERE id = 'ops'") == 999_995
    assert {i.tool for i in report.interrupted} == {"open_draft_pr", "charge"}
