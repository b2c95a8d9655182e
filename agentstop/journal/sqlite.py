"""The SQLite backend: one file, WAL, the embedded default that needs no set-up."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from agentstop.errors import JournalBusy, JournalCorrupt, JournalError, JournalTooNew

from .backend import Backend, ReadConnection
from .schema import SCHEMA_VERSION, apply_pragmas, migrate, user_version

__all__ = ["SqliteBackend"]

_OUR_TABLES = {"sessions", "grants", "calls", "events"}


class _Connection(sqlite3.Connection):
    """A write connection that remembers its `synchronous` setting (saves a PRAGMA per transaction)."""

    synchronous_full = False


class _Reader(ReadConnection):
    def __init__(self, conn: aiosqlite.Connection, where: str) -> None:
        self._conn = conn
        self._where = where

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            # Shielded: a read cancelled half-way would leave its cursor open, and with it a read
            # transaction whose old snapshot every later read on this connection would see.
            with anyio.CancelScope(shield=True):
                async with self._conn.execute(sql, params) as cur:
                    rows = list(await cur.fetchall())
        except sqlite3.DatabaseError as exc:
            raise JournalCorrupt(self._where, f"reading failed: {exc}") from exc
        return rows

    async def close(self) -> None:
        await self._conn.close()


class SqliteBackend(Backend):
    """A journal file. Writers serialise on SQLite's lock (`BEGIN IMMEDIATE`)."""

    kind = "sqlite"
    driver_errors = (sqlite3.Error,)

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.where = str(path)
        self.busy_timeout = busy_timeout

    def prepare(self, readonly: bool) -> None:
        path = self.path
        if not path.exists():
            if readonly:
                raise JournalError(str(path), "does not exist", "Check the path, or run a session first.")
            path.parent.mkdir(parents=True, exist_ok=True)
            # Create it ourselves so it is 0600 from its first byte; SQLite gives the
            # -wal and -shm files the same mode.
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise JournalError(str(path), f"cannot be opened ({exc})", "Check its permissions.") from exc
        try:
            version = user_version(conn)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError as exc:
            if "unable to open" in str(exc) or "readonly" in str(exc):
                raise JournalError(str(path), f"cannot be opened ({exc})",
                                   "Make the file and its directory readable and writable by this user.") from exc
            raise JournalCorrupt(str(path), str(exc)) from exc
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise JournalCorrupt(str(path), str(exc)) from exc
        finally:
            conn.close()
        if version < 0:
            raise JournalCorrupt(str(path), f"schema version {version} is not one agentstop writes")
        if version > SCHEMA_VERSION:
            raise JournalTooNew(str(path), version, SCHEMA_VERSION)
        if version == 0 and tables - {"sqlite_sequence"}:
            raise JournalCorrupt(str(path), f"a SQLite database of another program (tables {sorted(tables)})")
        if version > 0 and not tables >= _OUR_TABLES:
            raise JournalCorrupt(str(path), f"tables missing: {sorted(_OUR_TABLES - tables)}")
        if version < SCHEMA_VERSION:
            if readonly:
                raise JournalError(str(path), f"schema version {version} is older than {SCHEMA_VERSION}",
                                   "Open it once read-write (agentstop sessions) to upgrade it.")
            conn = sqlite3.connect(path, isolation_level=None)
            try:
                migrate(conn, version)
            finally:
                conn.close()

    def connect(self) -> _Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, factory=_Connection)
        apply_pragmas(conn, int(self.busy_timeout * 1000))
        return conn

    def usable(self, conn: Any) -> bool:
        return True

    def begin(self, conn: Any, durable: bool) -> None:
        if durable != conn.synchronous_full:
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            conn.synchronous_full = durable
        began = time.monotonic()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise JournalBusy(self.where, time.monotonic() - began) from exc
            raise

    def error(self, exc: BaseException) -> Exception:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return JournalError(self.where, f"cannot write ({text})",
                                "Make the journal file and its directory writable.")
        if "disk" in text or "full" in text:
            return JournalError(self.where, f"cannot write ({text})",
                                "Free disk space; nothing was issued unjournaled.")
        return JournalError(self.where, f"write failed ({text})", "Nothing was issued unjournaled; check the file.")

    async def reader(self, readonly: bool) -> ReadConnection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro" if readonly else str(self.path)
        conn = await aiosqlite.connect(uri, uri=readonly, isolation_level=None)
        await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return _Reader(conn, self.where)
