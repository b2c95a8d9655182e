"""The supervisor: runs a planner and tool calls under a grant; stop, undo, re-apply, recovery."""

from __future__ import annotations

from .binding import Binding, bind
from .hook_gate import HookGate, PreAnswer
from .reapply import ReapplyOutcome, ReapplyResult, run_reapply
from .recovery import RecoveryResult, is_alive, recover
from .supervisor import Supervisor
from .undo import UndoOutcome, UndoResult, run_undo

__all__ = [
    "Binding",
    "HookGate",
    "PreAnswer",
    "ReapplyOutcome",
    "ReapplyResult",
    "RecoveryResult",
    "Supervisor",
    "UndoOutcome",
    "UndoResult",
    "bind",
    "is_alive",
    "recover",
    "run_reapply",
    "run_undo",
]
