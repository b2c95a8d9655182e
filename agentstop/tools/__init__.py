"""Tools: the prepare/commit contract, reversibility, stop policies, the registry, `@tool` functions."""

from __future__ import annotations

from .base import Reversibility, StopPolicy, Tool, ToolContext
from .function import ToolFunction, current_call, tool
from .registry import ToolRegistry, import_path

__all__ = [
    "Reversibility",
    "StopPolicy",
    "Tool",
    "ToolContext",
    "ToolFunction",
    "ToolRegistry",
    "current_call",
    "import_path",
    "tool",
]
