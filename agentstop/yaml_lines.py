"""Line numbers for a path in a YAML document (`("steps", 2, "args", "to")` -> 12).

A loader composes the YAML node tree once and keeps it, so every error found
later (by pydantic, by tool import, by checking steps against the tools) can
name the line of the node it is about, or of the nearest node enclosing it.
Task files (`agentstop.task`) and MCP overlays (`agentstop.mcp.config`) both
use it; it sits beside `yaml_limits`, below both, so neither imports the other for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import yaml

__all__ = ["LineIndex", "YamlPath", "format_path"]

YamlPath = Sequence[str | int]
"""Where a node is: mapping keys and list indexes from the root, like `("steps", 2, "args")`."""


def format_path(path: YamlPath) -> str:
    """`grant.ttl`, `steps[2].args.to`: keys joined with dots, list indexes in brackets."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _key_text(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


class LineIndex:
    """Maps paths into a composed YAML document to 1-based line numbers.

    Args:
        root: the document's root node (from `yaml.compose`), or None for an empty document.
    """

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def line(self, path: YamlPath) -> int | None:
        """The line of the node at `path`, else of the nearest node enclosing it.

        For a mapping key the line is the key's, so a missing or wrong field
        points at `grant:` rather than at the first line of its value.
        """
        node = self.root
        if node is None:
            return None
        line = _line(node)
        for part in path:
            found = self._child(node, part)
            if found is None:
                break
            line, node = found
        return line

    def has(self, path: YamlPath) -> bool:
        """True when the document has a node at exactly `path`."""
        node = self.root
        for part in path:
            if node is None:
                return False
            found = self._child(node, part)
            if found is None:
                return False
            node = found[1]
        return node is not None

    @staticmethod
    def _child(node: yaml.Node, part: str | int) -> tuple[int, yaml.Node] | None:
        if isinstance(node, yaml.MappingNode):
            match = None
            for key, value in node.value:  # the last duplicate wins, as in the loaded data
                if _key_text(key) == str(part):
                    match = (_line(key), value)
            return match
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            item = node.value[part]
            return _line(item), item
        return None

    def duplicate_keys(self) -> Iterator[tuple[int, list[str | int], str]]:
        """Every key written twice in one mapping: (line of the repeat, path of the mapping, key)."""
        seen: set[int] = set()

        def walk(node: yaml.Node, path: list[str | int]) -> Iterator[tuple[int, list[str | int], str]]:
            if id(node) in seen:  # an alias: already walked
                return
            seen.add(id(node))
            if isinstance(node, yaml.MappingNode):
                keys: set[str] = set()
                for key, value in node.value:
                    text = _key_text(key)
                    if text is not None and text != "<<":
                        if text in keys:
                            yield _line(key), path, text
                        keys.add(text)
                    yield from walk(value, [*path, text if text is not None else "?"])
            elif isinstance(node, yaml.SequenceNode):
                for i, item in enumerate(node.value):
                    yield from walk(item, [*path, i])

        if self.root is not None:
            yield from walk(self.root, [])
