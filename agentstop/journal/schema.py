"""The journal's SQLite schema, its version, and the pragmas every connection sets.

`events` is the truth: append-only, one row per step of a call's or session's
life. `sessions`, `grants` and `calls` are materialised from it in the same
transaction that appends the event, so readers get the last state cheaply.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATION_SQL", "SCHEMA_VERSION", "apply_pragmas", "migrate", "user_version"]

SCHEMA_VERSION = 6

_V1 = """
CREATE TABLE sessions (
    session_id   TEXT PRIMARY KEY,
    task_name    TEXT NOT NULL,
    goal         TEXT NOT NULL DEFAULT '',
    task_path    TEXT,
    tools        TEXT NOT NULL DEFAULT '[]',
    started_at   REAL NOT NULL,
    ended_at     REAL,
    status       TEXT NOT NULL,
    stopped_by   TEXT,
    stop_reason  TEXT,
    pid          INTEGER,
    host         TEXT,
    heartbeat_at REAL,
    meta         TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE grants (
    grant_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id    TEXT NOT NULL REFERENCES sessions(session_id),
    tools         TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    issued_at     REAL NOT NULL,
    expires_at    REAL,
    max_calls     INTEGER,
    calls_used    INTEGER NOT NULL DEFAULT 0,
    revoked_at    REAL,
    revoked_by    TEXT,
    revoke_reason TEXT
);
CREATE INDEX grants_session ON grants(session_id);
CREATE TABLE calls (
    session_id      TEXT NOT NULL REFERENCES sessions(session_id),
    call_id         TEXT NOT NULL,
    n               INTEGER NOT NULL,
    tool            TEXT NOT NULL,
    summary         TEXT NOT NULL,
    resource        TEXT NOT NULL,
    args            TEXT NOT NULL,
    reversibility   TEXT NOT NULL,
    on_stop         TEXT NOT NULL,
    can_compensate  INTEGER NOT NULL,
    can_lookup      INTEGER NOT NULL,
    undo_hint       TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL,
    grant_id        INTEGER,
    state           TEXT NOT NULL,
    reason          TEXT,
    prepared        TEXT,
    receipt         TEXT,
    planned_at      REAL NOT NULL,
    fence_at        REAL,
    committed_at    REAL,
    commit_seq      INTEGER,
    ended_at        REAL,
    updated_at      REAL NOT NULL,
    undo_attempts   INTEGER NOT NULL DEFAULT 0,
    undo_error      TEXT,
    undo_by         TEXT,
    PRIMARY KEY (session_id, call_id)
);
CREATE INDEX calls_key ON calls(idempotency_key);
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    call_id    TEXT,
    kind       TEXT NOT NULL,
    at         REAL NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_session ON events(session_id, seq);
"""


# Each entry brings a journal from version i to i + 1; append, never edit.
def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    # Not executescript(): it COMMITs first, which would split the migration.
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


# v2: numbering a new call (MAX(n) per session) no longer scans the session's calls.
_V2 = """
CREATE INDEX calls_session_n ON calls(session_id, n);
"""

# v3: re-apply (a compensated call's effect carried out again). Whether the call's tool can
# (recorded when the call is planned, like can_compensate, so the report stays a function of the
# rows), how many re-applies landed (the next one's idempotency key counts on), and the last
# re-apply's error. A journal from before has no re-applies: 0 and NULL are the truth for it.
_V3 = """
ALTER TABLE calls ADD COLUMN can_reapply INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN reapplies INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN reapply_error TEXT
"""

# v4: recovery for every intermediate state, and a Stop that binds an epoch still starting.
# The process running a call's undo or re-apply (`compensating`, `reapplying`), which need not be
# the session's: pid, host and start time (a reused pid is another process), and a lease, the
# latest time that work could still be running (its steps have hard timeouts); NULL otherwise.
# And when a stop was last requested for the session that found no live grant to revoke (it had
# ended, or an epoch was starting), which a Resume started before it must obey. A journal from
# before has none of these: NULL is its truth.
_V4 = """
ALTER TABLE calls ADD COLUMN worker_pid INTEGER;
ALTER TABLE calls ADD COLUMN worker_host TEXT;
ALTER TABLE calls ADD COLUMN worker_started_at REAL;
ALTER TABLE calls ADD COLUMN lease_until REAL;
ALTER TABLE sessions ADD COLUMN stop_requested_at REAL
"""

# v5: a call's number comes from a counter row of its session, bumped in the transaction that plans
# the call (`ops.plan_call`), instead of `MAX(n)` over the session's calls: numbering costs the same at
# the first call and the 100,000th. A table of its own, not a column of `sessions`: Stop locks the
# session's row and then its grants, a batch of fences locks grants, and a counter on the session's
# row would make a batch holding a grant wait for a Stop that waits for that grant (PostgreSQL found
# the deadlock). A session without its row (planned nothing yet, or written before v5, or copied from
# another journal) gets it at its next call, from MAX(n) once.
_V5 = """
CREATE TABLE call_numbers (
    session_id TEXT PRIMARY KEY,
    last_n     INTEGER NOT NULL
)
"""

# v6: replay's timeline checkpoints, a cache built from `events` (never the truth): every `CHECKPOINT`
# events of a session, what the timeline shows at that position (the latest calls planned, the tail of
# the transcript, the Stop of the epoch), so opening a long session at any event reads one row and at
# most `CHECKPOINT` events instead of walking the session from its start (agentstop/replay/checkpoints.py).
# `position` counts the events applied; `seq` is the last of them (0 at position 0); `build` names the
# layout of `state`, so a row of another layout is rebuilt, not misread. `marks` holds the Stops and
# Resumes among the events just before the row, read for every row when a timeline opens. Dropping the
# rows loses nothing: the next replay builds them again.
_V6 = """
CREATE TABLE timeline_checkpoints (
    session_id TEXT NOT NULL,
    position   INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    build      TEXT NOT NULL,
    marks      TEXT NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (session_id, position)
)
"""

MIGRATION_SQL: list[str] = [_V1, _V2, _V3, _V4, _V5, _V6]
"""The SQL of each migration, in SQLite's dialect (postgres_schema.py translates it)."""

_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_script(sql) for sql in MIGRATION_SQL]
assert len(_MIGRATIONS) == SCHEMA_VERSION


def apply_pragmas(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Set the pragmas every journal connection needs, each for its reason."""
    # Wait for another process's write lock (bounded) instead of failing at once.
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    # WAL: readers (the UI, `agentstop report`) never block the fence, and the
    # fence never blocks them.
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL by default: cheap events (planned, prepared) need not reach the disk
    # at once; the fence and outcomes switch to FULL (see writer.py).
    conn.execute("PRAGMA synchronous = NORMAL")
    # The schema has references; keep them honest.
    conn.execute("PRAGMA foreign_keys = ON")


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the file."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, start: int) -> None:
    """Bring the schema from `start` to `SCHEMA_VERSION`, one transaction per step."""
    for version in range(start, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the lock: another process may have migrated meanwhile.
            if user_version(conn) != version:
                conn.execute("ROLLBACK")
                continue
            _MIGRATIONS[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
