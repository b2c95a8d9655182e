"""`run_cli`: run a coding CLI as a child, every tool call it makes behind the fence, one session per run.

The CLI gets agentstop's hooks for this run only (Claude Code: a generated settings file passed with
`--settings`, merged with any `--settings` the user gave; Codex: a `CODEX_HOME` of the run's, see `codex`;
their own settings files are never touched), pointed at a
resident endpoint on 127.0.0.1 that this process owns (`HookServer`). Stop, from anywhere (`agentstop
stop`, the TUI attached from another terminal, a revoke on a shared PostgreSQL journal), revokes the grant
first, so every later PreToolUse is refused, then interrupts the CLI the way its own Ctrl+C does: SIGINT.
The CLI runs each Bash command in a session of its own, so a signal to the CLI's process group misses it:
the escalation kills, by process group, whatever the CLI had started that still runs after a grace.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

from agentstop.errors import AgentstopError
from agentstop.journal import Journal
from agentstop.report import Report
from agentstop.supervisor import Supervisor

from .codex import codex_command, codex_hooks, prepare_home
from .policy import CliPolicy
from .server import SECRET_ENV, HookServer
from .settings import claude_settings, merge_hooks, split_settings_arg
from .tools import all_tools, tool_for
from .transcript import refused_by_cli

__all__ = ["ESCALATE_AFTER", "CliRun", "descendants", "find_cli", "run_cli"]

ESCALATE_AFTER = 2.0
"""Seconds after the SIGINT before the tool processes the CLI started are killed (by process group)."""


@dataclass(frozen=True)
class CliRun:
    """One run of a coding CLI under agentstop.

    Attributes:
        kind: "claude" (Claude Code) or "codex".
        args: the CLI's own arguments, as the user gave them after `--`.
        policy: the grant and the overlay.
        project: the directory the CLI works in (file scopes are relative to it).
    """

    kind: str
    args: list[str]
    policy: CliPolicy
    project: Path


def find_cli(kind: str) -> str:
    """The CLI's executable: `$AGENTSTOP_CLAUDE` / `$AGENTSTOP_CODEX`, else `claude` / `codex` on PATH."""
    override = os.environ.get(f"AGENTSTOP_{kind.upper()}")
    found = override or shutil.which(kind)
    if not found:
        raise AgentstopError(
            f"cannot find the {kind} CLI on PATH; install it, or point ${'AGENTSTOP_' + kind.upper()} at its executable"
        )
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc; empty elsewhere), nearest first."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="latin-1") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    queue = list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def _exists(pid: int) -> bool:
    """True while `pid` is a process that is not a zombie (a reaped-later child counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="latin-1") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_groups(pids: list[int]) -> list[int]:
    """SIGKILL the process groups of `pids` (never our own); returns the groups signalled."""
    ours = os.getpgrp()
    groups: list[int] = []
    for pid in pids:
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            continue
        if group != ours and group not in groups:
            groups.append(group)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:  # any left in our own group
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return groups


async def _interrupt(process: Process, stopped: anyio.Event, note: Callable[[str], None]) -> None:
    """After Stop (the grant already revoked): SIGINT to the CLI, then kill what it started if still running."""
    await stopped.wait()
    tree = descendants(process.pid)  # before the signal: the CLI may exit and orphan its tool processes
    note("agentstop: stopped; interrupting the CLI (SIGINT)")
    try:
        process.send_signal(signal.SIGINT)
    except ProcessLookupError:
        pass
    with anyio.move_on_after(ESCALATE_AFTER):
        await process.wait()
    alive = [pid for pid in {*tree, *descendants(process.pid)} if _exists(pid)]
    if alive:
        groups = _kill_groups(alive)
        note(f"agentstop: killed {len(alive)} process(es) the CLI had started (groups {groups})")
    if process.returncode is None:
        with anyio.move_on_after(ESCALATE_AFTER):
            await process.wait()
        if process.returncode is None:
            process.kill()


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run_cli(
    journal: Journal,
    run: CliRun,
    *,
    on_started: Callable[[Supervisor], None] | None = None,
) -> tuple[int, Report]:
    """Run the CLI to its end (or Stop); returns (exit status, the session's report).

    The status is the CLI's own, except after a Stop: 1 (the CLI exits 0 after its SIGINT).
    """
    executable = find_cli(run.kind)
    rest, theirs = split_settings_arg(run.args) if run.kind == "claude" else (run.args, {})
    words = [a for a in rest if not a.startswith("-")]
    prompt = (words[0] if run.kind == "claude" else words[-1]) if words else ""
    sup = Supervisor(
        journal,
        all_tools(),
        run.policy.grant,
        task_name=f"{run.kind}: {prompt[:60]}".strip(": "),
        goal=prompt,
        task_path=run.policy.path,
        grace=0.5,
        meta={"coding_cli": run.kind, "project": str(run.project), "argv": run.args[:40]},
    )
    stopped = anyio.Event()
    sup.on_stop(stopped.set)
    status = 0
    async with sup:
        if on_started is not None:
            on_started(sup)
        gate = sup.hook_gate(tool_for)
        secret = secrets.token_urlsafe(32)
        with tempfile.TemporaryDirectory(prefix="agentstop-hooks-") as tmp:
            async with HookServer(gate, secret, run.policy.asks, deny_only=run.kind == "codex") as server:
                env = {
                    **os.environ,
                    SECRET_ENV: secret,
                    "AGENTSTOP_PROJECT": str(run.project),
                    "AGENTSTOP_SESSION": sup.session_id,
                }
                command = [executable, *await _cli_args(run, executable, rest, theirs, server.url, Path(tmp), env)]
                # The user's Ctrl+C goes to the whole foreground group: it is the CLI's to handle (it
                # interrupts its step, as without agentstop); agentstop's Stop is `agentstop stop` or the TUI.
                previous = signal.signal(signal.SIGINT, lambda *_: None)
                try:
                    process = await anyio.open_process(
                        command, stdin=None, stdout=None, stderr=None, env=env, cwd=str(run.project)
                    )
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(_interrupt, process, stopped, _note)
                        status = await process.wait()
                        if stopped.is_set():
                            # Let the interruption finish killing what the CLI left behind.
                            with anyio.move_on_after(ESCALATE_AFTER + 1):
                                while any(_exists(p) for p in descendants(process.pid)):
                                    await anyio.sleep(0.05)
                        tg.cancel_scope.cancel()
                finally:
                    signal.signal(signal.SIGINT, previous)
                why = "the CLI was interrupted by Stop" if sup.stopping else "the CLI exited"
                await gate.settle(why, refused_by_cli(server.transcripts))
    report = await Report.from_journal(journal, sup.session_id)
    return (1 if sup.stopping else status), report


async def _cli_args(
    run: CliRun, executable: str, rest: list[str], theirs: dict[str, Any], url: str, tmp: Path, env: dict[str, str]
) -> list[str]:
    """The CLI's arguments with agentstop's hooks added for this run (the env gets what the CLI needs)."""
    kind = run.kind
    if kind == "codex":
        # The forwarder gives up (exit 2: blocked) before Codex's own timeout, which would let the tool run.
        forward_timeout = float(env.get("AGENTSTOP_HOOK_TIMEOUT") or 60)
        env["AGENTSTOP_HOOK_TIMEOUT"] = str(forward_timeout)
        home = tmp / "codex-home"
        hooks = codex_hooks(codex_command(url), int(forward_timeout) + 30)
        await prepare_home(executable, home, hooks, run.project, env)
        env["CODEX_HOME"] = str(home)
        return rest
    if kind == "claude":
        settings = merge_hooks(theirs, claude_settings(url)) if theirs else claude_settings(url)
        path = tmp / "settings.json"
        path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        path.chmod(0o600)
        return ["--settings", str(path), *rest]
    raise AgentstopError(
        f"agentstop does not know the coding CLI {kind!r}; use `agentstop claude` or `agentstop codex`"
    )
