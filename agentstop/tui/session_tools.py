"""A session's tools for undo in a viewer of the journal, loaded once and held while the session is open.

A session run by another process (a headless run, `agentstop mcp-proxy`, a
library) is undone here with tools this process loads itself: Python tools
imported by the paths the journal recorded, MCP tools from their servers,
started again from the session's task file. The servers must keep running
between the undo's confirmation and the undo itself, so the loader's context
(the command line's `tools_from_session`) is entered in a task of its own and
left in the same task: anyio's cancel scopes inside the MCP client must be
exited by the task that entered them, which a Textual worker per action is not.

```python
held = HeldTools(tools_from_session)
registry, problems = await held.get(session)   # starts the servers the first time
...
await held.close()                              # stops them
```
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from agentstop.journal import SessionRecord
from agentstop.mcp.restart import mcp_tool_name
from agentstop.tools import ToolRegistry

__all__ = ["HeldTools", "ToolLoader", "fixed_tools"]

ToolLoader = Callable[[SessionRecord], AbstractAsyncContextManager[tuple[ToolRegistry, list[str]]]]
"""Loads a session's tools (and the problems loading them) for as long as its context is open."""


def fixed_tools(registry: ToolRegistry, problems: Sequence[str] = ()) -> ToolLoader:
    """A loader that starts nothing: the same tools for every session (tests, a library's own viewer)."""

    @contextlib.asynccontextmanager
    async def load(session: SessionRecord) -> AsyncIterator[tuple[ToolRegistry, list[str]]]:
        yield registry, list(problems)

    return load


class HeldTools:
    """The tools of one session at a time, kept loaded until another session's are asked for, or `close`."""

    def __init__(self, loader: ToolLoader) -> None:
        self.loader = loader
        self.session_id: str | None = None
        self._loaded: asyncio.Future[tuple[ToolRegistry, list[str]]] | None = None
        self._release: asyncio.Event | None = None
        self._holder: asyncio.Task[None] | None = None

    async def get(self, session: SessionRecord) -> tuple[ToolRegistry, list[str]]:
        """The session's tools and the problems loading them; loads them the first time.

        Raises:
            AgentstopError: they could not be loaded (an MCP task file gone or
                wrong, a server that did not start); asking again tries again.
        """
        if self.session_id != session.session_id or self._loaded is None or self._failed():
            await self.close()
            self.session_id = session.session_id
            self._loaded = asyncio.get_running_loop().create_future()
            self._release = asyncio.Event()
            self._holder = asyncio.create_task(
                self._hold(session, self._loaded, self._release), name=f"tools of {session.session_id}"
            )
        return await asyncio.shield(self._loaded)

    def _failed(self) -> bool:
        loaded = self._loaded
        return loaded is not None and loaded.done() and (loaded.cancelled() or loaded.exception() is not None)

    @staticmethod
    def needs_start(session: SessionRecord) -> bool:
        """True when loading the session's tools starts programs (MCP servers): worth saying so first."""
        return any(mcp_tool_name(spec) is not None for spec in session.tools)

    async def _hold(
        self, session: SessionRecord, loaded: asyncio.Future[tuple[ToolRegistry, list[str]]], release: asyncio.Event
    ) -> None:
        try:
            async with self.loader(session) as tools:
                loaded.set_result(tools)
                await release.wait()
        except BaseException as exc:
            if not loaded.done():
                if isinstance(exc, Exception):
                    loaded.set_exception(exc)
                else:
                    loaded.cancel()
            if not isinstance(exc, Exception):
                raise

    async def close(self) -> None:
        """Let the loaded tools go (their servers stop); waits until they have."""
        holder, release = self._holder, self._release
        self._holder = self._release = self._loaded = None
        self.session_id = None
        if holder is None or release is None:
            return
        release.set()
        with contextlib.suppress(Exception):
            await holder
