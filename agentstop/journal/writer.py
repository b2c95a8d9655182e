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

The asyncio boundary. The thread answers each waiting caller without waiting for
the caller's event loop: it settles an asyncio future through the loop's
`call_soon_threadsafe` and goes on to the next batch. anyio's way back from a
thread (`anyio.from_thread.run_sync`) waits until the loop has run the call,
which would hold every batch behind the loop's next turn and leave the writer
stuck for good if a loop stopped with a unit unanswered. So this module, and
only the hand-over (`_Unit`, `_settle`, `Writer.run`, `Writer._answer`), speaks
asyncio; the journal above it is anyio.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from agentstop.errors import JournalError

from .backend import Backend

__all__ = ["Writer"]

T = TypeVar("T")

_MAX_BATCH = 512


@dataclass
class _Unit:
    """One unit of work, and the caller's loop and future the thread answers through (see the module)."""

    fn: Callable[[Any], Any]
    durable: bool
    urgent: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _settle(answers: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """On the caller's loop: settle the futures of one batch's units of that loop, in the batch's order."""
    for future, ok, value in answers:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class Writer:
    """Owns the journal's write connection on a dedicated thread."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._path = backend.where
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="agentstop-journal-writer", daemon=True)
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._closed = False

    def start(self) -> None:
        """Start the thread and open its connection; raises what opening raised."""
        self._thread.start()
        self._started.wait()
        if self._startup_error is not None:
            raise self._startup_error

    async def run(self, fn: Callable[[Any], T], *, durable: bool, urgent: bool = False) -> T:
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
            conn = self._backend.connect()
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
                conn = self._reconnected(conn)
                urgent = [u for u in batch if u.urgent]
                if urgent:
                    self._run_batch(conn, urgent)
                    batch = [u for u in batch if not u.urgent]
                if batch:
                    self._run_batch(conn, batch)
        finally:
            try:
                conn.close()
            except self._backend.driver_errors:
                pass

    def _reconnected(self, conn: Any) -> Any:
        """The connection, or a new one when the old was lost (a server restart); the lost one fails closed."""
        if self._backend.usable(conn):
            return conn
        try:
            return self._backend.connect()
        except Exception:
            return conn  # still lost: this batch fails with the connection's own error

    def _run_batch(self, conn: Any, batch: list[_Unit]) -> None:
        durable = any(u.durable for u in batch)
        results: list[tuple[bool, Any]] = []
        try:
            self._backend.begin(conn, durable)
            if len(batch) == 1:
                results.append(self._run_alone(conn, batch[0]))
            else:
                for unit in batch:
                    conn.execute("SAVEPOINT unit")
                    try:
                        value = unit.fn(conn)
                        # Before the unit counts as done: on PostgreSQL a statement it queued fails here.
                        conn.execute("RELEASE unit")
                        results.append((True, value))
                    except Exception as exc:
                        conn.execute("ROLLBACK TO unit")
                        conn.execute("RELEASE unit")
                        results.append((False, self._unit_error(exc)))
                conn.execute("COMMIT")
        except Exception as exc:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except self._backend.driver_errors:
                pass
            error = exc if isinstance(exc, JournalError) else self._backend.error(exc)
            results = [(False, error)] * len(batch)
        self._answer(batch, results)

    def _run_alone(self, conn: Any, unit: _Unit) -> tuple[bool, Any]:
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
        return self._backend.error(exc) if isinstance(exc, self._backend.driver_errors) else exc

    @staticmethod
    def _answer(batch: list[_Unit], results: list[tuple[bool, Any]]) -> None:
        """Hand each unit's result to its caller: one wake-up of each callers' loop per batch, not one per unit.

        Each wake-up is a write to the loop's self-pipe, a system call that lets the
        event loop's thread take the GIL from this one; with many callers a batch
        holds dozens of units, all of one loop.
        """
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for unit, (ok, value) in zip(batch, results, strict=True):
            by_loop.setdefault(unit.loop, []).append((unit.future, ok, value))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, answers)
            except RuntimeError:
                pass  # the caller's event loop is closed: nobody is waiting any more
