"""Calls from worker threads: how `Supervisor.call_sync` reaches the supervisor's event loop.

Frameworks run sync tools in thread pools. Such a call goes through the same
fence, run on the supervisor's loop (`anyio.from_thread` with the loop's
token); the thread waits for it. A thread cannot be cancelled, but a `timeout`
can stand for its cancel: past it, the call is treated as if its caller had
left (discarded before the fence, the grace and `on_stop` past it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from agentstop.tools import Tool

__all__ = ["call_from_thread", "runs_loop_of"]

Call = Callable[..., Awaitable[dict[str, Any]]]
"""`Supervisor.call`: `(tool, args, key=...)` to the receipt."""

_NOT_STARTED = (
    "call_sync needs the supervisor started on a running event loop "
    "(await sup.start(), or use it inside `async with agentstop.bind(sup)`)"
)


def runs_loop_of(token: anyio.lowlevel.EventLoopToken) -> bool:
    """True when this thread is the one running the event loop `token` stands for."""
    try:
        return anyio.lowlevel.current_token() == token
    except RuntimeError:  # no event loop runs in this thread (a worker thread, a framework's pool)
        return False


def call_from_thread(
    call: Call,
    token: anyio.lowlevel.EventLoopToken | None,
    tool: str | type[Tool],
    args: Any,
    *,
    key: str | None,
    timeout: float | None,
) -> dict[str, Any]:
    """Run `call(tool, args, key=key)` on the loop of `token` and wait for its receipt (see `Supervisor.call_sync`).

    Raises:
        RuntimeError: from the loop's own thread (it would block it forever), or with no loop running.
        TimeoutError: `timeout` passed; the journal has the call's outcome.
    """
    name = tool if isinstance(tool, str) else tool.name
    if token is None:
        raise RuntimeError(_NOT_STARTED)
    if runs_loop_of(token):
        raise RuntimeError(
            f"call_sync({name!r}) from the event loop's own thread would block it forever; await sup.call(...) there"
        )
    try:
        return anyio.from_thread.run(_within, call, tool, args, key, timeout, token=token)
    except anyio.RunFinishedError:
        raise RuntimeError(_NOT_STARTED) from None


async def _within(
    call: Call, tool: str | type[Tool], args: Any, key: str | None, within: float | None
) -> dict[str, Any]:
    """`call`, on the event loop: past `within` seconds its caller (the thread) leaves it."""
    with anyio.move_on_after(within if within is not None else float("inf")):
        return await call(tool, args, key=key)
    name = tool if isinstance(tool, str) else tool.name
    raise TimeoutError(f"{name} did not answer within {within:g} s; the journal has its outcome (agentstop report)")
