"""`Journal`: the write-ahead record of every session, grant and tool call.

The journal is the truth. The supervisor writes each step of a call before it
acts on it; the UI, reports, replay and recovery read it back. Every SQL
statement lives in this package (ops.py writes, reads.py reads), behind the
methods below, so another backend can implement the same interface.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from agentstop.errors import JournalError, UnknownCall, UnknownSession
from agentstop.grant import FenceRefusal, GrantSpec

from . import ops, timeline_cache
from .backend import Backend, ReadConnection
from .opening import open_backend
from .owner import this_process
from .reads import Reader, RowOrder
from .records import CallRecord, Event, EventRow, GrantRecord, SessionRecord
from .states import CallState
from .status import SessionStatus
from .timeline_cache import CheckpointRow, TimelineReads
from .writer import Writer

__all__ = ["REPORT_WINDOW", "WORK_LEASE", "Journal", "Resumed", "RowOrder"]

_UNSET: Any = object()

REPORT_WINDOW = 2000
"""Rows per window of `Journal.report_row_windows`: large enough that a window's read costs little more than
its rows, small enough that a window's items (a few MB) are all a streamed report holds."""

WORK_LEASE = 600.0
"""Seconds an undo or a re-apply that names no bound of its own may run before recovery, seen from
another host, presumes its process dead."""


@dataclass(frozen=True)
class Resumed:
    """A Resume as the journal took it.

    Attributes:
        epoch: the new epoch's number.
        grant_id: its grant.
        stopped_before_start: None when it runs; else why it ended before it began (a stop
            requested after the Resume was asked for), its grant born revoked.
    """

    epoch: int
    grant_id: int
    stopped_before_start: str | None = None


