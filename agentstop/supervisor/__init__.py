"""The supervisor: runs a planner and tool calls under a grant; stop, undo, re-apply, recovery."""

from __future__ import annotations

from .binding import Binding, bind
from .hook_gate import HookGate, PreAnswer
from .reapply import ReapplyResult, run_reapply
from .recovery import RecoveryResult, is_alive, recover
from .supervisor import Supervisor
from .undo import UndoResult, run_undo

__all__ = [
    "Binding",
    "HookGate",
    "PreAnswer",
    "ReapplyResult",
    "RecoveryResult",
    "Supervisor",
    "UndoResult",
    "bind",
    "is_alive",
    "recover",
    "run_reapply",
    "run_undo",
]
