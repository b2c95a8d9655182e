"""Every error agentstop raises, in one hierarchy.

```
AgentstopError
├── JournalError                  the journal file cannot be used as asked
│   ├── JournalCorrupt            the file is not a database, or is damaged
│   │   └── JournalDamaged        an agentstop journal whose pages fail `PRAGMA quick_check`
│   ├── JournalFull               the disk (or the database's size limit) is full
│   ├── JournalTooNew             written by a newer agentstop (schema version)
│   ├── JournalBusy               another writer held the lock past the bound
│   ├── IllegalTransition         a call state change the lifecycle forbids
│   │   └── CallTaken             another process is undoing (or re-applying) it, or just did
│   └── UnknownSession / UnknownCall
├── ToolError                     a tool is missing or misbehaved
│   ├── UnknownTool               no tool of that name is registered
│   └── ToolFailed                prepare/commit raised; says which phase
├── CallCutOff                    agentstop ended the call before it returned a receipt
│   ├── Rejected                  ... and it never reached the world (nothing landed)
│   │   ├── InvalidArgs           arguments failed the tool's Args model
│   │   ├── GrantRevoked          the grant was revoked (Stop)
│   │   ├── GrantExpired          the grant's ttl ran out
│   │   ├── OutOfScope            tool or resource not covered by the grant
│   │   ├── CallLimitReached      the grant's max_calls were used up
│   │   └── Interrupted           cut off by Stop (or its caller) before the fence, or lookup found no effect
│   └── OutcomeUnknown            ... past the fence: it may have landed; lookup may still settle it
├── Undone                        a keyed call landed once and was undone since; not issued again
├── NotBound                      a decorated tool was called with no supervisor bound; nothing ran
├── CommitRefused                 raised BY a tool's commit: upstream said no, nothing landed
├── CompensationFailed            an undo failed after its retries
├── PlannerError                  the planner cannot go on (its model server failed)
└── TaskFileError                 task.yaml is wrong (file, line, field)
```

Every message is built from fields the error keeps, and ends with what to do.

Catch `CallCutOff` for "the call did not go through" (an agent loop that goes
on after Stop); catch `Rejected` only where "nothing reached the world" matters,
since an `OutcomeUnknown` call may have landed and is not one.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

__all__ = [
    "AgentstopError",
    "CallCutOff",
    "CallLimitReached",
    "CallTaken",
    "CommitRefused",
    "CompensationFailed",
    "GrantExpired",
    "GrantRevoked",
    "IllegalTransition",
    "Interrupted",
    "InvalidArgs",
    "JournalBusy",
    "JournalCorrupt",
    "JournalDamaged",
    "JournalError",
    "JournalFull",
    "JournalTooNew",
    "NotBound",
    "OutOfScope",
    "OutcomeUnknown",
    "PlannerError",
    "Rejected",
    "TaskFileError",
    "ToolError",
    "ToolFailed",
    "Undone",
    "UnknownCall",
    "UnknownSession",
    "UnknownTool",
]


class AgentstopError(Exception):
    """Root of every error agentstop raises on purpose."""


# -- journal ---------------------------------------------------------------


class JournalError(AgentstopError):
    """The journal cannot be opened or written as asked."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        self.path = path
        self.problem = problem
        self.fix = fix
        super().__init__(f"journal {path}: {problem}. {fix}")


class JournalCorrupt(JournalError):
    """Raised when the file is not an agentstop journal or is damaged."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            path,
            f"not a usable agentstop journal ({detail})",
            "Point to a journal written by agentstop, or move this file aside; nothing was written to it.",
        )


class JournalDamaged(JournalCorrupt):
    """Raised when an agentstop journal's pages are damaged (a read failed, then `PRAGMA quick_check`).

    Nothing is written to such a journal: not a recovery, not a new session.
    """

    def __init__(self, path: str, detail: str) -> None:
        self.detail = detail
        JournalError.__init__(
            self,
            path,
            f"the journal is damaged ({detail})",
            f"Copy what can be read with `agentstop journal copy {path} NEW.db` (or `sqlite3 {path} .recover`) "
            "and use the copy; nothing was written to this file.",
        )


class JournalFull(JournalError):
    """Raised when a write failed because the disk or the database's size limit is full.

    The fence fails closed on it: a call whose `committing` record could not be
    written was not issued.
    """

    def __init__(self, path: str, detail: str) -> None:
        self.detail = detail
        super().__init__(
            path,
            f"the disk is full ({detail})",
            "The fence held: nothing was issued without its journal record, and what the journal holds is "
            "consistent. Free disk space, then run `agentstop report` to settle anything left in flight.",
        )


class JournalTooNew(JournalError):
    """Raised when the journal's schema version is newer than this agentstop."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            path,
            f"schema version {found} is newer than this agentstop supports ({supported})",
            "Upgrade agentstop (pip install -U agentstop); the journal was not modified.",
        )


