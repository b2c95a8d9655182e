"""Drill: SIGKILL `agentstop mcp-proxy` with calls in flight; the report agrees with the world afterwards.

An MCP host (the SDK's `Client`, as Claude Desktop would be) starts the proxy
over stdio and fires a seeded mix of concurrent calls at the fixture server
(tests/mcp/servers/fixture_server.py): quick `write_note`s and `slow_write`s that
sleep before they write. When the journal holds its k-th event (k seeded, so the
kill lands before the session, between calls, at a fence or mid-commit), the
proxy is SIGKILLed with its process group (the upstream server dies with it, as
a crash takes both). Then, from fresh commands, on SQLite and PostgreSQL:

- `agentstop report` recovers the dead session: no call is left `committing`
  (every call has a probe in the overlay, so recovery can always ask the
  server), and each call's place agrees with the notes on disk: Done holds
  exactly the notes that landed, Interrupted none that did;
- `agentstop undo --all` then takes every landed note back: the notes
  directory is empty, and the report says nothing is left to undo.

CI drills 2 seeds per backend; AGENTSTOP_DRILL_FULL=1 drills 20; AGENTSTOP_DRILL_SEEDS=3,7 replays seeds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.drills.kill_moments import call_states, drill_journal, last_seq, seeds
from tests.drills.stats import record

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_PY = ROOT / "tests" / "mcp" / "servers" / "fixture_server.py"
COMMAND_TIMEOUT = 60.0
#: About how many journal events the workload writes (the session, each call's planned..committed, its end).
EVENTS = 30
OVERLAY = """\
fixture:
  read_note: {class: read_only}
  write_note:
    class: compensable
    compensate: {tool: delete_note, args: {name: {jmes: args.name}}}
    probe: {tool: read_note, args: {name: {jmes: args.name}}, done_if: "result.structured_content.exists"}
  slow_write:
    class: compensable
    compensate: {tool: delete_note, args: {name: {jmes: args.name}}}
    probe: {tool: read_note, args: {name: {jmes: args.name}}, done_if: "result.structured_content.exists"}
"""
#: Writes its pid to argv[1], then becomes `agentstop ARGV[2:]`: the SDK's stdio client starts it as the leader
#: of a process group of its own, so the drill can kill the proxy and the server it started at once.
LAUNCH = (
    "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid())); "
    "os.execv(sys.executable, [sys.executable, '-m', 'agentstop', *sys.argv[2:]])"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _agentstop(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def _task(directory: Path, state: Path) -> Path:
    (directory / "overlay.yaml").write_text(OVERLAY)
    env = json.dumps({"FIXTURE_DIR": str(state)})
    task = directory / "proxy.yaml"
    task.write_text(
        textwrap.dedent(
            f"""\
            name: proxy kill drill
            mcp_servers:
              fixture: {{command: {json.dumps(sys.executable)}, args: [{json.dumps(str(FIXTURE_PY))}], env: {env}}}
            mcp_overlay: overlay.yaml
            grant: {{tools: ['*'], ttl: 10m}}
            stop: {{grace: 0.3s}}
            """
        )
    )
    return task


def _workload(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """A seeded mix of quick and slow writes, each to a note of its own."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for i in range(rng.randint(3, 6)):
        if rng.random() < 0.3:
            calls.append(("fixture__slow_write", {"name": f"n{i}", "seconds": round(rng.uniform(0.05, 0.4), 3)}))
        else:
            calls.append(("fixture__write_note", {"name": f"n{i}", "text": f"text {i}"}))
    return calls


async def _host_until_killed(task: Path, target: str, kill_at: int, calls: list[tuple[str, dict[str, Any]]]) -> str:
    """Be the MCP host: fire the calls (a seeded part at once, the rest one after another) and SIGKILL the proxy's
    process group once the journal holds `kill_at` events, or once every call has answered. How the kill landed."""
    pidfile = task.parent / "proxy.pid"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", LAUNCH, str(pidfile), "mcp-proxy", "--task", str(task), "--journal", target],
        env={"PYTHONPATH": _env()["PYTHONPATH"]},
        cwd=task.parent,
    )
    answered = anyio.Event()
    how = "the host never got to kill the proxy"

    async def kill() -> None:
        nonlocal how
        while last_seq(target) < kill_at and not answered.is_set():
            await anyio.sleep(0.002)
        caught = sorted({s for s in call_states(target).values() if s in {"committing", "prepared", "planned"}})
        how = "killed after every call answered" if answered.is_set() else f"killed at event {kill_at}"
        if caught and not answered.is_set():
            how += f" with a call {'/'.join(caught)}"
        os.killpg(int(pidfile.read_text()), signal.SIGKILL)

    async def call(client: Client, name: str, args: dict[str, Any]) -> None:
        with suppress(Exception):  # the proxy dies under it
            await client.call_tool(name, args)

    with (task.parent / "proxy.err").open("w") as errlog, suppress(Exception):
        async with Client(stdio_client(params, errlog=errlog)) as client, anyio.create_task_group() as tg:
            tg.start_soon(kill)
            async with anyio.create_task_group() as calling:
                for name, args in calls:
                    calling.start_soon(call, client, name, args)
                    await anyio.lowlevel.checkpoint()  # the next one goes out while this one is in flight
            answered.set()
    return how


