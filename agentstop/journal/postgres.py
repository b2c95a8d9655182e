"""The PostgreSQL backend: one journal shared by many agents on many machines.

Same schema, same `ops`, same fence as SQLite. What PostgreSQL changes:

- The fence locks the grant *row* (`SELECT ... FOR UPDATE`) instead of the
  whole file; a revoke updates that row, so it waits for a fence in progress
  or the fence waits for it and reads it revoked (READ COMMITTED re-reads a row
  it waited for). "Once revoke has returned, no call enters committing" holds
  across processes and machines.
- Durability per transaction: a non-durable unit commits with
  `synchronous_commit = off`; the next durable commit flushes the WAL up to
  itself, earlier units included.
- A revoke sends `NOTIFY agentstop_revoke, '<session id>'` in its own
  transaction, so a running supervisor hears of it at once, not at its next poll.
- Every statement is a trip to the server, so the connection queues them and
  sends them in pipelines, only when a result is needed (`PgConnection`). A
  unit whose statements decide everything themselves sends them with the end
  of its transaction (`PgConnection.settle`): a gated call's two writer
  transactions (plan and fence; outcome) take one round trip each.

Driver: psycopg 3. Its DB-API shape lets `ops.py` run unchanged on both
databases (only `?` becomes `%s`), so no feature is SQLite-only by construction.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from agentstop.errors import JournalBusy, JournalCorrupt, JournalError, JournalTooNew
from agentstop.grant import GrantState

from .backend import Backend, ReadConnection, redact_url
from .postgres_schema import MIGRATIONS, OUR_TABLES, VERSION_TABLE
from .postgres_upkeep import FIRST_ANALYZE, StatisticsUpkeep
from .schema import SCHEMA_VERSION

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.pq import TransactionStatus
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise JournalError(
        "postgresql://", "needs the PostgreSQL driver (psycopg)", "Install it: pip install 'agentstop[postgres]'."
    ) from exc

__all__ = ["CHANNEL", "EXPECT_FAILED", "PgConnection", "PostgresBackend", "RoundTrips"]

CHANNEL = "agentstop_revoke"

EXPECT_FAILED = "AS001"
"""The SQLSTATE `agentstop_expect(ok, what)` raises when `ok` is not true (see `_EXPECT_DDL`)."""

_EXPECT_DDL = f"""
CREATE OR REPLACE FUNCTION agentstop_expect(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = '{EXPECT_FAILED}', MESSAGE = what;
    END IF;
    RETURN true;
END
$fn$
"""
"""A function created with the schema: a statement that must not go on unless a condition holds says so.

The journal's one-round-trip writes (ops.py, `_plan_and_fence_at_once`) are one
statement each, sent before any result is back; a check that fails there must
stop the rest of it, and only an error does that. It decides
nothing itself: the condition is the statement's (e.g. "the grant row is still
as this connection last read it"), the verdict stays in Python.
"""

_TRANSACTION = "transaction"
"""`PgConnection._ended`: `settle` committed the whole transaction (else it names the savepoint it released)."""

_TOKEN = re.compile(r"""('(?:[^']|'')*')|("(?:[^"]|"")*")|(\?)|(%)""")


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    """`?` placeholders to psycopg's `%s`, a literal `%` to `%%` (quoted text left alone but for `%`)."""
    return _TOKEN.sub(lambda m: "%s" if m.group(3) else m.group(0).replace("%", "%%"), sql)


