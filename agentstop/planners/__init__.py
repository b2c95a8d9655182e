"""Planners: scripted steps (task.yaml) and real models."""

from __future__ import annotations

from .base import Agent, Planner, TranscriptChunk

__all__ = ["Agent", "Planner", "TranscriptChunk"]
