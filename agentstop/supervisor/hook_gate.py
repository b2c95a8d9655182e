"""`HookGate`: the fence for tools another program runs itself, such as a coding CLI through its hooks.

A coding CLI (Claude Code, Codex) runs its tools in its own process. It asks a
PreToolUse hook first and tells a PostToolUse (or PostToolUseFailure) hook the
outcome after. The gate makes the Pre hook the commit fence and the Post hook
the commit's outcome:

- `before`: plan, prepare and fence (`CallPath.call(defer=True)`): the call is
  durably `committing` before the hook answers, so the CLI runs nothing that the
  journal has not recorded first; a refusal (grant revoked by Stop, out of scope)
  is answered in the shared wording of `agentstop.answers`, and the CLI hands it
  to the model as the tool's result;
- `after`: the outcome. The tool's `commit` runs then, not to issue the effect
  (the CLI did) but to say what landed: it reads `ctx.extra["response"]` (or
  `ctx.extra["error"]`) and returns the receipt, or raises `CommitRefused` when
  nothing landed (a file tool whose write failed); a Bash that exited non-zero
  ran, and its commit returns a receipt with the error;
- `settle`: a call whose Post never came (the CLI was interrupted, or exited) is
  `unknown` and asked about with the tool's `lookup` (a file tool compares the
  file with what it was asked to write); one that cannot be asked stays in
  flight, reported as having run and maybe partly landed.

State between Pre and Post lives in the journal only (the call's prepared effect
and its key, the model's tool-call id), so a Pre in one process and its Post in
another (command hooks) meet there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentstop.answers import answer
from agentstop.errors import AgentstopError, CommitRefused, GrantRevoked
from agentstop.journal import CallState
from agentstop.journal.records import CallRecord
from agentstop.report_buckets import IN_FLIGHT
from agentstop.tools import Tool, ToolContext

from .calls import Caller, CallPath, reconcile

__all__ = ["HookGate", "PreAnswer"]


@dataclass(frozen=True)
class PreAnswer:
    """What the Pre hook answers: let the CLI run the tool (its own rules still apply), or deny it.

    Attributes:
        call_id: the journaled call ("c3"), None when nothing was journaled (a tool unknown to the gate).
        allowed: True when the call passed the fence.
        reason: for a denial, what the model reads as the tool's result.
    """

    call_id: str | None
    allowed: bool
    reason: str = ""


class HookGate:
    """Pre hook = plan + prepare + fence; Post hook = the outcome; no Post = in flight, settled where it can be.

    Args:
        path: the session's call path (a supervisor's, or one built over the journal by a hook process).
        tool_for: builds a tool class for a tool name the registry does not know (an MCP tool of the CLI's).
        adopt: registers such a class with the session (so reports name it); returns its name.
        stopping: whether the session is being stopped (Stop explains an interruption).
    """

    def __init__(
        self,
        path: CallPath,
        tool_for: Callable[[str], type[Tool]],
        adopt: Callable[[type[Tool]], Awaitable[str]],
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._path = path
        self._tool_for = tool_for
        self._adopt = adopt
        self._stopping = stopping

    @property
    def journal(self) -> Any:
        """The journal the gate writes to."""
        return self._path.journal

    @property
    def session_id(self) -> str:
        """The session the gate's calls belong to."""
        return self._path.session_id

    async def before(self, tool_name: str, args: Any, key: str) -> PreAnswer:
        """The Pre hook: journal the call and pass it through the fence, or refuse it (never raises for a refusal)."""
        if tool_name not in self._path.registry:
            await self._adopt(self._tool_for(tool_name))
        caller = Caller("the CLI's hook request went away")
        try:
            result = await self._path.call(tool_name, args, key, caller, defer=True)
        except AgentstopError as exc:
            stopping = self._stopping() or self._path.stopping
            revoked_by = await self._revoked_by() if stopping or isinstance(exc, GrantRevoked) else None
            return PreAnswer(caller.call_id, False, answer(exc, stopping=stopping, revoked_by=revoked_by))
        if not result.get("deferred"):
            # The model's id was used before and that call landed: the CLI would run it a second time.
            return PreAnswer(caller.call_id, False, f"refused: tool call {key} was done before; not issued again")
        return PreAnswer(str(result["call_id"]), True)

    async def after(self, key: str, response: Any = None, *, error: str | None = None) -> str | None:
        """The Post hook (or PostToolUseFailure, with `error`): record what landed; returns the new state.

        None when no call of this key waits for its outcome (a Post for a call
        the gate refused, or one recorded already).
        """
        call = await self._open_call(key)
        if call is None:
            return None
        tool = self._path.registry.get(call.tool)
        ctx = self._context(call, tool, extra={"response": response, "error": error})
        try:
            receipt = await tool.commit(call.prepared, ctx)
        except CommitRefused as exc:
            await self._path.record(
                call.call_id,
                CallState.FAILED,
                reason=f"the CLI reported it failed: {exc}; nothing landed",
                data={"phase": "commit"},
            )
            return CallState.FAILED.value
        except Exception as exc:
            # Recording the receipt failed, not the tool: what landed is unknown, and said so.
            await self._path.record(
                call.call_id,
                CallState.UNKNOWN,
                reason=f"the CLI ran it, but its receipt could not be built "
                f"({type(exc).__name__}: {exc}); outcome unknown",
            )
            return CallState.UNKNOWN.value
        await self._path.record(call.call_id, CallState.COMMITTED, receipt=receipt if receipt is not None else {})
        return CallState.COMMITTED.value

    async def settle(self, why: str, refused_by_cli: Mapping[str, str] | None = None) -> dict[str, str]:
        """Settle the calls still `committing`: no Post came (the CLI was interrupted, or exited); returns outcomes.

        Args:
            why: what happened ("the CLI was interrupted by Stop").
            refused_by_cli: calls the CLI itself refused after the hook allowed them (its own
                permission rules), by key, with the CLI's words: they never ran.
        """
        outcomes: dict[str, str] = {}
        for call in await self._path.journal.calls(self.session_id):
            if call.state != CallState.COMMITTING.value:
                continue
            refused = (refused_by_cli or {}).get(call.idempotency_key)
            if refused is not None:
                await self._path.record(
                    call.call_id, CallState.FAILED, reason=f"the CLI refused it after the hook: {refused}; it never ran"
                )
                outcomes[call.call_id] = CallState.FAILED.value
                continue
            tool = self._path.registry.get(call.tool) if call.tool in self._path.registry else None
            if tool is None or not tool.can_lookup():
                ran = (
                    "it ran and may have partly landed"
                    if call.reversibility != "read_only"
                    else "a read, nothing to undo"
                )
                await self._path.record(
                    call.call_id, CallState.UNKNOWN, reason=f"{why}; no PostToolUse came: {ran} (outcome unknown)"
                )
                outcomes[call.call_id] = CallState.UNKNOWN.value
                continue
            await self._path.record(
                call.call_id, CallState.UNKNOWN, reason=f"{why}; no PostToolUse came: outcome unknown, checking"
            )
            found, problem = await reconcile(tool, self._context(call, tool))
            if found is not None:
                await self._path.record(call.call_id, CallState.COMMITTED, receipt=found, data={"reconciled": True})
                outcomes[call.call_id] = CallState.COMMITTED.value
            elif problem is None:
                await self._path.record(
                    call.call_id,
                    CallState.FAILED,
                    data={"reconciled": True},
                    reason=f"{why}; no PostToolUse came and the check found no effect: nothing landed",
                )
                outcomes[call.call_id] = CallState.FAILED.value
            else:
                outcomes[call.call_id] = CallState.UNKNOWN.value
        return outcomes

    def _context(self, call: CallRecord, tool: Tool, extra: dict[str, Any] | None = None) -> ToolContext:
        base = self._path.context(call.call_id, tool, call.idempotency_key, call.args)
        return ToolContext(
            session_id=base.session_id,
            call_id=base.call_id,
            tool=base.tool,
            idempotency_key=base.idempotency_key,
            args=call.args,
            extra=extra or {},
            prepared=call.prepared,
        )

    async def _open_call(self, key: str) -> CallRecord | None:
        for call in await self._path.journal.calls_by_key(key, self.session_id):
            if call.state in IN_FLIGHT:
                return call
        return None

    async def _revoked_by(self) -> str | None:
        revoked = [g for g in await self._path.journal.grants(self.session_id) if g.revoked_at is not None]
        return revoked[-1].revoked_by if revoked else None
