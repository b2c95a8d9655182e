"""Planners: scripted steps (task.yaml) and real models."""

from __future__ import annotations

from .base import Agent, Planner, TranscriptChunk
from .scripted import ScriptedPlanner, ScriptedStep

__all__ = ["Agent", "Planner", "ScriptedPlanner", "ScriptedStep", "TranscriptChunk"]
