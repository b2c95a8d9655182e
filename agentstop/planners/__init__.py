"""Planners: scripted steps (task.yaml) and real models.

`OpenAIChatPlanner` is imported on first use: the `openai` SDK takes about a
second to import, which a scripted run (and every CLI command) should not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Agent, Planner, TranscriptChunk
from .scripted import ScriptedPlanner, ScriptedStep

if TYPE_CHECKING:
    from .openai_chat import OpenAIChatPlanner

__all__ = ["Agent", "OpenAIChatPlanner", "Planner", "ScriptedPlanner", "ScriptedStep", "TranscriptChunk"]


def __getattr__(name: str) -> Any:
    if name == "OpenAIChatPlanner":
        from .openai_chat import OpenAIChatPlanner

        return OpenAIChatPlanner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
