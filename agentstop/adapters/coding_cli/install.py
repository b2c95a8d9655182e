"""`agentstop hooks install|uninstall`: agentstop's command hooks in the CLI's own settings, for people who start it.

- Claude Code: `<project>/.claude/settings.json` (`--project`), else `~/.claude/settings.json`; every hook with
  `"onFailure": "block"`.
- Codex: `<project>/.codex/hooks.json`, else `$CODEX_HOME/hooks.json` (`~/.codex`); Codex runs a hook only once
  it is trusted, so install also records trust for agentstop's hooks (and only those) in the `config.toml`
  beside it, with the hash Codex's own app-server gives (see `codex`), between two marker comments.

The merge is exact: agentstop's entries are appended after the user's (one matcher group per event, marked
`"statusMessage": "agentstop"` and running `direct.py`), the file is written back in the indentation it had,
and uninstall removes those entries only (and the trust block), so a file agentstop added nothing else to is
back byte for byte; a file that did not exist is removed again.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

import agentstop
from agentstop.errors import AgentstopError

from .codex import TRUST_BEGIN, TRUST_END, codex_hooks, fail_closed, list_hooks, trust_block, user_codex_home
from .settings import MARK

__all__ = ["DIRECT", "KINDS", "Installed", "direct_command", "install", "settings_path", "trust", "uninstall"]

DIRECT = Path(__file__).with_name("direct.py")
KINDS = ("claude-code", "codex")
CLAUDE_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "SessionEnd")
CODEX_EVENTS = ("PreToolUse", "PostToolUse", "SessionEnd")
TIMEOUT = 60


@dataclass(frozen=True)
class Installed:
    """What install or uninstall changed: the settings file, and Codex's config.toml when trust was written."""

    settings: Path
    config: Path | None
    changed: bool


def settings_path(kind: str, project: Path | None) -> Path:
    """Where the CLI reads the hooks: the project's settings with `project`, else the user's."""
    if kind == "claude-code":
        return (project / ".claude" if project else Path.home() / ".claude") / "settings.json"
    return (project / ".codex" if project else user_codex_home()) / "hooks.json"


def direct_command(kind: str, journal: str, task: Path | None) -> str:
    """The hook command: `python -I -S direct.py` with the paths this interpreter imports agentstop from."""
    root = str(Path(agentstop.__file__).resolve().parents[1])
    paths = os.pathsep.join(dict.fromkeys([root, *(p for p in sys.path if p and Path(p).is_dir())]))
    parts = [sys.executable, "-I", "-S", str(DIRECT), "--sys-path", paths, "--journal", journal, "--cli", kind]
    if task is not None:
        parts += ["--task", str(task.resolve())]
    command = " ".join(shlex.quote(p) for p in parts)
    return fail_closed(command) if kind == "codex" else command


def _ours(kind: str, command: str) -> dict[str, Any]:
    if kind == "codex":
        return codex_hooks(command, TIMEOUT, CODEX_EVENTS)
    hook = {"type": "command", "command": command, "timeout": TIMEOUT, "onFailure": "block", "statusMessage": MARK}
    return {"hooks": {event: [{"matcher": "*", "hooks": [hook]}] for event in CLAUDE_EVENTS}}


def _is_ours(group: Any) -> bool:
    hooks = group.get("hooks") if isinstance(group, dict) else None
    return (
        isinstance(hooks, list)
        and bool(hooks)
        and all(
            isinstance(h, dict) and h.get("statusMessage") == MARK and str(DIRECT.name) in str(h.get("command", ""))
            for h in hooks
        )
    )


def _indent(text: str) -> int | str | None:
    if text.strip() and "\n" not in text.strip():
        return None  # written on one line: keep it on one
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            lead = line[: len(line) - len(stripped)]
            return lead if "\t" in lead else len(lead)
    return 2


def _dump(data: dict[str, Any], like: str) -> str:
    text = json.dumps(data, indent=_indent(like), ensure_ascii=False)
    return text + "\n" if like.endswith("\n") or not like else text


def _without_ours(data: dict[str, Any]) -> dict[str, Any]:
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return data
    kept: dict[str, Any] = {}
    for event, groups in hooks.items():
        left = [g for g in groups if not _is_ours(g)] if isinstance(groups, list) else groups
        if left or not isinstance(groups, list) or len(left) == len(groups):
            kept[event] = left
    result = dict(data)
    if kept:
        result["hooks"] = kept
    else:
        del result["hooks"]
    return result


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    if not path.exists():
        return "", {}
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise AgentstopError(f"{path} is not valid JSON ({exc}); fix it first (the CLI cannot read it either)") from exc
    if not isinstance(data, dict):
        raise AgentstopError(f"{path} is not a JSON object; fix it first")
    return text, data


def install(kind: str, project: Path | None, journal: str, task: Path | None) -> Installed:
    """Add agentstop's hooks to the CLI's settings (replacing agentstop's earlier ones); see the module docstring.

    For Codex, then `await trust(...)`: Codex runs no hook it has not been told to trust.
    """
    path = settings_path(kind, project)
    text, data = _read(path)
    base = _without_ours(data)
    ours = _ours(kind, direct_command(kind, journal, task))
    merged = dict(base)
    hooks: dict[str, list[Any]] = {k: list(v) for k, v in (base.get("hooks") or {}).items()}
    for event, groups in ours["hooks"].items():
        hooks[event] = [*hooks.get(event, []), *groups]
    merged["hooks"] = hooks
    new = _dump(merged, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")
    return Installed(path, None, new != text)


async def trust(codex: str, hooks_file: Path, project: Path | None) -> Path:
    """Record trust for agentstop's hooks in `hooks_file` in the config.toml Codex reads trust from."""
    home = user_codex_home()
    listed = await list_hooks(codex, home, project or Path.cwd())
    mine = [h for h in listed if h.get("sourcePath") == str(hooks_file) and DIRECT.name in str(h.get("command"))]
    if not mine:
        raise AgentstopError(
            f"Codex does not list agentstop's hooks from {hooks_file} (a project's hooks load "
            "only in a project Codex trusts: trust it in Codex first); nothing was trusted"
        )
    config = home / "config.toml"
    text = await anyio.Path(config).read_text(encoding="utf-8") if config.exists() else ""
    text = _strip_block(text)
    separator = "" if not text or text.endswith("\n") else "\n"
    config.parent.mkdir(parents=True, exist_ok=True)
    await anyio.Path(config).write_text(text + separator + trust_block(mine), encoding="utf-8")
    return config


def _strip_block(text: str) -> str:
    start = text.find(TRUST_BEGIN)
    end = text.find(TRUST_END)
    if start < 0 or end < 0:
        return text
    return text[:start] + text[end + len(TRUST_END) + 1 :]


def uninstall(kind: str, project: Path | None) -> Installed:
    """Remove agentstop's hooks (and, for Codex, its trust block); a file left empty that way is removed."""
    path = settings_path(kind, project)
    text, data = _read(path)
    changed = False
    if path.exists():
        left = _without_ours(data)
        if left != data:
            changed = True
            if left:
                path.write_text(_dump(left, text), encoding="utf-8")
            else:
                path.unlink()
    config = None
    if kind == "codex":
        config = user_codex_home() / "config.toml"
        if config.exists():
            before = config.read_text(encoding="utf-8")
            after = _strip_block(before)
            if after != before:
                changed = True
                if after:
                    config.write_text(after, encoding="utf-8")
                else:
                    config.unlink()
    return Installed(path, config, changed)
