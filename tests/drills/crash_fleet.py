"""The crash drill's fleet: sessions over the demo tools, each SIGKILLed at a seeded moment.

Run as `python -m tests.drills.crash_fleet JOURNAL SEED...` (the world must be
running: AGENTSTOP_DEMO_WORLD set). The driver imports everything once, then
for each seed forks a child that runs one session (a seeded list of demo tool
calls, then `undo_all`) and SIGKILLs it. Forking from a warm process is what
makes hundreds of kills affordable; the driver itself never starts a thread or
an event loop, so each child starts clean.

Where the kill lands is chosen by the seed:

- "pause": the child stops dead at one boundary of one call (after a journal
  write, or inside the tool just before or after its effect) and is killed
  there, so every phase is reached deterministically;
- "race": the child reports the boundary and runs on; the kill follows after a
  seeded 0-4 ms, landing inside whatever comes next (a journal write, a request);
- "timed": the kill comes a seeded time after the session started, anywhere.

The driver is a child subreaper: processes a killed child left behind (a `git
push` in flight) are waited for before the kill is reported, so the checks see
the world those orphans leave. It prints one JSON line per seed on stdout.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import anyio

from agentstop import AgentstopError, CallState, GrantSpec, Journal, Supervisor, Tool, ToolContext
from agentstop.grant import FenceRefusal
from demo_tools.calendar_tool import CreateEvent
from demo_tools.chat import PostMessage
from demo_tools.database import MigrateDatabase
from demo_tools.git_pr import OpenDraftPR
from demo_tools.mail import SendEmail
from demo_tools.payments import Charge, WireTransfer
from demo_tools.settings import CHAT_DELAY_ENV, UNDO_WINDOW_ENV

__all__ = ["BOUNDARIES", "DEMO_TOOLS", "Plan", "demo_args", "make_plan"]

DEMO_TOOLS: dict[str, type[Tool]] = {
    t.name: t for t in (SendEmail, CreateEvent, PostMessage, OpenDraftPR, MigrateDatabase, Charge, WireTransfer)
}
COMPENSABLE = [name for name, t in DEMO_TOOLS.items() if t.can_compensate()]

# Boundary -> the call state the journal holds when a "pause" kill lands there.
BOUNDARIES: dict[str, str] = {
    "after_planned": "planned",  # plan_call committed, prepare not begun
    "in_prepare": "planned",  # inside prepare, after the tool built its effect
    "after_fence": "committing",  # committing durable, commit not begun
    "before_effect": "committing",  # inside commit, nothing sent yet
    "after_effect": "committing",  # inside commit, the effect has landed, no receipt journaled
    "after_committed": "committed",  # receipt journaled
    "after_compensating": "compensating",  # undo journaled, compensation not begun
    "after_undo_effect": "compensating",  # inside the undo, the effect is taken back, outcome not journaled
    "after_compensated": "compensated",  # undo journaled as done
}
_UNDO_BOUNDARIES = {"after_compensating", "after_undo_effect", "after_compensated"}
# Seeds walk this cycle; "committed" has one boundary, so it comes twice. (A call without an
# approval step records `prepared` in the fence's own transaction: it has no boundary of its own.)
_CYCLE = [*BOUNDARIES, "after_committed"]
MODES = ("pause", "pause", "pause", "race", "timed")


@dataclass(frozen=True)
class Plan:
    """One child's session, all of it derived from the seed."""

    seed: int
    calls: list[tuple[str, dict[str, Any]]]
    mode: str
    boundary: str
    target: str
    race_delay: float
    kill_after: float
    undo_window: float
    chat_delay: float
    branches: dict[int, str] = field(default_factory=lambda: {})


def demo_args(tool: str, seed: int, i: int, rng: random.Random) -> dict[str, Any]:
    """Arguments for call `i` of seed `seed` to a demo tool, unique where the world needs them unique."""
    tag = f"s{seed}-c{i}"
    if tool == "send_email":
        return {"to": "drills@example.com", "subject": f"crash drill {tag}", "body": f"drill {tag}\n"}
    if tool == "create_event":
        return {
            "title": f"drill {tag}",
            "start": f"2031-0{1 + seed % 9}-1{i % 10}T10:00:00+00:00",
            "minutes": 15,
            "calendar": "drills",
        }
    if tool == "post_message":
        return {"channel": "drills", "text": f"drill {tag}"}
    if tool == "open_draft_pr":
        return {"branch": f"drill/{tag}", "title": f"Drill {tag}", "files": {f"drills/{tag}.txt": f"{tag}\n"}}
    if tool == "migrate_database":
        return {
            "description": f"drill {tag}",
            "statements": [
                f"INSERT INTO customers (name, email, plan) VALUES ('Drill {tag}', 'drill-{tag}@example.com', 'free')",
                f"UPDATE customers SET country = '{rng.choice(['GB', 'US', 'NL', 'FR'])}' WHERE id = {1 + i % 5}",
            ],
        }
    if tool == "charge":
        return {"account": "ops", "amount_cents": rng.randint(1, 9), "memo": f"drill {tag}"}
    if tool == "wire_transfer":
        return {"from_account": "ops", "to_iban": "DE89370400440532013000", "amount_cents": rng.randint(1, 9)}
    raise AssertionError(tool)


