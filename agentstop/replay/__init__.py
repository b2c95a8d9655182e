"""Replay: a past session's timeline and its export, from the journal alone (no Textual here)."""

from __future__ import annotations

from .export import export_session
from .timeline import CallView, Moment, Timeline

__all__ = ["CallView", "Moment", "Timeline", "export_session"]
