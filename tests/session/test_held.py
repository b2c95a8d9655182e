"""Held tools: a session's tools stay loaded, entered and left by one task of the holder's task group."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.errors import AgentstopError
from agentstop.journal import SessionRecord
from agentstop.session import HeldTools
from agentstop.tools import ToolRegistry

pytestmark = pytest.mark.anyio


class Recorder:
    """A loader that notes when each session's tools are entered and left, and by which task."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.tasks: dict[str, list[int]] = {}
        self.fail: set[str] = set()

    @contextlib.asynccontextmanager
    async def __call__(self, session: SessionRecord) -> AsyncIterator[tuple[ToolRegistry, list[str]]]:
        sid = session.session_id
        if sid in self.fail:
            self.fail.discard(sid)
            raise AgentstopError(f"the task file of {sid} is gone")
        self.log.append(f"enter {sid}")
        self.tasks.setdefault(sid, []).append(anyio.get_current_task().id)
        try:
            yield ToolRegistry([]), [f"problem of {sid}"]
        finally:
            self.log.append(f"leave {sid}")
            self.tasks[sid].append(anyio.get_current_task().id)


async def sessions(tmp_path: Path, *ids: str) -> list[SessionRecord]:
    async with Journal.open(tmp_path / "journal.db") as journal:
        for sid in ids:
            await Supervisor(journal, [], GrantSpec(), session_id=sid).start()
        return [await journal.session(sid) for sid in ids]


async def test_tools_load_once_and_are_let_go_when_another_sessions_are_asked_for(tmp_path: Path) -> None:
    one, two = await sessions(tmp_path, "s1", "s2")
    loader = Recorder()
    held = HeldTools(loader)
    async with anyio.create_task_group() as tg:
        tg.start_soon(held.run)
        assert (await held.get(one))[1] == ["problem of s1"]
        assert (await held.get(one))[1] == ["problem of s1"]
        assert held.session_id == "s1" and loader.log == ["enter s1"]
        await held.get(two)
        assert loader.log == ["enter s1", "leave s1", "enter s2"]
        await held.close()
    assert loader.log == ["enter s1", "leave s1", "enter s2", "leave s2"]
    # Entered and left by the same task (anyio's cancel scopes in an MCP client demand it), not the asker's.
    asker = anyio.get_current_task().id
    for entered, left in loader.tasks.values():
        assert entered == left != asker


async def test_a_load_that_failed_is_tried_again(tmp_path: Path) -> None:
    [one] = await sessions(tmp_path, "s1")
    loader = Recorder()
    loader.fail.add("s1")
    held = HeldTools(loader)
    async with anyio.create_task_group() as tg:
        tg.start_soon(held.run)
        with pytest.raises(AgentstopError, match="task file of s1 is gone"):
            await held.get(one)
        await held.get(one)
        assert loader.log == ["enter s1"]
        await held.release()
        assert loader.log == ["enter s1", "leave s1"] and held.session_id is None
        await held.close()


async def test_run_is_not_cut_short_by_its_tasks_cancellation_only_by_close(tmp_path: Path) -> None:
    [one] = await sessions(tmp_path, "s1")
    loader = Recorder()
    held = HeldTools(loader)
    holder = anyio.CancelScope()

    async def host() -> None:
        with holder:
            await held.run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(host)
        await held.get(one)
        holder.cancel()  # the holder's worker is cancelled (an app shutting down) ...
        await anyio.wait_all_tasks_blocked()
        assert loader.log == ["enter s1"]  # ... and the servers still run until close() lets them go
        await held.close()
    assert loader.log == ["enter s1", "leave s1"]


async def test_close_before_run_began_makes_a_waiting_get_fail_instead_of_hanging(tmp_path: Path) -> None:
    [one] = await sessions(tmp_path, "s1")
    held = HeldTools(Recorder())
    failed: list[BaseException] = []

    async def ask() -> None:
        try:
            await held.get(one)
        except anyio.ClosedResourceError as exc:
            failed.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask)
        await anyio.wait_all_tasks_blocked()
        await held.close()
    assert len(failed) == 1
    await held.run()  # after close: returns at once