class Journal:
    """The write-ahead side-effect journal: a SQLite file, or a PostgreSQL database.

    Open it with `async with Journal.open(path_or_url) as journal:`. Writes go
    through a single writer thread with group commit; reads through a connection
    of their own, so a reader never blocks the fence.
    """

    def __init__(
        self, backend: Backend, writer: Writer | None, reader: ReadConnection, clock: Callable[[], float]
    ) -> None:
        self._backend = backend
        self._writer = writer
        self._reader_conn = reader
        self._reader = Reader(reader, backend.where)
        self.clock = clock
        self._signals: dict[str, anyio.Event] = {}
        """Per session watched here, set when a signal for it came; replaced by a new one once a waiter saw it."""
        self._stop_listening: Callable[[], None] | None = None
        self._listening = False
        self._before_close: list[Callable[[], Awaitable[None]]] = []

    @property
    def location(self) -> str:
        """The journal as messages name it: its file, or its URL without the password."""
        return self._backend.where

    @property
    def kind(self) -> str:
        """Which database holds it: "sqlite" or "postgresql"."""
        return self._backend.kind

    @property
    def round_trips(self) -> int:
        """How many times this journal has waited on its database server so far (0 on SQLite: in-process).

        A count, not a time: read it around some calls to see what they cost in trips to the server.
        """
        return self._backend.round_trips

    @property
    def path(self) -> Path:
        """The journal file (SQLite only; a PostgreSQL journal has none, see `location`)."""
        path = getattr(self._backend, "path", None)
        if not isinstance(path, Path):
            raise JournalError(self.location, "is a database server, not a file", "Use Journal.location.")
        return path

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
        inline_writes: bool = True,
    ) -> AsyncIterator[Journal]:
        """Open (creating if needed) a journal.

        Args:
            path: a SQLite file (created with mode 0600 if missing), or a
                `postgresql://user:password@host/db` URL (the schema is created
                in that database if missing; needs `pip install agentstop[postgres]`).
            readonly: never write (for reports and replay); the journal must exist.
            busy_timeout: how long a write waits for another process's lock before
                failing closed with `JournalBusy`.
            clock: the wall clock (tests freeze it).
            inline_writes: a lone caller's writes may run on its own thread while the
                writer is idle, saving two thread hops each (see `journal/writer.py`).
                False keeps every write on the writer's thread: for an event loop that
                also draws a UI, which then never waits on the disk.

        Raises:
            JournalCorrupt: the file or database is not an agentstop journal.
            JournalTooNew: it was written by a newer agentstop.
            JournalError: it cannot be reached or opened (the message says why).
        """
        journal = await cls.connect(
            path, readonly=readonly, busy_timeout=busy_timeout, clock=clock, inline_writes=inline_writes
        )
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
        inline_writes: bool = True,
    ) -> Journal:
        """Like `open`, for callers that manage the lifetime themselves (call `close()`)."""
        backend = open_backend(path, busy_timeout)
        await anyio.to_thread.run_sync(backend.prepare, readonly)
        writer = None
        if not readonly:
            writer = Writer(backend, inline=inline_writes)
            await anyio.to_thread.run_sync(writer.start)
        try:
            reader = await backend.reader(readonly)
        except BaseException:
            if writer is not None:
                # Shielded: a cancelled open must still stop the writer's thread, or the process cannot exit.
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(writer.close)
            raise
        return cls(backend, writer, reader, clock)

    def before_close(self, drain: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """Have `close()` await `drain()` first; returns a function that takes it back.

        A supervisor registers here the calls it owns whose callers went away
        (cancelled mid-commit), so closing the journal waits for their outcomes
        to be journaled instead of leaving them `committing`.
        """
        self._before_close.append(drain)

        def forget() -> None:
            if drain in self._before_close:
                self._before_close.remove(drain)

        return forget

    async def close(self) -> None:
        """Await what registered with `before_close`, flush queued writes and close both connections.

        The connections are closed whatever happens before: a reader or writer left open keeps
        the process from exiting.
        """
        try:
            for drain in list(self._before_close):
                await drain()
        finally:
            self._before_close.clear()
            try:
                if self._stop_listening is not None:
                    await anyio.to_thread.run_sync(self._stop_listening)
                    self._stop_listening = None
                if self._writer is not None:
                    await anyio.to_thread.run_sync(self._writer.close)
            finally:
                await self._reader_conn.close()

    async def wait_for_signal(self, session_id: str, within: float) -> bool:
        """Wait until another process revokes or asks `session_id` to stop, or `within` seconds pass.

        True when a signal came. On PostgreSQL signals arrive by LISTEN/NOTIFY; on
        SQLite there are none and this only sleeps, so the caller's poll is the
        signal (a revoke is seen at the next read of the grant either way).
        """
        if not self._listening:
            self._listening = True
            token = anyio.lowlevel.current_token()

            def wake(target: str) -> None:
                # On the listener's thread: hand the signal to the event loop that listens.
                try:
                    anyio.from_thread.run_sync(self._wake, target, token=token)
                except anyio.RunFinishedError:
                    pass  # that loop has ended: nobody waits any more

            self._stop_listening = await anyio.to_thread.run_sync(self._backend.listen, wake)
        if self._stop_listening is None:
            await anyio.sleep(within)
            return False
        event = self._signals.setdefault(session_id, anyio.Event())
        with anyio.move_on_after(within):
            await event.wait()
            if self._signals.get(session_id) is event:  # seen: the next signal sets a new one
                self._signals[session_id] = anyio.Event()
            return True
        return False

    def _wake(self, target: str) -> None:
        for session_id, event in self._signals.items():
            if not target or target == session_id:
                event.set()

    # -- writes ---------------------------------------------------------------

    async def _write(
        self, fn: Callable[[Any], Any], *, durable: bool, urgent: bool = False, inline: bool = False
    ) -> Any:
        """Run `fn` on the write connection in a committed transaction (`inline`: see `Writer.run`)."""
        if self._writer is None:
            raise JournalError(self.location, "opened read-only", "Open it without readonly=True to write.")
        return await self._writer.run(fn, durable=durable, urgent=urgent, inline=inline)

    async def create_session(
        self,
        session_id: str,
        *,
        task_name: str,
        goal: str = "",
        task_path: str | None = None,
        tools: list[str] | None = None,
        meta: dict[str, Any] | None = None,
        pid: int | None = None,
    ) -> None:
        """Record a new running session owned by this process (or by `pid` on this host: a coding CLI whose
        short-lived hook processes write its calls; the session lives as long as that process)."""
        at = self.clock()
        owner = os.getpid() if pid is None else pid
        await self._write(
            lambda c: ops.create_session(
                c,
                session_id=session_id,
                task_name=task_name,
                goal=goal,
                task_path=task_path,
                tools=tools or [],
                pid=owner,
                host=socket.gethostname(),
                meta=meta or {},
                at=at,
            ),
            durable=True,
        )

    async def reopen_session(self, session_id: str, *, by: str, instruction: str = "") -> int:
        """Run an ended session again in a new epoch, owned by this process; returns the epoch.

        Raises `UnknownSession`, or `IllegalTransition` when it is still running.
        Issue the epoch's grant next (`issue_grant`).
        """
        at = self.clock()
        result: int = await self._write(
            lambda c: ops.reopen_session(
                c,
                session_id,
                pid=os.getpid(),
                host=socket.gethostname(),
                by=by,
                instruction=instruction,
                at=at,
            ),
            durable=True,
        )
        return result

    async def resume_session(
        self, session_id: str, spec: GrantSpec, *, by: str, instruction: str = "", asked_at: float | None = None
    ) -> Resumed:
        """Run an ended session again in a new epoch under a new grant, both in one transaction.

        A stop requested for the session at or after `asked_at` (when the person
        asked for this Resume, e.g. its process's start) binds the new epoch: it
        ends at once, journaled "stopped before it began by ...", its grant born
        revoked (`Resumed.stopped_before_start` says why). None: no stop before
        this transaction binds it (a later one revokes its grant as usual).

        Raises `UnknownSession`, or `JournalError` when it is still running.
        """
        at = self.clock()
        epoch, grant_id, why = await self._write(
            lambda c: ops.resume_session(
                c,
                session_id,
                spec,
                pid=os.getpid(),
                host=socket.gethostname(),
                by=by,
                instruction=instruction,
                at=at,
                asked_at=asked_at,
            ),
            durable=True,
        )
        return Resumed(epoch, grant_id, why)

    async def issue_grant(self, session_id: str, spec: GrantSpec) -> int:
        """Store a grant for the session; returns its id."""
        at = self.clock()
        result: int = await self._write(lambda c: ops.issue_grant(c, session_id, spec, at), durable=True)
        return result

    async def plan_call(self, session_id: str, *, inline: bool = False, **fields: Any) -> str:
        """Record a call as planned (not durable: nothing has happened yet); returns its id.

        `inline` (here and in the other writes of a call): its caller has no
        other call in flight, so the write may skip the writer thread (`Writer.run`).
        """
        at = self.clock()
        result: str = await self._write(
            lambda c: ops.plan_call(c, session_id=session_id, at=at, **fields), durable=False, inline=inline
        )
        return result

    async def transition(
        self,
        session_id: str,
        call_id: str,
        state: CallState,
        *,
        durable: bool,
        lease: float | None = None,
        inline: bool = False,
        **fields: Any,
    ) -> int:
        """Move a call to `state` (refusing illegal moves); returns the event's seq.

        Entering `compensating` or `reapplying` records this process as the one
        doing it, until at most `lease` seconds from now (default `WORK_LEASE`):
        recovery leaves the call alone while that process lives (or, seen from
        another host, until the lease runs out).
        """
        at = self.clock()
        if state in (CallState.COMPENSATING, CallState.REAPPLYING):
            fields.setdefault("worker", this_process())
            fields["lease_until"] = at + (WORK_LEASE if lease is None else lease)
        result: int = await self._write(
            lambda c: ops.transition(c, session_id, call_id, state, at, alone=True, **fields),
            durable=durable,
            inline=inline,
        )
        return result

    async def fence(
        self,
        session_id: str,
        call_id: str,
        grant_id: int,
        tool: str,
        resource: str,
        *,
        prepared: Any = _UNSET,
        inline: bool = False,
    ) -> tuple[FenceRefusal, str] | None:
        """Check the grant and enter `committing` in one durable transaction.

        With `prepared`, the call moves from planned to prepared (recording the
        prepared effect) in the same transaction: one durable write instead of two
        for a call that goes straight from prepare to the fence.

        Returns None when the call passed, else `(refusal, reason)` (it is now rejected).
        """

        def unit(conn: Any) -> tuple[FenceRefusal, str] | None:
            # The clock is read inside the transaction, so expiry is judged at the fence.
            at = self.clock()
            if prepared is _UNSET:
                return ops.fence(conn, session_id, call_id, grant_id, tool, resource, at)
            return ops.fence(conn, session_id, call_id, grant_id, tool, resource, at, prepared=prepared)

        result: tuple[FenceRefusal, str] | None = await self._write(unit, durable=True, inline=inline)
        return result

    async def plan_and_fence(
        self, session_id: str, *, prepared: Any, inline: bool = False, **fields: Any
    ) -> tuple[str, tuple[FenceRefusal, str] | None]:
        """Record a call as planned and prepared, check the grant and enter `committing`: one durable transaction.

        For a call with nothing to journal between its plan and the fence: its
        prepare has no effect and nothing to cut off (the tool's default one,
        which returns the arguments) and no approval waits. The rows are those of
        `plan_call` then `fence(prepared=...)`, in one transaction instead of two
        (one writer round trip and one commit fewer for every such call). A crash
        before it commits leaves no trace of the call, and nothing of it was issued.

        Args:
            fields: `plan_call`'s (`tool`, `resource`, `grant_id` also name the fence's check).

        Returns:
            The call's id, and None when it passed, else `(refusal, reason)` (it is now rejected).
        """

        def unit(conn: Any) -> tuple[str, tuple[FenceRefusal, str] | None]:
            # The clock is read inside the transaction, so expiry is judged at the fence.
            return ops.plan_and_fence(conn, session_id=session_id, at=self.clock(), prepared=prepared, **fields)

        result: tuple[str, tuple[FenceRefusal, str] | None] = await self._write(unit, durable=True, inline=inline)
        return result

    async def revoke(self, session_id: str, *, by: str, reason: str = "") -> list[int]:
        """Revoke the session's live grants; returns the grant ids revoked.

        When it returns, the revoke is committed: every fence, in this process or
        another, sees it. It jumps the writer's queue and commits without its own
        fsync: it becomes durable with the next durable commit, and since the WAL
        is synced in order, no `committing` written after it can reach the disk
        without it. (`agentstop.revoke` from another process syncs at once.)
        """

        def unit(conn: Any) -> list[int]:
            ops.mark_stop_requested(conn, session_id, by, reason)
            return ops.revoke(conn, session_id, by, reason, self.clock())

        result: list[int] = await self._write(unit, durable=False, urgent=True)
        return result

    async def end_session(
        self, session_id: str, status: SessionStatus, *, stopped_by: str | None = None, stop_reason: str | None = None
    ) -> bool:
        """Mark the session ended; False when it had ended already."""
        at = self.clock()
        result: bool = await self._write(
            lambda c: ops.end_session(c, session_id, status, at, stopped_by=stopped_by, stop_reason=stop_reason),
            durable=True,
        )
        return result

    async def add_session_tool(self, session_id: str, path: str | None, name: str) -> bool:
        """Record a tool a running session took on after it started (`module:Class`, and its name).

        So `agentstop undo` and `report` in another process can rebuild it (`path`
        None: a tool with no import path, say one built from a framework's schema,
        known by name only). False when the session had it already.
        """
        result: bool = await self._write(lambda c: ops.add_session_tool(c, session_id, path, name), durable=False)
        return result

    async def heartbeat(self, session_id: str) -> None:
        """Note that the session's process is alive."""
        at = self.clock()
        await self._write(lambda c: ops.heartbeat(c, session_id, at), durable=False)

    async def append(
        self, session_id: str, kind: str, data: dict[str, Any] | None = None, call_id: str | None = None
    ) -> int:
        """Append a free-form event (the agent's transcript, notes); returns its seq."""
        at = self.clock()
        result: int = await self._write(
            lambda c: ops.append_event(c, session_id, call_id, kind, at, data), durable=False
        )
        return result

    async def save_timeline_checkpoints(self, session_id: str, build: str, rows: list[CheckpointRow]) -> None:
        """Cache replay's timeline checkpoints of `session_id` (layout `build`); not durable: they are derived."""
        await self._write(lambda c: timeline_cache.save_checkpoints(c, session_id, build, rows), durable=False)

    # -- reads ----------------------------------------------------------------

    async def events(self, session_id: str | None, after: int = 0, limit: int | None = None) -> list[Event]:
        """Events with seq greater than `after`, in journal order (all sessions if None)."""
        return await self._reader.events(session_id, after, limit)

    async def event_rows(self, session_id: str, after: int, limit: int) -> list[EventRow]:
        """At most `limit` of the session's events after seq `after`, in journal order, undecoded.

        Each is (seq, call_id, kind, at, data): the kind as stored, the data its JSON text. For a
        writer that copies events out (an export's timeline) without building an `Event` of each.
        """
        return await self._reader.event_rows(session_id, after, limit)

    async def last_event_seq(self, session_id: str) -> int:
        """The seq of the session's latest event, 0 if it has none."""
        return await self._reader.last_event_seq(session_id)

    async def event_count(self, session_id: str) -> int:
        """How many events the session has."""
        return await timeline_cache.count_events(self._reader_conn, session_id)

    async def timeline_checkpoints(self, session_id: str, build: str) -> list[CheckpointRow]:
        """Replay's cached timeline checkpoints of the session in layout `build`, without their states."""
        return await timeline_cache.read_checkpoints(self._reader_conn, session_id, build)

    async def timeline_checkpoint_state(self, session_id: str, build: str, position: int) -> str | None:
        """The state of one cached timeline checkpoint (JSON), or None when it is not there."""
        return await timeline_cache.read_checkpoint_state(self._reader_conn, session_id, build, position)

    def timeline_reads(self) -> TimelineReads:
        """The queries replay opens a long session's timeline with (agentstop/journal/timeline_cache.py)."""
        return TimelineReads(self._reader_conn)

    async def sessions(self) -> list[SessionRecord]:
        """Every session, oldest first."""
        return await self._reader.sessions()

    async def session(self, session_id: str) -> SessionRecord:
        """One session; raises `UnknownSession`."""
        found = await self._reader.session(session_id)
        if found is None:
            raise UnknownSession(self.location, session_id)
        return found

    async def resolve_session(self, selector: str) -> str:
        """A session id from an id or 'latest'; raises `UnknownSession`."""
        if selector == "latest":
            sessions = await self.sessions()
            if not sessions:
                raise UnknownSession(self.location, "latest")
            return sessions[-1].session_id
        return (await self.session(selector)).session_id

    async def calls(self, session_id: str) -> list[CallRecord]:
        """Every call of the session in the order they were planned."""
        return await self._reader.calls(session_id)

    async def report_rows(self, session_id: str, call_ids: Collection[str] | None = None) -> list[Any]:
        """The session's calls as the undecoded rows `Report.from_journal` builds from (planned order).

        With `call_ids`, only those calls (a live report re-reads the ones new events touched);
        ids the session does not hold are left out.
        """
        return await self._reader.report_rows(session_id, call_ids)

    async def report_row_windows(
        self,
        session_id: str,
        states: Collection[CallState],
        *,
        order: RowOrder = RowOrder.PLANNED,
        size: int = REPORT_WINDOW,
    ) -> AsyncIterator[list[Any]]:
        """The session's calls in `states` as `report_rows` reads them, in `order`, `size` rows at a time.

        For a report written out as it is read (`agentstop.report_stream`): one window is held
        at a time, whatever the session's length (in latest-commit order, the ids of all the
        calls too: their order is read first). Each window is a read of its own: inside
        `read_snapshot` they all read one moment, else the calls may move on between two.
        """
        if order is RowOrder.LATEST_COMMIT:
            ids = await self._reader.latest_commit_ids(session_id, states)
            for at in range(0, len(ids), size):
                window = ids[at : at + size]
                place = {call_id: k for k, call_id in enumerate(window)}
                rows = await self._reader.report_rows(session_id, window)
                # Read by id, so a call that left `states` since the ids were read (outside a read
                # snapshot) comes as it is now; one gone is left out.
                rows.sort(key=lambda row: place[row[0]])
                if rows:
                    yield rows
            return
        after: list[Any] | None = None
        while True:
            rows = await self._reader.report_rows_window(session_id, states, after, size)
            if rows:
                yield rows
            if len(rows) < size:
                return
            after = rows[-1]

    async def latest_commit_ids(self, session_id: str, states: Collection[CallState]) -> list[str]:
        """The ids of the session's committed calls in `states`, latest commit first (the order Undoable lists)."""
        return await self._reader.latest_commit_ids(session_id, states)

    def read_snapshot(self) -> AbstractAsyncContextManager[None]:
        """A block in which this journal's reads all see one moment (`async with journal.read_snapshot():`).

        For a reader that reads one moment in several queries: a report written as it is
        read (`agentstop.report_stream`) reads each list on its own, and a call must not move
        from one list to another between two of them. Writes go on meanwhile (they are not
        blocked, and not seen); other reads of this journal inside the block see the same
        moment, so keep it as short as the reading.
        """
        return self._reader_conn.snapshot()

    async def state_counts(self, session_id: str) -> dict[CallState, int]:
        """How many of the session's calls are in each state; raises `JournalCorrupt` for a state it cannot read."""
        total: dict[CallState, int] = {}
        for counts in (await self._reader.state_counts(session_id)).values():
            for state, n in counts.items():
                total[state] = total.get(state, 0) + n
        return total

    async def state_counts_by_grant(self, session_id: str) -> dict[int | None, dict[CallState, int]]:
        """`state_counts` per grant the calls were planned under (a Resume's epoch is its grant's)."""
        return await self._reader.state_counts(session_id)

    async def calls_in(self, session_id: str, states: Collection[CallState]) -> list[CallRecord]:
        """The session's calls in `states`, in the order they were planned (recovery reads only the unsettled)."""
        return await self._reader.calls_in(session_id, states)

    async def call(self, session_id: str, call_id: str) -> CallRecord:
        """One call; raises `UnknownCall`."""
        found = await self._reader.call(session_id, call_id)
        if found is None:
            raise UnknownCall(self.location, session_id, call_id)
        return found

    async def calls_by_key(self, idempotency_key: str, session_id: str | None = None) -> list[CallRecord]:
        """The calls made with this idempotency key: in `session_id`, or in any session when None."""
        return await self._reader.calls_by_key(idempotency_key, session_id)

    async def grants(self, session_id: str) -> list[GrantRecord]:
        """The session's grants, oldest first."""
        return await self._reader.grants(session_id)
