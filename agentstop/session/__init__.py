"""What a person does to a session, whether this process runs it or another does.

Below the command line and the TUI, above the supervisor: a `SessionControl`
(stop now, stop after this step, escalate, undo, force undo, re-apply,
resume, report, events) with two implementations, `LocalSession` over a
`Supervisor` this process runs and `AttachedSession` over a journal another
process writes; the session's `SessionPhase`; its tools rebuilt from the
journal and its task file (`tools_from_session`, `HeldTools`); crash recovery
(`open_and_recover`); and which journal (`Target`, `parse_target`,
`default_journal`, `shown`).

Nothing here imports Textual, the TUI or the command line (an import-linter
contract holds it): a script can stop, undo or recover a session with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentstop.lazy_names import names_imported_on_use

if TYPE_CHECKING:
    from .attached import STOPPED_BY, UNDONE_BY, AttachedSession, where_it_runs
    from .control import SessionControl
    from .extras import needs_extra
    from .held import HeldTools, ToolLoader, fixed_tools
    from .local import LocalSession, SupervisorFactory
    from .phase import TRANSITIONS, IllegalPhaseChange, PhaseListener, SessionPhase
    from .recovery import needs_servers, open_and_recover, recover_dead, unsettled_mcp, unsettled_note
    from .target import (
        JOURNAL_ENV,
        JournalTargetError,
        Target,
        default_journal,
        journal_to_read,
        last_demo_journal,
        parse_target,
        remember_demo_journal,
        require_journal,
        same_journal,
        shown,
    )
    from .tools import SETTLE, UNDO, importable_tools, mcp_tools_of, recorded_tools, tools_from_session

__all__ = [
    "JOURNAL_ENV",
    "SETTLE",
    "STOPPED_BY",
    "TRANSITIONS",
    "UNDO",
    "UNDONE_BY",
    "AttachedSession",
    "HeldTools",
    "IllegalPhaseChange",
    "JournalTargetError",
    "LocalSession",
    "PhaseListener",
    "SessionControl",
    "SessionPhase",
    "SupervisorFactory",
    "Target",
    "ToolLoader",
    "default_journal",
    "fixed_tools",
    "importable_tools",
    "journal_to_read",
    "last_demo_journal",
    "mcp_tools_of",
    "needs_extra",
    "needs_servers",
    "open_and_recover",
    "parse_target",
    "recorded_tools",
    "recover_dead",
    "remember_demo_journal",
    "require_journal",
    "same_journal",
    "shown",
    "tools_from_session",
    "unsettled_mcp",
    "unsettled_note",
    "where_it_runs",
]

_LAZY = {
    "AttachedSession": ".attached",
    "HeldTools": ".held",
    "IllegalPhaseChange": ".phase",
    "JOURNAL_ENV": ".target",
    "JournalTargetError": ".target",
    "LocalSession": ".local",
    "PhaseListener": ".phase",
    "SETTLE": ".tools",
    "STOPPED_BY": ".attached",
    "SessionControl": ".control",
    "SessionPhase": ".phase",
    "SupervisorFactory": ".local",
    "TRANSITIONS": ".phase",
    "Target": ".target",
    "ToolLoader": ".held",
    "UNDO": ".tools",
    "UNDONE_BY": ".attached",
    "default_journal": ".target",
    "fixed_tools": ".held",
    "importable_tools": ".tools",
    "journal_to_read": ".target",
    "last_demo_journal": ".target",
    "mcp_tools_of": ".tools",
    "needs_extra": ".extras",
    "needs_servers": ".recovery",
    "open_and_recover": ".recovery",
    "parse_target": ".target",
    "recorded_tools": ".tools",
    "recover_dead": ".recovery",
    "remember_demo_journal": ".target",
    "require_journal": ".target",
    "same_journal": ".target",
    "shown": ".target",
    "tools_from_session": ".tools",
    "unsettled_mcp": ".recovery",
    "unsettled_note": ".recovery",
    "where_it_runs": ".attached",
}
"""Where each name lives: imported on first use, so a command that only reads a journal (`agentstop report`,
`sessions`) does not import the supervisor and the tools (pydantic) that `AttachedSession` and `LocalSession` need."""

__getattr__ = names_imported_on_use(__name__, _LAZY)
