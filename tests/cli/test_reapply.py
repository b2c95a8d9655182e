"""`agentstop undo --reapply`: undo an undo from the shell, against the demo's production database and ledger.

The migration (an INSERT) is re-appliable; the charge (undone by a refund) is not:
a charge made twice is not what anyone means. Each test that takes `invoke` runs
twice: through click's CliRunner and as a real process.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import anyio
import pytest

from agentstop import GrantSpec, Journal, Supervisor
from demo_tools.database import MigrateDatabase
from demo_tools.local_stores import init_local_stores
from demo_tools.payments import Charge
from demo_tools.world_config import ENV_VAR, WorldConfig

from .conftest import Invoke, in_process

NEW = "INSERT INTO customers (name, email, plan) VALUES ('Grace', 'grace.cli@example.com', 'pro')"


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorldConfig:
    """The demo's local stores (production database, ledger, origin) published through the world config."""
    config = WorldConfig(
        dir=str(tmp_path),
        mail_api="http://127.0.0.1:9",
        smtp_port=9,
        mailbox=str(tmp_path / "mb"),
        calendar_api="http://127.0.0.1:9",
        chat_api="http://127.0.0.1:9",
        pid=os.getpid(),
        **init_local_stores(tmp_path / "stores"),
    )
    config.save(tmp_path / "world.json")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "world.json"))
    return config


def grace(world: WorldConfig) -> list[str]:
    with closing(sqlite3.connect(world.database)) as db:
        return [r[0] for r in db.execute("SELECT plan FROM customers WHERE email = 'grace.cli@example.com'")]


def write(world: WorldConfig, sql: str) -> None:
    with closing(sqlite3.connect(world.database, isolation_level=None)) as db:
        db.execute(sql)


def agent_migrates_and_charges_then_all_is_undone(journal: Path) -> str:
    """c1 migrate_database (adds Grace), c2 charge; both undone. Returns the session id."""

    async def run() -> str:
        migrate = MigrateDatabase()
        try:
            async with Journal.open(journal) as j, Supervisor(j, [migrate, Charge()], GrantSpec()) as sup:
                await sup.call("migrate_database", {"statements": [NEW], "description": "add Grace"})
                await sup.call("charge", {"account": "ops", "amount_cents": 250, "memo": "cli"})
                results = await sup.undo_all()
                assert {r.status for r in results} == {"compensated"}
                return sup.session_id
        finally:
            migrate.close()

    return anyio.run(run)


def test_reapply_redoes_an_undone_call_and_skips_what_cannot_be(
    invoke: Invoke, stores: WorldConfig, journal_path: Path
) -> None:
    agent_migrates_and_charges_then_all_is_undone(journal_path)
    assert grace(stores) == []
    text = in_process("report", journal_path).stdout
    assert text.count("re-appliable") == 1, "the migration's row says it can be re-applied; the charge's does not"

    result = invoke("undo", journal_path, "--reapply", "c1", "c2")

    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "redone     c1 migrate_database: done again; undoable again",
        "skipped    c2 charge: not re-appliable: its tool (charge) cannot carry the effect out again (it defined "
        "no reapply when the call was made)",
    ]
    assert grace(stores) == ["pro"]
    report = in_process("report", journal_path, "--json").json()
    items = {i["call_id"]: i for i in report["done"]}
    assert [(items[c]["state"], items[c]["reappliable"], items[c]["reapplies"]) for c in ("c1", "c2")] == [
        ("committed", False, 1),
        ("compensated", False, 0),
    ]
    assert [i["call_id"] for i in report["undoable"]] == ["c1"], "re-applied, it is undoable again"

    again = invoke("undo", journal_path, "--reapply", "c1")
    assert again.code == 0
    assert again.stdout == (
        "skipped    c1 migrate_database: not re-appliable: it is in effect (not undone); there is nothing to re-apply\n"
    )

    undone = invoke("undo", journal_path, "c1")
    assert (undone.code, grace(stores)) == (0, []), "and undone again"


def test_a_failed_reapply_exits_1_and_says_how_to_retry(
    invoke: Invoke, stores: WorldConfig, journal_path: Path
) -> None:
    sid = agent_migrates_and_charges_then_all_is_undone(journal_path)
    write(stores, "INSERT INTO customers (name, email, plan) VALUES ('Grace H.', 'grace.cli@example.com', 'free')")

    result = invoke("undo", journal_path, "--session", sid, "--reapply", "c1")

    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith(
        "FAILED     c1 migrate_database: RuntimeError: re-running the migration failed: "
        "statement 1 failed: UNIQUE constraint failed: customers.email"
    )
    assert result.stdout.rstrip().endswith("(after 3 attempts)")
    assert (
        f"agentstop: 1 re-apply(s) failed: c1 (see above); the effect stays undone. To retry: agentstop undo "
        f"{journal_path} --session {sid} --reapply c1"
    ) in result.stderr
    assert grace(stores) == ["free"], "nothing was applied"
    report = in_process("report", journal_path, "--json").json()
    [c1] = [i for i in report["done"] if i["call_id"] == "c1"]
    assert (c1["state"], c1["reappliable"]) == ("reapply_failed", True)

    write(stores, "DELETE FROM customers WHERE email = 'grace.cli@example.com'")
    retried = invoke("undo", journal_path, "--reapply", "--all")
    assert (retried.code, retried.stdout) == (0, "redone     c1 migrate_database: done again; undoable again\n")
    assert grace(stores) == ["pro"]


def test_reapply_errors_exit_like_undo(stores: WorldConfig, journal_path: Path) -> None:
    agent_migrates_and_charges_then_all_is_undone(journal_path)

    unknown = in_process("undo", journal_path, "--reapply", "c9")
    assert unknown.code == 2
    assert "no call 'c9'" in unknown.stderr

    forced = in_process("undo", journal_path, "--reapply", "--force", "c1")
    assert forced.code == 2
    assert "a re-apply has none: drop --force" in forced.stderr

    neither = in_process("undo", journal_path, "--reapply")
    assert neither.code == 2
    assert "pass either --all or one or more CALL_IDs" in neither.stderr

    in_process("undo", journal_path, "--reapply", "--all")
    nothing = in_process("undo", journal_path, "--reapply", "--all")
    assert (nothing.code, nothing.stdout) == (0, "")
    assert "nothing to re-apply" in nothing.stderr


def test_undo_help_shows_reapply_with_examples() -> None:
    result = in_process("undo", "--help")

    assert result.code == 0
    assert "--reapply" in result.stdout
    assert "agentstop undo --reapply c3" in result.stdout
    assert "agentstop undo --reapply --all" in result.stdout
