"""What every framework adapter shares: keys, tools built from a framework's schema, answers, history.

An adapter puts the fence between a framework and its tools, in the framework's
own idiom. Whatever the framework, a call goes the same way:

1. its key is the framework's own tool-call id, namespaced by the run or thread
   (`call_key`), so a framework that runs a node again (after an interrupt,
   say) gets the recorded outcome instead of a second effect;
2. a tool declared with `@agentstop.tool` runs through its own `.Tool`
   (`tool_class_of`); any other framework tool becomes an agentstop tool built
   from the framework's schema (`framework_tool`), irreversible unless the
   policy says otherwise, whose commit is the framework's own invocation;
3. `fenced_call` runs it through `Supervisor.call` and turns every refusal into
   the shared wording of `agentstop.answers`: a tool result the model reads,
   never an exception the framework would retry or fail the run on;
4. `recorded_answer` says, from the journal, what a tool-call id's call came to,
   for rebuilding a framework's history after a cancel (`reconcile_history`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentstop.answers import answer
from agentstop.errors import AgentstopError, GrantRevoked, ToolError
from agentstop.journal import CallState
from agentstop.report_buckets import IN_EFFECT, IN_FLIGHT, LANDED
from agentstop.supervisor import Supervisor
from agentstop.tools import Reversibility, StopPolicy, Tool, ToolContext

__all__ = [
    "NOT_EXECUTED",
    "Compensation",
    "Outcome",
    "Policy",
    "call_key",
    "fenced_call",
    "framework_tool",
    "recorded_answer",
    "reversibility_of",
    "tool_class_of",
]

Compensation = Callable[[dict[str, Any], ToolContext], Awaitable[None]]
Policy = Mapping[str, Reversibility | str]

# The framework's own invocation of the call being committed: set by the adapter around
# `Supervisor.call`, read by a framework tool's commit (the supervisor's task copies the context).
_INVOKE: ContextVar[Callable[[], Awaitable[Any]] | None] = ContextVar("agentstop_framework_invoke", default=None)


def call_key(*parts: str | None) -> str:
    """An idempotency key from the framework's ids: thread/run id, then tool-call id (empty parts dropped)."""
    return ":".join(p for p in parts if p)


def tool_class_of(obj: Any) -> type[Tool] | None:
    """The agentstop tool class behind a framework tool's function: an `@agentstop.tool`'s `.Tool`, else None."""
    seen = 0
    while obj is not None and seen < 10:
        cls = getattr(obj, "Tool", None)
        if isinstance(cls, type) and issubclass(cls, Tool):
            return cls
        obj = getattr(obj, "__wrapped__", None) or getattr(obj, "func", None)
        seen += 1
    return None


def reversibility_of(name: str, policy: Policy | None, default: Reversibility | str) -> Reversibility:
    """A framework tool's class: the policy's word for it, else the default (irreversible unless said)."""
    word = (policy or {}).get(name, default)
    try:
        return Reversibility(word)
    except ValueError:
        raise ToolError(f"policy for {name!r}: {word!r} is not one of {[r.value for r in Reversibility]}") from None


class _AnyArgs(BaseModel):
    """A framework tool's arguments: the framework validates them against its own schema."""

    model_config = ConfigDict(extra="allow")


def framework_tool(
    name: str,
    description: str,
    reversibility: Reversibility,
    *,
    compensate: Compensation | None = None,
    resource: Callable[[dict[str, Any]], str] | None = None,
    on_stop: StopPolicy = StopPolicy.WAIT,
) -> type[Tool]:
    """An agentstop tool for a framework's own tool: its commit is the framework's invocation of the call.

    The receipt is `{"output": ...}`, the framework tool's output made JSON-able.
    Undoable only when `compensate(receipt, ctx)` is given (it runs in this process:
    a framework tool is rebuilt from the framework, not from an import path).
    """

    class FrameworkTool(Tool):
        __doc__ = f"The framework tool {name!r}, behind agentstop's fence."

        def resource(self, args: Any) -> str:
            if resource is None:
                return self.name
            data = args.model_dump() if isinstance(args, BaseModel) else dict(args)
            return resource(data)

        async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
            invoke = _INVOKE.get()
            if invoke is None:
                raise ToolError(
                    f"{name}: the framework's invocation is not available here (only its adapter can issue this tool)"
                )
            return {"output": _jsonable(await invoke())}

    FrameworkTool.name = name
    FrameworkTool.description = description
    FrameworkTool.reversibility = reversibility
    FrameworkTool.on_stop = on_stop
    FrameworkTool.Args = _AnyArgs
    FrameworkTool.__qualname__ = f"FrameworkTool[{name}]"
    if compensate is not None:

        async def compensation(self: Tool, receipt: dict[str, Any], ctx: ToolContext) -> None:
            await compensate(receipt, ctx)

        setattr(FrameworkTool, "compensate", compensation)  # noqa: B010 (mypy forbids assigning a method)
    return FrameworkTool


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


