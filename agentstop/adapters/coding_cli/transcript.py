"""Reading a coding CLI's own transcript (JSONL at the hook input's `transcript_path`).

Used for one question: which calls the CLI refused by itself after agentstop's Pre hook let them through
(a tool not in `--allowedTools`, a permission prompt answered no). Those never ran, and no Post hook says
so: without this they would be left in flight.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["refused_by_cli"]

_REFUSALS = ("haven't granted", "requested permissions", "permission to use", "was blocked")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text(c.get("text", "")) if isinstance(c, dict) else str(c) for c in content)
    return ""


def refused_by_cli(transcripts: Iterable[str]) -> dict[str, str]:
    """Tool-call ids the CLI refused on its own (permission rules), with its words, from its transcripts."""
    refused: dict[str, str] = {}
    for name in transcripts:
        try:
            lines = Path(name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = entry.get("message") if isinstance(entry, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if not isinstance(content, list):
                continue
            for block in content:
                if not isinstance(block, dict) or block.get("type") != "tool_result" or not block.get("is_error"):
                    continue
                text = _text(block.get("content"))
                if any(word in text for word in _REFUSALS):
                    refused[str(block.get("tool_use_id"))] = text[:300]
    return refused
