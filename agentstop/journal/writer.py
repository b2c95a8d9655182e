"""The journal's single writer: one thread, one connection, group commit.

Every write is a *unit of work*: a function run on the writer's connection. The
thread takes whatever units are queued, runs them in one `BEGIN IMMEDIATE`
transaction (each inside its own savepoint, so one unit's failure does not undo
another's), commits once, and only then wakes the waiting callers. So a caller
that awaits a unit knows its rows are committed; several concurrent callers'
fence transactions share one fsync (group commit) without giving up
write-ahead; and each unit costs one thread hop, not one per statement.

Durability is per batch: when any unit in it asked to be durable (the fence,
an outcome), the batch commits with `synchronous=FULL`; otherwise with NORMAL,
which WAL makes safe against corruption but not against power loss.

An *urgent* unit (Stop's revoke) jumps the queue: the thread runs the urgent
units it finds in a transaction of their own before the rest of that batch, so
Stop waits for at most the batch already running, not for every call queued
behind it.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from agentstop.errors import JournalBusy, JournalError

from .schema import apply_pragmas

__all__ = ["Writer"]

T = TypeVar("T")

_MAX_BATCH = 512


@dataclass
class _Unit:
    fn: Callable[[sqlite3.Connection], Any]
    durable: bool
    urgent: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class Writer:
    """Owns the journal's write connection on a dedicated thread."""

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="agentstop-journal-writer", daemon=True)
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._closed = False
        self._synchronous_full = False

    def start(self) -> None:
        """Start the thread and open its connection; raises what opening raised."""
        self._thread.start()
        self._started.wait()
        if self._startup_error is not None:
            raise self._startup_error

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool, urgent: bool = False) -> T:
        """Run `fn` in a committed transaction and return its result.

        `urgent` units run ahead of the ordinary units queued with them. Use it
        only for a unit whose order against other callers' units does not
        matter (a revoke: a fence queued before it is then simply rejected).

        Raises what `fn` raised (its savepoint rolled back), or `JournalBusy` /
        `JournalError` when the transaction itself could not be begun or committed.
        """
        if self._closed:
            raise JournalError(self._path, "the journal is closed", "Open it again with Journal.open().")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Unit(fn, durable, urgent, loop, future))
        return await future

    def close(self) -> None:
        """Finish queued units, close the connection and join the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    # -- the thread ----------------------------------------------------------

    def _main(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            apply_pragmas(conn, int(self._busy_timeout * 1000))
        except BaseException as exc:
            self._startup_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < _MAX_BATCH:
                    try:
                        unit = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if unit is None:
                        stopping = True
                        break
                    batch.append(unit)
                urgent = [u for u in batch if u.urgent]
                if urgent:
                    self._run_batch(conn, urgent)
                    batch = [u for u in batch if not u.urgent]
                if batch:
                    self._run_batch(conn, batch)
        finally:
            conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Unit]) -> None:
        durable = any(u.durable for u in batch)
        results: list[tuple[bool, Any]] = []
        try:
            if durable != self._synchronous_full:
                conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
                self._synchronous_full = durable
            began = time.monotonic()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise JournalBusy(self._path, time.monotonic() - began) from exc
                raise
            if len(batch) == 1:
                results.append(self._run_alone(conn, batch[0]))
            else:
                for unit in batch:
                    conn.execute("SAVEPOINT unit")
                    try:
                        results.append((True, unit.fn(conn)))
                        conn.execute("RELEASE unit")
                    except Exception as exc:
                        conn.execute("ROLLBACK TO unit")
                        conn.execute("RELEASE unit")
                        results.append((False, self._unit_error(exc)))
                conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            error = exc if isinstance(exc, JournalError) else _journal_error(self._path, exc)
            results = [(False, error)] * len(batch)
        self._answer(batch, results)

    def _run_alone(self, conn: sqlite3.Connection, unit: _Unit) -> tuple[bool, Any]:
        """A batch of one needs no savepoint: its failure rolls back the whole transaction."""
        try:
            value = unit.fn(conn)
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False, self._unit_error(exc)
        conn.execute("COMMIT")
        return True, value

    def _unit_error(self, exc: Exception) -> Exception:
        return _journal_error(self._path, exc) if isinstance(exc, sqlite3.Error) else exc

    @staticmethod
    def _answer(batch: list[_Unit], results: list[tuple[bool, Any]]) -> None:
        for unit, (ok, value) in zip(batch, results, strict=True):
            try:
                unit.loop.call_soon_threadsafe(_settle, unit.future, ok, value)
            except RuntimeError:
                pass  # the caller's event loop is closed: nobody is waiting any more


def _journal_error(path: str, exc: Exception) -> JournalError:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return JournalError(path, f"cannot write ({text})", "Make the journal file and its directory writable.")
    if "disk" in text or "full" in text:
        return JournalError(path, f"cannot write ({text})", "Free disk space; nothing was issued unjournaled.")
    return JournalError(path, f"write failed ({text})", "Nothing was issued unjournaled; check the file.")
