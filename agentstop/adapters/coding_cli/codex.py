"""Codex's side of the hooks: its `hooks.json`, a per-run `CODEX_HOME`, and hook trust asked of Codex itself.

Measured on Codex 0.171.0 (`@openai/codex`):

- hooks live in `$CODEX_HOME/hooks.json` (and `<project>/.codex/hooks.json` in a trusted project) with Claude
  Code's JSON shapes; only command hooks run. Its tools reach the hooks as `Bash` (`exec_command`, input
  `{"command": ...}`) and `apply_patch` (input `{"command": PATCH}`);
- a PreToolUse hook that answers `permissionDecision: "deny"` or exits 2 blocks the tool, and the model reads
  "Command blocked by PreToolUse hook: REASON"; `"ask"` and `"allow"` are refused as unsupported;
- a hook that exits with any other status or times out **lets the tool run**, and Codex has no `onFailure`:
  so agentstop's command turns every failure into exit 2 (`|| exit 2` in the shell Codex runs it with), and
  the forwarder gives up (exit 2) well before Codex's own timeout;
- Codex runs a hook only once it is trusted: `[hooks.state."KEY"] trusted_hash = "sha256:..."` in
  `config.toml`, the hash of the hook's definition as Codex computes it. agentstop never computes that hash:
  it asks Codex (`codex app-server`, `hooks/list` returns each hook's key and `currentHash`) and records
  trust for agentstop's own hooks only; a hook of the user's stays exactly as trusted as it was.

`agentstop codex` gives the CLI a `CODEX_HOME` of its own for the run: every entry of the user's (sessions,
auth, skills, state) linked in, `config.toml` copied with the trust added, `hooks.json` the user's hooks with
agentstop's after them. The user's files are never written.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

import anyio

from agentstop.errors import AgentstopError

from .settings import FORWARDER, MARK, merge_hooks

__all__ = [
    "CODEX_EVENTS",
    "TRUST_BEGIN",
    "TRUST_END",
    "codex_command",
    "codex_hooks",
    "fail_closed",
    "list_hooks",
    "prepare_home",
    "trust_block",
    "user_codex_home",
]

CODEX_EVENTS = ("PreToolUse", "PostToolUse")
"""Codex 0.171.0 fires no PostToolUseFailure: a failed tool's outcome comes in PostToolUse."""

TRUST_BEGIN = "# agentstop: trust for agentstop's hooks (begin)"
TRUST_END = "# agentstop: trust for agentstop's hooks (end)"

_BLOCKED = "agentstop: the fence could not answer; the tool was blocked"
_LINKED_NOT = {"config.toml", "hooks.json"}


def user_codex_home() -> Path:
    """The user's Codex home: `$CODEX_HOME`, else `~/.codex` (as Codex resolves it)."""
    return Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")


def fail_closed(command: str) -> str:
    """`command` for a Codex hook, with every failure (a crash, python missing, any status but 0 or 2) made exit 2."""
    return f"{command} || {{ echo {shlex.quote(_BLOCKED)} >&2; exit 2; }}"


def codex_command(url: str) -> str:
    """The forwarder to the resident endpoint at `url`, as a Codex command hook (stdlib only, fail closed)."""
    return fail_closed(f"{shlex.quote(sys.executable)} -I -S {shlex.quote(str(FORWARDER))} {shlex.quote(url)}")


def codex_hooks(command: str, timeout: int, events: tuple[str, ...] = CODEX_EVENTS) -> dict[str, Any]:
    """Codex `hooks.json` content running `command` on every tool event (`timeout`: Codex's, in seconds)."""
    hook = {"type": "command", "command": command, "timeout": timeout, "statusMessage": MARK}
    return {"hooks": {event: [{"matcher": "*", "hooks": [hook]}] for event in events}}


def trust_block(hooks: list[dict[str, Any]]) -> str:
    """The `config.toml` lines trusting `hooks` (as `hooks/list` returned them), between agentstop's markers."""
    lines = [TRUST_BEGIN]
    for hook in hooks:
        lines += [f"[hooks.state.{json.dumps(hook['key'])}]", f"trusted_hash = {json.dumps(hook['currentHash'])}"]
    lines.append(TRUST_END)
    return "\n".join(lines) + "\n"


LIST_TIMEOUT = 30.0
"""Seconds Codex's app-server gets to list its hooks."""


