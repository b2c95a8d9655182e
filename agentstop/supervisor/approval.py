"""Approvals: some calls wait at the fence, prepared, until a person says yes.

Which calls need one is the task's choice (`approve: irreversible`, or a list of
tool names). Who answers is the front end's: the TUI shows a modal; headless
runs have no one to ask, so such calls are rejected with that reason. Stop
denies everything still waiting.

An approval is bound to the effect: it records a hash of the tool, the
arguments and the prepared effect (`effect_hash`). "Allow once" covers that one
effect: if the call never landed (Stop came first) and is made again with the
same effect, after a Resume or a restart of the TUI, the journal's approval
still holds; any change needs a new one. "Allow for this session" covers the
tool for the rest of the session. Both are read back from the journal.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentstop.tools import Reversibility, Tool

__all__ = ["Allow", "ApprovalRequest", "Approver", "approval_rule", "effect_hash"]


class Allow(enum.Enum):
    """How far a yes reaches."""

    ONCE = "once"
    """This call, with this exact effect (answering True means the same)."""

    SESSION = "session"
    """Every call of this tool for the rest of the session."""


def effect_hash(tool: str, args: Any, prepared: Any) -> str:
    """A stable hash of what would be done: tool, arguments and prepared effect (as journaled)."""
    text = json.dumps([tool, args, prepared], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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
        effect: `effect_hash` of tool, args and prepared: what the answer is bound to.
    """

    call_id: str
    tool: str
    summary: str
    reversibility: str
    args: Any
    prepared: Any
    undo_hint: str
    effect: str = ""


Approver = Callable[[ApprovalRequest], Awaitable[bool | str | Allow]]
"""Answers True or `Allow.ONCE` / `Allow.SESSION` to approve, False or a denial message to deny."""


def approval_rule(approve: str | Sequence[str]) -> Callable[[Tool], bool]:
    """Which tools need approval: "irreversible", "none", or a list of tool names."""
    if approve == "none":
        return lambda tool: False
    if approve == "irreversible":
        return lambda tool: tool.reversibility is Reversibility.IRREVERSIBLE
    names = frozenset(approve)
    return lambda tool: tool.name in names
