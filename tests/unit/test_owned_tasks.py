"""The supervisor's owned tasks share one host while calls keep coming, and the host leaves once none runs.

A library caller (`await sup.call(...)` in a loop, no `async with`) gives the
supervisor no task to host its task group: `OwnedTasks` starts a host task and
lets it go once nothing it owns runs. An agent's tool loop makes its next call
as soon as the last one returns: that call must find the host still up (not
start a new one each call), and once the loop stops calling, nothing is left
running.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest

from agentstop.supervisor.owned import OwnedTasks

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # OwnedTasks hosts its task group in an asyncio task (see its module)


class _CountedHosts(OwnedTasks):
    def __init__(self) -> None:
        super().__init__()
        self.hosts_started = 0

    async def _host(self, opened: anyio.Event) -> None:
        self.hosts_started += 1
        await super()._host(opened)


async def _double(n: int) -> int:
    await anyio.lowlevel.checkpoint()
    return 2 * n


async def test_calls_made_back_to_back_share_one_host_which_leaves_once_none_runs() -> None:
    tasks = _CountedHosts()
    for n in range(20):
        owned = await tasks.start(_double, n)
        await owned.wait()
        assert owned.result() == 2 * n
    assert tasks.hosts_started == 1
    hosts = list(tasks._hosts)
    with anyio.fail_after(5):
        await asyncio.gather(*hosts)  # it leaves by itself: nothing owned runs any more
    assert not tasks._hosts


async def test_a_call_made_after_the_host_left_starts_a_new_one_and_is_answered() -> None:
    tasks = _CountedHosts()
    owned = await tasks.start(_double, 1)
    await owned.wait()
    with anyio.fail_after(5):
        await asyncio.gather(*tasks._hosts)
    owned = await tasks.start(_double, 2)
    await owned.wait()
    assert owned.result() == 4
    assert tasks.hosts_started == 2