class JournalBusy(JournalError):
    """Raised when another process held the journal's write lock past the bound."""

    def __init__(self, path: str, waited: float) -> None:
        self.waited = waited
        super().__init__(
            path,
            f"locked by another writer for {waited:.1f} s",
            "Nothing was committed without its journal record; retry when the other "
            "process has finished (agentstop sessions shows what is running).",
        )


class IllegalTransition(JournalError):
    """Raised when a call state change is not allowed by the lifecycle."""

    def __init__(self, path: str, call_id: str, current: str, wanted: str) -> None:
        self.call_id = call_id
        self.current = current
        self.wanted = wanted
        super().__init__(
            path,
            f"call {call_id} cannot go from {current} to {wanted}",
            "This is a bug in the caller or in agentstop; the journal was left unchanged.",
        )


class CallTaken(IllegalTransition):
    """Raised when an undo or re-apply loses the call to another process that is doing (or did) the same."""

    def __init__(self, path: str, call_id: str, current: str, wanted: str, doing: str, owner: str) -> None:
        self.call_id = call_id
        self.current = current
        self.wanted = wanted
        self.owner = owner
        when = "already being" if current == wanted else "was"
        now = "" if current == wanted else f" meanwhile (it is now {current})"
        JournalError.__init__(
            self,
            path,
            f"call {call_id} {when} {doing} by {owner}{now}",
            "This command did nothing to it; `agentstop report` shows how that ends.",
        )


