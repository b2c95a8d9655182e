"""The ways of making one durable tool call that section 1 compares, each behind the same three verbs.

Every variant is opened on its own fresh file, warmed up, then called one call at
a time: `open()`, `call(i)`, `close()`. Keeping them all open at once lets the
benchmark interleave them in small blocks, so a burst of disk latency from a
neighbour on the shared machine lands on every variant alike.

The floor is what any write-ahead journal on this disk must pay: two committed
INSERTs per call (intent, then outcome), WAL, `synchronous=FULL`: two fsyncs.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import aiosqlite
import anyio

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.journal import CallState, ops
from agentstop.journal.schema import apply_pragmas, migrate

from .common import Noop, clock

__all__ = ["LABELS", "NAMES", "SHAPE", "RawFloor", "Variant", "make", "raw_floor"]

_TABLE = (
    "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,"
    " call_id TEXT, kind TEXT NOT NULL, at REAL NOT NULL, data TEXT NOT NULL)"
)
_INSERT = "INSERT INTO events (session_id, call_id, kind, at, data) VALUES (?, ?, ?, ?, ?)"

NAMES = (
    "raw",
    "raw_thread",
    "aiosqlite",
    "raw_shape",
    "ops_2txn",
    "ops_3txn",
    "journal_api",
    "journal_inline",
    "gated",
)

SHAPE = (("plan_and_fence", True), ("transition committed", True))
"""The writer transactions a gated call without an approval makes (its tool keeping `Tool`'s own prepare,
as the benchmark's does), as the ladder below models them: (journal write, fsynced). `overhead.anatomy`
measures what `Supervisor.call` really makes and the results say so when the two differ."""

LABELS = {
    "bare": "bare `async def` call (no journal)",
    "raw": "**floor**: raw sqlite3, 2 committed INSERTs, FULL (direct)",
    "raw_thread": "raw sqlite3 floor, one worker-thread hop per call",
    "aiosqlite": "aiosqlite floor: 2 awaited (execute + commit)",
    "raw_shape": "raw sqlite3 INSERTs in agentstop's shape: 2 txns (both FULL), 4 rows",
    "ops_2txn": "agentstop's schema + `ops`, direct, 2 txns (plan+prepared+fence, outcome) as `Supervisor.call` does",
    "ops_3txn": "agentstop's schema + `ops`, direct, 3 txns (plan alone at NORMAL first): the shape before the merge",
    "journal_api": "the same 2 writes through `Journal` methods (writer thread), no Supervisor",
    "journal_inline": "the same 2 writes through `Journal` marked `inline` (a lone caller's: the caller's thread)",
    "gated": "**agentstop** `Supervisor.call`, gated + durable",
}


def _intent(i: int) -> tuple[str, str, str, float, str]:
    return ("bench", f"c{i}", "planned", time.time(), json.dumps({"tool": "noop", "args": {"n": i}}))


def _outcome(i: int) -> tuple[str, str, str, float, str]:
    return ("bench", f"c{i}", "committed", time.time(), json.dumps({"receipt": {}}))


class Variant:
    """One way of making a durable call; subclasses fill in the three verbs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def open(self) -> None:
        """Create the file and everything the calls need."""

    async def call(self, i: int) -> None:
        """Make call number `i` (negative numbers are warm-up calls)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the file."""


class RawFloor(Variant):
    """The physical floor, direct on this thread: two committed INSERTs per call."""

    conn: sqlite3.Connection

    async def open(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute(_TABLE)

    def call_sync(self, i: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(_INSERT, _intent(i))
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(_INSERT, _outcome(i))
        self.conn.execute("COMMIT")

    async def call(self, i: int) -> None:
        self.call_sync(i)

    def commit_one(self, i: int) -> None:
        """A single committed INSERT: one durable transaction, the disk's share of any revoke."""
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(_INSERT, _intent(i))
        self.conn.execute("COMMIT")

    async def close(self) -> None:
        self.conn.close()


class RawThread(RawFloor):
    """The floor with one worker-thread hop per call (how async code would use sqlite3)."""

    async def call(self, i: int) -> None:
        await anyio.to_thread.run_sync(self.call_sync, i)


class RawShape(RawFloor):
    """Plain INSERTs in agentstop's transaction shape: planned + prepared + committing (FULL); outcome (FULL).

    Like the journal's writer, it switches `synchronous` only when the next
    transaction's durability differs from the last one's (here it never does).
    """

    full = True  # RawFloor.open leaves the connection at FULL

    async def call(self, i: int) -> None:
        for kinds, full in ((("planned", "prepared", "committing"), True), (("committed",), True)):
            if full != self.full:
                self.conn.execute(f"PRAGMA synchronous = {'FULL' if full else 'NORMAL'}")
                self.full = full
            self.conn.execute("BEGIN IMMEDIATE")
            for kind in kinds:
                self.conn.execute(_INSERT, ("bench", f"c{i}", kind, time.time(), "{}"))
            self.conn.execute("COMMIT")


class AiosqliteFloor(Variant):
    """The floor through aiosqlite: two awaited execute + commit per call."""

    db: aiosqlite.Connection

    async def open(self) -> None:
        self.db = await aiosqlite.connect(self.path)
        await self.db.execute("PRAGMA journal_mode = WAL")
        await self.db.execute("PRAGMA synchronous = FULL")
        await self.db.execute(_TABLE)
        await self.db.commit()

    async def call(self, i: int) -> None:
        await self.db.execute(_INSERT, _intent(i))
        await self.db.commit()
        await self.db.execute(_INSERT, _outcome(i))
        await self.db.commit()

    async def close(self) -> None:
        await self.db.close()


class OpsDirect(Variant):
    """agentstop's own schema and SQL (`ops`) on one plain connection: no writer thread, no CallPath.

    `merged=True` is `Supervisor.call`'s shape (SHAPE: plan, prepared and the
    fence in one FULL transaction, `ops.plan_and_fence`; the outcome at FULL).
    Each transaction holds one unit, and the writer runs a batch of one unit
    without savepoints, so none are used here. `merged=False` is the shape from
    before the plan joined the fence's transaction (planned at NORMAL; prepared
    and the fence at FULL; the outcome at FULL), kept to show what the merge gave.
    """

    conn: sqlite3.Connection

    def __init__(self, path: Path, *, merged: bool) -> None:
        super().__init__(path)
        self.merged = merged
        self.full = False
        self.grant = 0

    async def open(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        apply_pragmas(self.conn, 5000)
        migrate(self.conn, 0)
        at = time.time()
        ops.create_session(
            self.conn,
            session_id="bench",
            task_name="bench",
            goal="",
            task_path=None,
            tools=["noop"],
            pid=0,
            host="bench",
            meta={},
            at=at,
        )
        self.grant = ops.issue_grant(self.conn, "bench", GrantSpec(), at)

    def _txn(self, full: bool, *steps: Callable[[], object]) -> None:
        if full != self.full:
            self.conn.execute(f"PRAGMA synchronous = {'FULL' if full else 'NORMAL'}")
            self.full = full
        self.conn.execute("BEGIN IMMEDIATE")
        for step in steps:
            step()
        self.conn.execute("COMMIT")

    async def call(self, i: int) -> None:
        conn, grant = self.conn, self.grant
        call: list[str] = []

        fields = {
            "session_id": "bench",
            "tool": "noop",
            "summary": f"noop n={i}",
            "resource": "noop",
            "args": {"n": i},
            "reversibility": "reversible",
            "on_stop": "wait",
            "can_compensate": False,
            "can_lookup": False,
            "undo_hint": "",
            "idempotency_key": f"k{i}",
            "grant_id": grant,
        }

        def plan() -> None:
            call.append(ops.plan_call(conn, at=time.time(), **fields))

        def fence() -> None:  # prepared and committing in one go, as `Journal.fence(prepared=...)` writes them
            ops.fence(conn, "bench", call[0], grant, "noop", "noop", time.time(), prepared={"n": i})

        def plan_and_fence() -> None:  # as `Journal.plan_and_fence` writes them
            call.append(ops.plan_and_fence(conn, prepared={"n": i}, at=time.time(), **fields)[0])

        def outcome() -> None:
            ops.transition(conn, "bench", call[0], CallState.COMMITTED, time.time(), receipt={})

        if self.merged:
            self._txn(True, plan_and_fence)
        else:
            self._txn(False, plan)
            self._txn(True, fence)
        self._txn(True, outcome)

    async def close(self) -> None:
        self.conn.close()


class JournalApi(Variant):
    """The same two writes through the public `Journal` methods, no Supervisor.

    Through the writer thread, or with `inline` as a lone caller's `Supervisor.call`
    marks them (run on the caller's thread while the writer is idle).
    """

    journal: Journal

    def __init__(self, path: Path, *, inline: bool = False) -> None:
        super().__init__(path)
        self.inline = inline

    async def open(self) -> None:
        self.journal = await Journal.connect(self.path)
        await self.journal.create_session("bench", task_name="bench", tools=["noop"])
        self.grant = await self.journal.issue_grant("bench", GrantSpec())

    async def call(self, i: int) -> None:
        j = self.journal
        call_id, verdict = await j.plan_and_fence(
            "bench",
            prepared={"n": i},
            tool="noop",
            summary=f"noop n={i}",
            resource="noop",
            args={"n": i},
            reversibility="reversible",
            on_stop="wait",
            can_compensate=False,
            can_lookup=False,
            undo_hint="",
            idempotency_key=f"k{i}",
            grant_id=self.grant,
            inline=self.inline,
        )
        assert verdict is None
        await j.transition("bench", call_id, CallState.COMMITTED, durable=True, receipt={}, inline=self.inline)

    async def close(self) -> None:
        await self.journal.close()


class Gated(Variant):
    """`Supervisor.call` with the trivial tool: planned + prepared + fence; committed."""

    journal: Journal
    sup: Supervisor

    async def open(self) -> None:
        self.journal = await Journal.connect(self.path)
        self.sup = Supervisor(self.journal, [Noop()], GrantSpec())
        await self.sup.start()

    async def call(self, i: int) -> None:
        await self.sup.call("noop", {"n": i})

    async def close(self) -> None:
        await self.sup.close()
        await self.journal.close()


def make(name: str, path: Path) -> Variant:
    """A fresh, unopened variant by name."""
    kinds: dict[str, Callable[[Path], Variant]] = {
        "raw": RawFloor,
        "raw_thread": RawThread,
        "aiosqlite": AiosqliteFloor,
        "raw_shape": RawShape,
        "ops_2txn": lambda p: OpsDirect(p, merged=True),
        "ops_3txn": lambda p: OpsDirect(p, merged=False),
        "journal_api": JournalApi,
        "journal_inline": lambda p: JournalApi(p, inline=True),
        "gated": Gated,
    }
    return kinds[name](path)


async def raw_floor(floor: RawFloor, n: int, start: int = 0) -> list[float]:
    """Per-call times of `n` floor calls on an open floor."""
    out = []
    for i in range(start, start + n):
        began = clock()
        floor.call_sync(i)
        out.append(clock() - began)
    return out
