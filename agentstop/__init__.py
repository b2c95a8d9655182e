"""agentstop: an honest Stop button for AI agents.

Every tool call is journaled before it acts, split into prepare and commit,
checked against a revocable grant at the commit fence, and undoable where its
tool says how. After Stop, the report says what was done, what was interrupted,
what is still in flight, and what can be undone.
"""

from __future__ import annotations

from agentstop.errors import (
    AgentstopError,
    CallLimitReached,
    CommitRefused,
    CompensationFailed,
    GrantExpired,
    GrantRevoked,
    Interrupted,
    InvalidArgs,
    JournalBusy,
    JournalCorrupt,
    JournalError,
    JournalTooNew,
    NotBound,
    OutcomeUnknown,
    OutOfScope,
    PlannerError,
    Rejected,
    TaskFileError,
    ToolError,
    ToolFailed,
    Undone,
    UnknownTool,
)
from agentstop.grant import GrantSpec
from agentstop.journal import CallState, Event, Journal, revoke
from agentstop.planners import Agent, Planner, TranscriptChunk
from agentstop.redact import Redactor
from agentstop.report import Report, ReportItem, UndoInfo
from agentstop.supervisor import Binding, ReapplyResult, RecoveryResult, Supervisor, UndoResult, bind, recover
from agentstop.tools import Reversibility, StopPolicy, Tool, ToolContext, ToolRegistry, current_call, tool

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentstopError",
    "Binding",
    "CallLimitReached",
    "CallState",
    "CommitRefused",
    "CompensationFailed",
    "Event",
    "GrantExpired",
    "GrantRevoked",
    "GrantSpec",
    "Interrupted",
    "InvalidArgs",
    "Journal",
    "JournalBusy",
    "JournalCorrupt",
    "JournalError",
    "JournalTooNew",
    "NotBound",
    "OutOfScope",
    "OutcomeUnknown",
    "Planner",
    "PlannerError",
    "ReapplyResult",
    "RecoveryResult",
    "Redactor",
    "Rejected",
    "Report",
    "ReportItem",
    "Reversibility",
    "StopPolicy",
    "Supervisor",
    "TaskFileError",
    "Tool",
    "ToolContext",
    "ToolError",
    "ToolFailed",
    "ToolRegistry",
    "TranscriptChunk",
    "UndoInfo",
    "UndoResult",
    "Undone",
    "UnknownTool",
    "__version__",
    "bind",
    "current_call",
    "recover",
    "revoke",
    "tool",
]
