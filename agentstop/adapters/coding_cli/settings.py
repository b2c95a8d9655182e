"""The hooks agentstop adds to a coding CLI, as that CLI's own settings JSON.

Every hook sets `"onFailure": "block"`: measured on Claude Code 2.1.332, a hook that fails, times out or
whose endpoint is down otherwise lets the tool run. The secret is never written here: an HTTP hook's header
is interpolated from the CLI's environment (`allowedEnvVars`), a command hook reads it from its own.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

from .server import SECRET_ENV, SECRET_HEADER

__all__ = ["EVENTS", "FORWARDER", "MARK", "claude_settings", "command_hook", "merge_hooks", "split_settings_arg"]

EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure")
FORWARDER = Path(__file__).with_name("forward.py")
MARK = "agentstop"


def command_hook(url: str) -> str:
    """The command that forwards one hook event to the endpoint at `url` (stdlib only: `python -I -S`)."""
    return f"{shlex.quote(sys.executable)} -I -S {shlex.quote(str(FORWARDER))} {shlex.quote(url)}"


def _http(url: str, timeout: int) -> dict[str, Any]:
    return {
        "type": "http",
        "url": url,
        "timeout": timeout,
        "onFailure": "block",
        "headers": {SECRET_HEADER: f"${{{SECRET_ENV}}}"},
        "allowedEnvVars": [SECRET_ENV],
        "statusMessage": MARK,
    }


def _command(command: str, timeout: int) -> dict[str, Any]:
    return {"type": "command", "command": command, "timeout": timeout, "onFailure": "block", "statusMessage": MARK}


def claude_settings(url: str, *, transport: str = "http", timeout: int = 60) -> dict[str, Any]:
    """Claude Code settings whose hooks send every tool event to `url` (`transport`: "http" or "command")."""
    hook = _http(url, timeout) if transport == "http" else _command(command_hook(url), timeout)
    return {"hooks": {event: [{"matcher": "*", "hooks": [hook]}] for event in EVENTS}}


def merge_hooks(user: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """The user's settings with our hooks added after theirs (theirs stay as they were)."""
    merged = dict(user)
    hooks = {k: list(v) for k, v in (user.get("hooks") or {}).items()}
    for event, entries in ours.get("hooks", {}).items():
        hooks[event] = [*hooks.get(event, []), *entries]
    merged["hooks"] = hooks
    return merged


def split_settings_arg(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Take the user's own `--settings FILE|JSON` out of the CLI's arguments: (the rest, their settings)."""
    rest: list[str] = []
    theirs: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        value: str | None = None
        if arg == "--settings" and i + 1 < len(args):
            value, i = args[i + 1], i + 2
        elif arg.startswith("--settings="):
            value, i = arg.split("=", 1)[1], i + 1
        else:
            rest.append(arg)
            i += 1
            continue
        text = value if value.lstrip().startswith("{") else Path(value).read_text(encoding="utf-8")
        loaded = json.loads(text)
        if isinstance(loaded, dict):
            theirs = merge_hooks(loaded, theirs) if theirs else loaded
    return rest, theirs
