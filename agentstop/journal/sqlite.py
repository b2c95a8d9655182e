"""The SQLite backend: one file, WAL, the embedded default that needs no set-up."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from agentstop.errors import JournalBusy, JournalCorrupt, JournalDamaged, JournalError, JournalFull, JournalTooNew

from .backend import Backend, ReadConnection
from .schema import SCHEMA_VERSION, apply_pragmas, migrate, user_version

__all__ = ["SqliteBackend"]

_OUR_TABLES = {"sessions", "grants", "calls", "events"}

#: How long `PRAGMA quick_check` may run before the journal counts as damaged: every read path is bounded.
CHECK_BUDGET = 10.0


def quick_check(path: Path, budget: float = CHECK_BUDGET) -> str | None:
    """Why the file's pages are damaged (`PRAGMA quick_check`, read-only, at most `budget` s), or None."""
    deadline = time.monotonic() + budget
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return str(exc)
    # The check reads every page: a progress handler bounds it on a huge or pathological file.
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        rows = conn.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc):
            return f"the integrity check did not finish within {budget:g} s"
        return str(exc)
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    found = [line for r in rows for line in str(r[0]).splitlines() if line and not line.startswith("***")]
    if found == ["ok"]:
        return None
    more = f" and {len(found) - 1} more problem(s)" if len(found) > 1 else ""
    return f"{found[0] if found else 'quick_check failed'}{more}"


def is_full(exc: BaseException) -> bool:
    """True for SQLITE_FULL and for an I/O error that was ENOSPC (a full disk)."""
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return "database or disk is full" in str(exc)


def _disk_nearly_full(path: Path) -> bool:
    """True when the journal's filesystem has less than 1 MiB free for this user."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def is_damage(exc: BaseException) -> bool:
    """True for SQLITE_CORRUPT / SQLITE_NOTADB: the file's pages are damaged."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in str(exc)


class _Connection(sqlite3.Connection):
    """A write connection that remembers its `synchronous` and `busy_timeout` (saves a PRAGMA per transaction)."""

    synchronous_full = False
    busy_ms = 0


class _Reader(ReadConnection):
    def __init__(self, conn: aiosqlite.Connection, where: str, backend: SqliteBackend) -> None:
        self._conn = conn
        self._where = where
        self._backend = backend
        self._in_snapshot = False

    async def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        try:
            # One job on the connection's thread: the statement runs, is read to its end and is done. As three
            # (execute, fetchall, close) another task's read could run between them, inside this statement's
            # read transaction: it saw the journal as it was when this one began, older than a commit that came
            # before it (the TUI's bridge read no new events though its batch had committed). Shielded: a read
            # cancelled half-way would leave its statement open, and with it that old snapshot.
            with anyio.CancelScope(shield=True):
                rows = list(await self._conn.execute_fetchall(sql, params))
        except sqlite3.DatabaseError as exc:
            # The first failed read decides: damaged pages (quick_check) mean nothing more is written.
            damage = await anyio.to_thread.run_sync(quick_check, self._backend.path)
            if damage is not None:
                self._backend.damaged = damage
                raise JournalDamaged(self._where, damage) from exc
            raise JournalCorrupt(self._where, f"reading failed: {exc}") from exc
        return rows

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        if self._in_snapshot:  # already inside one: its moment is this block's too
            yield
            return
        # A deferred transaction: its snapshot is taken at its first read, and held until COMMIT (WAL).
        await self.fetchall("BEGIN")
        self._in_snapshot = True
        try:
            yield
        finally:
            self._in_snapshot = False
            with anyio.CancelScope(shield=True):  # never leave the connection in the old snapshot
                await self.fetchall("COMMIT")

    async def close(self) -> None:
        await self._conn.close()


