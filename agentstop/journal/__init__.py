"""The write-ahead side-effect journal (the only package with SQL in it)."""

from __future__ import annotations

from .journal import Journal
from .records import CallRecord, Event, GrantRecord, SessionRecord, SessionStatus
from .remote import request_stop_after_step, revoke
from .schema import SCHEMA_VERSION
from .states import TRANSITIONS, CallState, can_move

__all__ = [
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "CallRecord",
    "CallState",
    "Event",
    "GrantRecord",
    "Journal",
    "SessionRecord",
    "SessionStatus",
    "can_move",
    "request_stop_after_step",
    "revoke",
]
