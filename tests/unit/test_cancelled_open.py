"""An open cut off by a cancel leaves no thread behind: the process can still exit.

Found when `agentstop replay` hung at exit on a loaded machine: the app closed
while a worker was opening the journal, the cancel landed between the reader's
connect and its first statement, and the reader's thread (aiosqlite's, which
is not a daemon) was never told to stop, so the interpreter waited for it
forever. Here the open is cancelled after each of its first checkpoints in
turn, read-only and read-write, and every thread it started must end.
"""

from __future__ import annotations

import threading

import anyio
import anyio.lowlevel
import pytest

from agentstop import Journal

pytestmark = pytest.mark.anyio

MOST = 5_000
"""The latest a cancel is tried (loop turns): an open that still has not finished by then is a failure."""


async def _open_cancelled_after(target: str, readonly: bool, checkpoints: int) -> bool:
    """Open the journal, cancelled once `checkpoints` loop turns have passed; True when the open finished first."""
    opened = False
    async with anyio.create_task_group() as tg:

        async def cancel_later() -> None:
            for _ in range(checkpoints):
                await anyio.lowlevel.checkpoint()
            tg.cancel_scope.cancel()

        tg.start_soon(cancel_later)
        async with Journal.open(target, readonly=readonly):
            opened = True
            await anyio.sleep_forever()
    return opened


@pytest.mark.parametrize("readonly", [True, False], ids=["read-only", "read-write"])
async def test_a_cancelled_open_leaves_no_thread_behind(journal_target: str, readonly: bool) -> None:
    async with Journal.open(journal_target):
        pass  # the journal exists, so a read-only open can find it
    before = set(threading.enumerate())
    # The cancel moves one loop turn later each time, through the whole open, until opens finish first.
    finished_first = 0
    for k in range(MOST):
        finished_first = finished_first + 1 if await _open_cancelled_after(journal_target, readonly, k) else 0
        if finished_first == 3:
            break
    assert finished_first == 3, f"an open cancelled after {MOST} loop turns had not finished yet"
    for thread in set(threading.enumerate()) - before:
        if thread.daemon:
            continue  # anyio's idle workers: they never keep a process from exiting
        await anyio.to_thread.run_sync(thread.join, 10.0)
        assert not thread.is_alive(), f"{thread.name} outlived a cancelled open of the journal"