class SqliteBackend(Backend):
    """A journal file. Writers serialise on SQLite's lock (`BEGIN IMMEDIATE`)."""

    kind = "sqlite"
    driver_errors = (sqlite3.Error,)
    runs_inline = True

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = path
        self.where = str(path)
        self.busy_timeout = busy_timeout
        #: Why the file failed its check, once it has: from then on nothing is written to it.
        self.damaged: str | None = None

    def _check_kind(self) -> None:
        """Refuse a path that is not (and cannot become) a regular file: a device, a dangling link, a directory."""
        path = self.path
        if path.is_symlink() and not path.exists():
            raise JournalError(
                str(path),
                f"is a symbolic link to {os.readlink(path)}, which does not exist",
                "Point the journal at a real file (or create the link's target directory); "
                "agentstop does not create a journal through a dangling link.",
            )
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise JournalError(
                str(path), f"cannot be opened ({exc.strerror or exc})", "Check the path and its permissions."
            ) from None
        if stat.S_ISDIR(mode):
            raise JournalError(str(path), "is a directory", "Pass a journal file's path (like ./journal.db).")
        if not stat.S_ISREG(mode):
            raise JournalError(
                str(path),
                "is not a regular file (a device, a pipe or a socket)",
                "Pass a journal file's path (like ./journal.db); nothing was written.",
            )

    def prepare(self, readonly: bool) -> None:
        path = self.path
        self._check_kind()
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
                raise JournalError(
                    str(path),
                    f"cannot be opened ({exc})",
                    "Make the file and its directory readable and writable by this user.",
                ) from exc
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
        if not readonly and version > 0:
            # Nothing is written into a journal that fails its check (a run would add a session to it).
            damage = quick_check(path)
            if damage is not None:
                self.damaged = damage
                raise JournalDamaged(str(path), damage)
        if version < SCHEMA_VERSION:
            if readonly:
                raise JournalError(
                    str(path),
                    f"schema version {version} is older than {SCHEMA_VERSION}",
                    "Open it once read-write (agentstop sessions) to upgrade it.",
                )
            try:
                conn = sqlite3.connect(path, isolation_level=None)
                try:
                    migrate(conn, version)
                finally:
                    conn.close()
            except sqlite3.Error as exc:
                raise self.error(exc) from exc

    def connect(self) -> _Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, factory=_Connection)
        conn.busy_ms = int(self.busy_timeout * 1000)
        apply_pragmas(conn, conn.busy_ms)
        return conn

    def usable(self, conn: Any) -> bool:
        return True

    def begin(self, conn: Any, durable: bool, *, wait: bool = True) -> None:
        if self.damaged is not None:
            raise JournalDamaged(self.where, self.damaged)
        if durable != conn.synchronous_full:
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            conn.synchronous_full = durable
        busy_ms = int(self.busy_timeout * 1000) if wait else 0
        if busy_ms != conn.busy_ms:
            conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
            conn.busy_ms = busy_ms
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
            return JournalError(
                self.where, f"cannot write ({text})", "Make the journal file and its directory writable."
            )
        if is_full(exc) or ("disk I/O error" in text and _disk_nearly_full(self.path)):
            # With WAL, a full disk can surface as SQLITE_IOERR (the -wal or -shm file could not grow).
            return JournalFull(self.where, text)
        if "disk I/O error" in text:
            # A file-size limit (EFBIG), a quota, a failing device: the fence held all the same.
            return JournalError(
                self.where,
                f"cannot write ({text})",
                "The disk may be full, over a quota or failing; nothing was issued unjournaled. "
                "Free space or check the disk, then run `agentstop report` to settle what was in "
                "flight.",
            )
        if is_damage(exc):
            self.damaged = self.damaged or text
            return JournalDamaged(self.where, text)
        return JournalError(self.where, f"write failed ({text})", "Nothing was issued unjournaled; check the file.")

    async def reader(self, readonly: bool) -> ReadConnection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro" if readonly else str(self.path)
        conn = await aiosqlite.connect(uri, uri=readonly, isolation_level=None)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        except BaseException:
            # Cancelled (or failed) here, the connection's thread would outlive it and keep the process from
            # exiting: close it whatever the caller's scope says.
            with anyio.CancelScope(shield=True):
                await conn.close()
            raise
        return _Reader(conn, self.where, self)
