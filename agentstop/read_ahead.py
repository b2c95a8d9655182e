"""Read the next window of a long read while the one before is used.

A long report or export reads a session a window of rows at a time. The journal
runs each read in its reader thread; read one ahead, that read overlaps with
what the caller does with the window before (decode it, write it) instead of
the two taking turns.

    async with read_ahead(journal.report_row_windows(...)) as windows:
        async for rows in windows:
            ...

The reading runs in a task of its own, in a task group, but what goes wrong
comes out as itself, not wrapped in an `ExceptionGroup`: a read that fails is
raised where its window would have come (a `JournalCorrupt` half-way is a
`JournalCorrupt` to whoever asked for the report), and so is what the block
raises. A block left before the last window, or cancelled, stops the reading.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["read_ahead"]

T = TypeVar("T")


@dataclass(frozen=True)
class _Failed:
    """The read failed: raised to the block in its next window's place."""

    error: Exception


@asynccontextmanager
async def read_ahead(windows: AsyncGenerator[T, None]) -> AsyncIterator[AsyncIterator[T]]:
    """`windows` as they are read, one read ahead of the block using them."""
    send, receive = anyio.create_memory_object_stream[T | _Failed](1)
    error: BaseException | None = None
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_pump, windows, send)
            async with receive:
                yield _Windows(receive)
                tg.cancel_scope.cancel()  # the block is done: a read still ahead of it is not wanted
    except BaseExceptionGroup as group:
        # What the block raised: the reading never raises (its failure is handed to the block).
        if len(group.exceptions) != 1:
            raise
        error = group.exceptions[0]
    if error is not None:
        raise error  # out of the `except`: the error keeps its own cause, not the group as its context


class _Windows(Generic[T]):
    """The windows as the block receives them; a failed read raised in its window's place."""

    def __init__(self, receive: MemoryObjectReceiveStream[T | _Failed]) -> None:
        self._receive = receive

    def __aiter__(self) -> _Windows[T]:
        return self

    async def __anext__(self) -> T:
        window = await self._receive.__anext__()  # StopAsyncIteration once every window came
        if isinstance(window, _Failed):
            raise window.error
        return window


async def _pump(windows: AsyncGenerator[T, None], send: MemoryObjectSendStream[T | _Failed]) -> None:
    async with send, aclosing(windows):  # stopped half-way, the reads' generator is closed here, not later
        try:
            async for window in windows:
                await send.send(window)
        except Exception as exc:  # handed over whole: the block raises it as it came
            await send.send(_Failed(exc))
