"""Approvals: some calls wait at the fence, prepared, until a person says yes.

Which calls need one is the task's choice (`approve: irreversible`, or a list of
tool names). Who answers is the front end's: the TUI shows a modal; headless
runs have no one to ask, so such calls are rejected with that reason. Stop
denies everything still waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentstop.tools import Reversibility, Tool

__all__ = ["ApprovalRequest", "Approver", "approval_rule"]


@dataclass(frozen=True)
class ApprovalRequest:
    """What a person sees before deciding.

    Attributes:
        call_id: the call waiting.
        tool: the tool.
        summary: the call's one-line summary.
        reversibility: the tool's class ("irreversible", ...).
        args: the arguments (secrets redacted).
        prepared: the prepared effect (secrets redacted).
        undo_hint: what to do by hand if it cannot be undone.
    """

    call_id: str
    tool: str
    summary: str
    reversibility: str
    args: Any
    prepared: Any
    undo_hint: str


Approver = Callable[[ApprovalRequest], Awaitable[bool | str]]
"""Answers True to approve, False or a denial message to deny."""


def approval_rule(approve: str | Sequence[str]) -> Callable[[Tool], bool]:
    """Which tools need approval: "irreversible", "none", or a list of tool names."""
    if approve == "none":
        return lambda tool: False
    if approve == "irreversible":
        return lambda tool: tool.reversibility is Reversibility.IRREVERSIBLE
    names = frozenset(approve)
    return lambda tool: tool.name in names
