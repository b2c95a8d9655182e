"""The tasks a supervisor owns: every tool call, the follower of a call whose caller left, `bind`'s watcher.

Why a call does not run in its caller's task. Callers cancel the asyncio way
(`task.cancel()`, `asyncio.wait_for`, `asyncio.timeout`, a `TaskGroup` sibling
failing, a framework's run cancel), and an anyio shield does not hold against a
native cancel of the task it runs in. So a call runs in a task of the
supervisor's task group and its caller only awaits it (`Owned.wait`, an
`anyio.Event`): the caller's cancel reaches the caller at once and the call goes
on by its own rules (see `agentstop.supervisor.supervisor`). The task is started
from the caller's task, so it runs with the caller's context variables, as it
would have in the caller.

The asyncio boundary. A task group is entered and left by one task, and a
supervisor used as a library (`await sup.call(...)`, no `async with`) has no
task of its own to host one. So `OwnedTasks` starts one host task with
`asyncio.get_running_loop().create_task`, the only task agentstop's supervisor
starts outside a task group: it enters the task group, and leaves it once no
owned task runs (the next call starts a new host). It is told so with the
loop's `call_soon` a turn after the last owned task ended (see `_release`), the
only other asyncio call here. Nothing owned outlives the host: its task group
waits for every task in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio
from anyio import TaskHandle
from anyio.abc import TaskGroup

__all__ = ["Owned", "OwnedTasks"]

T = TypeVar("T")


class Owned(Generic[T]):
    """One task the supervisor owns: await it (`wait`), read how it ended (`result`, `error`), or `cancel` it."""

    def __init__(self) -> None:
        self._finished = anyio.Event()
        self._task: TaskHandle[None] | None = None
        """The task's handle in the task group (its own cancel scope), once started."""
        self._value: tuple[T] | None = None
        """What the task returned, once it did (in a tuple: T may be None)."""
        self._error: Exception | None = None

    @property
    def done(self) -> bool:
        """True once the task has finished, however it ended."""
        return self._finished.is_set()

    @property
    def error(self) -> Exception | None:
        """What the task raised, if it raised (None while it runs, or when it returned or was cancelled)."""
        return self._error

    async def wait(self) -> None:
        """Wait until the task has finished (a cancel of the waiter leaves the task running)."""
        await self._finished.wait()

    def cancel(self) -> None:
        """Cancel the task (its shielded parts, such as Stop's, still run to their end)."""
        assert self._task is not None  # (set as it is started, before anyone holds the handle)
        self._task.cancel()

    def result(self) -> T:
        """What the task returned; raises what it raised.

        Raises:
            The task's exception; or the event loop's cancellation when the task was
            cancelled before it returned (its host was cancelled: the loop is closing).
        """
        if self._error is not None:
            raise self._error
        if self._value is None:
            raise anyio.get_cancelled_exc_class()("the supervisor's task running this was cancelled")
        return self._value[0]


class OwnedTasks:
    """The supervisor's task group, hosted by a task of its own while anything runs in it (see the module)."""

    def __init__(self) -> None:
        self._tg: TaskGroup | None = None
        self._opening: anyio.Event | None = None
        self._leases = 0
        self._idle = anyio.Event()
        self._hosts: set[asyncio.Task[None]] = set()
        """Host tasks alive now (a reference keeps each from being garbage collected while it runs)."""

    async def start(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Owned[T]:
        """Run `fn(*args)` in a task of the supervisor's; returns at once with its handle.

        The task runs in the calling task's context. A cancel of the caller while
        the host starts leaves nothing running.
        """
        self._leases += 1  # held for the task about to start: the host does not leave meanwhile
        try:
            while self._tg is None:
                await self._open()
        except BaseException:
            self._release()
            raise
        return self._spawn(fn, args)

    def start_now(self, fn: Callable[..., Awaitable[T]], *args: Any) -> Owned[T]:
        """`start` from synchronous code, while another owned task runs (so the task group is up).

        Raises:
            RuntimeError: nothing owned runs now (use `start`).
        """
        if self._tg is None:
            raise RuntimeError("start_now needs the supervisor's task group running; await start() instead")
        self._leases += 1
        return self._spawn(fn, args)

    def _spawn(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> Owned[T]:
        assert self._tg is not None
        owned: Owned[T] = Owned()
        owned._task = self._tg.start_soon(self._run, owned, fn, args)
        return owned

    async def _run(self, owned: Owned[T], fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> None:
        try:
            owned._value = (await fn(*args),)
        except Exception as exc:  # its caller reads it; the task group is not to fail for it
            owned._error = exc
        finally:
            owned._finished.set()
            self._release()

    def _release(self) -> None:
        self._leases -= 1
        if self._leases == 0:
            # The host is told one loop turn later, and only if nothing started meanwhile: the caller
            # this task's end wakes runs first, and one that makes its next call at once (an agent's
            # tool loop) keeps the host, where waking it for nothing would cost each call a turn of it.
            asyncio.get_running_loop().call_soon(self._idle_if_unused)

    def _idle_if_unused(self) -> None:
        if self._leases == 0:
            self._idle.set()

    async def _open(self) -> None:
        """Start a host for the task group (or wait for the one starting) and wait until its group is up."""
        if self._opening is None:
            self._opening = anyio.Event()
            host = asyncio.get_running_loop().create_task(self._host(self._opening))
            self._hosts.add(host)
            host.add_done_callback(self._hosts.discard)
        await self._opening.wait()

    async def _host(self, opened: anyio.Event) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                opened.set()
                while self._leases:
                    self._idle = anyio.Event()
                    await self._idle.wait()
                # No await since the check: from here a new start() starts a new host.
                self._tg = self._opening = None
        finally:
            if self._opening is opened:  # cancelled before the group was up (the loop is closing)
                self._tg = self._opening = None
                opened.set()
