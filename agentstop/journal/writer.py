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

A caller alone. The two thread hops of a unit (there and back: a wake-up of each
thread, and the GIL handed over twice) cost a lone caller about a third of the
durable floor on a fast disk, and buy it nothing: there is nobody to share a
commit with. So a unit marked `inline` (its caller has no other call in flight)
that finds the writer idle (nothing queued, its connection free) runs on the
caller's own thread, under the lock the writer thread takes for each batch: the
same transaction, the same connection, the same order against every other
unit. The event loop then waits for that one commit (an fsync) instead of for
the thread. Only a journal on this machine's disk does this (SQLite, whose
`runs_inline`: a PostgreSQL server that stopped answering would hold the loop,
and its time is the server's anyway), and only where the loop draws no screen
(the TUI opens its journal with `inline_writes=False`: a frame never waits on
the disk). Two bounds keep the loop responsive, which Stop needs most of all:
it never waits for another process's lock (`Backend.begin(wait=False)`: the
unit goes to the thread instead), and once inline units take longer than
`INLINE_BUDGET` on average (a slow or loaded disk: a moving average, so one
checkpoint's longer commit does not count as a slow disk) every unit goes
through the thread for `INLINE_PAUSE`, after which one unit tries again.
Several callers never run inline (the hint is false), so their units still
meet in one batch and share its fsync.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from agentstop.errors import JournalBusy, JournalError

from .backend import Backend

__all__ = ["Writer"]

T = TypeVar("T")

_MAX_BATCH = 512

INLINE_BUDGET = 0.002
"""Seconds inline units may hold the caller's event loop on average; more pauses inlining."""

INLINE_PAUSE = 1.0
"""Seconds every unit goes through the thread once inline units ran over `INLINE_BUDGET` on average."""

_INLINE_WEIGHT = 1 / 8
"""The weight of the latest inline unit in the moving average of their durations."""

_Work = tuple[Callable[[Any], Any], bool]
"""A unit's function and whether it must be durable: what a transaction runs."""


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

    def __init__(self, backend: Backend, *, inline: bool = True) -> None:
        """`inline`: whether units marked so may run on their caller's thread at all (see the module)."""
        self._backend = backend
        self._path = backend.where
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="agentstop-journal-writer", daemon=True)
        self._started = threading.Event()
        self._startup_error: BaseException | None = None
        self._closed = False
        # Held by whichever thread runs a transaction on the connection: the writer's, or a caller's inline.
        self._lock = threading.Lock()
        self._conn: Any = None
        self._inline_allowed = inline and backend.runs_inline
        self._inline_after = 0.0
        self._inline_cost = 0.0
        self.inline_units = 0
        """How many units ran on their caller's thread (the benchmark and the tests read it)."""

    def start(self) -> None:
        """Start the thread and open its connection; raises what opening raised."""
        self._thread.start()
        self._started.wait()
        if self._startup_error is not None:
            raise self._startup_error

    async def run(self, fn: Callable[[Any], T], *, durable: bool, urgent: bool = False, inline: bool = False) -> T:
        """Run `fn` in a committed transaction and return its result.

        `urgent` units run ahead of the ordinary units queued with them. Use it
        only for a unit whose order against other callers' units does not
        matter (a revoke: a fence queued before it is then simply rejected).

        `inline`: the caller has no other unit to share a commit with; when the
        writer is idle the unit runs on the caller's thread (see the module).

        Raises what `fn` raised (its savepoint rolled back), or `JournalBusy` /
        `JournalError` when the transaction itself could not be begun or committed.
        """
        if self._closed:
            raise JournalError(self._path, "the journal is closed", "Open it again with Journal.open().")
        if inline and self._inline_allowed:
            # At once, where the thread's queue would take it: units keep the order their callers made them
            # in (a model's two calls of one turn are numbered as it gave them). Then a checkpoint, as the
            # thread's await is: the loop's other tasks (a Stop) run before this caller goes on, and a cancel
            # there finds the unit committed, as it would have through the thread.
            done = self._run_inline(fn, durable)
            if done is not None:
                await asyncio.sleep(0)
                ok, value = done
                if ok:
                    return value  # type: ignore[no-any-return]
                raise value
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Unit(fn, durable, urgent, loop, future))
        return await future

    def _run_inline(self, fn: Callable[[Any], Any], durable: bool) -> tuple[bool, Any] | None:
        """Run one unit on this thread when the writer is idle; None when it must go through the thread."""
        if self._conn is None or not self._queue.empty() or time.monotonic() < self._inline_after:
            return None
        if not self._lock.acquire(blocking=False):
            return None
        began = time.monotonic()
        try:
            conn = self._conn
            if conn is None or not self._queue.empty() or not self._backend.usable(conn):
                return None  # closing, someone queued meanwhile, or a lost connection the thread opens again
            try:
                self._backend.begin(conn, durable, wait=False)
            except JournalBusy:
                return None  # another process holds the journal: the thread waits for it, not the loop
            except Exception as exc:
                result = self._failed(conn, exc, 1)[0]
            else:
                result = self._run_begun(conn, [(fn, durable)])[0]
        finally:
            self._lock.release()
        ended = time.monotonic()
        self._inline_cost += (ended - began - self._inline_cost) * _INLINE_WEIGHT
        if self._inline_cost > INLINE_BUDGET:
            self._inline_after = ended + INLINE_PAUSE
        self.inline_units += 1
        return result

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
        self._conn = conn
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
                    self._run_batch(urgent)
                    batch = [u for u in batch if not u.urgent]
                if batch:
                    self._run_batch(batch)
        finally:
            with self._lock:
                conn, self._conn = self._conn, None
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

    def _run_batch(self, batch: list[_Unit]) -> None:
        """One transaction for the batch, then its answers (once the connection is free for an inline unit)."""
        work = [(u.fn, u.durable) for u in batch]
        with self._lock:
            conn = self._conn = self._reconnected(self._conn)
            try:
                self._backend.begin(conn, any(u.durable for u in batch))
            except Exception as exc:
                results = self._failed(conn, exc, len(batch))
            else:
                results = self._run_begun(conn, work)
        self._answer(batch, results)

    def _run_begun(self, conn: Any, work: list[_Work]) -> list[tuple[bool, Any]]:
        """Run the units of a begun transaction and commit it: each unit's outcome, in order."""
        results: list[tuple[bool, Any]] = []
        try:
            if len(work) == 1:
                results.append(self._run_alone(conn, work[0][0]))
            else:
                for fn, _ in work:
                    conn.execute("SAVEPOINT unit")
                    try:
                        value = fn(conn)
                        # Before the unit counts as done: on PostgreSQL a statement it queued fails here.
                        conn.execute("RELEASE unit")
                        results.append((True, value))
                    except Exception as exc:
                        conn.execute("ROLLBACK TO unit")
                        conn.execute("RELEASE unit")
                        results.append((False, self._unit_error(exc)))
                conn.execute("COMMIT")
        except Exception as exc:
            return self._failed(conn, exc, len(work))
        return results

    def _failed(self, conn: Any, exc: Exception, units: int) -> list[tuple[bool, Any]]:
        """Every unit's outcome when the transaction itself failed: rolled back, the error for a person."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except self._backend.driver_errors:
            pass
        error = exc if isinstance(exc, JournalError) else self._backend.error(exc)
        return [(False, error)] * units

    def _run_alone(self, conn: Any, fn: Callable[[Any], Any]) -> tuple[bool, Any]:
        """A batch of one needs no savepoint: its failure rolls back the whole transaction."""
        try:
            value = fn(conn)
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
