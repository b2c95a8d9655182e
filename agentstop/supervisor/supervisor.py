"""`Supervisor`: runs a planner and its tool calls under a revocable grant.

Stop is "ask politely, escalate carefully": revoke the grant first (durably:
from then on the fence rejects every call), cancel the planner, discard what
had not reached the fence, give commits in flight a grace period, then apply
each tool's `on_stop` (wait, try to cancel and reconcile, or abandon and keep
watching). The returned report is read from the journal, never from memory.

Who may cancel a call. Every call runs in a task the supervisor owns; its
caller only awaits it. A caller cancelled the asyncio way (`task.cancel()`,
`asyncio.wait_for`, `asyncio.timeout`, a `TaskGroup` sibling failing, a
framework's run cancel) or by an anyio cancel scope gets its `CancelledError`
at once, while the call goes on as Stop would have it: not yet at the fence,
it is discarded ("cancelled by the caller before the fence; nothing was
sent"); past it, the commit runs on for the grace period, then its tool's
`on_stop` applies, and its outcome is journaled. `close()` (and so `async with
sup`), `stop()` and closing the journal wait for such calls. The tasks that run
them are the supervisor's own (`OwnedTasks`, which says why they are not the
caller's).

The supervisor's own lifecycle is one `SupervisorPhase` (`agentstop.supervisor.phase`),
read through `phase`, `stopping`, `escalated`; `wait_stopped()` awaits the end of a Stop.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from agentstop.errors import AgentstopError, CallCutOff, Interrupted, ToolError
from agentstop.grant import GrantSpec
from agentstop.journal import STOP_ESCALATED, EventKind, Journal, SessionStatus
from agentstop.planners.base import Planner, Resumption, TranscriptChunk
from agentstop.redact import Redactor
from agentstop.report import Report
from agentstop.tools import StopPolicy, Tool, ToolRegistry, import_path

from .approval import Approver, approval_rule
from .calls import Caller, CallPath, Flight, KeyScope, past_fence_or_done
from .hook_gate import HookGate
from .owned import Owned, OwnedTasks
from .phase import Lifecycle, SupervisorPhase
from .reapply import ReapplyResult, run_reapply
from .recovery import settle_session
from .threads import call_from_thread
from .undo import UndoResult, run_undo

__all__ = ["Supervisor"]

logger = logging.getLogger("agentstop")

# How often a running supervisor looks for a revoke written by another process (SQLite;
# on PostgreSQL a revoke wakes it at once through LISTEN/NOTIFY, and it polls only as a fallback).
WATCH_INTERVAL = 0.05
SIGNALLED_WATCH_INTERVAL = 1.0
HEARTBEAT_INTERVAL = 1.0


def new_session_id() -> str:
    """A sortable, readable session id: UTC start time plus randomness."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


