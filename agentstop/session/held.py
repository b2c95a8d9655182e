"""A session's tools kept loaded, with its MCP servers running, between an undo's question and the undo.

A session run by another process (a headless run, `agentstop mcp-proxy`, a
library) is undone with tools this process loads itself (`tools_from_session`):
Python tools imported by the paths the journal recorded, MCP tools from their
servers, started again from the session's task file. The servers must keep
running between the undo's confirmation and the undo itself, and anyio's
cancel scopes inside the MCP client must be left by the task that entered
them. So each session's tools are held by a task of their own, in a task
group that `run()` opens and the holder owns, until another session's tools
are asked for, or `close()`:

```python
held = HeldTools(tools_from_session)
# in a task of the holder's (a TUI worker, a task group): held.run() until held.close()
registry, problems = await held.get(session)   # starts the servers the first time
...
await held.close()                              # stops them, then run() returns
```
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

import anyio
from anyio.abc import TaskGroup

from agentstop.journal import SessionRecord
from agentstop.tools import ToolRegistry

from .tools import mcp_tools_of

__all__ = ["HeldTools", "ToolLoader", "fixed_tools"]

ToolLoader = Callable[[SessionRecord], AbstractAsyncContextManager[tuple[ToolRegistry, list[str]]]]
"""Loads a session's tools (and the problems loading them) for as long as its context is open."""


def fixed_tools(registry: ToolRegistry, problems: Sequence[str] = ()) -> ToolLoader:
    """A loader that starts nothing: the same tools for every session (tests, a library's own viewer)."""

    @contextlib.asynccontextmanager
    async def load(session: SessionRecord) -> AsyncIterator[tuple[ToolRegistry, list[str]]]:
        yield registry, list(problems)

    return load


@dataclasses.dataclass(eq=False)
class _Holding:
    """One session's tools, held by one task: what it loaded (or why not), and the events that pace it."""

    session_id: str
    loaded: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    """Set once the loader has yielded the tools, or failed."""
    release: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    """Set to let the tools go (their servers stop)."""
    gone: anyio.Event = dataclasses.field(default_factory=anyio.Event)
    """Set once the holding task has left the loader's context."""
    tools: tuple[ToolRegistry, list[str]] | None = None
    error: Exception | None = None


class HeldTools:
    """The tools of one session at a time, kept loaded until another session's are asked for, or `close`.

    Args:
        loader: loads a session's tools for as long as its context is open
            (`tools_from_session`, or `fixed_tools` in tests).
    """

    def __init__(self, loader: ToolLoader) -> None:
        self.loader = loader
        self._holding: _Holding | None = None
        self._group: TaskGroup | None = None
        self._ready = anyio.Event()
        self._closing = anyio.Event()
        self._closed = anyio.Event()
        self._lock = anyio.Lock()

    @property
    def session_id(self) -> str | None:
        """The session whose tools are held (or being loaded); None when none are."""
        return self._holding.session_id if self._holding is not None else None

    @staticmethod
    def needs_start(session: SessionRecord) -> bool:
        """True when loading the session's tools starts programs (MCP servers): worth saying so first."""
        return bool(mcp_tools_of(session))

    async def run(self) -> None:
        """Hold tools until `close()`: every session's tools are held by a task of this task group.

        Run it in a task the holder owns (a TUI worker, a task group's task). It is
        shielded: cancelling it would cut the servers' shutdown short, so it ends
        when `close()` asks, after the held tools are let go.
        """
        if self._closing.is_set():
            self._closed.set()
            return
        try:
            with anyio.CancelScope(shield=True):
                async with anyio.create_task_group() as group:
                    self._group = group
                    self._ready.set()
                    await self._closing.wait()
                    await self._let_go()
        finally:
            self._group = None
            self._closed.set()

    async def get(self, session: SessionRecord) -> tuple[ToolRegistry, list[str]]:
        """The session's tools and the problems loading them; loads them the first time.

        Waits for `run()` to have begun. Another session's tools held until now are let go first.

        Raises:
            AgentstopError: they could not be loaded (an MCP task file gone or
                wrong, a server that did not start); asking again tries again.
            anyio.ClosedResourceError: `close()` was called.
        """
        async with self._lock:
            holding = self._holding
            if holding is None or holding.session_id != session.session_id or holding.error is not None:
                await self._let_go()
                if self._closing.is_set():
                    raise anyio.ClosedResourceError
                await self._ready.wait()
                if self._group is None:
                    raise anyio.ClosedResourceError
                self._holding = holding = _Holding(session.session_id)
                self._group.start_soon(self._hold, session, holding, name=f"tools of {session.session_id}")
        await holding.loaded.wait()
        if holding.error is not None:
            raise holding.error
        assert holding.tools is not None
        return holding.tools

    async def _hold(self, session: SessionRecord, holding: _Holding) -> None:
        try:
            async with self.loader(session) as tools:
                holding.tools = tools
                holding.loaded.set()
                await holding.release.wait()
        except Exception as exc:
            holding.error = exc  # `get` raises it to whoever asked; the next `get` tries again
        finally:
            holding.loaded.set()
            holding.gone.set()

    async def _let_go(self) -> None:
        """Let the held tools go (their servers stop); waits until they have."""
        holding, self._holding = self._holding, None
        if holding is not None:
            holding.release.set()
            await holding.gone.wait()

    async def release(self) -> None:
        """Let the held tools go (their servers stop); the next `get` loads them again."""
        async with self._lock:
            await self._let_go()

    async def close(self) -> None:
        """Let the held tools go and end `run()`; waits until both have, if `run()` ever began."""
        self._closing.set()
        if self._ready.is_set():
            await self._closed.wait()
        else:
            self._ready.set()  # wake a `get` waiting for a `run()` that will not come: it raises