def _notes(state: Path) -> dict[str, str]:
    notes = state / "notes"
    return {p.name: p.read_text() for p in notes.iterdir()} if notes.is_dir() else {}


def _drill(seed: int, target: str, tmp: Path) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    state = tmp / "fixture-state"
    state.mkdir()
    task = _task(tmp, state)
    calls = _workload(rng)
    kill_at = rng.randint(1, EVENTS)
    how = anyio.run(_host_until_killed, task, target, kill_at, calls)
    where = f"seed {seed} ({how}; calls {[(n, a['name']) for n, a in calls]})"
    if how.startswith("the host never"):
        return how, [f"{where}: the proxy did not start: {(tmp / 'proxy.err').read_text()[-2000:]}"]
    problems: list[str] = []

    done = _agentstop(tmp, "report", "--journal", target, "--session", "latest", "--json")
    if done.returncode not in (0, 1) or not done.stdout.strip():
        return how, [f"{where}: report exited {done.returncode}: {done.stderr}"]
    report = json.loads(done.stdout)
    left = {k: s for k, s in call_states(target).items() if s in {"committing", "compensating"}}
    if left:
        problems.append(f"{where}: recovery left {left}")
    notes = _notes(state)
    landed = {item["args"]["name"] for item in report["done"]}
    unknown = {item["args"]["name"] for item in report["in_flight"]}
    for item in report["done"]:
        name = item["args"]["name"]
        want = item["args"].get("text", "slow")
        if notes.get(name) != want:
            problems.append(f"{where}: Done holds {item['call_id']} ({name}) but the note is {notes.get(name)!r}")
    for name in set(notes) - landed - unknown:
        problems.append(f"{where}: note {name} landed but the report does not say Done: {json.dumps(report)}")
    if unknown:
        problems.append(f"{where}: recovery could not settle {sorted(unknown)} though every call has a probe")

    done = _agentstop(tmp, "undo", "--journal", target, "--all")
    if done.returncode != 0:
        problems.append(f"{where}: undo --all exited {done.returncode}: {done.stdout}{done.stderr}")
    if _notes(state):
        problems.append(f"{where}: after undo --all the notes {sorted(_notes(state))} are still there")
    done = _agentstop(tmp, "report", "--journal", target, "--session", "latest", "--json")
    after = json.loads(done.stdout) if done.stdout.strip() else {}
    if after.get("undoable") or after.get("in_flight"):
        problems.append(f"{where}: after undo --all the report still has {after}")
    return how, problems


@pytest.mark.both_backends
@pytest.mark.timeout(600)
def test_killing_the_mcp_proxy_with_calls_in_flight_leaves_a_report_that_agrees_with_the_notes(
    journal_backend: str, request: pytest.FixtureRequest, scratch: Path
) -> None:
    problems: list[str] = []
    hows: list[str] = []
    for seed in seeds(journal_backend, ci=2, full=20):
        tmp = scratch / f"proxy-{journal_backend}-{seed}-{time.monotonic_ns()}"
        tmp.mkdir()
        with drill_journal(journal_backend, request, tmp) as target:
            how, found = _drill(seed, target, tmp)
        hows.append("killed mid-call" if "with a call" in how else "killed between calls" if "at event" in how else how)
        problems += found
    counts = ", ".join(f"{n} {how}" for how, n in sorted(Counter(hows).items()))
    record(
        f"crash of the MCP proxy ({journal_backend})",
        f"SIGKILL of `agentstop mcp-proxy` with calls in flight: {counts}",
        len(hows),
        "nothing" if not problems else f"{len(problems)} problems",
    )
    assert problems == [], "\n".join(problems)