class RoundTrips:
    """How many times a backend's connections have waited on the server: one per batch of statements sent.

    A *round trip* is one wait for the server's answer (one `ReadyForQuery`):
    a pipeline of statements ended by one Sync, or one statement sent alone.
    Connection set-up, the revoke listener and the statistics upkeep
    (`postgres_upkeep`, on a connection of its own) are not counted. The writer
    thread and the reader threads both count here, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        """Round trips so far."""
        return self._count


class _Pending:
    """A statement queued on a `PgConnection`: its result, once the connection has sent it.

    Reading anything of it (a row, the row count) sends every statement queued
    so far, in one round trip, if it is not sent yet.
    """

    __slots__ = ("_conn", "cursor")

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn
        self.cursor: psycopg.Cursor[Any] | None = None

    def _sent(self) -> psycopg.Cursor[Any]:
        if self.cursor is None:
            self._conn.flush()
        if self.cursor is None:
            # Dropped by a ROLLBACK, or after a statement that failed in the same pipeline.
            raise pg_errors.PipelineAborted("the statement was not run: its transaction was rolled back")
        return self.cursor

    def fetchone(self) -> Any:
        return self._sent().fetchone()

    def fetchall(self) -> list[Any]:
        return self._sent().fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._sent())

    @property
    def rowcount(self) -> int:
        return self._sent().rowcount


class PgConnection:
    """A psycopg connection that speaks the journal's SQL (see ops.py) in as few round trips as it can.

    `execute` does not send a statement: it queues it and returns a `_Pending`.
    The queue goes to the server in one pipeline (one round trip) when a result
    is needed (a row, a row count), and at COMMIT, RELEASE and ROLLBACK. So the
    statements of a transaction that do not depend on each other's results
    travel together: the fence's BEGIN and its two reads (the call's state, the
    grant row `FOR UPDATE`) in one round trip, its writes and COMMIT in a
    second. Nothing about a transaction changes but when its statements are
    sent: the same statements run in the same order, and the fence's checks
    still read the grant row under its lock before a single write of it is
    sent. A statement that fails raises when its pipeline is sent: at the
    next read of a result, or at COMMIT, inside the same transaction. A
    transaction of one statement (BEGIN, it, COMMIT: the one-round-trip writes
    of ops.py) is sent as that statement alone, which the server runs as a
    transaction of its own.

    RELEASE sends the queue so a failure is raised in the unit that caused it
    (the writer runs each unit of a batch in a savepoint and releases it before
    the next), not in the unit that happens to read next.
    """

    for_update = " FOR UPDATE"

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        where: str,
        round_trips: RoundTrips,
        *,
        can_expect: bool = False,
        upkeep: StatisticsUpkeep | None = None,
    ) -> None:
        self.raw = conn
        self.where = where
        self._round_trips = round_trips
        self._queue: list[tuple[str, tuple[Any, ...] | list[Any], _Pending]] = []
        self.grants_seen: dict[int, GrantState] | None = {} if can_expect else None
        """Each grant as this connection last read or wrote it, for the fence's one-round-trip path
        (None when the database has no `agentstop_expect`: that path is then never taken)."""
        self._begun_with: list[str] = ["BEGIN"]
        """The statements that began the latest transaction (BEGIN, its durability): `settle` may begin it again."""
        self._in_transaction = False
        self._savepoints: list[str] = []
        self._ended: str | None = None
        """`settle` ended this scope ahead of the writer: `_TRANSACTION` or a savepoint's name."""
        self._upkeep = upkeep
        """The writer's connection keeps the calls table's statistics fresh (`postgres_upkeep`); None: not this one."""
        self._sent = 0
        self._analyze_at = FIRST_ANALYZE

    def begin(self, durable: bool) -> None:
        """Queue BEGIN (and, when not durable, `synchronous_commit = off`), remembered to begin again."""
        opening = ["BEGIN"] if durable else ["BEGIN", "SET LOCAL synchronous_commit = off"]
        # A unit that raised after `settle` left nothing open (the writer then ends nothing): start afresh.
        self._ended, self._begun_with = None, opening
        for sql in opening:
            self.execute(sql)

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> _Pending:
        word = sql.lstrip()[:8].upper()
        if self._ended is not None:
            if self._ends_what_was_settled(word, sql):
                return _Pending(self)
            self._reopen()
        if word == "ROLLBACK":
            return self._rollback(sql)
        self._track(word, sql)
        pending = _Pending(self)
        self._queue.append((_translate(sql), params, pending))
        if word.startswith(("COMMIT", "RELEASE")):
            self.flush()
        return pending

    def settle(self) -> None:
        """End the unit now: its queued statements and its end (COMMIT, or RELEASE of its savepoint), one trip.

        For a unit whose statements decide everything themselves (conditional
        writes, or a check that raises), so nothing it reads back could change
        what it commits. The writer's own end of the unit that follows (COMMIT;
        ROLLBACK; or ROLLBACK TO and RELEASE of the savepoint) is then skipped.
        A statement the unit sends after this begins a new transaction (or
        savepoint) like the first, which the writer's end then closes. If a
        statement fails, nothing was ended: the unit's scope stays open, in
        error, for the writer (or `undo_unit`) to roll back.
        """
        if self._savepoints:
            name = self._savepoints[-1]
            self._queue.append((f"RELEASE {name}", (), _Pending(self)))
            self.flush()
            self._savepoints.pop()
            self._ended = name
        elif self._in_transaction:
            self._queue.append(("COMMIT", (), _Pending(self)))
            self.flush()
            self._in_transaction, self._ended = False, _TRANSACTION
        else:
            self.flush()

    @staticmethod
    def missed(exc: BaseException) -> bool:
        """True when `exc` is an `agentstop_expect` that did not hold: a one-round-trip write must go the long way."""
        return isinstance(exc, psycopg.Error) and exc.sqlstate == EXPECT_FAILED

    def undo_unit(self) -> None:
        """Roll back what the unit has done so far (it failed inside `settle`) and open its scope again, empty."""
        if self._savepoints:
            self._queue.clear()
            self._queue.append((f"ROLLBACK TO {self._savepoints[-1]}", (), _Pending(self)))
            self.flush()
        else:
            self.execute("ROLLBACK")
            for sql in self._begun_with:
                self.execute(sql)

    def _track(self, word: str, sql: str) -> None:
        """Follow the transaction and savepoints the statements open and close (for `settle`)."""
        if word.startswith("BEGIN"):
            self._in_transaction, self._savepoints = True, []
        elif word.startswith("SAVEPOIN"):
            self._savepoints.append(sql.split()[1])
        elif word.startswith("RELEASE"):
            if self._savepoints:
                self._savepoints.pop()
        elif word.startswith("COMMIT"):
            self._in_transaction, self._savepoints = False, []

    def _ends_what_was_settled(self, word: str, sql: str) -> bool:
        """True when `sql` is the writer's end of the scope `settle` already ended (it is then skipped)."""
        to = sql.upper().split()[1:2] == ["TO"]
        if self._ended == _TRANSACTION:
            if word.startswith("COMMIT") or (word == "ROLLBACK" and not to):
                self._ended = None
                return True
            return False
        if word == "ROLLBACK" and to:
            return True  # the RELEASE that follows it ends the skipping
        if word.startswith("RELEASE"):
            self._ended = None
            return True
        return False

    def _reopen(self) -> None:
        """A statement after `settle`: begin the scope it ended again, as the writer began it."""
        ended, self._ended = self._ended, None
        if ended == _TRANSACTION:
            for sql in self._begun_with:
                self.execute(sql)
        elif ended is not None:
            self.execute(f"SAVEPOINT {ended}")

    def flush(self) -> None:
        """Send every queued statement in one round trip; raises the first one's error, if any failed."""
        if not self._queue:
            return
        queue, self._queue = self._queue, []
        if len(queue) == 3 and queue[0][0] == "BEGIN" and queue[2][0] == "COMMIT":
            # A whole transaction of one statement: sent alone, the statement is a transaction of its own
            # (the connection is in autocommit), committed as durably as COMMIT commits it. In a pipeline
            # still, so a statement psycopg prepares now (the fifth time it runs) is prepared in this round
            # trip, not one of its own.
            queue = queue[1:2]
            piped = True
        else:
            piped = len(queue) > 1
        self._round_trips.add()
        self._sent += len(queue)
        if self._upkeep is not None and self._sent >= self._analyze_at:
            self._analyze_at = self._sent * 2
            self._upkeep.start()
        if not piped:
            sql, params, pending = queue[0]
            pending.cursor = self.raw.execute(sql, params)
            return
        with self.raw.pipeline():
            for sql, params, pending in queue:
                pending.cursor = self.raw.execute(sql, params)

    def _rollback(self, sql: str) -> _Pending:
        if sql.upper().split()[1:2] != ["TO"]:
            self._in_transaction, self._savepoints = False, []
        if sql.upper().split()[1:2] == ["TO"]:
            # Undo one unit: run what it queued first (its failure is what is being undone), then roll back.
            try:
                self.flush()
            except psycopg.Error:
                if self.raw.closed:
                    raise
        else:
            # What was never sent needs no undoing; a transaction the server has begun does.
            self._queue.clear()
            if self.raw.info.transaction_status == TransactionStatus.IDLE:
                return _Pending(self)
        pending = _Pending(self)
        self._queue.append((sql, (), pending))
        self.flush()
        return pending

    @property
    def in_transaction(self) -> bool:
        return bool(self._queue) or self.raw.info.transaction_status != TransactionStatus.IDLE

    def notify(self, session_id: str) -> None:
        """Tell listeners about this session when the transaction commits."""
        self.execute("SELECT pg_notify(?, ?)", (CHANNEL, session_id))

    def close(self) -> None:
        self._queue.clear()
        self._ended, self._in_transaction, self._savepoints = None, False, []
        self.raw.close()


