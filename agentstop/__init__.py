"""agentstop: an honest Stop button for AI agents.

Every tool call is journaled before it acts, split into prepare and commit,
checked against a revocable grant at the commit fence, and undoable where its
tool says how. After Stop, the report says what was done, what was interrupted,
what is still in flight, and what can be undone.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from agentstop.errors import (
        AgentstopError,
        CallCutOff,
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

_HOME = {
    "Agent": "agentstop.planners",
    "AgentstopError": "agentstop.errors",
    "Binding": "agentstop.supervisor",
    "CallCutOff": "agentstop.errors",
    "CallLimitReached": "agentstop.errors",
    "CallState": "agentstop.journal",
    "CommitRefused": "agentstop.errors",
    "CompensationFailed": "agentstop.errors",
    "Event": "agentstop.journal",
    "GrantExpired": "agentstop.errors",
    "GrantRevoked": "agentstop.errors",
    "GrantSpec": "agentstop.grant",
    "Interrupted": "agentstop.errors",
    "InvalidArgs": "agentstop.errors",
    "Journal": "agentstop.journal",
    "JournalBusy": "agentstop.errors",
    "JournalCorrupt": "agentstop.errors",
    "JournalError": "agentstop.errors",
    "JournalTooNew": "agentstop.errors",
    "NotBound": "agentstop.errors",
    "OutOfScope": "agentstop.errors",
    "OutcomeUnknown": "agentstop.errors",
    "Planner": "agentstop.planners",
    "PlannerError": "agentstop.errors",
    "ReapplyResult": "agentstop.supervisor",
    "RecoveryResult": "agentstop.supervisor",
    "Redactor": "agentstop.redact",
    "Rejected": "agentstop.errors",
    "Report": "agentstop.report",
    "ReportItem": "agentstop.report",
    "Reversibility": "agentstop.tools",
    "StopPolicy": "agentstop.tools",
    "Supervisor": "agentstop.supervisor",
    "TaskFileError": "agentstop.errors",
    "Tool": "agentstop.tools",
    "ToolContext": "agentstop.tools",
    "ToolError": "agentstop.errors",
    "ToolFailed": "agentstop.errors",
    "ToolRegistry": "agentstop.tools",
    "TranscriptChunk": "agentstop.planners",
    "UndoInfo": "agentstop.report",
    "UndoResult": "agentstop.supervisor",
    "Undone": "agentstop.errors",
    "UnknownTool": "agentstop.errors",
    "bind": "agentstop.supervisor",
    "current_call": "agentstop.tools",
    "recover": "agentstop.supervisor",
    "revoke": "agentstop.journal",
    "tool": "agentstop.tools",
}
"""Where each public name lives. The package imports it on first use (PEP 562): `import agentstop` is
cheap, so `agentstop --help` does not pay for the journal, the supervisor or pydantic models."""


def __getattr__(name: str) -> _typing.Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'agentstop' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Agent",
    "AgentstopError",
    "Binding",
    "CallCutOff",
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
