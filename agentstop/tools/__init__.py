"""Tools: the prepare/commit contract, reversibility, stop policies, the registry."""

from __future__ import annotations

from .base import Reversibility, StopPolicy, Tool, ToolContext
from .registry import ToolRegistry, import_path

__all__ = ["Reversibility", "StopPolicy", "Tool", "ToolContext", "ToolRegistry", "import_path"]