class UnknownSession(JournalError):
    """Raised when a session id is not in the journal."""

    def __init__(self, path: str, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(
            path,
            f"no session {session_id!r}",
            "List the sessions with `agentstop sessions` and pass one of their ids, or 'latest'.",
        )


class UnknownCall(JournalError):
    """Raised when a call id is not part of the session."""

    def __init__(self, path: str, session_id: str, call_id: str) -> None:
        self.session_id = session_id
        self.call_id = call_id
        super().__init__(
            path,
            f"session {session_id} has no call {call_id!r}",
            "See `agentstop report` for the session's call ids.",
        )


# -- tools -----------------------------------------------------------------


class ToolError(AgentstopError):
    """A tool is missing or misbehaved."""


class UnknownTool(ToolError):
    """Raised when a call names a tool that is not registered."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        listing = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"no tool named {name!r} (registered: {listing}). Add it to the supervisor's tools, or fix the name."
        )


class ToolFailed(ToolError):
    """Raised when a tool's prepare or commit raised; the journal says what happened."""

    def __init__(self, call_id: str, tool: str, phase: Literal["prepare", "commit"], error: str, landed: str) -> None:
        self.call_id = call_id
        self.tool = tool
        self.phase: Literal["prepare", "commit"] = phase
        """Which of the tool's steps raised: `prepare` (nothing was issued) or `commit`."""
        self.error = error
        self.landed = landed
        super().__init__(f"call {call_id} ({tool}) failed in {phase}: {error}; {landed}")


class Undone(AgentstopError):
    """Raised for a keyed call (`key=`) whose earlier call landed and was undone since.

    Nothing is issued again: the caller is told the effect was taken back, never
    handed the old receipt as if it still held.

    Attributes:
        call_id: the earlier call's id in its session.
        tool: the tool's name.
        receipt: the receipt the effect had before its undo.
        by: who undid it (as journaled), or "" when not recorded.
        state: the earlier call's state now (compensated, compensating, reapply_failed).
    """

    def __init__(self, call_id: str, tool: str, receipt: Any, by: str, state: str) -> None:
        self.call_id = call_id
        self.tool = tool
        self.receipt = receipt
        self.by = by
        self.state = state
        how = "is being undone" if state == "compensating" else "was undone"
        who = f" by {by}" if by else ""
        super().__init__(
            f"call {call_id} ({tool}) landed and {how}{who} since; not issued again. "
            "Call it with a new key to do it again."
        )


class NotBound(AgentstopError):
    """Raised when an `@agentstop.tool` function is called with no supervisor bound; nothing ran."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        super().__init__(
            f"{tool}() was called with no supervisor bound, so nothing ran. "
            f"Call it inside `async with agentstop.bind(sup):`, or use `await sup.call({tool!r}, args)`."
        )


class CommitRefused(AgentstopError):
    """Raise this from `Tool.commit` when the upstream refused and nothing landed.

    Any other exception from commit leaves the outcome uncertain: agentstop then asks
    the tool's `lookup`, and without one records the call as *unknown*.
    """


class CompensationFailed(AgentstopError):
    """Raised when a compensation still failed after its retries."""

    def __init__(self, call_id: str, tool: str, attempts: int, error: str) -> None:
        self.call_id = call_id
        self.tool = tool
        self.attempts = attempts
        self.error = error
        super().__init__(
            f"undo of call {call_id} ({tool}) failed after {attempts} attempts: {error}. "
            "It stays listed as compensation_failed; retry with `agentstop undo`."
        )


# -- the fence ---------------------------------------------------------------


class CallCutOff(AgentstopError):
    """Base of the errors for a call agentstop ended before it returned a receipt.

    The fence refused it, Stop (or its caller going away) cut it off, or its
    outcome is not known. A subclass says which, and whether it may have
    landed: `Rejected` never reached the world; `OutcomeUnknown` may have.

    Attributes:
        call_id: the call's id in its session (None when it was never journaled).
        tool: the tool's name.
        reason: one line saying why, as the journal records it.
    """

    what: ClassVar[str] = "cut off"
    """The words the message uses for what became of the call."""

    def __init__(self, call_id: str | None, tool: str, reason: str) -> None:
        self.call_id = call_id
        self.tool = tool
        self.reason = reason
        who = f"call {call_id} ({tool})" if call_id else f"call to {tool}"
        super().__init__(f"{who} {self.what}: {reason}")


class Rejected(CallCutOff):
    """Raised when the call did not reach the world: the fence refused it, or it was cut off before it.

    Nothing landed, and its reason ends by saying so ("...; nothing was sent").
    """

    what: ClassVar[str] = "rejected"


class InvalidArgs(Rejected):
    """Raised when arguments fail the tool's Args model; nothing was prepared."""


class GrantRevoked(Rejected):
    """Raised at the fence when the grant was revoked (by Stop, here or elsewhere)."""


class GrantExpired(Rejected):
    """Raised at the fence when the grant's ttl had run out."""


class OutOfScope(Rejected):
    """Raised at the fence when the tool or its resource is not covered by the grant."""


class CallLimitReached(Rejected):
    """Raised at the fence when the grant's max_calls were used up."""


class Interrupted(Rejected):
    """Raised when Stop (or the call's caller going away) cut the call off before it reached the fence.

    Also when Stop cut a commit off and the tool's `lookup` then found no effect:
    nothing landed.
    """


class OutcomeUnknown(CallCutOff):
    """Raised when a call past the fence ended with its outcome not known: it may have landed.

    Stop cut its commit off (and lookup could not tell), or a keyed call made
    again found the earlier one still in flight. `lookup`, or `agentstop report`
    later, settles it; it is never counted as refused.
    """

    what: ClassVar[str] = "outcome unknown"


# -- planners ----------------------------------------------------------------


class PlannerError(AgentstopError):
    """Raised by a planner that cannot go on, e.g. its model server failed or is unreachable.

    The supervisor stops the session with this message as the reason; calls
    made before it are in the journal as usual.

    Attributes:
        source: what failed, like "model 'llama3.1' at http://127.0.0.1:11434/v1".
        problem: what went wrong.
        fix: what to do about it.
    """

    def __init__(self, source: str, problem: str, fix: str) -> None:
        self.source = source
        self.problem = problem
        self.fix = fix
        super().__init__(f"{source}: {problem}. {fix}")


# -- task files --------------------------------------------------------------


class TaskFileError(AgentstopError):
    """A task.yaml is wrong; says the file, the line and the field."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.problem = problem
        where = path if line is None else f"{path}:{line}"
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{what} {problem}")
