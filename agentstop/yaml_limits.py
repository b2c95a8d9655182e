"""Bounds on a YAML file before it is built: its size, and how far its aliases expand.

A YAML alias repeats a whole anchored subtree without repeating its text, so a
750-byte file can describe 10^8 values ("billion laughs"). PyYAML builds such a
document cheaply (the parts are shared), but everything that walks it afterwards
(validation, the argument checks, the journal) pays the expanded size. So a file
is refused, with a reason, when its expansion exceeds what its text could hold
without aliases by more than `MAX_ALIAS_EXPANSION` nodes; and a file larger than
`max_file_bytes()` is refused before it is read.
"""

from __future__ import annotations

import os

import yaml

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "MAX_FILE_BYTES",
    "MAX_FILE_BYTES_ENV",
    "expansion_problem",
    "max_file_bytes",
    "size_problem",
]

#: How many nodes aliases may add to a document, beyond the nodes written out in it.
MAX_ALIAS_EXPANSION = 100_000

#: The default size limit of a task file (or MCP overlay): 1 MiB.
MAX_FILE_BYTES = 1 << 20
#: The environment variable that raises (or lowers) it, in bytes.
MAX_FILE_BYTES_ENV = "AGENTSTOP_MAX_TASK_BYTES"


def max_file_bytes() -> int:
    """The size limit for task files: `$AGENTSTOP_MAX_TASK_BYTES` when it is a positive integer, else 1 MiB."""
    raw = os.environ.get(MAX_FILE_BYTES_ENV, "")
    try:
        value = int(raw)
    except ValueError:
        return MAX_FILE_BYTES
    return value if value > 0 else MAX_FILE_BYTES


def size_problem(size: int, limit: int) -> str | None:
    """Why a file of `size` bytes is refused, or None."""
    if size <= limit:
        return None
    return (
        f"the file is larger than {_bytes(limit)} (the limit for task files); a goal or a step this big is "
        f"almost surely a mistake. Shorten it, or raise the limit with ${MAX_FILE_BYTES_ENV}=BYTES"
    )


def _bytes(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n} bytes"


def expansion_problem(root: yaml.Node | None, limit: int = MAX_ALIAS_EXPANSION) -> tuple[int | None, str] | None:
    """Why a composed document's aliases expand too far (the alias's line, the reason), or None.

    Walks the node graph once, each distinct node once (memoised), and stops as
    soon as the expanded size passes the bound: the cost is the file's own size.
    """
    if root is None:
        return None
    distinct: dict[int, int] = {}  # id(node) -> expanded size
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        kids = _children(node)
        if children_done:
            on_path.discard(key)
            distinct[key] = 1 + sum(distinct.get(id(c), 1) for c in kids)
            if distinct[key] > len(distinct) + limit:
                line = node.start_mark.line + 1 if node.start_mark is not None else None
                return line, (
                    f"its aliases (*name) expand it by more than {limit:,} values (an alias bomb?); "
                    "write the values out, or nest fewer aliases"
                )
            continue
        if key in distinct or key in on_path:
            continue  # shared (counted once, by its size) or recursive (the loader reports that)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in kids if id(c) not in distinct)
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
