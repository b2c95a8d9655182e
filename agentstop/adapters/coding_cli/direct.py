"""The installed command hook: one short process per hook event that opens the journal and runs the gate itself.

For people who start Claude Code or Codex themselves (`agentstop hooks install`): no resident agentstop process,
so each hook event is a process of its own (`python -I -S direct.py --sys-path ... --journal J --cli KIND`; the
`--sys-path` entries are the installing interpreter's, so `-S` skips site-packages processing and `-I` the
user's environment and working directory). It reads the hook's JSON on stdin and:

- `PreToolUse`: finds or creates the agentstop session of the CLI's `session_id` (`claude-code-<id>` /
  `codex-<id>`) with its grant, owned by the CLI's process (the first ancestor that is not a shell), so
  `agentstop report` counts it alive while the CLI runs and crashed once the CLI died without ending it; then
  plan + prepare + fence (`HookGate.before`). A refusal because the grant was revoked (`agentstop stop`, the
  TUI) ends the session as stopped: nobody else is there to do it;
- `PostToolUse` / `PostToolUseFailure`: the outcome (`HookGate.after`);
- `SessionEnd`: settles the calls that never got a Post and ends the session.

Any failure prints the reason on stderr and exits 2 (blocked): Claude Code reads that with the hook's
`"onFailure": "block"`, Codex reads exit 2 as a block.
"""

from __future__ import annotations

import os
import sys
from typing import Any

BLOCKED = 2
_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "fish", "busybox", "env"}


def cli_pid(start: int | None = None) -> int:
    """The CLI's process: the first ancestor of this hook that is not a shell (Linux /proc; else the parent)."""
    pid = start if start is not None else os.getppid()
    for _ in range(8):
        try:
            with open(f"/proc/{pid}/stat", encoding="latin-1") as f:
                stat = f.read()
        except OSError:
            return pid
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if name not in _SHELLS or parent <= 1:
            return pid
        pid = parent
    return pid


def add_paths(argv: list[str]) -> None:
    """Put the installer's `--sys-path` entries first on sys.path (before anything but the stdlib is imported)."""
    for i, arg in enumerate(argv):
        value = (
            argv[i + 1]
            if arg == "--sys-path" and i + 1 < len(argv)
            else arg.split("=", 1)[1]
            if arg.startswith("--sys-path=")
            else None
        )
        if value is not None:
            for entry in reversed([p for p in value.split(os.pathsep) if p]):
                if entry not in sys.path:
                    sys.path.insert(0, entry)


def main(argv: list[str]) -> int:
    """Parse the arguments, put the installer's paths on sys.path, and answer one hook event."""
    import argparse

    parser = argparse.ArgumentParser(prog="agentstop-hook")
    parser.add_argument("--sys-path", default="")
    parser.add_argument("--journal", required=True)
    parser.add_argument("--task", default=None)
    parser.add_argument("--cli", required=True, choices=["claude-code", "codex"])
    args = parser.parse_args(argv[1:])
    add_paths(argv)
    body = sys.stdin.buffer.read()
    try:
        import json

        import anyio

        payload = json.loads(body or b"{}")
        if not isinstance(payload, dict):
            raise ValueError("the hook's input is not a JSON object")
        answer = anyio.run(_answer, payload, args.journal, args.task, args.cli)
    except Exception as exc:  # fail closed: the CLI blocks the tool on exit 2
        sys.stderr.write(
            f"agentstop hook: the fence could not answer ({type(exc).__name__}: {exc}); the tool was blocked\n"
        )
        return BLOCKED
    sys.stdout.write(json.dumps(answer))
    return 0


async def _answer(payload: dict[str, Any], journal_at: str, task: str | None, kind: str) -> dict[str, object]:
    from pathlib import Path

    from agentstop.journal import Journal, SessionStatus
    from agentstop.redact import Redactor
    from agentstop.supervisor import HookGate
    from agentstop.supervisor.calls import CallPath
    from agentstop.tools import Tool, ToolRegistry
    from agentstop.tools.registry import import_path

    from .policy import load_policy
    from .server import answer_hook
    from .tools import all_tools, tool_for

    event = str(payload.get("hook_event_name") or "")
    if event not in ("PreToolUse", "PostToolUse", "PostToolUseFailure", "SessionEnd"):
        return {}
    if isinstance(payload.get("cwd"), str):
        os.environ["AGENTSTOP_PROJECT"] = str(payload["cwd"])  # file scopes are relative to the CLI's project
    session_id = f"{kind}-{payload.get('session_id') or 'unknown'}"
    policy = load_policy(Path(task) if task else None)
    registry = ToolRegistry(all_tools())
    tool = str(payload.get("tool_name") or "")
    if tool and tool not in registry:
        registry.add(tool_for(tool))
    async with Journal.open(journal_at) as journal:
        known = {s.session_id: s for s in await journal.sessions()}
        if session_id not in known:
            if event != "PreToolUse":
                return {}  # an outcome for a call agentstop never saw (installed mid-session)
            await _create(journal, session_id, kind, payload, policy.grant, [import_path(t) for t in registry])
        grants = await _grants(journal, session_id)
        path = CallPath(journal, registry, Redactor(), session_id, lambda: grants[-1].grant_id)

        async def adopt(cls: type[Tool]) -> str:
            instance = registry.add(cls) if cls.name not in registry else registry.get(cls.name)
            await journal.add_session_tool(session_id, None, instance.name)
            return instance.name

        gate = HookGate(path, tool_for, adopt)
        if event == "SessionEnd":
            await gate.settle("the CLI's session ended")
            if (await journal.session(session_id)).status == SessionStatus.RUNNING:
                await journal.end_session(session_id, SessionStatus.COMPLETED)
            return {}
        answer = await answer_hook(gate, payload, policy.asks, deny_only=kind == "codex")
        revoked = [g for g in await journal.grants(session_id) if g.revoked_at is not None]
        if event == "PreToolUse" and revoked and (await journal.session(session_id)).status == SessionStatus.RUNNING:
            await journal.end_session(
                session_id,
                SessionStatus.STOPPED,
                stopped_by=revoked[-1].revoked_by,
                stop_reason="the grant was revoked; the CLI's next tool call was refused",
            )
        return answer


async def _create(j: Any, session_id: str, kind: str, payload: dict[str, Any], grant: Any, tools: list[str]) -> None:
    """Record the CLI's session and its grant (a concurrent hook of the same session may win the race)."""
    name = "Claude Code" if kind == "claude-code" else "Codex"
    try:
        await j.create_session(
            session_id,
            task_name=f"{name} (hooks installed)",
            tools=tools,
            pid=cli_pid(),
            meta={
                "coding_cli": kind,
                "project": payload.get("cwd"),
                "cli_session_id": payload.get("session_id"),
                "installed_hooks": True,
            },
        )
    except Exception:
        if session_id in {s.session_id for s in await j.sessions()}:
            return  # another hook process of this session created it; it issues the grant
        raise
    await j.issue_grant(session_id, grant)


async def _grants(j: Any, session_id: str) -> list[Any]:
    """The session's grants, waiting briefly for the one a concurrent hook process is issuing."""
    import anyio

    with anyio.fail_after(5):
        while True:
            grants = await j.grants(session_id)
            if grants:
                return list(grants)
            await anyio.sleep(0.02)


if __name__ == "__main__":
    if __package__ in (None, ""):
        # Run as a file: import this module as part of its package, so its relative imports work.
        add_paths(sys.argv)
        from agentstop.adapters.coding_cli.direct import main as _main

        sys.exit(_main(sys.argv))
    sys.exit(main(sys.argv))
