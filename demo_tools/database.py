"""migrate_database: run a reviewed subset of SQL against the demo "production" database.

prepare opens a write transaction (BEGIN IMMEDIATE), runs the statements inside
it and keeps it open: other connections still see the old data. commit adds an
audit row (with the before-images of every row it changed) in the same
transaction and COMMITs. compensate restores the before-images, deletes the
rows the migration inserted, drops tables and indexes it created while they are
empty, and tombstones the columns it added, recording a revert audit row.

The audit row also keeps the after-images of the rows the migration wrote (as
they were at its COMMIT). Before the undo, `check` compares them with the rows
now: a row changed or deleted since means restoring the before-image would
overwrite someone's write, so the undo is refused unless forced; the revert
compares them again inside its own transaction.

After an undo, `reapply` runs the migration's statements again in a fresh
transaction (the rows re-inserted, the updates made again), with an audit row
of its own keyed by the re-apply's key, so a retried re-apply runs once and the
next undo reverts exactly that run. It refuses a migration that is not
reverted (it would run twice). A migration that added a column cannot be
re-applied: its undo left the column in place (tombstoned), and adding it
again fails, saying so; nothing is applied then.

Only a subset of SQL is accepted, because only that subset can be undone:
`ALTER TABLE t ADD COLUMN`, `UPDATE t SET ... [WHERE ...]`, `INSERT [OR IGNORE]
INTO t ...`, `CREATE TABLE` and `CREATE [UNIQUE] INDEX`, one statement per string.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, Field, field_validator

from agentstop import CommitRefused, Reversibility, StopPolicy, Tool, ToolContext
from demo_tools.latency import upstream
from demo_tools.local_stores import connect
from demo_tools.world_config import WorldConfig

__all__ = ["ALLOWED", "MigrateDatabase", "Statement", "parse_statement"]

ALLOWED = "ALTER TABLE ... ADD COLUMN, UPDATE, INSERT, CREATE TABLE, CREATE INDEX"

_PROTECTED = {"audit", "tombstones"}

_REFUSED_LEADS = {
    "DROP": "DROP destroys data and has no undo",
    "DELETE": "DELETE removes rows; remove data by hand, outside the agent",
    "ATTACH": "ATTACH would reach another database file",
    "DETACH": "DETACH changes which databases the connection sees",
    "PRAGMA": "PRAGMA changes database settings outside the transaction's undo",
    "VACUUM": "VACUUM rewrites the whole file and cannot run in a transaction",
    "REPLACE": "REPLACE deletes rows that conflict with the new ones",
    "BEGIN": "transaction control is agentstop's job",
    "COMMIT": "transaction control is agentstop's job",
    "END": "transaction control is agentstop's job",
    "ROLLBACK": "transaction control is agentstop's job",
    "SAVEPOINT": "transaction control is agentstop's job",
    "RELEASE": "transaction control is agentstop's job",
    "SELECT": "a query changes nothing; it is not a migration",
    "WITH": "WITH (common table expressions) is not supported; write the statement without it",
}

_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>--|/\*)
    | (?P<blob>[xX]'[0-9A-Fa-f]*')
    | (?P<string>'(?:[^']|'')*')
    | (?P<ident>"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\])
    | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
    | (?P<word>[^\W\d]\w*)
    | (?P<param>[?:@$]\w*)
    | (?P<punct>\|\||<<|>>|<=|>=|==|!=|<>|[-+*/%&|~<>=(),.;])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int

    @property
    def word(self) -> str:
        """The upper-cased keyword, or "" when the token is not a bare word."""
        return self.text.upper() if self.kind == "word" else ""


@dataclass(frozen=True)
class Statement:
    """One accepted statement, with what its undo needs to know.

    Attributes:
        kind: "add_column", "update", "insert", "create_table" or "create_index".
        sql: the statement, without a trailing ';'.
        table: the table it writes (for an index, the indexed table).
        name: the added column, or the created table or index.
        source: for an UPDATE, the text between UPDATE and SET (table, alias).
        where: for an UPDATE, its WHERE condition ("" means every row).
    """

    kind: str
    sql: str
    table: str
    name: str = ""
    source: str = ""
    where: str = ""


def parse_statement(raw: str) -> Statement:
    """Accept one statement of the allowed subset, or say why not.

    Raises:
        ValueError: naming what is not allowed and why.
    """
    text = raw.strip()
    tokens = _tokenize(text)
    if tokens and tokens[-1].text == ";":
        tokens.pop()
    if not tokens:
        raise ValueError("the statement is empty")
    text = text[: tokens[-1].end]
    for tok in tokens:
        if tok.text == ";":
            rest = text[tok.end :].strip()
            raise ValueError(f"one statement per string: found another statement after ';' ({rest[:60]!r})")
    if not sqlite3.complete_statement(text + ";"):
        raise ValueError("the statement is incomplete")
    _check_shape(tokens)
    lead = tokens[0].word
    if lead in _REFUSED_LEADS:
        raise ValueError(f"{lead} is not allowed: {_REFUSED_LEADS[lead]}. Allowed: {ALLOWED}")
    parser = {
        "ALTER": _parse_alter,
        "UPDATE": _parse_update,
        "INSERT": _parse_insert,
        "CREATE": _parse_create,
    }
    if lead not in parser:
        raise ValueError(f"{tokens[0].text!r} is not allowed. Allowed: {ALLOWED}")
    return parser[lead](text, tokens)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "'\"`[":
                raise ValueError(f"unclosed quote {ch!r} at character {pos}")
            raise ValueError(f"unexpected character {ch!r} at character {pos}")
        kind = m.lastgroup or ""
        if kind == "comment":
            raise ValueError("SQL comments are not allowed: they can hide part of a statement from review")
        if kind == "param":
            raise ValueError(f"parameters like {m.group()!r} are not supported: write literal values")
        if kind != "space":
            tokens.append(_Token(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    return tokens


def _check_shape(tokens: list[_Token]) -> None:
    depth = 0
    for prev, tok in zip([None, *tokens], tokens, strict=False):
        depth += {"(": 1, ")": -1}.get(tok.text, 0)
        if depth < 0:
            raise ValueError("unbalanced parentheses")
        if tok.word == "RETURNING":
            raise ValueError("RETURNING is not supported")
        if prev is not None and prev.word == "ON" and tok.word == "CONFLICT":
            raise ValueError("ON CONFLICT clauses are not allowed: they can silently overwrite or delete rows")
    if depth != 0:
        raise ValueError("unbalanced parentheses")


def _name(tokens: list[_Token], i: int, what: str) -> tuple[str, int]:
    if i >= len(tokens) or tokens[i].kind not in ("word", "ident"):
        raise ValueError(f"expected a {what} name")
    tok = tokens[i]
    name = tok.text
    if tok.kind == "ident":
        quote = tok.text[0]
        name = tok.text[1:-1] if quote == "[" else tok.text[1:-1].replace(quote * 2, quote)
    if i + 1 < len(tokens) and tokens[i + 1].text == ".":
        raise ValueError(f"write the {what} name {name!r} without a schema or database prefix")
    return name, i + 1


def _writable(table: str) -> str:
    if table.lower() in _PROTECTED or table.lower().startswith("sqlite_"):
        raise ValueError(f"table {table!r} is agentstop's audit trail or SQLite's own; migrations may not change it")
    return table


def _expect(tokens: list[_Token], i: int, *words: str) -> int:
    for word in words:
        if i >= len(tokens) or tokens[i].word != word:
            raise ValueError(f"expected {' '.join(words)}")
        i += 1
    return i


def _parse_alter(text: str, tokens: list[_Token]) -> Statement:
    i = _expect(tokens, 1, "TABLE")
    table, i = _name(tokens, i, "table")
    action = tokens[i].word if i < len(tokens) else ""
    if action == "DROP":
        raise ValueError(f"ALTER TABLE ... DROP destroys data and has no undo. Allowed: {ALLOWED}")
    if action != "ADD":
        raise ValueError(f"only ALTER TABLE ... ADD COLUMN is allowed (not {action or 'this form'})")
    i += 1
    if i < len(tokens) and tokens[i].word == "COLUMN":
        i += 1
    column, _ = _name(tokens, i, "column")
    return Statement("add_column", text, _writable(table), name=column)


def _parse_update(text: str, tokens: list[_Token]) -> Statement:
    if len(tokens) > 1 and tokens[1].word == "OR":
        raise ValueError("UPDATE OR ... conflict clauses are not allowed: they can delete or skip rows")
    table, i = _name(tokens, 1, "table")
    depth, set_at, where_at = 0, None, None
    for j in range(i, len(tokens)):
        tok = tokens[j]
        depth += {"(": 1, ")": -1}.get(tok.text, 0)
        if depth or tok.kind != "word":
            continue
        if tok.word == "SET" and set_at is None:
            set_at = j
        elif set_at is not None and tok.word == "FROM":
            raise ValueError("UPDATE ... FROM is not supported: its before-images cannot be captured")
        elif set_at is not None and tok.word in ("ORDER", "LIMIT"):
            raise ValueError("UPDATE ... ORDER BY / LIMIT is not supported")
        elif set_at is not None and tok.word == "WHERE" and where_at is None:
            where_at = j
    if set_at is None:
        raise ValueError("UPDATE needs a SET clause")
    source = text[tokens[1].start : tokens[set_at].start].strip()
    where = text[tokens[where_at].end :].strip() if where_at is not None else ""
    return Statement("update", text, _writable(table), source=source, where=where)


def _parse_insert(text: str, tokens: list[_Token]) -> Statement:
    i = 1
    if i < len(tokens) and tokens[i].word == "OR":
        if i + 1 >= len(tokens) or tokens[i + 1].word != "IGNORE":
            raise ValueError("of the INSERT OR ... clauses only INSERT OR IGNORE is allowed")
        i += 2
    i = _expect(tokens, i, "INTO")
    table, _ = _name(tokens, i, "table")
    return Statement("insert", text, _writable(table))


def _parse_create(text: str, tokens: list[_Token]) -> Statement:
    i = 1
    what = tokens[i].word if i < len(tokens) else ""
    if what == "UNIQUE":
        i += 1
        what = tokens[i].word if i < len(tokens) else ""
    if what not in ("TABLE", "INDEX"):
        raise ValueError(f"CREATE {what or '...'} is not allowed: only CREATE TABLE and CREATE INDEX")
    i += 1
    if [t.word for t in tokens[i : i + 3]] == ["IF", "NOT", "EXISTS"]:
        i += 3
    name, i = _name(tokens, i, what.lower())
    if what == "INDEX":
        table, _ = _name(tokens, _expect(tokens, i, "ON"), "table")
        return Statement("create_index", text, _writable(table), name=name)
    if any(t.word == "WITHOUT" for t in tokens[i:]):
        raise ValueError("WITHOUT ROWID tables are not supported: their inserted rows cannot be tracked for undo")
    return Statement("create_table", text, _writable(name), name=name)


# -- running statements (in a worker thread) ---------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _to_json(value: Any) -> Any:
    return {"$blob": value.hex()} if isinstance(value, bytes) else value


def _from_json(value: Any) -> Any:
    return bytes.fromhex(value["$blob"]) if isinstance(value, dict) else value


def _exists(conn: sqlite3.Connection, kind: str, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ? COLLATE NOCASE", (kind, name)
    ).fetchone()
    return row is not None


def _apply_one(conn: sqlite3.Connection, st: Statement) -> dict[str, Any]:
    effect: dict[str, Any] = {"kind": st.kind, "table": st.table, "rows_changed": 0}
    if st.kind == "update":
        where = f" WHERE {st.where}" if st.where else ""
        cur = conn.execute(f"SELECT rowid AS agentstop_rowid, * FROM {st.source}{where}")
        columns = [d[0] for d in cur.description[1:]]
        effect["before"] = [
            {"rowid": row[0], "values": dict(zip(columns, map(_to_json, row[1:]), strict=True))}
            for row in cur.fetchall()
        ]
        effect["rows_changed"] = conn.execute(st.sql).rowcount
    elif st.kind == "insert":
        # RETURNING names exactly the rows this statement inserted, whatever their ids.
        effect["rowids"] = [row[0] for row in conn.execute(f"{st.sql} RETURNING rowid").fetchall()]
        effect["rows_changed"] = len(effect["rowids"])
    elif st.kind == "add_column":
        effect["column"] = st.name
        conn.execute(st.sql)
    else:
        kind = "table" if st.kind == "create_table" else "index"
        effect["name"] = st.name
        effect["created"] = not _exists(conn, kind, st.name)
        conn.execute(st.sql)
    return effect


def _apply(conn: sqlite3.Connection, statements: list[Statement]) -> list[dict[str, Any]]:
    effects = []
    for n, st in enumerate(statements, 1):
        try:
            effects.append(_apply_one(conn, st))
        except sqlite3.Error as e:
            raise ValueError(f"statement {n} failed: {e} ({st.sql[:80]!r}); nothing was applied") from e
    return effects


def _describe(n: int, effect: dict[str, Any]) -> str:
    kind, table = effect["kind"], effect["table"]
    if kind == "update":
        return f"statement {n}: update {effect['rows_changed']} row(s) of {table}"
    if kind == "insert":
        return f"statement {n}: insert {effect['rows_changed']} row(s) into {table}"
    if kind == "add_column":
        return f"statement {n}: add column {table}.{effect['column']}"
    made = "create" if effect["created"] else "keep existing"
    return f"statement {n}: {made} {kind.removeprefix('create_')} {effect['name']}"


def _rollback_and_close(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


def _audit_receipt(conn: sqlite3.Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, rows_changed, description FROM audit WHERE key = ? AND kind = 'migration'", (key,)
    ).fetchone()
    return None if row is None else {"audit_id": row[0], "rows_changed": row[1], "description": row[2]}


@dataclass
class _Open:
    """A prepared migration: its connection, inside BEGIN IMMEDIATE, and what it did."""

    conn: sqlite3.Connection
    effects: list[dict[str, Any]] = field(default_factory=lambda: [])


def _begin(path: str) -> sqlite3.Connection:
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        conn.close()
        raise RuntimeError(f"production database is busy ({e}): another migration holds its write lock") from e
    return conn


def _prepare_sync(path: str, statements: list[Statement]) -> _Open:
    conn = _begin(path)
    try:
        return _Open(conn, _apply(conn, statements))
    except BaseException:
        _rollback_and_close(conn)
        raise


def _commit_sync(path: str, prepared: dict[str, Any], opened: _Open | None, key: str) -> dict[str, Any]:
    conn = opened.conn if opened else _begin(path)
    try:
        receipt = _audit_receipt(conn, key)
        if receipt is not None:
            return receipt
        if opened is not None:
            effects = opened.effects
        else:
            try:
                effects = _apply(conn, [parse_statement(s) for s in prepared["statements"]])
            except ValueError as e:
                raise CommitRefused(f"re-running the prepared migration failed: {e}") from e
        before = {str(n): e.pop("before") for n, e in enumerate(effects, 1) if "before" in e}
        for n, effect in enumerate(effects, 1):
            written = [b["rowid"] for b in before.get(str(n), [])] + effect.get("rowids", [])
            if written:
                effect["after"] = _images(conn, effect["table"], written)
        rows = sum(e["rows_changed"] for e in effects)
        try:
            cur = conn.execute(
                "INSERT INTO audit (key, kind, description, statements, before_images, effects, rows_changed)"
                " VALUES (?, 'migration', ?, ?, ?, ?, ?)",
                (
                    key,
                    prepared["description"],
                    json.dumps(prepared["statements"]),
                    json.dumps(before),
                    json.dumps(effects),
                    rows,
                ),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            raise CommitRefused(f"the migration was not committed: {e}; nothing changed") from e
        return {"audit_id": cur.lastrowid, "rows_changed": rows, "description": prepared["description"]}
    finally:
        _rollback_and_close(conn)


def _images(conn: sqlite3.Connection, table: str, rowids: list[int]) -> list[dict[str, Any]]:
    """The rows with these rowids as they are now (in the caller's transaction), in rowid order."""
    images: list[dict[str, Any]] = []
    for rowid in sorted(set(rowids)):
        cur = conn.execute(f"SELECT * FROM {_quote(table)} WHERE rowid = ?", (rowid,))
        row = cur.fetchone()
        if row is not None:
            columns = [d[0] for d in cur.description]
            images.append({"rowid": rowid, "values": dict(zip(columns, map(_to_json, row), strict=True))})
    return images


def _show(value: Any) -> str:
    text = repr(_from_json(value))
    return text if len(text) <= 40 else text[:39] + "…"


def _drift(conn: sqlite3.Connection, effects: list[dict[str, Any]]) -> str | None:
    """How the rows the migration wrote differ now from its after-images, or None when none does."""
    changes: list[str] = []
    for effect in effects:
        table = effect["table"]
        for image in effect.get("after", []):
            try:
                cur = conn.execute(f"SELECT * FROM {_quote(table)} WHERE rowid = ?", (image["rowid"],))
            except sqlite3.OperationalError as e:
                changes.append(f"table {table} cannot be read any more ({e})")
                break
            row = cur.fetchone()
            if row is None:
                changes.append(f"row {image['rowid']} of {table} was deleted")
                continue
            now = dict(zip([d[0] for d in cur.description], map(_to_json, row), strict=True))
            changes.extend(
                f"row {image['rowid']} of {table}: {column} {_show(wrote)} → {_show(now.get(column))}"
                for column, wrote in image["values"].items()
                if now.get(column) != wrote
            )
    if not changes:
        return None
    more = f"; and {len(changes) - 3} more" if len(changes) > 3 else ""
    return f"rows the migration wrote were changed since: {'; '.join(changes[:3])}{more}"


def _migration(conn: sqlite3.Connection, audit_id: int | None, key: str) -> tuple[Any, ...] | None:
    """(key, description, before_images, effects) of the migration's audit row, or None."""
    where, value = ("id", audit_id) if audit_id is not None else ("key", key)
    row: tuple[Any, ...] | None = conn.execute(
        f"SELECT key, description, before_images, effects FROM audit WHERE {where} = ? AND kind = 'migration'",
        (value,),
    ).fetchone()
    return row


def _reverted(conn: sqlite3.Connection, key: str) -> bool:
    return conn.execute("SELECT 1 FROM audit WHERE key = ?", (f"{key}:undo",)).fetchone() is not None


def _check_sync(path: str, audit_id: int | None, key: str) -> str | None:
    conn = connect(path)
    try:
        row = _migration(conn, audit_id, key)
        if row is None or _reverted(conn, row[0]):
            return None  # nothing to compare: compensate says it is unknown, or it is already reverted
        return _drift(conn, json.loads(row[3]))
    finally:
        conn.close()


@dataclass
class _Revert:
    """What a compensation did, for its audit row."""

    key: str
    rows: int = 0
    sql: list[str] = field(default_factory=lambda: [])
    notes: list[str] = field(default_factory=lambda: [])

    def tombstone(self, conn: sqlite3.Connection, obj: str, reason: str) -> None:
        conn.execute("INSERT OR IGNORE INTO tombstones (object, key, reason) VALUES (?, ?, ?)", (obj, self.key, reason))
        self.notes.append(f"{obj} tombstoned: {reason}")


def _undo_one(conn: sqlite3.Connection, effect: dict[str, Any], before: list[dict[str, Any]], done: _Revert) -> None:
    kind, table = effect["kind"], _quote(effect["table"])
    if kind == "insert" and effect["rowids"]:
        cur = conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", [(r,) for r in effect["rowids"]])
        done.rows += cur.rowcount
        done.sql.append(f"DELETE FROM {table} WHERE rowid IN ({', '.join(map(str, effect['rowids']))})")
    elif kind == "update" and before:
        # Generated columns (hidden 2 and 3) cannot be assigned; they follow the restored ones.
        writable = {r[1] for r in conn.execute(f"PRAGMA table_xinfo({table})") if r[6] == 0}
        for image in before:
            values = {c: _from_json(v) for c, v in image["values"].items() if c in writable}
            sets = ", ".join(f"{_quote(c)} = ?" for c in values)
            cur = conn.execute(f"UPDATE {table} SET {sets} WHERE rowid = ?", [*values.values(), image["rowid"]])
            done.rows += cur.rowcount
            if cur.rowcount == 0:
                done.notes.append(f"row {image['rowid']} of {effect['table']} no longer exists; not restored")
        rowids = ", ".join(str(b["rowid"]) for b in before)
        done.sql.append(f"UPDATE {table} SET <before-image> WHERE rowid IN ({rowids})")
    elif kind == "add_column":
        done.tombstone(
            conn,
            f"column {effect['table']}.{effect['column']}",
            "left in place: SQLite before 3.35 cannot drop a column, and dropping it would also "
            "lose data written to it since the migration",
        )
    elif effect.get("created"):
        name = _quote(effect["name"])
        what = "INDEX" if kind == "create_index" else "TABLE"
        count = 0 if what == "INDEX" else conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        if count:
            done.tombstone(conn, f"table {effect['name']}", f"left in place: it holds {count} row(s) written since")
        else:
            conn.execute(f"DROP {what} IF EXISTS {name}")
            done.sql.append(f"DROP {what} IF EXISTS {name}")


def _compensate_sync(path: str, audit_id: int | None, key: str, forced: bool) -> None:
    conn = _begin(path)
    try:
        row = _migration(conn, audit_id, key)
        if row is None:
            which = f"id {audit_id}" if audit_id is not None else f"key {key}"
            raise RuntimeError(f"no migration with audit {which} was committed; there is nothing to revert")
        key, description, before, effects = row[0], row[1], json.loads(row[2]), json.loads(row[3])
        if _reverted(conn, key):
            return
        drift = None if forced else _drift(conn, effects)
        if drift is not None:
            raise RuntimeError(f"not reverted: {drift}")
        done = _Revert(key)
        for n in range(len(effects), 0, -1):
            _undo_one(conn, effects[n - 1], before.get(str(n), []), done)
        conn.execute(
            "INSERT INTO audit (key, kind, description, statements, before_images, effects,"
            " rows_changed, note) VALUES (?, 'revert', ?, ?, '{}', '[]', ?, ?)",
            (
                f"{key}:undo",
                f"revert of: {description}",
                json.dumps(done.sql),
                done.rows,
                "; ".join(done.notes),
            ),
        )
        conn.execute("COMMIT")
    finally:
        _rollback_and_close(conn)


def _reapply_sync(path: str, audit_id: int | None, key: str) -> dict[str, Any]:
    """Run a reverted migration's statements again and record them under `key`, in one transaction."""
    conn = _begin(path)
    try:
        done = _audit_receipt(conn, key)
        if done is not None:
            _rollback_and_close(conn)
            return done  # this re-apply landed before (a retry after a crash): once is enough
        row = conn.execute(
            "SELECT key, description, statements FROM audit WHERE id = ? AND kind = 'migration'", (audit_id,)
        ).fetchone()
        if row is None:
            raise RuntimeError(f"no migration with audit id {audit_id} was committed; there is nothing to re-apply")
        if not _reverted(conn, row[0]):
            raise RuntimeError(f"migration audit #{audit_id} is not reverted; re-applying it would run it twice")
        statements: list[str] = json.loads(row[2])
        try:
            effects = _apply(conn, [parse_statement(s) for s in statements])
        except ValueError as e:
            raise RuntimeError(f"re-running the migration failed: {e}") from e
    except BaseException:
        _rollback_and_close(conn)
        raise
    # The same COMMIT as the agent's: the audit row (with before- and after-images) in the transaction.
    return _commit_sync(path, {"statements": statements, "description": row[1]}, _Open(conn, effects), key)


def _lookup_sync(path: str, key: str) -> dict[str, Any] | None:
    conn = connect(path)
    try:
        return _audit_receipt(conn, key)
    finally:
        conn.close()


class MigrateDatabase(Tool):
    """Apply a small, reviewable migration to the production database, with an audit trail."""

    name = "migrate_database"
    description = (
        "Run SQL statements against the production database in one transaction, with an audit "
        f"row. Allowed, one statement per string: {ALLOWED}."
    )
    reversibility = Reversibility.COMPENSABLE
    on_stop = StopPolicy.TRY_CANCEL  # a migration still running after the grace is rolled back

    class Args(BaseModel):
        """Arguments of migrate_database."""

        statements: list[str] = Field(min_length=1, max_length=50)
        description: str = Field(min_length=1, max_length=500)

        @field_validator("statements")
        @classmethod
        def _allowed(cls, value: list[str]) -> list[str]:
            for n, sql in enumerate(value, 1):
                try:
                    parse_statement(sql)
                except ValueError as e:
                    raise ValueError(f"statement {n}: {e}") from None
            return value

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}

    def resource(self, args: MigrateDatabase.Args) -> str:
        """Always `db:production`."""
        return "db:production"

    def summary(self, args: MigrateDatabase.Args) -> str:
        """`migrate production: description (N statements)`."""
        return f"migrate production: {args.description} ({len(args.statements)} statements)"

    async def prepare(self, args: MigrateDatabase.Args, ctx: ToolContext) -> dict[str, Any]:
        """Open a write transaction, run the statements in it, and keep it open.

        Returns:
            {"description", "statements", "rows_changed", "before_images", "effects"}:
            before_images counts the rows whose old values were captured, per UPDATE;
            effects says in words what each statement did.
        """
        statements = [parse_statement(s) for s in args.statements]
        await self.discard(None, ctx)
        await upstream("dry_run_migration")
        path = WorldConfig.load().database
        opened = await anyio.to_thread.run_sync(_prepare_sync, path, statements)
        self._open[ctx.idempotency_key] = opened
        return {
            "description": args.description,
            "statements": [s.sql for s in statements],
            "rows_changed": sum(e["rows_changed"] for e in opened.effects),
            "before_images": [
                {"statement": n, "table": e["table"], "rows": len(e["before"])}
                for n, e in enumerate(opened.effects, 1)
                if e["kind"] == "update"
            ],
            "effects": [_describe(n, e) for n, e in enumerate(opened.effects, 1)],
        }

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Record the audit row and COMMIT; once per idempotency key.

        Without the prepared transaction (another process, a restart) the
        statements run again in a fresh one.

        Returns:
            {"audit_id", "rows_changed", "description"}.

        Raises:
            CommitRefused: the transaction could not be committed; nothing changed.
        """
        try:
            await upstream("migrate")
        except anyio.get_cancelled_exc_class():
            # Stop cut the migration short (on_stop try_cancel): roll it back, nothing lands.
            with anyio.CancelScope(shield=True):
                await self.discard(prepared, ctx)
            raise
        opened = self._open.pop(ctx.idempotency_key, None)
        path = WorldConfig.load().database
        return await anyio.to_thread.run_sync(_commit_sync, path, prepared, opened, ctx.idempotency_key)

    async def discard(self, prepared: Any, ctx: ToolContext) -> None:
        """Roll the prepared transaction back and close its connection."""
        opened = self._open.pop(ctx.idempotency_key, None)
        if opened is not None:
            await anyio.to_thread.run_sync(_rollback_and_close, opened.conn)

    def undo_summary(self, receipt: dict[str, Any]) -> str:
        """`revert “description” (audit #3): restore or remove the 5 row(s) it changed`."""
        if not isinstance(receipt, dict) or "audit_id" not in receipt:
            return ""
        return (
            f"revert “{receipt.get('description', '?')}” (audit #{receipt['audit_id']}): restore or remove "
            f"the {receipt.get('rows_changed', '?')} row(s) it changed"
        )

    async def check(self, receipt: dict[str, Any], ctx: ToolContext) -> str | None:
        """Refuse the undo when a row the migration wrote was changed or deleted since.

        Only reads: compares the after-images in the audit row with the rows now.
        A migration already reverted is no drift.
        """
        audit_id = receipt.get("audit_id") if isinstance(receipt, dict) else None
        key = ctx.idempotency_key.removesuffix(":undo")
        path = WorldConfig.load().database
        return await anyio.to_thread.run_sync(_check_sync, path, audit_id, key)

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        """Revert the migration and add a revert audit row keyed `<key>:undo`; once.

        The migration is the one the receipt's audit_id names (ctx may carry the
        undo's own key, `<key>:undo`, as agentstop's undo passes it). Unless the
        undo is forced, the rows are compared with the after-images again in the
        revert's own transaction, so a write made after `check` is not overwritten.

        Raises:
            RuntimeError: no such migration was committed, or (not forced) a row
                it wrote changed since; nothing was reverted.
        """
        audit_id = receipt.get("audit_id") if isinstance(receipt, dict) else None
        key = ctx.idempotency_key.removesuffix(":undo")
        path = WorldConfig.load().database
        await anyio.to_thread.run_sync(_compensate_sync, path, audit_id, key, ctx.forced)

    def reapply_summary(self, receipt: dict[str, Any]) -> str:
        """`run “description” (audit #3) again: its statements in a new transaction`."""
        if not isinstance(receipt, dict) or "audit_id" not in receipt:
            return ""
        return (
            f"run “{receipt.get('description', '?')}” (audit #{receipt['audit_id']}) again: its statements, in "
            "a new transaction with an audit row of its own"
        )

    async def reapply(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Run the reverted migration again, audited under the re-apply's key (`<key>:reapply<n>`); once.

        Returns:
            {"audit_id", "rows_changed", "description"} of the new run: what the next undo reverts.

        Raises:
            RuntimeError: the migration is unknown or not reverted, or a statement
                fails now (a row it inserts conflicts, a column it adds is still
                there); nothing was applied.
        """
        audit_id = receipt.get("audit_id") if isinstance(receipt, dict) else None
        path = WorldConfig.load().database
        return await anyio.to_thread.run_sync(_reapply_sync, path, audit_id, ctx.idempotency_key)

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        """The receipt of the migration committed with this key, or None."""
        path = WorldConfig.load().database
        return await anyio.to_thread.run_sync(_lookup_sync, path, ctx.idempotency_key)

    def close(self) -> None:
        """Roll back every migration still prepared (at shutdown)."""
        while self._open:
            _, opened = self._open.popitem()
            _rollback_and_close(opened.conn)
