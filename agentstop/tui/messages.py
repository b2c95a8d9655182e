"""Messages the TUI passes around: journal events, transcript text, session milestones."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from agentstop.journal import Event
from agentstop.planners import TranscriptChunk

__all__ = ["JournalEvents", "SessionEnded", "StopStarted", "Transcript"]


@dataclass
class JournalEvents(Message):
    """New durable events, in journal order (from the bridge, never from memory)."""

    events: list[Event]


@dataclass
class Transcript(Message):
    """A piece of the agent's transcript, streamed as it is produced."""

    chunk: TranscriptChunk


@dataclass
class StopStarted(Message):
    """Stop was pressed; the grant is being revoked."""

    by: str


@dataclass
class SessionEnded(Message):
    """The planner finished or was stopped, and every call it waited for settled."""

    status: str
