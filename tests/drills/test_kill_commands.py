"""Drill: SIGKILL every command that writes to the journal at a random moment, over the demo world.

For each seed one command is killed (its whole process group, so a `git push`
it started dies with it) at a seeded moment of its life, over the real demo
calendar, production database and git origin, on SQLite or PostgreSQL:

- `agentstop run` (the agent's commits), `agentstop run --resume latest` (a
  stopped session's next epoch), `agentstop undo --all` (compensations),
  `agentstop undo --reapply --all` (re-applies).

Then, from fresh commands (as a person would run them):

- the next command (`report`) settles everything the dead process left:
  no call is `committing`, `compensating` or `reapplying` (nobody is doing
  that work), and `report` never says "in progress"; each call's events
  replay through legal moves;
- rerunning the killed command finishes it (a killed re-apply, retried,
  inserts its row once, never twice), and a last `undo --all` leaves nothing
  of the seed in the world: no event, no row, no branch on origin (a call
  whose outcome recovery cannot know yet, a cut-off push within its 30 s
  settle time, is left in flight and out of that count).

CI runs one seed per command (two per backend); `AGENTSTOP_KILL_DRILLS=N` runs N
per backend, cycling through the commands; `AGENTSTOP_DRILL_SEEDS=3,7` replays seeds.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from click.testing import CliRunner
from icalendar import Calendar, Event

from agentstop import AgentstopError, CallState, Journal
from agentstop.cli import main
from agentstop.journal import can_move
from demo_tools.world_config import WorldConfig
from tests.drills.kill_moments import drill_journal
from tests.drills.stats import record
from tests.drills.world_probe import Snapshot

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("run", "undo", "reapply", "resume")
#: How long each command works once it has written to the journal, about (the kill comes within it).
WORK_S = {"run": 0.3, "undo": 0.12, "reapply": 0.15, "resume": 0.3}
WORKED = {CallState.COMMITTING, CallState.COMPENSATING, CallState.REAPPLYING}


def _seeds(backend: str) -> list[int]:
    chosen = os.environ.get("AGENTSTOP_DRILL_SEEDS")
    if chosen:
        return [int(s) for s in chosen.split(",")]
    count = int(os.environ.get("AGENTSTOP_KILL_DRILLS", "0"))
    if count:
        return list(range(count)) if backend == "sqlite" else list(range(1000, 1000 + count))
    # CI: each command once, spread over the two backends.
    return [0, 2] if backend == "sqlite" else [1001, 1003]


def _task(tag: str) -> str:
    return f"""\
name: Kill drill {tag}
goal: Book a review, add a customer, open a PR.
agent: {{kind: scripted, tokens_per_second: 0}}
tools: [demo_tools.calendar_tool:CreateEvent, demo_tools.database:MigrateDatabase, demo_tools.git_pr:OpenDraftPR]
grant: {{tools: ["*"], scopes: ["calendar:*", "git:*", "db:production"], ttl: 10m}}
stop: {{grace: 2s}}
steps:
  - {{tool: create_event, args: {{title: "kill drill {tag}", start: "2033-04-04T10:00:00+00:00", calendar: kill}}}}
  - tool: migrate_database
    args:
      description: "kill drill {tag}"
      statements: ["INSERT INTO customers (name, email, plan) VALUES ('K {tag}', '{_email(tag)}', 'free')"]
  - tool: open_draft_pr
    args: {{branch: "kill-drill/{tag}", title: "Kill drill {tag}", files: {{"drills/{tag}.txt": "x"}}}}
"""


def _email(tag: str) -> str:
    return f"kill-{tag}@example.com"


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _last_seq(target: str) -> int:
    """The journal's latest event seq, read raw (no recovery, no migration); 0 while there is none."""
    try:
        if target.startswith("postgresql://"):
            with psycopg.connect(target, connect_timeout=5) as conn:
                row = conn.execute("SELECT MAX(seq) FROM events").fetchone()
        else:
            if not Path(target).exists():
                return 0
            with closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True, timeout=5)) as conn:
                row = conn.execute("SELECT MAX(seq) FROM events").fetchone()
    except (sqlite3.Error, psycopg.Error):
        return 0  # the schema is still being created
    return int(row[0] or 0) if row else 0


def _kill_in_work(target: str, extra: float, cwd: Path, *args: str) -> int | None:
    """Run `agentstop ARGS` in a process group of its own; `extra` s after its first journal write, SIGKILL
    the group. Its exit code if it finished first, else None."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    before = _last_seq(target)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentstop", *args],
        env=env,
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    try:
        while _last_seq(target) == before:  # the kill moment is chosen inside the command's work
            if proc.poll() is not None:
                return proc.returncode
            assert time.monotonic() < deadline, f"agentstop {' '.join(args)} wrote nothing in 60 s"
            time.sleep(0.005)
        return proc.wait(timeout=extra)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _world(world: WorldConfig, tag: str) -> dict[str, int]:
    """How many of the seed's effects the world holds, read from its own files."""
    snapshot = Snapshot.take(world, ["open_draft_pr"])
    events = 0
    ics = Path(world.dir) / "calendar.ics"
    if ics.exists():
        cal = Calendar.from_ical(ics.read_bytes())
        events = sum(
            1 for e in cal.walk("VEVENT") if isinstance(e, Event) and str(e.get("summary")) == f"kill drill {tag}"
        )
    with closing(sqlite3.connect(f"file:{world.database}?mode=ro", uri=True, timeout=10)) as db:
        rows = db.execute("SELECT COUNT(*) FROM customers WHERE email = ?", (_email(tag),)).fetchone()[0]
    return {
        "create_event": events,
        "migrate_database": int(rows),
        "open_draft_pr": int(f"kill-drill/{tag}" in snapshot.branches),
    }


