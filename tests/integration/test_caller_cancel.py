"""A caller cancelled the asyncio way (or by anyio) never cuts a commit half-way.

Every cancel source a framework uses (native `task.cancel()`, `asyncio.wait_for`
and `asyncio.timeout` timeouts, an anyio cancel scope, an `asyncio.TaskGroup`
whose sibling failed) at every phase of a call (before prepare, in prepare, at
the fence, in commit): the caller gets its cancellation while the tool is still
held (so it was not kept waiting), the call ends in a state that agrees with the
world (a file on disk), never `committing`, and the commit body ran whole.

The races are controlled: the tool holds in its phase on an event, and the two
instantaneous phases (between planning and prepare, the fence's transaction) are
widened by holding the journal's SQLite write lock from another connection until
the caller has been cancelled.
"""

from __future__ import annotations

import asyncio
import enum
import json
import sqlite3
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from agentstop import CallState, GrantSpec, Journal, Report, Reversibility, StopPolicy, Supervisor, Tool, ToolContext

pytestmark = pytest.mark.anyio


class Phase(enum.Enum):
    BEFORE_PREPARE = "before prepare"
    IN_PREPARE = "in prepare"
    AT_FENCE = "at the fence"
    IN_COMMIT = "in commit"


class Source(enum.Enum):
    TASK_CANCEL = "task.cancel()"
    WAIT_FOR = "asyncio.wait_for timeout"
    TIMEOUT = "asyncio.timeout"
    ANYIO_SCOPE = "anyio cancel scope"
    TASK_GROUP = "TaskGroup sibling failure"


@dataclass
class Control:
    """What the test tool does at each phase, and what the test learns from it."""

    journal: Path
    phase: Phase | None = None
    trigger: Callable[[], object] = lambda: None
    hit: anyio.Event = field(default_factory=anyio.Event)
    release: anyio.Event = field(default_factory=anyio.Event)
    lock: sqlite3.Connection | None = None
    prepare_entered: bool = False
    prepare_cancelled: bool = False
    commit_entered: bool = False
    commit_finished: bool = False
    commit_interrupted: bool = False

    def reach(self, phase: Phase) -> None:
        if phase is not self.phase:
            return
        if phase in (Phase.BEFORE_PREPARE, Phase.AT_FENCE):
            # Widen the instant: the journal's next write waits for this lock until the caller is gone.
            self.lock = sqlite3.connect(self.journal, timeout=10, isolation_level=None)
            self.lock.execute("BEGIN IMMEDIATE")
        self.hit.set()
        self.trigger()

    def unlock(self) -> None:
        if self.lock is not None:
            self.lock.execute("ROLLBACK")
            self.lock.close()
            self.lock = None


def scene(tmp_path: Path, phase: Phase) -> tuple[Path, Path, Control]:
    """The world folder the test tool writes into, the journal's path, and the tool's control at `phase`."""
    world = tmp_path / "world"
    world.mkdir()
    path = tmp_path / "journal.db"
    return world, path, Control(path, phase)


class HeldWrite(Tool):
    """Writes `<world>/<name>.txt`; holds where the test says; undo deletes it; lookup finds it."""

    name = "held_write"
    reversibility = Reversibility.REVERSIBLE
    on_stop = StopPolicy.TRY_CANCEL

    class Args(BaseModel):
        name: str

    def __init__(self, world: Path, control: Control) -> None:
        self.world = world
        self.control = control

    def resource(self, args: HeldWrite.Args) -> str:
        self.control.reach(Phase.BEFORE_PREPARE)
        return f"files:{args.name}"

    async def prepare(self, args: HeldWrite.Args, ctx: ToolContext) -> dict[str, Any]:
        self.control.prepare_entered = True
        if self.control.phase is Phase.IN_PREPARE:
            self.control.reach(Phase.IN_PREPARE)
            try:
                await self.control.release.wait()
            except anyio.get_cancelled_exc_class():
                self.control.prepare_cancelled = True
                raise
        self.control.reach(Phase.AT_FENCE)
        return {"name": args.name}

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        self.control.commit_entered = True
        try:
            if self.control.phase is Phase.IN_COMMIT:
                self.control.reach(Phase.IN_COMMIT)
                await self.control.release.wait()
        except BaseException:
            self.control.commit_interrupted = True
            raise
        path = self.world / f"{prepared['name']}.txt"
        path.write_text(ctx.idempotency_key)
        self.control.commit_finished = True
        return {"path": str(path)}

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        Path(receipt["path"]).unlink(missing_ok=True)

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        path = self.world / f"{ctx.args['name'] if isinstance(ctx.args, dict) else ctx.args.name}.txt"
        return {"path": str(path)} if path.exists() else None