@dataclass(frozen=True)
class Outcome:
    """How a fenced call ended, as an adapter hands it to its framework."""

    receipt: dict[str, Any] | None
    """The receipt when the call landed (now, or before: a keyed call made again); None otherwise."""
    text: str
    """What the model reads: the tool's own output when it landed, else the shared refusal wording."""
    error: AgentstopError | None = None

    @property
    def landed(self) -> bool:
        return self.receipt is not None


async def fenced_call(
    sup: Supervisor,
    tool: str | type[Tool],
    args: Any,
    *,
    key: str | None,
    invoke: Callable[[], Awaitable[Any]] | None = None,
    cancelled_as: str = "cancelled by the caller",
) -> Outcome:
    """Run one framework call through the fence; a refusal comes back as an answer, never raised.

    Args:
        sup: the session.
        tool: a tool's name or class (an `@agentstop.tool`'s `.Tool` is adopted on first use).
        args: the call's arguments as the model gave them.
        key: the idempotency key (`call_key(thread, tool_call_id)`).
        invoke: for a tool built by `framework_tool`, the framework's own invocation of this call.
        cancelled_as: how the journal words it if the framework cancels the call.

    Raises:
        CancelledError: the framework cancelled the call (the supervisor owns it from there).
    """
    token = _INVOKE.set(invoke)
    try:
        receipt = await sup.call(tool, args, key=key, cancelled_as=cancelled_as)
    except AgentstopError as exc:
        revoked_by = await _revoked_by(sup) if sup.stopping or isinstance(exc, GrantRevoked) else None
        return Outcome(None, answer(exc, stopping=sup.stopping, revoked_by=revoked_by), exc)
    finally:
        _INVOKE.reset(token)
    output = receipt.get("output", receipt) if isinstance(receipt, dict) else receipt
    return Outcome(receipt, output if isinstance(output, str) else json.dumps(output, default=str))


async def _revoked_by(sup: Supervisor) -> str | None:
    revoked = [g for g in await sup.journal.grants(sup.session_id) if g.revoked_at is not None]
    return revoked[-1].revoked_by if revoked else None


# What a tool call came to, for a framework's history rebuilt after a cancel.
_UNDONE = LANDED - IN_EFFECT  # landed, then taken back (or being re-applied)
NOT_EXECUTED = "interrupted by the user: not executed"
BEING_CHECKED = "stopped: outcome unknown, being checked"


async def recorded_answer(sup: Supervisor, key: str) -> str | None:
    """What the journal says the call with this key came to, in words for the model; None if never planned.

    A landed call reads as done, with its receipt; one undone since says so; one
    whose outcome is unknown "stopped: outcome unknown, being checked"; one that
    never reached the world "interrupted by the user: not executed" (with why).
    """
    calls = await sup.journal.calls_by_key(key, sup.session_id)
    if not calls:
        return None
    call = calls[-1]
    state = CallState(call.state)
    if state in IN_EFFECT:
        output = (call.receipt or {}).get("output", call.receipt)
        shown = output if isinstance(output, str) else json.dumps(output, default=str)
        return f"done: {shown}"
    if state in _UNDONE:
        return f"done, then undone by {call.undo_by or 'the user'}: its effect was taken back"
    if state in IN_FLIGHT:
        return BEING_CHECKED
    return f"{NOT_EXECUTED} ({call.reason})" if call.reason else NOT_EXECUTED