def make_plan(seed: int) -> Plan:
    """The session and the kill point for a seed; the same seed always gives the same plan."""
    rng = random.Random(seed)
    boundary = _CYCLE[seed % len(_CYCLE)]
    mode = MODES[(seed // len(_CYCLE)) % len(MODES)]
    n = rng.randint(2, 4)
    names = [rng.choice(list(DEMO_TOOLS)) for _ in range(n)]
    target = rng.randrange(n)
    # The target call cycles through the tools; an undo boundary needs a tool with an undo.
    pool = COMPENSABLE if boundary in _UNDO_BOUNDARIES else list(DEMO_TOOLS)
    names[target] = pool[(seed // 3) % len(pool)]
    calls = [(name, demo_args(name, seed, i + 1, rng)) for i, name in enumerate(names)]
    branches = {i + 1: args["branch"] for i, (name, args) in enumerate(calls) if name == "open_draft_pr"}
    return Plan(
        seed=seed,
        calls=calls,
        mode=mode,
        boundary=boundary,
        target=f"c{target + 1}",
        race_delay=rng.uniform(0, 0.004),
        kill_after=rng.uniform(0.005, 0.25),
        undo_window=rng.choice([0.0, 0.05, 30.0]),
        chat_delay=rng.choice([0.0, 30.0]),
        branches=branches,
    )


# -- the child -------------------------------------------------------------------


class _Hooks:
    """Where the child tells the driver it reached the target boundary (and, to pause, stops)."""

    def __init__(self, plan: Plan, fd: int) -> None:
        self.plan = plan
        self.fd = fd

    def say(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def hit(self, call_id: str, boundary: str) -> None:
        plan = self.plan
        if plan.mode == "timed" or call_id != plan.target or boundary != plan.boundary:
            return
        self.say(f"at {boundary} {call_id}")
        if plan.mode == "pause":
            time.sleep(60)  # the whole process stops here; the driver kills it


def _hooked_tool(cls: type[Tool], hooks: _Hooks) -> Tool:
    """An instance of the demo tool that reports the boundaries inside prepare, commit and compensate."""

    class Hooked(cls):  # type: ignore[valid-type, misc]
        async def prepare(self, args: Any, ctx: ToolContext) -> Any:
            prepared = await super().prepare(args, ctx)
            hooks.hit(ctx.call_id, "in_prepare")
            return prepared

        async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
            hooks.hit(ctx.call_id, "before_effect")
            receipt: dict[str, Any] = await super().commit(prepared, ctx)
            hooks.hit(ctx.call_id, "after_effect")
            return receipt

    if cls.can_compensate():

        async def compensate(self: Hooked, receipt: Any, ctx: ToolContext) -> Any:
            result = await super(Hooked, self).compensate(receipt, ctx)
            hooks.hit(ctx.call_id, "after_undo_effect")
            return result

        Hooked.compensate = compensate
    Hooked.__name__ = Hooked.__qualname__ = cls.__name__
    return Hooked()


def _hook_journal(journal: Journal, hooks: _Hooks) -> None:
    """Report the boundaries right after the journal writes that end them (each is committed by then)."""
    plan_call, transition, fence = journal.plan_call, journal.transition, journal.fence

    async def hooked_plan(session_id: str, **fields: Any) -> str:
        call_id = await plan_call(session_id, **fields)
        hooks.hit(call_id, "after_planned")
        return call_id

    async def hooked_transition(session_id: str, call_id: str, state: CallState, **kw: Any) -> int:
        seq = await transition(session_id, call_id, state, **kw)
        hooks.hit(call_id, f"after_{state.value}")
        return seq

    async def hooked_fence(session_id: str, call_id: str, *args: Any, **kw: Any) -> tuple[FenceRefusal, str] | None:
        verdict = await fence(session_id, call_id, *args, **kw)
        if verdict is None:
            hooks.hit(call_id, "after_fence")
        return verdict

    journal.plan_call = hooked_plan  # type: ignore[method-assign]
    journal.transition = hooked_transition  # type: ignore[method-assign]
    journal.fence = hooked_fence  # type: ignore[method-assign]


async def _session(journal_path: str, plan: Plan, fd: int) -> None:
    hooks = _Hooks(plan, fd)
    os.environ[UNDO_WINDOW_ENV] = str(plan.undo_window)
    os.environ[CHAT_DELAY_ENV] = str(plan.chat_delay)
    tools = [_hooked_tool(cls, hooks) for cls in DEMO_TOOLS.values()]
    async with Journal.open(journal_path, busy_timeout=10) as journal:
        _hook_journal(journal, hooks)
        sup = Supervisor(
            journal, tools, GrantSpec(), task_name=f"crash drill seed {plan.seed}", meta={"seed": plan.seed}
        )
        await sup.start()
        hooks.say(f"session {sup.session_id}")
        for name, args in plan.calls:
            try:
                await sup.call(name, args)
            except AgentstopError:
                pass  # a refused or failed call is part of the story; the journal has it
        await sup.undo_all()
        await sup.close()
    hooks.say("finished")


# -- the driver ------------------------------------------------------------------


def _become_subreaper() -> None:
    # PR_SET_CHILD_SUBREAPER: orphans of a killed child (git push) become ours to wait for.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap_orphans(within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.002)


def _lines(fd: int, buf: bytearray, timeout: float) -> list[str] | None:
    """Complete lines from the child within `timeout` ([] if none yet); None at end of file."""
    ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
    if not ready:
        return []
    chunk = os.read(fd, 4096)
    if not chunk:
        return None
    buf.extend(chunk)
    *done, rest = buf.decode().split("\n")
    buf[:] = rest.encode()
    return done


def run_one(journal_path: str, plan: Plan, limit: float = 30.0) -> dict[str, Any]:
    """Fork one session, kill it where the plan says, wait for it and its orphans; return what happened."""
    began = time.monotonic()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(r)
        code = 0
        try:
            anyio.run(_session, journal_path, plan, w)
        except BaseException:
            os.write(w, ("error " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
            code = 1
        os._exit(code)
    os.close(w)
    result: dict[str, Any] = {
        "seed": plan.seed,
        "mode": plan.mode,
        "boundary": plan.boundary,
        "target": plan.target,
        "session_id": None,
        "reached": None,
        "detail": "",
    }
    finished = False
    try:
        finished = _watch(r, plan, result, limit)
    finally:
        if not finished:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            result["killed_at"] = time.monotonic()
        _, status = os.waitpid(pid, 0)
        os.close(r)
    result["killed"] = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and not finished
    if not os.WIFSIGNALED(status):
        result["exit_code"] = os.WEXITSTATUS(status)
    _reap_orphans()
    result["branches"] = {f"c{i}": b for i, b in plan.branches.items()}
    result["elapsed"] = round(time.monotonic() - began, 4)
    return result


def _watch(fd: int, plan: Plan, result: dict[str, Any], limit: float) -> bool:
    """Follow the child until it is time to kill it (False) or it ended by itself (True)."""
    buf = bytearray()
    deadline = time.monotonic() + limit
    kill_at: float | None = None
    while True:
        now = time.monotonic()
        if kill_at is not None and now >= kill_at:
            return False
        if now >= deadline:
            result["detail"] = f"no kill point reached within {limit} s"
            return False
        if kill_at is not None and kill_at - now < 0.002:
            while time.monotonic() < kill_at:  # busy wait: sleeping is too coarse for a few ms
                pass
            return False
        lines = _lines(fd, buf, min(deadline, kill_at or deadline) - now - (0.002 if kill_at else 0.0))
        if lines is None:
            return True  # the child exited by itself
        for line in lines:
            word, _, rest = line.partition(" ")
            if word == "session":
                result["session_id"] = rest
                result["started"] = round(time.monotonic() - deadline + limit, 4)
                if plan.mode == "timed":
                    kill_at = time.monotonic() + plan.kill_after
            elif word == "at":
                result["reached"] = rest
                kill_at = time.monotonic() + (plan.race_delay if plan.mode == "race" else 0.0)
            elif word == "finished":
                result["finished"] = True
            elif word == "error":
                result["detail"] = rest


async def _warm_up(path: str) -> None:
    async with Journal.open(path) as journal:
        await Supervisor(journal, [], GrantSpec(), task_name="warm-up").start()
        await anyio.to_thread.run_sync(lambda: None)


def main(argv: list[str]) -> int:
    """`JOURNAL SEED...`: one JSON line per seed on stdout."""
    journal_path, seeds = argv[0], [int(s) for s in argv[1:]]
    _become_subreaper()
    # Warm up once (anyio's backend, aiosqlite, the lazy imports) so each fork starts in milliseconds.
    # It leaves no thread behind: anyio.run stops its workers when it returns.
    anyio.run(_warm_up, f"{journal_path}.warm-up")
    for seed in seeds:
        plan = make_plan(seed)
        result = run_one(journal_path, plan)
        result["calls"] = [name for name, _ in plan.calls]
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
