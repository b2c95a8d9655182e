"""Messages the TUI passes around: journal events, transcript text, session milestones, and what a screen
asks its app to do (undo, re-apply, resume, open or stop a session)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from agentstop.journal import Event
from agentstop.planners import TranscriptChunk

__all__ = [
    "ForceUndoRequested",
    "JournalEvents",
    "OpenSessionRequested",
    "ReapplyRequested",
    "ResumeRequested",
    "SessionEnded",
    "StopSessionRequested",
    "StopStarted",
    "Transcript",
    "UndoRequested",
]


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


# -- from the screens, up to the app: what the person asked for -----------------------------
# A screen never calls into its app: it posts one of these (they bubble from the screen to the
# app) and the app, which holds the session, does it. What a screen needs to know back (can it
# resume, can it re-apply, the status line, the report) the app hands to the screen.


@dataclass
class UndoRequested(Message):
    """Undo these calls, after showing what each undo will do and asking once.

    The app previews the compensations, asks, runs them (latest commit first)
    and hands the results to the report screen's `undo_finished`.
    """

    call_ids: list[str]
    what: str
    """What the person asked for, in words for the question ("undo c3", "undo everything that can be undone")."""


@dataclass
class ForceUndoRequested(Message):
    """Undo these calls although their tool refused because their effect changed since (drift).

    The report screen has already asked, saying what changed; the app runs the
    undo forced and hands the results to `undo_finished`.
    """

    call_ids: list[str]


@dataclass
class ReapplyRequested(Message):
    """Do these undone calls' effects again (re-apply); the report screen has already asked.

    The app runs it and hands the results to the report screen's `reapply_finished`.
    """

    call_ids: list[str]


@dataclass
class ResumeRequested(Message):
    """Run the stopped or ended session on as a new epoch; the app asks how (instruction, tools) first."""


@dataclass
class OpenSessionRequested(Message):
    """Open this session from the sessions browser: its timeline when it has ended, attached live when it runs."""

    session_id: str


@dataclass
class StopSessionRequested(Message):
    """Stop this session from the sessions browser; the app asks first, naming it, its task and its host."""

    session_id: str
