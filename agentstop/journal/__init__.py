"""The write-ahead side-effect journal (the only package with SQL in it)."""

from __future__ import annotations

from .events import EventKind, parse_kind
from .journal import Journal, Resumed
from .owner import Owner
from .policies import Reversibility, StopPolicy
from .records import CallRecord, Event, GrantRecord, SessionRecord, SessionStatus
from .remote import STOP_ESCALATED, escalate_stop, request_stop, request_stop_after_step, revoke
from .schema import SCHEMA_VERSION
from .session_copy import CopyProgress, CopyResult, copy_sessions
from .states import TRANSITIONS, CallState, can_move

__all__ = [
    "SCHEMA_VERSION",
    "STOP_ESCALATED",
    "TRANSITIONS",
    "CallRecord",
    "CallState",
    "CopyProgress",
    "CopyResult",
    "Event",
    "EventKind",
    "GrantRecord",
    "Journal",
    "Owner",
    "Resumed",
    "Reversibility",
    "SessionRecord",
    "SessionStatus",
    "StopPolicy",
    "can_move",
    "copy_sessions",
    "escalate_stop",
    "parse_kind",
    "request_stop",
    "request_stop_after_step",
    "revoke",
]