class Supervisor:
    """Runs tool calls (and optionally a planner) for one session, under one grant.

    Args:
        journal: an open `Journal`.
        tools: the tools this session may use (instances or classes).
        grant: what the session is allowed to do.
        planner: the agent's planner, for `run()`; None for library use through `call()`.
        task_name: a name people recognise in lists and reports.
        goal: what the agent was asked to do.
        task_path: the task file it came from, if any.
        grace: seconds Stop lets commits in flight finish before applying `on_stop`.
        redactor: what to mask in journaled arguments, prepared effects and receipts.
        session_id: to choose the id (default: a new sortable id).
        meta: free-form details stored with the session.
        approve: which calls wait for a person: "none", "irreversible", or tool names.
        approver: who answers (the TUI); without one, such calls are rejected.
        resume: run the ended session `session_id` again, in a new epoch under
            `grant` (Resume after Stop, or after its process died: it is then
            marked crashed and what it left in flight settled first, as
            `recover` does); its earlier calls stay in the journal, and a call
            made again with the same idempotency key is not issued twice (see `call`).
        instruction: what the user added when resuming (journaled; an LLM
            planner passes it to the model).
        resumed_by: who resumed it (journaled with the new epoch).
        key_scope: where an explicit `key=` is matched against earlier calls:
            "session" (default: this session, every epoch of it; two sessions
            may use the same key) or "journal" (any session in the journal).
        resume_asked_at: when the person asked for this Resume (the CLI: its
            process's start); a stop requested for the session since then binds
            the new epoch, which ends before it begins (`Journal.resume_session`).

    Example:
        ```python
        async with Journal.open("agent.db") as journal:
            sup = Supervisor(journal, [SendEmail], GrantSpec(tools=["send_email"], ttl=600))
            receipt = await sup.call("send_email", {"to": "ada@example.com", "subject": "Hi"})
            report = await sup.stop("done for today")
        ```
    """

    def __init__(
        self,
        journal: Journal,
        tools: Iterable[Tool | type[Tool]] | ToolRegistry,
        grant: GrantSpec,
        planner: Planner | None = None,
        *,
        task_name: str = "agent session",
        goal: str = "",
        task_path: str | None = None,
        grace: float = 2.0,
        redactor: Redactor | None = None,
        session_id: str | None = None,
        meta: dict[str, Any] | None = None,
        approve: str | Sequence[str] = "none",
        approver: Approver | None = None,
        resume: bool = False,
        instruction: str = "",
        resumed_by: str = "user",
        key_scope: KeyScope | str = KeyScope.SESSION,
        resume_asked_at: float | None = None,
    ) -> None:
        if resume and session_id is None:
            raise ValueError("resume=True needs the session_id of the session to resume")
        self._journal = journal
        self._registry = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self._grant = grant
        self._planner = planner
        self._task_name = task_name
        self._goal = goal
        self._task_path = task_path
        self._grace = grace
        self._redactor = redactor or Redactor()
        self._session_id = session_id or new_session_id()
        self._meta = meta or {}
        self._resume = resume
        self._instruction = instruction
        self._resumed_by = resumed_by
        self._resume_asked_at = resume_asked_at
        self._epoch = 1
        self._grant_id: int | None = None
        """This epoch's grant, once the session (or its epoch) is recorded."""
        self._life = Lifecycle()
        self._start_lock = anyio.Lock()
        self._path = CallPath(
            journal,
            self._registry,
            self._redactor,
            self._session_id,
            self._current_grant,
            approval_rule(approve),
            approver,
            KeyScope(key_scope),
            announce=self._announce_call,
        )
        self._tasks = OwnedTasks()
        """Where calls run (not in their callers' tasks: see the module docstring)."""
        self._owned: dict[Owned[dict[str, Any]], Caller] = {}
        """Calls running in tasks of the supervisor's, with who awaits each."""
        self._live: dict[tuple[str, str], Owned[dict[str, Any]]] = {}
        """Keyed calls running now, by (tool, key): a second caller with the same key joins the first."""
        self._followers: set[Owned[None]] = set()
        """One per caller that left mid-call: journals it, then applies the grace and `on_stop`."""
        self._forget_drain: Callable[[], None] | None = None
        self._token: anyio.lowlevel.EventLoopToken | None = None
        """The event loop `call_sync` sends calls to (the one `start` ran on)."""
        self._watching = False
        self._watcher_group: AsyncExitStack | None = None
        """The task group `async with sup` runs the revoke watcher in (entered in `__aenter__`)."""
        self._watcher_tg: TaskGroup | None = None
        self._stop_callbacks: list[Callable[[], object]] = []
        self._planner_scope: anyio.CancelScope | None = None
        self._grace_scope: anyio.CancelScope | None = None
        self._after_step: tuple[str, str] = ("", "")
        """Why and by whom Stop was asked for after the current step (read in `stop_after_step`)."""
        self._listeners: list[Callable[[TranscriptChunk], None]] = []
        self._thought: list[str] = []
        self._seen_seq = 0

    # -- session -------------------------------------------------------------

    def _current_grant(self) -> int:
        assert self._grant_id is not None
        return self._grant_id

    @property
    def journal(self) -> Journal:
        """The journal this session is recorded in."""
        return self._journal

    @property
    def registry(self) -> ToolRegistry:
        """The session's tools by name (decorated tools are added on their first call, see `adopt`)."""
        return self._registry

    @property
    def redactor(self) -> Redactor:
        """What is masked in journaled arguments, prepared effects and receipts."""
        return self._redactor

    @property
    def session_id(self) -> str:
        """The session's id (the same in every epoch of it)."""
        return self._session_id

    @property
    def epoch(self) -> int:
        """Which epoch of the session this supervisor runs: 1, or 2, 3, ... after each Resume (known once started)."""
        return self._epoch

    @property
    def instruction(self) -> str:
        """What the user added when resuming (empty for a new session)."""
        return self._instruction

    @property
    def grace(self) -> float:
        """Seconds Stop lets commits in flight finish before applying their tool's `on_stop`."""
        return self._grace

    @property
    def tools(self) -> Sequence[Tool]:
        """The registered tools (what a planner may offer its model)."""
        return list(self._registry)

    @property
    def phase(self) -> SupervisorPhase:
        """Where the supervisor is in its life (see `SupervisorPhase`)."""
        return self._life.phase

    @property
    def stopping(self) -> bool:
        """True once Stop has begun (the grant is revoked or being revoked), and after it ended."""
        return self._life.stop_begun

    @property
    def escalated(self) -> bool:
        """True once Stop was pressed again while it waited (see `escalate`), and after it ended."""
        return self._life.passed(SupervisorPhase.ESCALATED)

    @property
    def in_flight(self) -> list[Flight]:
        """Calls running right now, with their phase."""
        return self._path.in_flight

    async def wait_stopped(self) -> None:
        """Wait until a Stop (begun here, or heard from elsewhere) is done: every call settled, the end journaled.

        Returns at once when Stop is already done; waits for as long as it takes
        otherwise, including for a Stop not begun yet.
        """
        await self._life.wait_stopped()

    async def start(self) -> None:
        """Record the session (or its new epoch) and its grant in the journal (idempotent; `call` does it too)."""
        async with self._start_lock:
            if self._grant_id is not None:
                return
            self._token = anyio.lowlevel.current_token()
            if self._resume:
                # A session whose process died (killed, crashed) is settled first, as `agentstop run
                # --resume` does: marked crashed, a call caught mid-commit looked up, so the new epoch
                # starts from what landed (a keyed call made again gets its receipt, not a second effect).
                # One a live process still runs is left alone: resuming it then says it is still running.
                await settle_session(self._journal, self._registry, self._session_id)
                # The epoch and its grant in one transaction: no Stop can find it running with no grant.
                resumed = await self._journal.resume_session(
                    self._session_id,
                    self._grant,
                    by=self._resumed_by,
                    instruction=self._instruction,
                    asked_at=self._resume_asked_at,
                )
                self._epoch, self._grant_id = resumed.epoch, resumed.grant_id
                if resumed.stopped_before_start is not None:
                    # A stop came while it was starting: the journal has ended it; run nothing.
                    self._path.stop(resumed.stopped_before_start)
                    self._life.end_written()
                    if self._life.phase is SupervisorPhase.NEW:  # (else a Stop begun here ends as it would)
                        self._life.move(SupervisorPhase.STOPPED)
                elif self._life.phase is SupervisorPhase.NEW:
                    self._life.move(SupervisorPhase.RUNNING)
                return
            # Tool names too: an MCP tool's import path names no class, and `agentstop stop
            # --tool NAME` matches sessions by the names people use.
            await self._journal.create_session(
                self._session_id,
                task_name=self._task_name,
                goal=self._goal,
                task_path=self._task_path,
                tools=[import_path(t) for t in self._registry],
                meta={**self._meta, "tool_names": [t.name for t in self._registry], "grace": self._grace},
            )
            self._grant_id = await self._journal.issue_grant(self._session_id, self._grant)
            if self._life.phase is SupervisorPhase.NEW:  # (a Stop that began first records the session: `_stop`)
                self._life.move(SupervisorPhase.RUNNING)

    async def __aenter__(self) -> Supervisor:
        await self.start()
        async with AsyncExitStack() as stack:
            tg = await stack.enter_async_context(anyio.create_task_group())
            tg.start_soon(self.watch)
            self._watcher_tg, self._watcher_group = tg, stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._watcher_group is not None and self._watcher_tg is not None:
            self._watcher_tg.cancel_scope.cancel()
            group, self._watcher_group, self._watcher_tg = self._watcher_group, None, None
            await group.aclose()
        await self.close()

    async def close(self) -> None:
        """End the session as completed unless Stop ended it; waits for a Stop in progress.

        Calls whose callers were cancelled mid-commit are waited for first: each
        commit gets what is left of the grace, then its `on_stop` (an abandoned one
        is cancelled now, since nobody will be left to journal it), so none stays
        `committing`.
        """
        with anyio.CancelScope(shield=True):
            await self.drain()
        if self._life.stop_begun:
            await self._life.wait_stopped()
            return
        if self._life.phase in (SupervisorPhase.RUNNING, SupervisorPhase.STOP_AFTER_STEP):
            await self._end_unstopped()

    async def cut_off(self, why: str) -> None:
        """The process is going away (a person quit): cut off every call still running, and journal how each ended.

        Unlike Stop this revokes nothing; unlike a caller's cancel it does not wait for
        the grace: a call short of the fence is discarded, a commit is cancelled
        whatever its `on_stop` (its outcome then asked of `lookup`, else unknown until
        recovery settles it), so closing the journal afterwards waits for nothing.
        """
        for flight in self.in_flight:
            flight.cut_off(why)
        with anyio.CancelScope(shield=True):
            await self.drain()

    async def drain(self) -> None:
        """Wait until no call runs in a task of the supervisor's, and none is left `committing` (see `close`)."""
        while self._owned or self._followers:
            if not self._owned:
                for follower in list(self._followers):
                    await follower.wait()
                continue
            owned, caller = next(iter(self._owned.items()))
            flight = caller.flight
            if flight is not None and caller.gone:
                await past_fence_or_done(flight)
            if flight is not None and caller.gone and self._followers:
                # The follower of a caller that left owns the grace and the `on_stop` of its commit: a grace
                # timed here instead could run out first (its own started later) and word the call's end wrongly.
                for follower in list(self._followers):
                    await follower.wait()
            if flight is not None and flight.committing and not flight.is_done:
                if not caller.grace_spent:
                    with anyio.move_on_after(self._grace):
                        await flight.done.wait()
                if not flight.is_done:
                    flight.because("the supervisor closed while it ran")
                    if flight.tool.on_stop is not StopPolicy.WAIT:
                        flight.cancel_commit()
            await owned.wait()
            self._owned.pop(owned, None)
        if self._forget_drain is not None:
            self._forget_drain()
            self._forget_drain = None

    # -- the gated path --------------------------------------------------------

    async def adopt(self, tool: type[Tool]) -> str:
        """Make sure this tool class is one of the session's tools; returns its name.

        A decorated tool called under `agentstop.bind` is adopted on its first
        call: registered, and recorded with the session so `agentstop undo` in
        another process can rebuild it. A tool of that name already registered
        is kept when it is an instance of `tool` (a subclass's overrides apply).

        Raises:
            ToolError: a different tool of the same name is registered.
        """
        await self.start()
        if tool.name in self.registry:
            registered = self.registry.get(tool.name)
            if not isinstance(registered, tool):
                raise ToolError(
                    f"a different tool named {tool.name!r} is registered with this supervisor "
                    f"({import_path(registered)}, not {tool.__module__}:{tool.__qualname__}); "
                    "rename one of them"
                )
            return tool.name
        instance = self.registry.add(tool)
        path = import_path(instance)
        # A class made at run time (a framework's tool) cannot be imported by another process: named only.
        importable = "<" not in path and "[" not in path
        await self.journal.add_session_tool(self.session_id, path if importable else None, instance.name)
        return instance.name

    async def call(
        self,
        tool: str | type[Tool],
        args: Any,
        *,
        key: str | None = None,
        cancelled_as: str = "cancelled by the caller",
    ) -> dict[str, Any]:
        """Run one tool call through the fence and return its receipt.

        Works with or without `run()`. The call is journaled as planned before
        anything happens, prepared, checked against the grant in the same
        transaction that records `committing`, committed, and its outcome
        journaled durably.

        Args:
            tool: the tool's name, or its class (adopted if not registered yet, see `adopt`).
            args: a dict (validated against the tool's Args) or an Args instance.
            key: an idempotency key to reuse (default: a new one), matched within
                this session (see `key_scope`). When a call with this key already
                landed (in this session or an earlier epoch), its recorded receipt is
                returned and nothing is issued; when it landed and was undone since,
                `Undone` is raised and nothing is issued; when one from before is
                still in flight, `OutcomeUnknown` is raised and nothing is issued;
                when one is running now in this supervisor, this call joins it
                (one effect, both callers get its outcome).
            cancelled_as: how the journal words it if the caller is cancelled
                ("the host cancelled its request 7").

        If the caller is cancelled, `CancelledError` reaches it at once and the
        call goes on as the module docstring says (discarded before the fence;
        past it, the grace and `on_stop`).

        Raises:
            Rejected: it never reached the world: the fence refused it or Stop cut it
                off before it (`GrantRevoked`, `OutOfScope`, `Interrupted`, `InvalidArgs`, ...).
            OutcomeUnknown: Stop cut it off past the fence and it may have landed.
            Undone: a keyed call that landed was undone since.
            UnknownTool: no such tool.
            ToolFailed: the tool failed; the journal says whether anything landed.
        """
        if self._grant_id is None:  # (no lock taken per call once the session is recorded)
            await self.start()
        if isinstance(tool, type):
            tool = await self.adopt(tool)
        self._flush_thought_nowait()
        while True:
            live = self._live.get((tool, key)) if key is not None else None
            if live is None:
                owned, caller = await self._spawn(tool, args, key, cancelled_as)
                return await self._await_owned(owned, caller)
            # The same key is running now: one effect, both callers answered (a cancel of this
            # caller leaves the first caller's call alone).
            first = self._owned.get(live)
            try:
                if not live.done:
                    await live.wait()
                return live.result()
            except Interrupted:
                if first is None or not first.gone or self._life.stop_begun:
                    raise
                # Its own caller left before the fence and it was discarded; this caller still
                # wants it: issue it (the key lookup finds nothing landed).

    def hook_gate(self, tool_for: Callable[[str], type[Tool]]) -> HookGate:
        """The fence for tools another program runs itself (a coding CLI's hooks), in this session.

        Its Pre hook plans, prepares and fences a call under this supervisor's grant
        (Stop revokes it first, so a Pre after Stop is refused); the Post hook records
        the outcome. `tool_for` builds a tool class for a name the session does not
        know yet (adopted: see `adopt`). See `HookGate`.
        """
        return HookGate(self._path, tool_for, self.adopt, lambda: self._life.stop_begun)

    async def _spawn(
        self, tool: str, args: Any, key: str | None, cancelled_as: str
    ) -> tuple[Owned[dict[str, Any]], Caller]:
        """Start a call in a task of the supervisor's (the caller only awaits it)."""
        caller = Caller(cancelled_as)
        handle: list[Owned[dict[str, Any]]] = []
        owned = await self._tasks.start(self._run_owned, tool, args, key, caller, handle)
        # (No await since it was started: it has not run yet, so it is registered before it ends.)
        handle.append(owned)
        self._owned[owned] = caller
        if key is not None:
            self._live[(tool, key)] = owned
        if self._forget_drain is None:
            self._forget_drain = self._journal.before_close(self.drain)
        return owned, caller

    async def _run_owned(
        self, tool: str, args: Any, key: str | None, caller: Caller, handle: list[Owned[dict[str, Any]]]
    ) -> dict[str, Any]:
        """The call, in the supervisor's task; forgotten once it ends (its outcome is in the journal).

        `handle` holds the task's own `Owned` (put there by `_spawn` before the task first runs).
        """
        try:
            return await self._path.call(tool, args, key, caller)
        finally:
            owned = handle[0]
            self._owned.pop(owned, None)
            if key is not None and self._live.get((tool, key)) is owned:
                del self._live[(tool, key)]

    async def _await_owned(self, owned: Owned[dict[str, Any]], caller: Caller) -> dict[str, Any]:
        try:
            if not owned.done:
                await owned.wait()
        except anyio.get_cancelled_exc_class() as exc:
            if owned.done:
                raise
            why = caller.cancelled_as
            message = str(exc.args[0]) if exc.args and exc.args[0] else ""
            if message and "cancel scope" not in message:  # anyio's own message names only its internals
                why += f" ({message})"
            caller.leave(why)
            self._owned_after_caller_left(caller)
            raise
        return owned.result()

    def _owned_after_caller_left(self, caller: Caller) -> None:
        """A call whose caller went away: journal who left, then the grace and `on_stop` for a commit."""
        if self._life.stop_begun:
            return  # Stop decides: it discards, waits the grace and applies on_stop to every flight.

        async def follow() -> None:
            with anyio.CancelScope(shield=True):
                flight = caller.flight
                if flight is not None:
                    await past_fence_or_done(flight)  # a cancel during the fence's transaction lands past it
                committing = flight is not None and flight.committing  # it passed the fence
                if caller.call_id is not None:
                    try:
                        await self._journal.append(
                            self._session_id,
                            EventKind.CALLER_CANCELLED,
                            {
                                "call_id": caller.call_id,
                                "tool": caller.tool,
                                "by": caller.gone,
                                "committing": committing,
                            },
                        )
                    except AgentstopError as exc:  # the call's own journaling still says what happened
                        logger.warning("could not journal that the caller of %s left: %s", caller.call_id, exc)
                if flight is None or not committing or flight.is_done:
                    return
                with anyio.move_on_after(self._grace):
                    await flight.done.wait()
                if flight.is_done or self._life.stop_begun:
                    return  # done, or Stop decides (it waits its own grace)
                caller.grace_spent = True
                if flight.tool.on_stop is StopPolicy.TRY_CANCEL:
                    flight.cancelled_because = f"{caller.gone}, and the grace ({self._grace:g} s) ran out"
                    flight.cancel_commit()
                # WAIT: it finishes when it does; ABANDON: it runs on, and `close` cancels it if still running.

        async def follow_then_forget() -> None:
            try:
                await follow()
            finally:
                self._followers.discard(follower)

        # The call it follows still runs in the supervisor's task group, so the group is up.
        follower = self._tasks.start_now(follow_then_forget)
        self._followers.add(follower)

    def call_sync(
        self, tool: str | type[Tool], args: Any, *, key: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """`call` for code running in a worker thread while the supervisor's event loop runs elsewhere.

        Frameworks run sync tools in thread pools: this goes through the same
        fence, on the supervisor's loop. A thread cannot be cancelled; a
        `timeout` can: when it passes, the call is treated as if its caller were
        cancelled (discarded before the fence, the grace and `on_stop` past it)
        and `TimeoutError` is raised.

        Raises:
            RuntimeError: called from the event loop's own thread (await `call` there),
                or before the supervisor started (`start()`, `async with sup`, `bind`).
            TimeoutError: `timeout` passed.
            The same errors as `call`.
        """
        return call_from_thread(self.call, self._token, tool, args, key=key, timeout=timeout)

    async def call_parallel(
        self, calls: Sequence[tuple[str, Any]], keys: Sequence[str | None] | None = None
    ) -> list[dict[str, Any] | BaseException]:
        """Run several calls at once; each result is a receipt or the exception it raised.

        `keys`, one per call, are their idempotency keys (see `call`).
        """
        results: list[dict[str, Any] | BaseException] = [RuntimeError("not run")] * len(calls)
        chosen = list(keys) if keys is not None else [None] * len(calls)

        async def one(i: int, name: str, args: Any) -> None:
            try:
                results[i] = await self.call(name, args, key=chosen[i])
            except AgentstopError as exc:
                results[i] = exc

        async with anyio.create_task_group() as tg:
            for i, (name, args) in enumerate(calls):
                tg.start_soon(one, i, name, args)
        return results

    # -- transcript ------------------------------------------------------------

    def on_transcript(self, listener: Callable[[TranscriptChunk], None]) -> None:
        """Register a callback for the agent's streamed transcript (thoughts, calls)."""
        self._listeners.append(listener)

    def _emit(self, chunk: TranscriptChunk) -> None:
        for listener in self._listeners:
            listener(chunk)

    def _announce_call(self, call_id: str, summary: str) -> None:
        self._emit(TranscriptChunk("call", f"→ {call_id} {summary}", call_id))

    async def say(self, text: str) -> None:
        """Stream a piece of the agent's thought (planners call this)."""
        self._thought.append(text)
        self._emit(TranscriptChunk("thought", text))

    async def record(self, kind: str, data: dict[str, Any]) -> None:
        """Journal what the planner needs after a Resume (an event of `kind`, redacted)."""
        await self.start()
        with anyio.CancelScope(shield=True):
            await self.journal.append(self.session_id, kind, self.redactor(data))

    async def resumed_from(self, kinds: Sequence[str]) -> Resumption | None:
        """None for a new session; after a Resume, the planner's records and the earlier calls' outcomes."""
        await self.start()
        if self._epoch == 1:
            return None
        wanted = {*kinds, EventKind.SESSION_RESUMED}
        records = tuple(
            (e.kind, e.data)
            for e in await self.journal.events(self.session_id)
            if e.call_id is None and e.kind in wanted
        )
        outcomes = {c.idempotency_key: (c.state, c.receipt) for c in await self.journal.calls(self.session_id)}
        return Resumption(records, outcomes)

    async def end_thought(self) -> None:
        """Close the current thought and journal it as one transcript event."""
        if self._thought:
            text = "".join(self._thought)
            self._thought.clear()
            await self.start()
            with anyio.CancelScope(shield=True):
                await self.journal.append(self.session_id, EventKind.TRANSCRIPT, {"text": text})
            self._emit(TranscriptChunk("end", ""))

    def _flush_thought_nowait(self) -> None:
        # A call ends the thought before it; journaling happens in end_thought.
        if self._thought:
            self._emit(TranscriptChunk("end", ""))

    # -- run and stop ------------------------------------------------------------

    async def run(self) -> Report:
        """Drive the planner until it finishes or Stop; returns the session's report."""
        planner = self._planner
        if planner is None:
            raise AgentstopError("Supervisor.run() needs a planner; pass planner=... or use call() directly.")
        await self.start()
        planner_error: BaseException | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.watch)
            with anyio.CancelScope() as scope:
                self._planner_scope = scope
                if self._life.stop_begun:
                    scope.cancel()
                try:
                    await planner.run(self)
                    await self.end_thought()
                except Exception as exc:
                    # A call cut off (refused, or its outcome unknown) escaping the planner after Stop
                    # is how the plan ends.
                    if not (self._life.stop_begun and isinstance(exc, CallCutOff)):
                        planner_error = exc
            if planner_error is not None and not self._life.stop_begun:
                # Awaited, not started in the group: the group is cancelled just below, which
                # could cancel a stop that had not begun and leave the session "running".
                await self.stop(f"the planner failed: {planner_error}", "agentstop")
            elif self._life.phase in (SupervisorPhase.RUNNING, SupervisorPhase.STOP_AFTER_STEP):
                await self._end_unstopped()
            if self._life.stop_begun:
                await self._life.wait_stopped()
            tg.cancel_scope.cancel()
        if planner_error is not None:
            raise planner_error
        return await Report.from_journal(self.journal, self.session_id)

    async def _end_unstopped(self) -> None:
        """End a session that no Stop ended here: completed, unless its grant was revoked meanwhile."""
        self._life.move(SupervisorPhase.ENDING)
        try:
            # Only this epoch's grant: an earlier epoch's was revoked by the Stop that preceded a Resume.
            revoked = [
                g
                for g in await self.journal.grants(self.session_id)
                if g.grant_id == self._grant_id and g.revoked_at is not None
            ]
            if revoked:
                await self.journal.end_session(
                    self.session_id,
                    SessionStatus.STOPPED,
                    stopped_by=revoked[0].revoked_by,
                    stop_reason=revoked[0].revoke_reason,
                )
            else:
                await self.journal.end_session(self.session_id, SessionStatus.COMPLETED)
        finally:
            self._life.end_written()
            if self._life.phase is SupervisorPhase.ENDING:  # (else a Stop began meanwhile: it waited for this)
                self._life.move(SupervisorPhase.ENDED)

    async def stop(self, reason: str = "stopped by the user", by: str = "user", *, escalate: bool = True) -> Report:
        """Stop the session: revoke first, then cancel the planner and settle calls in flight.

        Safe to call from any task and after the session completed (then it
        only revokes). Calling it again while Stop waits escalates: the rest of
        the grace is skipped and every commit still in flight is cancelled
        (TRY_CANCEL), its outcome settled by `lookup`.

        Args:
            escalate: what a call made while a Stop is under way does: True, a
                person pressing Stop again (escalate); False, code that stops
                for reasons of its own (a revoke it read, a host gone), which
                waits for that Stop and leaves its grace alone.

        Returns:
            The report, read from the journal once every call in flight has
            settled or been abandoned by its tool's `on_stop`.
        """
        if self._life.stop_begun:
            if escalate:
                self.escalate()  # (nothing when Stop is done)
            await self._life.wait_stopped()
            return await Report.from_journal(self.journal, self.session_id)
        self._life.move(SupervisorPhase.STOPPING)
        try:
            with anyio.CancelScope(shield=True):
                await self._stop(reason, by)
        finally:
            self._life.move(SupervisorPhase.STOPPED)
        return await Report.from_journal(self.journal, self.session_id)

    async def _stop(self, reason: str, by: str) -> None:
        await self.start()
        self._path.stop(f"stopped by {by}: {reason}" if by else reason)
        # 1. Revoke FIRST: from here on the fence rejects every call.
        await self.journal.revoke(self.session_id, by=by, reason=reason)
        # 2. Cancel the planner and everything that has not reached the fence.
        if self._planner_scope is not None:
            self._planner_scope.cancel()
        for flight in self.in_flight:
            if not flight.committing:
                flight.cancel_before_fence()
        # 3. Grace for commits in flight, then each tool's on_stop. Stop pressed again,
        #    here (`escalate`) or in another process (`escalate_stop`), cuts both short.
        async with anyio.create_task_group() as tg:
            for callback in self._stop_callbacks:  # what Stop must also do to the caller's own agent
                tg.start_soon(self._run_stop_callback, callback)
            if self.in_flight:
                tg.start_soon(self._hear_escalation)
            with anyio.move_on_after(self._grace) as grace:
                self._grace_scope = grace
                for flight in self.in_flight:
                    await flight.done.wait()
            waiting: list[Flight] = []
            for flight in self.in_flight:
                policy = StopPolicy.TRY_CANCEL if self.escalated else flight.tool.on_stop
                if not flight.committing:
                    flight.cancel_before_fence()
                    waiting.append(flight)
                elif policy is StopPolicy.TRY_CANCEL:
                    flight.cancel_commit()
                    waiting.append(flight)
                elif policy is StopPolicy.WAIT:
                    waiting.append(flight)
                # ABANDON: it keeps running in its caller's task; its outcome is journaled when it lands.
            for flight in waiting:
                await flight.done.wait()
            # The tasks running those calls journal their ends just after; an abandoned commit runs on.
            for owned, caller in list(self._owned.items()):
                if caller.flight is None or caller.flight.is_done or caller.flight in waiting:
                    await owned.wait()
            tg.cancel_scope.cancel()
        if not self._life.end_claimed:
            try:
                await self.journal.end_session(
                    self.session_id, SessionStatus.STOPPED, stopped_by=by, stop_reason=reason
                )
            finally:
                self._life.end_written()
        else:
            # The planner finished as Stop began and its end is being written (it saw the revoke:
            # stopped): wait for it, so the report this Stop returns says how the session ended.
            await self._life.wait_end_written()

    async def step_boundary(self) -> None:
        """Planners call this between steps; after `stop_after_step` the session stops here."""
        if self._life.phase is SupervisorPhase.STOP_AFTER_STEP:
            reason, by = self._after_step
            await self.stop(reason, by)

    async def stop_after_step(self, reason: str = "stopped after the current step", by: str = "user") -> None:
        """Let the calls of the current step finish, start no new step, then stop (revoking first).

        Without a running planner there are no steps: it waits for the calls in
        flight to finish, then stops.
        """
        await self.start()
        if self._life.phase is SupervisorPhase.RUNNING:
            self._after_step = (reason, by)
            self._life.move(SupervisorPhase.STOP_AFTER_STEP)
        elif self._life.phase not in (SupervisorPhase.ENDING, SupervisorPhase.ENDED):
            return  # asked already, or Stop has begun
        # (After the session's end there is no step left: it only stops, as `stop` after the end does.)
        with anyio.CancelScope(shield=True):
            await self.journal.append(
                self.session_id, EventKind.STOP_AFTER_STEP_REQUESTED, {"by": by, "reason": reason}
            )
        if self._planner_scope is None:
            for flight in self.in_flight:
                await flight.done.wait()
            await self.stop(reason, by, escalate=False)  # (a Stop pressed meanwhile is not pressed twice)

    def on_stop(self, callback: Callable[[], object]) -> None:
        """Have Stop also call `callback()` (sync, or async and awaited), once, right after the revoke.

        Whoever stops: this process (`stop()`), another process (`agentstop stop`,
        the TUI attached from elsewhere: heard by the revoke watcher that `run()`,
        `async with sup` and `agentstop.bind` run), or the grant's expiry. Use it to
        cancel the caller's own agent (a framework's run, a task, an event). An
        exception it raises is logged, not raised: Stop goes on.
        """
        self._stop_callbacks.append(callback)

    async def _run_stop_callback(self, callback: Callable[[], object]) -> None:
        try:
            result = callback()
            if inspect.isawaitable(result):
                with anyio.move_on_after(max(self.grace, 1.0)):
                    await result
        except Exception:
            logger.exception("a Stop callback (%r) failed; Stop went on", callback)

    def escalate(self) -> None:
        """Skip the rest of the grace and cancel every commit still in flight (Stop pressed again)."""
        if self._life.phase is not SupervisorPhase.STOPPING:
            return  # no Stop yet, escalated already, or Stop is done
        self._life.move(SupervisorPhase.ESCALATED)
        if self._grace_scope is not None:
            self._grace_scope.cancel()
        for flight in self.in_flight:
            flight.cancel_before_fence()
            if flight.committing:
                flight.cancel_commit()

    async def _hear_escalation(self) -> None:
        """While Stop waits for calls in flight, escalate when another process asks (`escalate_stop`)."""
        signalled = False
        while not self.escalated:
            # After a signal, from the start (seq order is not commit order on a shared server; see `_watch`).
            for event in await self.journal.events(self.session_id, after=0 if signalled else self._seen_seq):
                self._seen_seq = max(self._seen_seq, event.seq)
                if event.kind == STOP_ESCALATED:
                    self.escalate()
                    return
            interval = WATCH_INTERVAL if self.journal.kind == "sqlite" else SIGNALLED_WATCH_INTERVAL
            signalled = await self.journal.wait_for_signal(self.session_id, interval)

    async def watch(self) -> None:
        """Notice a revoke from another process, or expiry, and stop; keep the heartbeat.

        Runs until Stop (`run()`, `async with sup` and `agentstop.bind` run it; a
        second watcher of the same supervisor returns at once).
        """
        if self._watching:
            return
        self._watching = True
        try:
            await self._watch()
        finally:
            self._watching = False

    async def start_watching(self) -> Owned[None]:
        """Run `watch` in a task of the supervisor's until Stop; returns its handle (`cancel`, `wait`, `error`).

        For a body that must not run inside a task group of its own (`agentstop.bind`:
        a task group would wrap whatever the body raises in an ExceptionGroup).
        """
        return await self._tasks.start(self.watch)

    async def _watch(self) -> None:
        last_beat = 0.0
        signalled = False
        while not self._life.stop_begun:
            now = time.time()
            for grant in await self.journal.grants(self.session_id):
                if grant.grant_id != self._grant_id:
                    continue
                # Not escalating: a Stop of this process may have begun while the grant was read, and the
                # revoke read may be its own.
                if grant.revoked_at is not None:
                    reason, by = grant.revoke_reason or "grant revoked", grant.revoked_by or "another process"
                    await self.stop(reason, by, escalate=False)
                    return
                if grant.expires_at is not None and now >= grant.expires_at:
                    await self.stop("the grant expired", "expiry", escalate=False)
                    return
            # After a signal, read the session's events from the start: on a shared server
            # another process's event can commit after a later one of ours (seq order is not commit order).
            after = 0 if signalled else self._seen_seq
            for event in await self.journal.events(self.session_id, after=after):
                self._seen_seq = max(self._seen_seq, event.seq)
                if event.kind == EventKind.STOP_AFTER_STEP_REQUESTED and self._life.phase is SupervisorPhase.RUNNING:
                    # Asked from another process (`agentstop stop --after-step`).
                    self._after_step = (str(event.data.get("reason", "")), str(event.data.get("by", "")))
                    self._life.move(SupervisorPhase.STOP_AFTER_STEP)
            if now - last_beat >= HEARTBEAT_INTERVAL:
                last_beat = now
                await self.journal.heartbeat(self.session_id)
            # Woken at once by a revoke on PostgreSQL (LISTEN/NOTIFY); on SQLite a short poll.
            interval = WATCH_INTERVAL if self.journal.kind == "sqlite" else SIGNALLED_WATCH_INTERVAL
            signalled = await self.journal.wait_for_signal(self.session_id, interval)

    # -- undo ----------------------------------------------------------------------

    async def undo(self, call_ids: Sequence[str], *, by: str = "user", force: bool = False) -> list[UndoResult]:
        """Undo these calls (reverse commit order); works during and after Stop.

        Before each compensation the tool's `check` looks for drift (the effect
        was changed since the agent made it); a call that drifted is refused,
        not undone, and its result says why (status "refused", `drift`). The
        other calls are still undone.

        Args:
            call_ids: the calls to undo ("c3", ...).
            by: who asks (journaled).
            force: skip the drift checks and undo anyway (journaled as forced).
        """
        return await run_undo(
            self.journal, self.registry, self.session_id, list(call_ids), by=by, redactor=self.redactor, force=force
        )

    async def undo_all(self, *, by: str = "user", force: bool = False) -> list[UndoResult]:
        """Undo every undoable call, latest commit first; a refused call does not stop the others.

        Args:
            by: who asks (journaled).
            force: skip the drift checks and undo anyway (journaled as forced).
        """
        return await run_undo(
            self.journal, self.registry, self.session_id, None, by=by, redactor=self.redactor, force=force
        )

    async def reapply(self, call_ids: Sequence[str], *, by: str = "user") -> list[ReapplyResult]:
        """Undo an undo: carry these compensated calls' effects out again (earliest commit first).

        Only for calls whose tool defines `reapply`; the others are skipped, with
        the reason. Like undo it is the person's action, not the agent's: it works
        during and after Stop and does not need the grant; it is journaled with
        `by`. A re-applied call is committed again, with the new receipt, and
        undoable again. A re-apply that fails on every attempt ends
        `reapply_failed` (its result says why) and can be retried.

        Args:
            call_ids: the calls to re-apply ("c3", ...).
            by: who asks (journaled).
        """
        return await run_reapply(
            self.journal, self.registry, self.session_id, list(call_ids), by=by, redactor=self.redactor
        )

    async def reapply_all(self, *, by: str = "user") -> list[ReapplyResult]:
        """Re-apply every undone call whose tool can, earliest commit first (the reverse of Undo all).

        Args:
            by: who asks (journaled).
        """
        return await run_reapply(self.journal, self.registry, self.session_id, None, by=by, redactor=self.redactor)

    async def report(self) -> Report:
        """The session's report as the journal has it now."""
        return await Report.from_journal(self.journal, self.session_id)