async def list_hooks(codex: str, home: Path, cwd: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The hooks Codex sees for `cwd` with `CODEX_HOME=home`, each with its key, hash and trust (`hooks/list`).

    Raises:
        AgentstopError: the app-server could not be started or did not answer (nothing was trusted).
    """
    environment = {**(env if env is not None else os.environ), "CODEX_HOME": str(home)}
    messages = [
        {"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "agentstop", "version": "1"}}},
        {"method": "initialized"},
        {"id": 2, "method": "hooks/list", "params": {"cwds": [str(cwd)]}},
    ]
    try:
        process = await anyio.open_process(
            [codex, "app-server"],
            env=environment,
            cwd=str(cwd),
            stderr=None if os.environ.get("AGENTSTOP_DEBUG") else -3,
        )
    except OSError as exc:
        raise AgentstopError(
            f"cannot start `{codex} app-server` to ask which hooks Codex trusts: {exc}; "
            "agentstop does not run Codex with hooks it cannot see trusted"
        ) from exc
    answer: dict[str, Any] | None = None
    try:
        assert process.stdin is not None and process.stdout is not None
        await process.stdin.send("".join(json.dumps(m) + "\n" for m in messages).encode())
        buffer = b""
        with anyio.fail_after(LIST_TIMEOUT):
            while answer is None:
                try:
                    buffer += await process.stdout.receive()
                except anyio.EndOfStream:
                    break
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    try:
                        message = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(message, dict) and message.get("id") == 2:
                        answer = message
    except TimeoutError:
        pass  # said below
    finally:
        process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()
            await process.aclose()
    if answer is None or "result" not in answer:
        why = answer.get("error") if answer else f"no answer within {LIST_TIMEOUT:.0f} s"
        raise AgentstopError(
            f"Codex's app-server did not list its hooks ({why}); agentstop does not run Codex "
            "with hooks it cannot see trusted"
        )
    found: list[dict[str, Any]] = []
    for entry in answer["result"].get("data", []):
        found += [h for h in entry.get("hooks", []) if isinstance(h, dict)]
    return found


def _trusted_in(config: dict[str, Any]) -> dict[str, str]:
    state = (config.get("hooks") or {}).get("state") or {}
    return {k: str(v.get("trusted_hash")) for k, v in state.items() if isinstance(v, dict)}


async def prepare_home(
    codex: str, run_home: Path, ours: dict[str, Any], project: Path, env: dict[str, str], theirs: Path | None = None
) -> list[str]:
    """Fill `run_home` as the run's `CODEX_HOME` (see the module docstring); returns the keys of the hooks trusted.

    Args:
        codex: the Codex executable (its app-server says which hooks it sees, with their hashes).
        run_home: an empty directory of agentstop's.
        ours: agentstop's hooks (`codex_hooks`).
        project: where Codex will run.
        env: the environment Codex will run with.
        theirs: the user's Codex home (default: `$CODEX_HOME`, else `~/.codex`).
    """
    theirs = theirs if theirs is not None else user_codex_home()
    config_text, their_trust = await anyio.to_thread.run_sync(_layout, run_home, theirs, ours)
    hooks_file, config = run_home / "hooks.json", run_home / "config.toml"
    ours_commands = _commands(ours)
    listed = await list_hooks(codex, run_home, project, env)
    mine = [h for h in listed if h.get("command") in ours_commands and h.get("sourcePath") == str(hooks_file)]
    # A hook of the user's keeps the trust they gave it at its own path (the run's copy has another key).
    kept = [
        h
        for h in listed
        if h not in mine
        and str(h.get("sourcePath", "")).startswith(f"{run_home}{os.sep}")
        and their_trust.get(str(h["key"]).replace(str(run_home), str(theirs), 1)) == h.get("currentHash")
    ]
    if len(mine) != sum(len(g.get("hooks", [])) for e in ours["hooks"].values() for g in e):
        raise AgentstopError(
            f"Codex did not list agentstop's hooks from {hooks_file} (it listed "
            f"{len(listed)} hook(s)); agentstop does not run Codex unfenced"
        )
    separator = "" if not config_text or config_text.endswith("\n") else "\n"
    await anyio.Path(config).write_text(config_text + separator + trust_block(mine + kept), encoding="utf-8")
    return [str(h["key"]) for h in mine]


def _layout(run_home: Path, theirs: Path, ours: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Link the user's Codex home into `run_home`, write the merged hooks.json and their config; (config, trust)."""
    run_home.mkdir(parents=True, exist_ok=True)
    config_text = ""
    user_hooks: dict[str, Any] = {}
    if theirs.is_dir():
        for entry in theirs.iterdir():
            if entry.name not in _LINKED_NOT:
                (run_home / entry.name).symlink_to(entry)
        if (theirs / "config.toml").is_file():
            config_text = (theirs / "config.toml").read_text(encoding="utf-8")
        if (theirs / "hooks.json").is_file():
            try:
                loaded = json.loads((theirs / "hooks.json").read_text(encoding="utf-8"))
            except ValueError as exc:
                raise AgentstopError(
                    f"{theirs / 'hooks.json'} is not valid JSON ({exc}); fix it, or Codex "
                    "would not run your hooks either"
                ) from exc
            user_hooks = loaded if isinstance(loaded, dict) else {}
    try:
        their_trust = _trusted_in(tomllib.loads(config_text))
    except tomllib.TOMLDecodeError as exc:
        raise AgentstopError(
            f"{theirs / 'config.toml'} is not valid TOML ({exc}); fix it, or Codex would refuse it too"
        ) from exc
    (run_home / "hooks.json").write_text(json.dumps(merge_hooks(user_hooks, ours), indent=2), encoding="utf-8")
    (run_home / "config.toml").write_text(config_text, encoding="utf-8")
    return config_text, their_trust


def _commands(hooks: dict[str, Any]) -> set[str]:
    return {
        h.get("command") for entries in hooks.get("hooks", {}).values() for g in entries for h in g.get("hooks", [])
    }
