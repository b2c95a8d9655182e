"""Arguments a journal can hold safely: bounded depth and size, valid Unicode.

Checked before anything else, iteratively (no recursion on hostile nesting), so
a refusal can be journaled small and clear instead of the hostile value itself.
The walk counts nodes as it goes and stops at the cap: a value that shares its
parts (a YAML alias bomb: 750 bytes, 10^8 leaves) costs at most the cap, not
its expanded size, so the event loop is never pinned and Stop is never starved.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_ARGS_BYTES", "MAX_DEPTH", "MAX_NODES", "shape_problem", "storable"]

MAX_DEPTH = 64
MAX_ARGS_BYTES = 256 * 1024
#: The most values (containers, keys, scalars) a walk visits, whatever `max_bytes` says.
MAX_NODES = 100_000


def shape_problem(value: Any, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = MAX_ARGS_BYTES) -> str | None:
    """Why `value` cannot be journaled as arguments, or None when it can (`max_bytes` None: no size limit)."""
    size = 0
    nodes = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return f"arguments hold more than {MAX_NODES} values"
        if depth > max_depth:
            return f"arguments are nested deeper than {max_depth} levels"
        if isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth))
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            if len(item) + len(stack) > MAX_NODES:  # refuse before pushing a huge list, not after
                return f"arguments hold more than {MAX_NODES} values"
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            try:
                size += len(item.encode("utf-8"))
            except UnicodeEncodeError:
                return "arguments contain text that is not valid Unicode (a lone surrogate)"
        else:
            size += 8
        if max_bytes is not None and size > max_bytes:
            return f"arguments are larger than {max_bytes // 1024} KiB"
    return None


def storable(text: str, limit: int = 2000) -> str:
    """Text safe to journal: invalid Unicode escaped, length bounded."""
    safe = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"
