"""`Journal`: the write-ahead record of every session, grant and tool call.

The journal is the truth. The supervisor writes each step of a call before it
acts on it; the UI, reports, replay and recovery read it back. Every SQL
statement lives in this package (ops.py writes, reads.py reads), behind the
methods below, so another backend can implement the same interface.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from agentstop.errors import JournalCorrupt, JournalError, JournalTooNew, UnknownCall, UnknownSession
from agentstop.grant import GrantSpec

from . import ops
from .reads import Reader
from .records import CallRecord, Event, GrantRecord, SessionRecord
from .schema import SCHEMA_VERSION, migrate, user_version
from .states import CallState
from .writer import Writer

__all__ = ["Journal"]

_OUR_TABLES = {"sessions", "grants", "calls", "events"}

_UNSET: Any = object()


def _prepare_file(path: Path, readonly: bool) -> None:
    """Create (0600) or validate the file and bring its schema up to date."""
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


class Journal:
    """The write-ahead side-effect journal over one SQLite file.

    Open it with `async with Journal.open(path) as journal:`. Writes go through a
    single writer thread with group commit; reads through an aiosqlite
    connection, so a reader never blocks the fence.
    """

    def __init__(self, path: Path, writer: Writer | None, reader: aiosqlite.Connection,
                 clock: Callable[[], float]) -> None:
        self._path = path
        self._writer = writer
        self._reader_conn = reader
        self._reader = Reader(reader, str(path))
        self.clock = clock

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    @property
    def readonly(self) -> bool:
        """True when opened with `readonly=True` (every write raises)."""
        return self._writer is None

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> AsyncIterator[Journal]:
        """Open (creating if needed) a journal file.

        Args:
            path: the SQLite file; created with mode 0600 if missing.
            readonly: never write (for reports and replay); the file must exist.
            busy_timeout: how long a write waits for another process's lock before
                failing closed with `JournalBusy`.
            clock: the wall clock (tests freeze it).

        Raises:
            JournalCorrupt: the file is not an agentstop journal.
            JournalTooNew: the file was written by a newer agentstop.
        """
        journal = await cls.connect(path, readonly=readonly, busy_timeout=busy_timeout, clock=clock)
        try:
            yield journal
        finally:
            with anyio.CancelScope(shield=True):
                await journal.close()

    @classmethod
    async def connect(
        cls,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        busy_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> Journal:
        """Like `open`, for callers that manage the lifetime themselves (call `close()`)."""
        p = Path(path).expanduser()  # noqa: ASYNC240 - no I/O, only the home directory
        await anyio.to_thread.run_sync(_prepare_file, p, readonly)
        writer = None
        if not readonly:
            writer = Writer(str(p), busy_timeout)
            await anyio.to_thread.run_sync(writer.start)
        uri = f"{p.resolve().as_uri()}?mode=ro" if readonly else str(p)
        try:
            reader = await aiosqlite.connect(uri, uri=readonly, isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        except BaseException:
            if writer is not None:
                await anyio.to_thread.run_sync(writer.close)
            raise
        return cls(p, writer, reader, clock)

    async def close(self) -> None:
        """Flush queued writes and close both connections."""
        if self._writer is not None:
            await anyio.to_thread.run_sync(self._writer.close)
        await self._reader_conn.close()

    # -- writes ---------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], Any], *, durable: bool, urgent: bool = False) -> Any:
        if self._writer is None:
            raise JournalError(str(self._path), "opened read-only", "Open it without readonly=True to write.")
        return await self._writer.run(fn, durable=durable, urgent=urgent)

    async def create_session(
        self,
        session_id: str,
        *,
        task_name: str,
        goal: str = "",
        task_path: str | None = None,
        tools: list[str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Record a new running session owned by this process."""
        at = self.clock()
        await self._write(lambda c: ops.create_session(
            c, session_id=session_id, task_name=task_name, goal=goal, task_path=task_path,
            tools=tools or [], pid=os.getpid(), host=socket.gethostname(), meta=meta or {}, at=at,
        ), durable=True)

    async def issue_grant(self, session_id: str, spec: GrantSpec) -> int:
        """Store a grant for the session; returns its id."""
        at = self.clock()
        result: int = await self._write(lambda c: ops.issue_grant(c, session_id, spec, at), durable=True)
        return result

    async def plan_call(self, session_id: str, **fields: Any) -> str:
        """Record a call as planned (not durable: nothing has happened yet); returns its id."""
        at = self.clock()
        result: str = await self._write(lambda c: ops.plan_call(c, session_id=session_id, at=at, **fields),
                                        durable=False)
        return result

    async def transition(self, session_id: str, call_id: str, state: CallState, *, durable: bool,
                         **fields: Any) -> int:
        """Move a call to `state` (refusing illegal moves); returns the event's seq."""
        at = self.clock()
        result: int = await self._write(lambda c: ops.transition(c, session_id, call_id, state, at, **fields),
                                        durable=durable)
        return result

    async def fence(self, session_id: str, call_id: str, grant_id: int, tool: str, resource: str, *,
                    prepared: Any = _UNSET) -> tuple[str, str] | None:
        """Check the grant and enter `committing` in one durable transaction.

        With `prepared`, the call moves from planned to prepared (recording the
        prepared effect) in the same transaction: one durable write instead of two
        for a call that goes straight from prepare to the fence.

        Returns None when the call passed, else `(kind, reason)` (it is now rejected).
        """
        def unit(conn: sqlite3.Connection) -> tuple[str, str] | None:
            # The clock is read inside the transaction, so expiry is judged at the fence.
            at = self.clock()
            if prepared is not _UNSET:
                ops.transition(conn, session_id, call_id, CallState.PREPARED, at, prepared=prepared)
            return ops.fence(conn, session_id, call_id, grant_id, tool, resource, at)

        result: tuple[str, str] | None = await self._write(unit, durable=True)
        return result

    async def revoke(self, session_id: str, *, by: str, reason: str = "") -> list[int]:
        """Revoke the session's live grants; returns the grant ids revoked.

        When it returns, the revoke is committed: every fence, in this process or
        another, sees it. It jumps the writer's queue and commits without its own
        fsync: it becomes durable with the next durable commit, and since the WAL
        is synced in order, no `committing` written after it can reach the disk
        without it. (`agentstop.revoke` from another process syncs at once.)
        """
        def unit(conn: sqlite3.Connection) -> list[int]:
            ops.mark_stop_requested(conn, session_id, by, reason)
            return ops.revoke(conn, session_id, by, reason, self.clock())

        result: list[int] = await self._write(unit, durable=False, urgent=True)
        return result

    async def end_session(self, session_id: str, status: str, *, stopped_by: str | None = None,
                          stop_reason: str | None = None) -> bool:
        """Mark the session ended; False when it had ended already."""
        at = self.clock()
        result: bool = await self._write(lambda c: ops.end_session(
            c, session_id, status, at, stopped_by=stopped_by, stop_reason=stop_reason), durable=True)
        return result

    async def heartbeat(self, session_id: str) -> None:
        """Note that the session's process is alive."""
        at = self.clock()
        await self._write(lambda c: ops.heartbeat(c, session_id, at), durable=False)

    async def append(self, session_id: str, kind: str, data: dict[str, Any] | None = None,
                     call_id: str | None = None) -> int:
        """Append a free-form event (the agent's transcript, notes); returns its seq."""
        at = self.clock()
        result: int = await self._write(lambda c: ops.append_event(c, session_id, call_id, kind, at, data),
                                        durable=False)
        return result

    # -- reads ----------------------------------------------------------------

    async def events(self, session_id: str | None, after: int = 0, limit: int | None = None) -> list[Event]:
        """Events with seq greater than `after`, in journal order (all sessions if None)."""
        return await self._reader.events(session_id, after, limit)

    async def sessions(self) -> list[SessionRecord]:
        """Every session, oldest first."""
        return await self._reader.sessions()

    async def session(self, session_id: str) -> SessionRecord:
        """One session; raises `UnknownSession`."""
        found = await self._reader.session(session_id)
        if found is None:
            raise UnknownSession(str(self._path), session_id)
        return found

    async def resolve_session(self, selector: str) -> str:
        """A session id from an id or 'latest'; raises `UnknownSession`."""
        if selector == "latest":
            sessions = await self.sessions()
            if not sessions:
                raise UnknownSession(str(self._path), "latest")
            return sessions[-1].session_id
        return (await self.session(selector)).session_id

    async def calls(self, session_id: str) -> list[CallRecord]:
        """Every call of the session in the order they were planned."""
        return await self._reader.calls(session_id)

    async def call(self, session_id: str, call_id: str) -> CallRecord:
        """One call; raises `UnknownCall`."""
        found = await self._reader.call(session_id, call_id)
        if found is None:
            raise UnknownCall(str(self._path), session_id, call_id)
        return found

    async def calls_by_key(self, idempotency_key: str) -> list[CallRecord]:
        """Every call (any session) made with this idempotency key."""
        return await self._reader.calls_by_key(idempotency_key)

    async def grants(self, session_id: str) -> list[GrantRecord]:
        """The session's grants, oldest first."""
        return await self._reader.grants(session_id)
