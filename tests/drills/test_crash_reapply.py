"""Drill: SIGKILL a session in the middle of a re-apply (undo of an undo) over the demo services, then recover.

For each re-appliable demo tool (the calendar, the production database, git) a
child process (tests/drills/reapply_child.py) makes one call, undoes it, starts
re-applying it and kills itself: right after `reapplying` is durable (the tool
has not begun), or inside the tool's re-apply once its effect has landed
upstream (nothing more journaled). Then this test reopens the journal and, reading
the world's own files:

- before recovery the call is `reapplying` (written ahead of the tool), and the
  world shows the effect exactly when the kill came after it;
- recovery marks the session crashed and records the call `reapply_failed`,
  saying its outcome is unknown; it stays re-appliable; a second recovery
  changes nothing; its events replay through legal moves;
- retrying the re-apply lands it, once: the event booked once, the row inserted
  once (one audit row for the re-apply), the branch at the PR's commit;
- undoing it again takes it out of the world.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import CallState, Journal, ToolRegistry, recover
from agentstop.journal import can_move
from agentstop.supervisor import run_reapply, run_undo
from demo_tools.calendar_tool import CreateEvent
from demo_tools.database import MigrateDatabase
from demo_tools.git_pr import OpenDraftPR
from demo_tools.world_config import WorldConfig
from tests.drills.stats import record
from tests.drills.world_probe import Snapshot

ROOT = Path(__file__).resolve().parents[2]
BOUNDARIES = ("after_reapplying", "after_reapply_effect")
TOOLS = {"create_event": CreateEvent, "migrate_database": MigrateDatabase, "open_draft_pr": OpenDraftPR}


def _args(tool: str, tag: str) -> dict[str, Any]:
    if tool == "create_event":
        return {"title": f"reapply drill {tag}", "start": "2033-03-03T10:00:00+00:00", "calendar": "reapply-drill"}
    if tool == "migrate_database":
        return {
            "description": f"reapply drill {tag}",
            "statements": [
                f"INSERT INTO customers (name, email, plan) VALUES ('Drill {tag}', 'reapply-{tag}@example.com', 'free')"
            ],
        }
    return {"branch": f"reapply-drill/{tag}", "title": f"Re-apply drill {tag}", "files": {f"drills/{tag}.txt": "x\n"}}


def _kill_in_reapply(journal: Path, tool: str, args: dict[str, Any], boundary: str) -> tuple[str, dict[str, Any]]:
    plan = {"tool": f"{TOOLS[tool].__module__}:{TOOLS[tool].__name__}", "call": [tool, args], "boundary": boundary}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "tests.drills.reapply_child", str(journal), json.dumps(plan)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=90,
        check=False,
    )
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert done.returncode == -9 and lines.get("at") == boundary, f"the child was not killed at {boundary}: " + (
        done.stdout + done.stderr
    )
    return lines["session"], json.loads(lines["receipt"])


def _in_world(world: WorldConfig, tool: str, key: str, args: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether the call's effect is in the world now, and what says it is there more than once."""
    snapshot = Snapshot.take(world, [tool])
    if tool == "create_event":
        return key in snapshot.calendar, []
    if tool == "migrate_database":
        email = args["statements"][0].split("'")[3]
        with closing(sqlite3.connect(f"file:{world.database}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT COUNT(*) FROM customers WHERE email = ?", (email,)).fetchone()[0]
        runs = [k for k, kind in snapshot.audit.items() if k.startswith(f"{key}:reapply") and kind == "migration"]
        twice = [f"{rows} rows for {email}"] if rows > 1 else []
        return rows == 1, twice + ([f"{len(runs)} re-apply audit rows"] if len(runs) > 1 else [])
    record_ = snapshot.prs.get(key)
    branch = args["branch"]
    landed = (
        record_ is not None and record_["state"] == "draft" and snapshot.branches.get(branch) == record_["head_sha"]
    )
    return landed, []


def _legal(kinds: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for a, b in itertools.pairwise(kinds) if not can_move(CallState(a), CallState(b))]


async def _recover_retry_undo(
    journal_path: Path, world: WorldConfig, tool: str, session_id: str, args: dict[str, Any], landed_before: bool
) -> list[str]:
    problems: list[str] = []
    registry = ToolRegistry([cls() for cls in TOOLS.values()])
    async with Journal.open(journal_path) as journal:
        call = await journal.call(session_id, "c1")
        if call.state != "reapplying":
            problems.append(f"the killed re-apply is {call.state} in the journal, not reapplying")
        there, _ = _in_world(world, tool, call.idempotency_key, args)
        if there != landed_before:
            problems.append(f"before recovery the effect is {'in' if there else 'not in'} the world")

        first = await recover(journal, registry, session_id)
        [item] = first.report.done
        if not first.marked_crashed or first.reconciled != {"c1": "reapply_failed"}:
            problems.append(f"recovery did {first.reconciled} (crashed: {first.marked_crashed})")
        if (item.state, item.reappliable) != ("reapply_failed", True) or "outcome unknown" not in item.undo.detail:
            problems.append(f"after recovery: {item.state}, re-appliable {item.reappliable}: {item.undo.detail}")
        kinds = [
            e.kind
            for e in await journal.events(session_id)
            if e.call_id == "c1" and e.kind in {s.value for s in CallState}
        ]
        if _legal(kinds):
            problems.append(f"illegal moves in its events: {_legal(kinds)}")
        if (await recover(journal, registry, session_id)).reconciled:
            problems.append("a second recovery changed something")

        [retried] = await run_reapply(journal, registry, session_id, ["c1"], by="drill")
        there, twice = _in_world(world, tool, call.idempotency_key, args)
        if retried.status != "reapplied" or not there or twice:
            problems.append(f"the retry: {retried.status} ({retried.detail}); in the world: {there} {twice}")
        [undone] = await run_undo(journal, registry, session_id, ["c1"], by="drill")
        there, _ = _in_world(world, tool, call.idempotency_key, args)
        if undone.status != "compensated" or there:
            problems.append(f"undo after the retry: {undone.status} ({undone.detail}); still in the world: {there}")
    return problems


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sigkill_during_a_reapply_is_recovered_and_a_retry_does_it_once(scratch: Path, world: WorldConfig) -> None:
    problems: list[str] = []
    kills = 0
    for n, (tool, boundary) in enumerate(itertools.product(TOOLS, BOUNDARIES)):
        journal_path = scratch / f"reapply-{n}.db"
        args = _args(tool, f"{n}-{boundary.replace('_', '-')}")
        session_id, _ = _kill_in_reapply(journal_path, tool, args, boundary)
        kills += 1
        found = anyio.run(
            _recover_retry_undo, journal_path, world, tool, session_id, args, boundary == "after_reapply_effect"
        )
        problems += [f"{tool} killed {boundary}: {p}" for p in found]
    record(
        "crash: SIGKILL during a re-apply",
        "kill after reapplying / after the re-apply's effect",
        kills,
        "nothing" if not problems else f"{len(problems)} problems",
    )
    assert problems == [], "\n".join(problems)
