"""Replay: a past session's timeline and its export, from the journal alone (no Textual here)."""

from __future__ import annotations

from .checkpoints import JournalTimeline, windowed
from .export import export_session
from .timeline import CallView, Moment, Timeline, TimelineView

__all__ = ["CallView", "JournalTimeline", "Moment", "Timeline", "TimelineView", "export_session", "windowed"]