class _Reader(ReadConnection):
    """Reads on a connection of their own, in a worker thread.

    (A psycopg query cancelled under anyio closes its connection; a thread that
    finishes its query never does, and reads are short.)
    """

    def __init__(self, backend: PostgresBackend, readonly: bool) -> None:
        self._backend = backend
        self._readonly = readonly
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._in_snapshot = False
        """Inside `snapshot`: a read must not move to a new connection (it would leave the transaction)."""

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self._backend.raw_connect(autocommit=True)
                        if self._readonly:
                            self._conn.execute("SET default_transaction_read_only = on")
                    self._backend.trips.add()
                    return list(self._conn.execute(_translate(sql), params).fetchall())
                except psycopg.Error as exc:
                    # A read is safe to repeat: once on a new connection when the old one was lost
                    # (not inside a snapshot, whose moment went with the old connection).
                    if attempt == 2 or self._conn is None or not self._conn.closed or self._in_snapshot:
                        raise self._backend.error(exc) from exc
            raise AssertionError("unreachable")

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return await anyio.to_thread.run_sync(self._fetch, sql, params)

    def _run(self, sql: str) -> None:
        """One statement without rows (the snapshot's BEGIN and COMMIT) on the read connection."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._backend.raw_connect(autocommit=True)
                    if self._readonly:
                        self._conn.execute("SET default_transaction_read_only = on")
                self._backend.trips.add()
                self._conn.execute(sql)
            except psycopg.Error as exc:
                raise self._backend.error(exc) from exc

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        if self._in_snapshot:  # already inside one: its moment is this block's too
            yield
            return
        await anyio.to_thread.run_sync(self._run, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        self._in_snapshot = True
        try:
            yield
        finally:
            self._in_snapshot = False
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._end_snapshot)

    def _end_snapshot(self) -> None:
        # COMMIT, unless the connection was lost meanwhile (its transaction went with it).
        if self._conn is not None and not self._conn.closed:
            self._run("COMMIT")

    async def close(self) -> None:
        def close() -> None:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()

        await anyio.to_thread.run_sync(close)


class PostgresBackend(Backend):
    """A journal in a PostgreSQL database, named by a `postgresql://` URL."""

    kind = "postgresql"
    driver_errors = (psycopg.Error,)

    def __init__(self, url: str, busy_timeout: float) -> None:
        self.url = url
        self.where = redact_url(url)
        self.busy_timeout = busy_timeout
        self.trips = RoundTrips()
        self.upkeep = StatisticsUpkeep(self.raw_connect)
        self.can_expect = False
        """The database has `agentstop_expect` (see `_EXPECT_DDL`), so writes may take one round trip."""

    @property
    def round_trips(self) -> int:
        return self.trips.count

    # -- connections ---------------------------------------------------------------

    def raw_connect(self, *, autocommit: bool = True) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.url, autocommit=autocommit, connect_timeout=max(2, int(self.busy_timeout)))
            # A fence waits this long for a grant row another process holds, then fails closed.
            conn.execute(f"SET lock_timeout = {int(self.busy_timeout * 1000)}")
        except psycopg.Error as exc:
            raise self.error(exc) from exc
        return conn

    def connect(self) -> PgConnection:
        # autocommit: the writer sends BEGIN / SAVEPOINT / COMMIT itself, as on SQLite.
        return PgConnection(
            self.raw_connect(autocommit=True), self.where, self.trips, can_expect=self.can_expect, upkeep=self.upkeep
        )

    def usable(self, conn: Any) -> bool:
        return not conn.raw.closed

    def begin(self, conn: Any, durable: bool, *, wait: bool = True) -> None:
        # Queued, not sent: they travel with the transaction's first statements (see PgConnection). Never
        # inline (`runs_inline` is false: a server that stops answering would hold the event loop).
        conn.begin(durable)

    async def reader(self, readonly: bool) -> ReadConnection:
        reader = _Reader(self, readonly)
        try:
            await reader.fetchall("SELECT 1")  # fail here, not at the first read, when the server is unreachable
        except BaseException:
            with anyio.CancelScope(shield=True):  # cancelled or failed: no connection left behind
                await reader.close()
            raise
        return reader

    # -- schema -------------------------------------------------------------------

    def prepare(self, readonly: bool) -> None:
        with self.raw_connect(autocommit=True) as conn:
            version = self._version(conn)
            if version is None:
                taken = [t for t in OUR_TABLES if self._exists(conn, t)]
                if taken:
                    raise JournalCorrupt(self.where, f"tables of another program are in the way ({', '.join(taken)})")
                if readonly:
                    raise JournalError(
                        self.where, "holds no agentstop journal", "Check the URL, or run a session against it first."
                    )
                version = 0
            if version > SCHEMA_VERSION:
                raise JournalTooNew(self.where, version, SCHEMA_VERSION)
            if version < SCHEMA_VERSION:
                if readonly:
                    raise JournalError(
                        self.where,
                        f"schema version {version} is older than {SCHEMA_VERSION}",
                        "Open it once read-write (agentstop sessions) to upgrade it.",
                    )
                self._migrate(conn)
            if not readonly:
                self.can_expect = self._has_expect(conn)

    @staticmethod
    def _has_expect(conn: psycopg.Connection[Any]) -> bool:
        """Make sure `agentstop_expect` exists; False when this role may not create it (writes then take more trips).

        A function, not a table: it is (re)created here rather than by a migration,
        so a database migrated before it existed gets it at its next read-write open.
        """
        row = conn.execute("SELECT to_regprocedure('agentstop_expect(boolean,text)')").fetchone()
        if row is not None and row[0] is not None:
            return True
        try:
            with conn.transaction():
                # Several processes may open the database at once: CREATE OR REPLACE under the schema's lock.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('agentstop schema'))")
                conn.execute(_EXPECT_DDL)
        except pg_errors.InsufficientPrivilege:
            return False
        return True

    @staticmethod
    def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
        row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        return row is not None and row[0] is not None

    def _version(self, conn: psycopg.Connection[Any]) -> int | None:
        if not self._exists(conn, VERSION_TABLE):
            return None
        row = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
        if row is None:
            raise JournalCorrupt(self.where, f"{VERSION_TABLE} is empty")
        return int(row[0])

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Bring the schema up to date, one transaction per version, under an advisory lock."""
        while True:
            with conn.transaction():
                # Several processes may open a new database at once: one migrates, the others wait and re-read.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('agentstop schema'))")
                version = self._version(conn) or 0
                if version >= SCHEMA_VERSION:
                    return
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (version + 1,))

    # -- errors -------------------------------------------------------------------

    def error(self, exc: BaseException) -> Exception:
        if isinstance(exc, JournalError):
            return exc
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        if isinstance(exc, pg_errors.LockNotAvailable):
            return JournalBusy(self.where, self.busy_timeout)
        if "password authentication failed" in text or "no password supplied" in text:
            return JournalError(
                self.where,
                "the server refused these credentials (password authentication failed)",
                "Check the user and password in the URL.",
            )
        if "does not exist" in text and "database" in text:
            return JournalError(
                self.where,
                f"cannot be opened: {_fatal(text)}",
                "Create the database (createdb NAME) or fix its name in the URL.",
            )
        if "Connection refused" in text or "failed to resolve host" in text or "timeout expired" in text:
            return JournalError(
                self.where,
                f"cannot reach the server ({_fatal(text)})",
                "Start PostgreSQL, or fix the host and port in the URL.",
            )
        if isinstance(exc, pg_errors.AdminShutdown) or "closed" in text or "terminat" in text:
            return JournalError(
                self.where,
                f"the connection to the server was lost ({first})",
                "Nothing was issued without its journal record; `agentstop report` settles what was in flight.",
            )
        return JournalError(self.where, f"write failed ({first})", "Nothing was issued unjournaled; check the server.")

    # -- notifications ------------------------------------------------------------

    def listen(self, wake: Callable[[str], None]) -> Callable[[], None] | None:
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                try:
                    with psycopg.connect(self.url, autocommit=True) as conn:
                        conn.execute(f"LISTEN {CHANNEL}")
                        while not stop.is_set():
                            for note in conn.notifies(timeout=0.2):
                                wake(note.payload)
                except psycopg.Error:
                    wake("")  # tell watchers to poll: they may have missed something
                    stop.wait(1.0)

        thread = threading.Thread(target=run, name="agentstop-journal-listener", daemon=True)
        thread.start()

        def stopper() -> None:
            stop.set()
            thread.join(timeout=2)

        return stopper


def _fatal(text: str) -> str:
    match = re.search(r"FATAL:\s+(.*)", text)
    if match:
        return match.group(1).strip()
    return text.splitlines()[0].removeprefix("connection failed: ")
