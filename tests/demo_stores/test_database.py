"""migrate_database: invisible until commit, audited once per key, reverted from before-images."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
from pydantic import ValidationError

from agentstop import Reversibility
from demo_tools.database import MigrateDatabase, parse_statement
from demo_tools.world_config import WorldConfig

from .conftest import MakeCtx, undo_ctx

MIGRATION = [
    "ALTER TABLE customers ADD COLUMN tier TEXT",
    "UPDATE customers SET plan = 'pro', tier = 'gold' WHERE country = 'GB'",
    "INSERT INTO customers (name, email, country) VALUES ('Barbara Liskov', 'barbara@example.com', 'US')",
    "CREATE TABLE flags (name TEXT PRIMARY KEY, enabled INTEGER NOT NULL)",
    "INSERT INTO flags VALUES ('beta', 1), ('dark_mode', 0);",
    "CREATE INDEX customers_by_plan ON customers (plan)",
]


@contextmanager
def _db(world: WorldConfig) -> Iterator[sqlite3.Connection]:
    """Another connection, the way anyone else would look at the database."""
    with closing(sqlite3.connect(world.database, timeout=0.2, isolation_level=None)) as conn:
        yield conn


def _rows(world: WorldConfig, sql: str) -> list[tuple[Any, ...]]:
    with _db(world) as conn:
        return conn.execute(sql).fetchall()


def _customers(world: WorldConfig) -> list[tuple[Any, ...]]:
    return _rows(world, "SELECT id, name, email, plan, country FROM customers ORDER BY id")


def _columns(world: WorldConfig) -> list[str]:
    return [r[1] for r in _rows(world, "PRAGMA table_info(customers)")]


def _tables(world: WorldConfig) -> set[str]:
    return {r[0] for r in _rows(world, "SELECT name FROM sqlite_master")}


def _args(statements: list[str] | None = None) -> MigrateDatabase.Args:
    return MigrateDatabase.Args(statements=statements or MIGRATION, description="gold tier for UK customers")


@pytest.fixture
def tool() -> Iterator[MigrateDatabase]:
    migrate = MigrateDatabase()
    yield migrate
    migrate.close()


@pytest.mark.anyio
async def test_prepare_changes_nothing_anyone_else_sees(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    before = _customers(world)
    args = _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)

    assert _customers(world) == before
    assert "tier" not in _columns(world)
    assert "flags" not in _tables(world)
    assert _rows(world, "SELECT count(*) FROM audit") == [(0,)]
    assert prepared["rows_changed"] == 2 + 1 + 2
    assert prepared["before_images"] == [{"statement": 2, "table": "customers", "rows": 2}]
    assert prepared["effects"][0] == "statement 1: add column customers.tier"
    await tool.discard(prepared, ctx)


@pytest.mark.anyio
async def test_commit_lands_the_migration_with_an_audit_row(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    args = _args()
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)

    assert receipt == {"audit_id": 1, "rows_changed": 5, "description": "gold tier for UK customers"}
    assert _rows(world, "SELECT name, plan, tier FROM customers WHERE country = 'GB' ORDER BY id") == [
        ("Ada Lovelace", "pro", "gold"),
        ("Alan Turing", "pro", "gold"),
    ]
    assert _rows(world, "SELECT count(*) FROM customers") == [(6,)]
    assert _rows(world, "SELECT name FROM flags ORDER BY name") == [("beta",), ("dark_mode",)]
    assert "customers_by_plan" in _tables(world)
    [(key, kind, rows, images)] = _rows(world, "SELECT key, kind, rows_changed, before_images FROM audit")
    assert (key, kind, rows) == (ctx.idempotency_key, "migration", 5)
    assert '"plan": "free"' in images  # Alan Turing's old plan is kept for the undo


@pytest.mark.anyio
async def test_second_commit_with_the_same_key_applies_nothing_again(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    args = _args(["INSERT INTO customers (name, email) VALUES ('Ken Thompson', 'ken@example.com')"])
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    first = await tool.commit(prepared, ctx)
    again = await tool.commit(prepared, ctx)
    # A new process has no open transaction: it must still see the key and not re-apply.
    from_elsewhere = await MigrateDatabase().commit(prepared, ctx)

    assert first == again == from_elsewhere
    assert _rows(world, "SELECT count(*) FROM customers WHERE name = 'Ken Thompson'") == [(1,)]
    assert _rows(world, "SELECT count(*) FROM audit") == [(1,)]


@pytest.mark.anyio
async def test_commit_without_the_prepared_transaction_reruns_it(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    args = _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    await tool.discard(prepared, ctx)  # as if the process that prepared it had died

    receipt = await MigrateDatabase().commit(prepared, ctx)
    assert receipt["rows_changed"] == 5
    assert "tier" in _columns(world)
    assert await tool.lookup(ctx) == receipt


@pytest.mark.anyio
async def test_lookup_finds_the_audit_row_and_nothing_for_an_unknown_key(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    args = _args()
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)

    assert await tool.lookup(ctx) == receipt
    assert await tool.lookup(make_ctx(tool, args)) is None


@pytest.mark.anyio
async def test_compensate_restores_before_images_and_is_idempotent(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    before = _customers(world)
    args = _args()
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)

    await tool.compensate(receipt, undo_ctx(ctx))
    await tool.compensate(receipt, undo_ctx(ctx, attempt=2))
    await tool.compensate({}, ctx)  # without a receipt, the call's own key finds the migration

    assert _customers(world) == before
    assert _rows(world, "SELECT count(*) FROM customers WHERE tier IS NOT NULL") == [(0,)]
    assert "flags" not in _tables(world)
    assert "customers_by_plan" not in _tables(world)
    assert "tier" in _columns(world)  # tombstoned, not dropped
    assert _rows(world, "SELECT object, key FROM tombstones") == [("column customers.tier", ctx.idempotency_key)]
    audit = _rows(world, "SELECT key, kind, rows_changed, note FROM audit ORDER BY id")
    assert [a[:3] for a in audit] == [
        (ctx.idempotency_key, "migration", 5),
        (f"{ctx.idempotency_key}:undo", "revert", 2 + 1 + 2),
    ]
    assert "SQLite before 3.35 cannot drop a column" in audit[1][3]
    assert await tool.lookup(ctx) == receipt


@pytest.mark.anyio
async def test_compensate_keeps_a_created_table_that_others_wrote_to(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    args = _args(["CREATE TABLE notes (body TEXT)"])
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
    with _db(world) as conn:
        conn.execute("INSERT INTO notes VALUES ('written by someone else')")

    await tool.compensate(receipt, undo_ctx(ctx))
    assert _rows(world, "SELECT body FROM notes") == [("written by someone else",)]
    assert _rows(world, "SELECT object FROM tombstones") == [("table notes",)]


@pytest.mark.anyio
async def test_discard_rolls_back_and_releases_the_write_lock(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    before = _customers(world)
    args = _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    with _db(world) as conn, pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.execute("BEGIN IMMEDIATE")  # the prepared migration holds the write lock

    await tool.discard(prepared, ctx)
    await tool.discard(prepared, ctx)

    with _db(world) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    assert _customers(world) == before
    assert "tier" not in _columns(world)
    assert await tool.lookup(ctx) is None


@pytest.mark.anyio
async def test_a_failing_statement_fails_prepare_and_holds_nothing(
    world: WorldConfig, make_ctx: MakeCtx, tool: MigrateDatabase
) -> None:
    args = _args(["UPDATE customers SET plan = 'pro'", "UPDATE customers SET nope = 1"])
    with pytest.raises(ValueError, match="statement 2 failed: no such column: nope"):
        await tool.prepare(args, make_ctx(tool, args))
    with _db(world) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    assert _rows(world, "SELECT count(*) FROM customers WHERE plan = 'pro'") == [(2,)]


def test_resource_and_reversibility() -> None:
    tool = MigrateDatabase()
    assert tool.resource(_args()) == "db:production"
    assert tool.reversibility is Reversibility.COMPENSABLE
    assert tool.can_compensate()
    assert tool.can_lookup()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DROP TABLE customers", "DROP is not allowed"),
        ("UPDATE customers SET plan = 'x'; DROP TABLE customers", "one statement per string"),
        ("UPDATE customers SET plan = 'x';DROP TABLE customers;", "one statement per string"),
        ("DELETE FROM customers", "DELETE is not allowed"),
        ("ATTACH DATABASE '/tmp/x.db' AS x", "ATTACH is not allowed"),
        ("PRAGMA writable_schema = 1", "PRAGMA is not allowed"),
        ("COMMIT", "transaction control"),
        ("ALTER TABLE customers DROP COLUMN email", "destroys data"),
        ("ALTER TABLE customers RENAME TO clients", "only ALTER TABLE ... ADD COLUMN"),
        ("UPDATE audit SET description = 'nothing happened'", "audit trail"),
        ("INSERT INTO tombstones (object, key, reason) VALUES ('a', 'b', 'c')", "audit trail"),
        ("INSERT OR REPLACE INTO customers (id, name, email) VALUES (1, 'x', 'y')", "only INSERT OR IGNORE"),
        ("REPLACE INTO customers (id, name, email) VALUES (1, 'x', 'y')", "REPLACE is not allowed"),
        ("INSERT INTO customers (id, name, email) VALUES (1, 'x', 'y') ON CONFLICT DO NOTHING", "ON CONFLICT"),
        ("UPDATE OR REPLACE customers SET id = 1", "UPDATE OR"),
        ("UPDATE customers SET plan = p.plan FROM customers AS p WHERE p.id = 1", "UPDATE ... FROM"),
        ("UPDATE customers SET plan = 'x' -- WHERE id = 1", "comments"),
        ("UPDATE customers SET plan = 'x' /* sneaky */", "comments"),
        ("UPDATE main.customers SET plan = 'x'", "without a schema"),
        ("UPDATE customers SET plan = ?", "parameters"),
        ("UPDATE customers SET plan = 'x", "unclosed quote"),
        ("UPDATE customers SET plan = (1", "unbalanced parentheses"),
        ("CREATE TRIGGER t AFTER INSERT ON customers BEGIN DELETE FROM customers; END", "one statement"),
        ("CREATE VIEW v AS SELECT 1", "only CREATE TABLE and CREATE INDEX"),
        ("CREATE TEMP TABLE t (x)", "only CREATE TABLE and CREATE INDEX"),
        ("CREATE TABLE t (x PRIMARY KEY) WITHOUT ROWID", "WITHOUT ROWID"),
        ("SELECT * FROM customers", "not a migration"),
        ("WITH x AS (SELECT 1) UPDATE customers SET plan = 'x'", "WITH"),
        ("INSERT INTO customers (name, email) VALUES ('a', 'b') RETURNING id", "RETURNING"),
        ("VACUUM", "VACUUM is not allowed"),
        ("", "empty"),
        (";", "empty"),
    ],
)
def test_hostile_sql_is_rejected_with_a_reason(sql: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        _args(["UPDATE customers SET plan = 'pro' WHERE id = 1", sql])


def test_the_error_names_the_statement() -> None:
    with pytest.raises(ValidationError, match="statement 2: DROP is not allowed"):
        _args(["UPDATE customers SET plan = 'pro'", "drop table customers"])


@pytest.mark.parametrize(
    ("sql", "kind", "table", "where"),
    [
        ("UPDATE customers SET plan = 'a;b' WHERE email = 'x;y';", "update", "customers", "email = 'x;y'"),
        (
            "update [customers] as c set plan = (select 'x' from flags where 1) where c.id in (1, 2)",
            "update",
            "customers",
            "c.id in (1, 2)",
        ),
        ("UPDATE \"customers\" SET plan = 'free'", "update", "customers", ""),
        ("INSERT OR IGNORE INTO customers (name, email) VALUES ('a', 'b')", "insert", "customers", ""),
        ("ALTER TABLE customers ADD tier TEXT DEFAULT 'none'", "add_column", "customers", ""),
        ("CREATE UNIQUE INDEX IF NOT EXISTS ix ON customers (email)", "create_index", "customers", ""),
        ("CREATE TABLE IF NOT EXISTS flags AS SELECT 1 AS x", "create_table", "flags", ""),
    ],
)
def test_allowed_statements_are_understood(sql: str, kind: str, table: str, where: str) -> None:
    st = parse_statement(sql)
    assert (st.kind, st.table, st.where) == (kind, table, where)
    assert not st.sql.endswith(";")
