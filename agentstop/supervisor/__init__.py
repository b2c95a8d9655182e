"""The supervisor: runs a planner and tool calls under a grant; stop, undo, recovery."""

from __future__ import annotations

from .recovery import RecoveryResult, is_alive, recover
from .supervisor import Supervisor
from .undo import UndoResult

__all__ = ["RecoveryResult", "Supervisor", "UndoResult", "is_alive", "recover"]