async def _has_session(target: str) -> bool:
    if not target.startswith("postgresql://") and not Path(target).exists():
        return False
    try:
        async with Journal.open(target, readonly=True) as journal:
            return bool(await journal.sessions())
    except AgentstopError:
        return False  # killed while it created the journal's schema: no session in it


async def _calls(target: str) -> tuple[dict[str, Any], list[str]]:
    async with Journal.open(target, readonly=True) as journal:
        [session] = await journal.sessions()
        sid = session.session_id
        calls = {c.call_id: c for c in await journal.calls(sid)}
        events = await journal.events(sid)
    illegal = []
    for cid in calls:
        kinds = [e.kind for e in events if e.call_id == cid and e.kind in {s.value for s in CallState}]
        illegal += [
            f"{cid}: {a} -> {b}" for a, b in itertools.pairwise(kinds) if not can_move(CallState(a), CallState(b))
        ]
    return calls, illegal


def _settled_problems(target: str, where: str) -> list[str]:
    """After the command that follows a kill: nothing left mid-work, legal histories, no "in progress"."""
    code, out, err = _cli("report", "--journal", target)
    problems = [f"{where}: report exited {code}: {err}"] if code not in (0, 1) else []
    if "in progress" in out:
        problems.append(f"{where}: the report says 'in progress' for work nobody is doing:\n{out}")
    calls, illegal = anyio.run(_calls, target)
    problems += [f"{where}: illegal move {m}" for m in illegal]
    problems += [
        f"{where}: {c.call_id} ({c.tool}) left {c.state}" for c in calls.values() if CallState(c.state) in WORKED
    ]
    return problems


def _drill(seed: int, target: str, world: WorldConfig, tmp: Path) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    command = COMMANDS[seed % len(COMMANDS)]
    tag = f"s{seed}-{os.getpid()}-{rng.randrange(10**6)}"
    task = tmp / f"kill-{tag}.yaml"
    task.write_text(_task(tag))
    delay = rng.uniform(0.0, WORK_S[command])
    problems: list[str] = []

    if command == "resume":
        code, _, err = _cli("run", str(task), "--headless", "--stop-after", "0", "--journal", target)
        assert code == 1, err
    elif command != "run":
        code, _, err = _cli("run", str(task), "--headless", "--journal", target)
        assert code == 0, err
        if command == "reapply":
            code, out, err = _cli("undo", "--journal", target, "--all")
            assert code == 0, out + err
    argv = {
        "run": ["run", str(task), "--headless", "--journal", target],
        "resume": ["run", str(task), "--headless", "--resume", "latest", "--journal", target],
        "undo": ["undo", "--journal", target, "--all"],
        "reapply": ["undo", "--journal", target, "--reapply", "--all"],
    }[command]
    finished = _kill_in_work(target, delay, tmp, *argv)
    where = (
        f"seed {seed}: {command} killed {delay:.3f} s after its first write"
        if finished is None
        else f"seed {seed}: {command} (done)"
    )
    if command == "run" and not anyio.run(_has_session, target):
        return "killed as it created the journal", []  # nothing to recover: no session in it yet
    if finished is None:
        caught = sorted({c.state for c in anyio.run(_calls, target)[0].values() if CallState(c.state) in WORKED})
        how = f"killed with a call {'/'.join(caught)}" if caught else "killed between steps"
    else:
        how = "finished first"
    problems += _settled_problems(target, where)

    # The killed command, rerun, finishes its work; then undo takes everything back.
    if command == "reapply":
        code, out, err = _cli("undo", "--journal", target, "--reapply", "--all")
        if code != 0:
            problems.append(f"{where}: the rerun of --reapply exited {code}: {out}{err}")
        rows = _world(world, tag)["migrate_database"]
        if rows != 1:
            problems.append(f"{where}: after the rerun re-apply the database has {rows} rows of it, not 1")
    code, out, err = _cli("undo", "--journal", target, "--all")
    calls, _ = anyio.run(_calls, target)
    in_flight = {c.tool for c in calls.values() if c.state == CallState.UNKNOWN}
    if code != 0 and not in_flight:
        problems.append(f"{where}: the last undo --all exited {code}: {out}{err}")
    left = {tool: n for tool, n in _world(world, tag).items() if n and tool not in in_flight}
    if left:
        problems.append(
            f"{where}: after the last undo the world still holds {left}; journal: "
            + json.dumps({c.call_id: c.state for c in calls.values()})
        )
    return how, problems


@pytest.mark.both_backends
@pytest.mark.timeout(300)
def test_killing_any_journal_writing_command_at_a_random_moment_loses_nothing(
    journal_backend: str, request: pytest.FixtureRequest, world: WorldConfig, scratch: Path
) -> None:
    problems: list[str] = []
    outcomes: dict[str, list[str]] = {c: [] for c in COMMANDS}
    for seed in _seeds(journal_backend):
        tmp = scratch / f"kill-{journal_backend}-{seed}-{time.monotonic_ns()}"
        tmp.mkdir()
        with drill_journal(journal_backend, request, tmp) as target:
            how, found = _drill(seed, target, world, tmp)
        outcomes[COMMANDS[seed % len(COMMANDS)]].append(how)
        problems += found
    for command, hows in outcomes.items():
        if hows:
            counts = ", ".join(f"{n} {how}" for how, n in sorted(Counter(hows).items()))
            record(
                f"crash: SIGKILL of a command ({journal_backend})",
                f"`{command}` at a random moment: {counts}",
                len(hows),
                "nothing" if not problems else f"{len(problems)} problems",
            )
    assert problems == [], "\n".join(problems)
