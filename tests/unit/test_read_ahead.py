"""A long read's windows read one ahead of their use (`agentstop.read_ahead`).

Every window comes, in order; what the reading or the block raises comes out as
itself (a `JournalCorrupt` half-way is a `JournalCorrupt`, not an
`ExceptionGroup`); a block left early, or cancelled, stops the reading and closes it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anyio
import anyio.lowlevel
import pytest

from agentstop import JournalCorrupt
from agentstop.read_ahead import read_ahead

pytestmark = pytest.mark.anyio


async def _windows(n: int, closed: list[bool], fail_at: int | None = None) -> AsyncGenerator[list[int], None]:
    try:
        for i in range(n):
            if i == fail_at:
                raise JournalCorrupt("journal.db", "a row does not decode")
            yield [i]
            await anyio.lowlevel.checkpoint()
    finally:
        closed.append(True)


async def test_every_window_comes_in_order() -> None:
    closed: list[bool] = []
    async with read_ahead(_windows(5, closed)) as windows:
        assert [w async for w in windows] == [[0], [1], [2], [3], [4]]
    assert closed == [True]


async def test_a_read_that_fails_half_way_raises_its_own_error() -> None:
    closed: list[bool] = []
    seen: list[list[int]] = []

    async def read() -> None:
        async with read_ahead(_windows(5, closed, fail_at=3)) as windows:
            async for w in windows:
                seen.append(w)

    with pytest.raises(JournalCorrupt, match="a row does not decode"):
        await read()
    assert seen == [[0], [1], [2]] and closed == [True]


async def test_what_the_block_raises_comes_out_as_itself_with_its_cause() -> None:
    closed: list[bool] = []

    async def read() -> None:
        async with read_ahead(_windows(5, closed)) as windows:
            async for _ in windows:
                try:
                    raise ValueError("bad JSON")
                except ValueError as exc:
                    raise JournalCorrupt("journal.db", "an event's data does not decode") from exc

    with pytest.raises(JournalCorrupt) as raised:
        await read()
    assert isinstance(raised.value.__cause__, ValueError)
    assert closed == [True]


async def test_a_block_left_early_stops_the_reading() -> None:
    closed: list[bool] = []
    async with read_ahead(_windows(1000, closed)) as windows:
        async for w in windows:
            if w == [2]:
                break
    assert closed == [True]


async def test_a_cancelled_block_is_cancelled_and_the_reading_closed() -> None:
    closed: list[bool] = []
    with anyio.move_on_after(0.05) as scope:
        async with read_ahead(_windows(10**9, closed)) as windows:
            async for _ in windows:
                await anyio.sleep(0.01)
    assert scope.cancelled_caught and closed == [True]
