"""The tools a supervisor may call, by name, checked once when they are registered."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pydantic import BaseModel

from agentstop.errors import ToolError, UnknownTool

from .base import Reversibility, StopPolicy, Tool

__all__ = ["ToolRegistry", "import_path"]


def import_path(tool: Tool) -> str:
    """`package.module:ClassName` for a tool, as task files and the journal name it."""
    cls = type(tool)
    return f"{cls.__module__}:{cls.__qualname__}"


def _check(tool: Tool) -> None:
    cls = type(tool)
    where = f"tool class {cls.__module__}.{cls.__qualname__}"
    if not isinstance(tool.name, str) or not tool.name:
        raise ToolError(f"{where} has no name; set the class attribute `name`.")
    if not isinstance(tool.reversibility, Reversibility):
        raise ToolError(f"{where}: reversibility must be a Reversibility, got {tool.reversibility!r}.")
    if not isinstance(tool.on_stop, StopPolicy):
        raise ToolError(f"{where}: on_stop must be a StopPolicy, got {tool.on_stop!r}.")
    if not (isinstance(tool.Args, type) and issubclass(tool.Args, BaseModel)):
        raise ToolError(f"{where}: Args must be a pydantic model class.")


class ToolRegistry:
    """Tools by name. Accepts instances or classes (constructed with no arguments)."""

    def __init__(self, tools: Iterable[Tool | type[Tool]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool | type[Tool]) -> Tool:
        """Register a tool; raises `ToolError` when it is malformed or its name is taken."""
        instance = tool() if isinstance(tool, type) else tool
        if not isinstance(instance, Tool):
            raise ToolError(f"{instance!r} is not an agentstop.Tool; subclass agentstop.Tool.")
        _check(instance)
        if instance.name in self._tools:
            raise ToolError(f"two tools are named {instance.name!r}; tool names must be unique.")
        self._tools[instance.name] = instance
        return instance

    def get(self, name: str) -> Tool:
        """The tool of that name; raises `UnknownTool`."""
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownTool(name, list(self._tools)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        """Registered tool names, in registration order."""
        return list(self._tools)