async def cancelled_caller(source: Source, call: Callable[[], Coroutine[Any, Any, Any]], control: Control) -> str:
    """Run `call` as a caller that `source` cancels when the tool reaches its phase; how the caller ended."""
    loop = asyncio.get_running_loop()
    if source is Source.TASK_CANCEL:
        task = asyncio.ensure_future(call())
        control.trigger = task.cancel
        try:
            await task
        except asyncio.CancelledError:
            return "CancelledError"
    elif source is Source.WAIT_FOR:
        # The timeout fires by itself while the tool holds (the holds wait for the test, never the clock).
        try:
            await asyncio.wait_for(call(), timeout=2.0)
        except TimeoutError:
            return "TimeoutError"
    elif source is Source.TIMEOUT:
        try:
            async with asyncio.timeout(None) as cm:
                control.trigger = lambda: cm.reschedule(loop.time())
                await call()
        except TimeoutError:
            return "TimeoutError"
    elif source is Source.ANYIO_SCOPE:
        with anyio.CancelScope() as scope:
            control.trigger = scope.cancel
            await call()
        if scope.cancelled_caught:
            return "cancelled_caught"
    elif source is Source.TASK_GROUP:
        sibling_fails = asyncio.Event()

        async def sibling() -> None:
            await sibling_fails.wait()
            raise RuntimeError("a sibling failed")

        control.trigger = sibling_fails.set
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(call())
                tg.create_task(sibling())
        except ExceptionGroup as group:
            return "ExceptionGroup" if group.subgroup(RuntimeError) is not None else "another ExceptionGroup"
    return "returned"


def expected_caller_end(source: Source) -> str:
    return {
        Source.TASK_CANCEL: "CancelledError",
        Source.WAIT_FOR: "TimeoutError",
        Source.TIMEOUT: "TimeoutError",
        Source.ANYIO_SCOPE: "cancelled_caught",
        Source.TASK_GROUP: "ExceptionGroup",
    }[source]


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
@pytest.mark.parametrize("source", list(Source), ids=lambda s: s.value)
async def test_a_cancelled_caller_never_cuts_the_call_and_the_journal_agrees_with_the_world(
    tmp_path: Path, source: Source, phase: Phase
) -> None:
    world, path, control = scene(tmp_path, phase)
    async with Journal.open(path) as journal:
        sup = Supervisor(
            journal, [HeldWrite(world, control)], GrantSpec(tools=["held_write"], scopes=["files:*"]), grace=30.0
        )
        await sup.start()
        started = time.monotonic()
        ended = await cancelled_caller(source, lambda: sup.call("held_write", {"name": "one"}), control)
        # The caller is back while the tool still holds: it was not kept waiting for the commit.
        assert ended == expected_caller_end(source)
        assert control.hit.is_set(), f"the cancel came before the tool reached {phase.value}"
        assert time.monotonic() - started < 10, "the caller was kept waiting"
        finished_early = control.commit_finished  # a name: asserting on control's would narrow it for good
        assert not finished_early
        control.unlock()
        control.release.set()
        await sup.close()  # waits for the call its caller left
        [call] = await journal.calls(sup.session_id)
        events = [e for e in await journal.events(sup.session_id) if e.kind == "caller_cancelled"]
        report = await Report.from_journal(journal, sup.session_id)

    written = (world / "one.txt").exists()
    if phase in (Phase.BEFORE_PREPARE, Phase.IN_PREPARE):
        assert call.state == CallState.DISCARDED
        before = "before it was prepared" if phase is Phase.BEFORE_PREPARE else "before the fence"
        assert call.reason == f"cancelled by the caller {before}; nothing was sent"
        assert not control.commit_entered and not written
        assert control.prepare_entered == (phase is Phase.IN_PREPARE)
        assert control.prepare_cancelled == (phase is Phase.IN_PREPARE)
        assert [i.call_id for i in report.interrupted] == ["c1"]
    else:
        assert call.state == CallState.COMMITTED, call.reason
        assert control.commit_finished and not control.commit_interrupted and written
        assert [i.call_id for i in report.done] == [i.call_id for i in report.undoable] == ["c1"]
        assert [(e.data["call_id"], e.data["committing"]) for e in events] == [("c1", True)]
    assert list(report.in_flight) == []


async def test_past_the_grace_a_try_cancel_commit_is_cancelled_and_settled_by_lookup(tmp_path: Path) -> None:
    world, path, control = scene(tmp_path, Phase.IN_COMMIT)  # never released: the commit would hang for good
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [HeldWrite(world, control)], GrantSpec(), grace=0.2)
        assert (
            await cancelled_caller(Source.TASK_CANCEL, lambda: sup.call("held_write", {"name": "x"}), control)
            == "CancelledError"
        )
        await sup.close()
        [call] = await journal.calls(sup.session_id)
        session = await journal.session(sup.session_id)
    assert control.commit_interrupted and not (world / "x.txt").exists()
    assert call.state == CallState.FAILED
    assert call.reason == (
        "commit cancelled: cancelled by the caller, and the grace (0.2 s) ran out; "
        "lookup found no effect, nothing landed"
    )
    assert session.status == "completed"  # the caller's cancel is not a Stop: the session ends normally


async def test_closing_the_journal_waits_for_a_commit_whose_caller_left(tmp_path: Path) -> None:
    world, path, control = scene(tmp_path, Phase.IN_COMMIT)
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [HeldWrite(world, control)], GrantSpec(), grace=30)
        assert (
            await cancelled_caller(Source.TASK_CANCEL, lambda: sup.call("held_write", {"name": "late"}), control)
            == "CancelledError"
        )
        control.release.set()  # the commit finishes while the journal is being closed
    # No `async with sup` and no close(): the journal's own close waited for the commit.
    async with Journal.open(path, readonly=True) as journal:
        [session] = await journal.sessions()
        [call] = await journal.calls(session.session_id)
    assert call.state == CallState.COMMITTED and (world / "late.txt").exists()


async def test_an_abandoned_commit_is_cancelled_when_the_supervisor_closes(tmp_path: Path) -> None:
    world, path, control = scene(tmp_path, Phase.IN_COMMIT)

    class Abandoned(HeldWrite):
        on_stop = StopPolicy.ABANDON

    async with Journal.open(path) as journal:
        async with Supervisor(journal, [Abandoned(world, control)], GrantSpec(), grace=0.2) as sup:
            assert (
                await cancelled_caller(Source.TASK_CANCEL, lambda: sup.call("held_write", {"name": "a"}), control)
                == "CancelledError"
            )
        [call] = await journal.calls(sup.session_id)
    assert call.state == CallState.FAILED  # cancelled at close, and lookup found nothing
    assert "the supervisor closed while it ran" in (call.reason or "")


async def test_a_stop_after_the_caller_left_settles_the_call_by_its_own_rules(tmp_path: Path) -> None:
    world, path, control = scene(tmp_path, Phase.IN_COMMIT)
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [HeldWrite(world, control)], GrantSpec(), grace=30)
        assert (
            await cancelled_caller(Source.TASK_CANCEL, lambda: sup.call("held_write", {"name": "s"}), control)
            == "CancelledError"
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(sup.stop, "enough", "user")
            await wait_until(lambda: sup.stopping)
            control.release.set()
        [call] = await journal.calls(sup.session_id)
        report = await Report.from_journal(journal, sup.session_id)
    assert call.state == CallState.COMMITTED and (world / "s.txt").exists()
    assert report.session.status == "stopped" and list(report.in_flight) == []


async def wait_until(predicate: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not predicate():
            await anyio.sleep(0.001)


def test_the_cancel_is_journaled_with_who_cancelled(tmp_path: Path) -> None:
    """`caller_cancelled` names the call and how the caller went away."""

    async def main() -> list[dict[str, Any]]:
        world, path, control = scene(tmp_path, Phase.IN_COMMIT)
        async with Journal.open(path) as journal:
            sup = Supervisor(journal, [HeldWrite(world, control)], GrantSpec(), grace=30)
            task = asyncio.ensure_future(sup.call("held_write", {"name": "n"}))
            control.trigger = lambda: task.cancel("the user closed the chat")
            with pytest.raises(asyncio.CancelledError):
                await task
            control.release.set()
            await sup.close()
            return [
                json.loads(json.dumps(e.data))
                for e in await journal.events(sup.session_id)
                if e.kind == "caller_cancelled"
            ]

    [event] = anyio.run(main)
    assert event == {
        "call_id": "c1",
        "tool": "held_write",
        "committing": True,
        "by": "cancelled by the caller (the user closed the chat)",
    }


async def test_an_anyio_deadline_is_a_caller_cancel_like_any_other(tmp_path: Path) -> None:
    world, path, control = scene(tmp_path, Phase.IN_PREPARE)
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [HeldWrite(world, control)], GrantSpec(), grace=30)
        await sup.start()
        with anyio.move_on_after(0.2):  # fires while the prepare holds (it waits for the test)
            await sup.call("held_write", {"name": "d"})
        control.release.set()
        await sup.close()
        [call] = await journal.calls(sup.session_id)
    assert call.reason == "cancelled by the caller before the fence; nothing was sent"


def test_call_sync_with_a_timeout_leaves_the_commit_to_the_supervisor(tmp_path: Path) -> None:
    """A worker thread's timeout is its caller's cancel: TimeoutError at once, the commit goes on and lands."""
    world = tmp_path / "world"
    world.mkdir()
    path = tmp_path / "journal.db"

    async def main() -> tuple[str, CallState]:
        control = Control(path, Phase.IN_COMMIT)
        async with Journal.open(path) as journal:
            sup = Supervisor(journal, [HeldWrite(world, control)], GrantSpec(), grace=30)
            await sup.start()

            def worker() -> str:
                try:
                    sup.call_sync("held_write", {"name": "t"}, timeout=1.0)
                except TimeoutError as exc:
                    return str(exc)
                return "returned"

            said = await anyio.to_thread.run_sync(worker)  # the commit holds until released below
            control.release.set()
            await sup.close()
            [call] = await journal.calls(sup.session_id)
            return said, CallState(call.state)

    said, state = anyio.run(main)
    assert said.startswith("held_write did not answer within 1 s")
    assert state == CallState.COMMITTED and (world / "t.txt").exists()
