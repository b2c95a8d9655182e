"""PydanticAI: the fence as a capability, under the agent you already have.

```python
import agentstop
from agentstop.adapters import pydantic_ai as fence
from pydantic_ai import Agent

agent = Agent(model, tools=[write_note, send_email], capabilities=[fence.Fence(sup)])
async with agentstop.bind(sup):
    try:
        result = await agent.run("...")
        history = result.all_messages()
    except RunCancelled as cancelled:          # Stop, from here or from another terminal
        history = await fence.reconcile_history(cancelled.all_messages(), sup)
```

`Fence(sup)` wraps the run's toolset in a `FencedToolset` (use that directly
around any toolset: `FencedToolset(toolset, sup)`). Every tool call then goes
through `Supervisor.call`:

- an `@agentstop.tool` function passed as `Agent(tools=[write_note])` runs
  through its own `.Tool` (its reversibility, prepare, compensate, lookup);
- a tool whose name is registered with the `Supervisor` is that tool;
- any other tool (a plain function, an MCP server's tool, another toolset's)
  becomes an agentstop tool whose commit is the toolset's own `call_tool`:
  irreversible unless `policy` says otherwise, undoable only with a
  `compensate` you give.

The key of each call is PydanticAI's tool-call id within its conversation
(`conversation_id`, which a run continuing a history keeps, and so does a
durable engine running a workflow again; else the run id), so a call made again gets the
recorded outcome instead of a second effect. A refusal (Stop, scope, expiry) is
the tool's *return*, in the wording of `agentstop.answers`, which the model
reads: never `ModelRetry` and never an exception that fails the run. The
capability also wires Stop to the run: whoever stops the session (this process,
`agentstop stop`, the TUI attached from another terminal), every run in flight
is cancelled the PydanticAI way (`RunContext.cancel`), so `agent.run` raises
`RunCancelled`; a commit already past the fence is not cut: the supervisor
finishes it and the journal keeps it (pydantic-ai #6460).

After a cancel, `reconcile_history(messages, sup)` answers every tool call of the
history exactly once from the journal, so the next run's transcript is valid and
true (pydantic-ai #7977: PydanticAI's own repair calls a call that landed
"interrupted").
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic_ai.capabilities import AbstractCapability, WrapRunHandler
from pydantic_ai.exceptions import ApprovalRequired, CallDeferred, ModelRetry, SkipToolExecution, UserError
from pydantic_ai.exceptions import ToolFailed as PydanticToolFailed
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.run import AgentRunResult
from pydantic_ai.tools import AgentDepsT, RunContext
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset, ToolsetTool, WrapperToolset

from agentstop.errors import CommitRefused
from agentstop.supervisor import Supervisor
from agentstop.tools import Reversibility, Tool

from ._common import (
    NOT_EXECUTED,
    Compensation,
    Policy,
    call_key,
    fenced_call,
    framework_tool,
    recorded_answer,
    reversibility_of,
    tool_class_of,
)

__all__ = ["Fence", "FencedToolset", "reconcile_history"]

# What a tool raises to steer PydanticAI (retry, defer, ask for approval, fail, skip): the tool's own
# answer, not an effect. Raised from a framework tool's commit, the journal says nothing landed
# and PydanticAI gets the exception back, so its own semantics (retry budget, deferral) hold.
_FRAMEWORK_SIGNALS: tuple[type[Exception], ...] = (
    ModelRetry,
    CallDeferred,
    ApprovalRequired,
    PydanticToolFailed,
    SkipToolExecution,
)


class _Session:
    """What every fence over one supervisor shares: the framework tools built, the runs to cancel on Stop."""

    def __init__(self, sup: Supervisor) -> None:
        self.framework_tools: dict[str, type[Tool]] = {}
        self.runs: list[Callable[[], None]] = []
        sup.on_stop(self.cancel_runs)

    def cancel_runs(self) -> None:
        for cancel in list(self.runs):
            try:
                cancel()
            except UserError:
                pass  # the run ended meanwhile, or is not one PydanticAI can cancel from here


_SESSIONS: weakref.WeakKeyDictionary[Supervisor, _Session] = weakref.WeakKeyDictionary()


def _session(sup: Supervisor) -> _Session:
    session = _SESSIONS.get(sup)
    if session is None:
        session = _SESSIONS[sup] = _Session(sup)
    return session


def _conversation_key(conversation_id: str | None, run_id: str | None, tool_call_id: str | None) -> str | None:
    """The idempotency key of a tool call: its id within its conversation (else its run)."""
    if not tool_call_id:
        return None  # no id to make a call the same call again: each is its own
    return call_key(conversation_id or run_id, tool_call_id)


def _function_of(tool: ToolsetTool[Any]) -> Callable[..., Any] | None:
    """The Python function behind a toolset's tool, when there is one (a function tool)."""
    seen = 0
    while seen < 10:  # a combined toolset hands on the tool of the toolset it came from
        inner = getattr(tool, "source_tool", None)
        if not isinstance(inner, ToolsetTool):
            break
        tool, seen = inner, seen + 1
    toolset = tool.toolset
    name = getattr(tool, "original_name", None) or tool.tool_def.name
    if isinstance(toolset, FunctionToolset) and name in toolset.tools:
        function: Callable[..., Any] = toolset.tools[name].function
        return function
    schema = getattr(getattr(tool, "call_func", None), "__self__", None)
    found = getattr(schema, "function", None)
    return found if callable(found) else None


@dataclass
class FencedToolset(WrapperToolset[AgentDepsT]):
    """A toolset whose every call goes through agentstop's fence.

    ```python
    agent = Agent(model, toolsets=[FencedToolset(my_mcp_server, sup, policy={"search": "read_only"})])
    ```

    Args:
        wrapped: the toolset to fence.
        sup: the session the calls run in.
        policy: reversibility by tool name for tools agentstop builds from the
            toolset ("read_only", "reversible", "compensable", "irreversible").
        default: the reversibility of a tool the policy does not name.
        compensate: by tool name, how to undo a call of such a tool
            (`async def undo(receipt, ctx)`, receipt `{"output": ...}`); a tool
            without one cannot be undone.
        resource: by tool name, what the grant's scopes match for a call
            (`lambda args: f"mail:{args['to']}"`; default: the tool's name).
    """

    sup: Supervisor
    policy: Policy | None = field(default=None, kw_only=True)
    default: Reversibility | str = field(default=Reversibility.IRREVERSIBLE, kw_only=True)
    compensate: Mapping[str, Compensation] | None = field(default=None, kw_only=True)
    resource: Mapping[str, Callable[[dict[str, Any]], str]] | None = field(default=None, kw_only=True)

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[AgentDepsT], tool: ToolsetTool[AgentDepsT]
    ) -> Any:
        """Run the call through the fence; a refusal is the tool's return, in agentstop's wording."""
        key = _conversation_key(ctx.conversation_id, ctx.run_id, ctx.tool_call_id)
        cancelled_as = f"the PydanticAI run was cancelled (tool call {ctx.tool_call_id})"
        declared = tool_class_of(_function_of(tool))
        if declared is not None:
            outcome = await fenced_call(self.sup, declared, tool_args, key=key, cancelled_as=cancelled_as)
            return outcome.receipt if outcome.receipt is not None else outcome.text
        built = _session(self.sup).framework_tools.get(name)
        if built is None and name in self.sup.registry:
            outcome = await fenced_call(self.sup, name, tool_args, key=key, cancelled_as=cancelled_as)
            return outcome.receipt if outcome.receipt is not None else outcome.text
        if built is None:
            built = self._build(name, tool)
        return await self._call_framework_tool(built, name, tool_args, ctx, tool, key, cancelled_as)

    def _build(self, name: str, tool: ToolsetTool[AgentDepsT]) -> type[Tool]:
        reversibility = reversibility_of(name, self.policy, self.default)
        built = framework_tool(
            name,
            tool.tool_def.description or "",
            reversibility,
            compensate=(self.compensate or {}).get(name),
            resource=(self.resource or {}).get(name),
        )
        _session(self.sup).framework_tools[name] = built
        return built

    async def _call_framework_tool(
        self,
        built: type[Tool],
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
        key: str | None,
        cancelled_as: str,
    ) -> Any:
        produced: list[Any] = []
        signal: list[Exception] = []

        async def invoke() -> Any:
            try:
                result = await self.wrapped.call_tool(name, tool_args, ctx, tool)
            except _FRAMEWORK_SIGNALS as exc:
                signal.append(exc)
                raise CommitRefused(f"the tool raised {type(exc).__name__}: {exc}") from exc
            produced.append(result)
            return result

        outcome = await fenced_call(self.sup, built, tool_args, key=key, invoke=invoke, cancelled_as=cancelled_as)
        if signal:
            raise signal[0]  # PydanticAI's own answer to its own signal (a retry prompt, a deferral)
        if produced and outcome.landed:
            return produced[0]  # the tool's return as the tool made it (rich content, `ToolReturn`)
        if outcome.receipt is not None:  # landed earlier under this key: the recorded output, not a second effect
            return outcome.receipt.get("output", outcome.receipt)
        return outcome.text


@dataclass
class Fence(AbstractCapability[AgentDepsT]):
    """The capability that puts agentstop's fence under an agent's tools and wires Stop to its runs.

    ```python
    agent = Agent(model, tools=[write_note], capabilities=[Fence(sup, policy={"search": "read_only"})])
    ```

    Every toolset of the run is wrapped in a `FencedToolset` (see it for the
    arguments). While a run is in flight, Stop (from this process, `agentstop
    stop`, the TUI attached elsewhere, the grant's expiry; heard while
    `agentstop.bind(sup)` is active) cancels it with `RunContext.cancel`:
    `agent.run` raises `RunCancelled`, whose `all_messages()` you pass to
    `reconcile_history`. A run started after Stop is not cancelled: every call
    it makes is answered with the refusal, and it ends normally.
    """

    sup: Supervisor
    policy: Policy | None = field(default=None, kw_only=True)
    default: Reversibility | str = field(default=Reversibility.IRREVERSIBLE, kw_only=True)
    compensate: Mapping[str, Compensation] | None = field(default=None, kw_only=True)
    resource: Mapping[str, Callable[[dict[str, Any]], str]] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        _session(self.sup)  # Stop cancels this supervisor's runs from now on, whoever stops

    @classmethod
    def get_serialization_name(cls) -> str | None:
        return None  # holds a live Supervisor: not spec-serializable

    def get_wrapper_toolset(self, toolset: AbstractToolset[AgentDepsT]) -> AbstractToolset[AgentDepsT] | None:
        return FencedToolset(
            toolset,
            self.sup,
            policy=self.policy,
            default=self.default,
            compensate=self.compensate,
            resource=self.resource,
        )

    async def wrap_run(self, ctx: RunContext[AgentDepsT], *, handler: WrapRunHandler) -> AgentRunResult[Any]:
        runs = _session(self.sup).runs
        runs.append(ctx.cancel)
        try:
            return await handler()
        finally:
            runs.remove(ctx.cancel)


async def reconcile_history(messages: Sequence[ModelMessage], sup: Supervisor) -> list[ModelMessage]:
    """The history with every tool call answered exactly once, from the journal: valid and true to resume.

    For each `ToolCallPart`, the request after its response holds exactly one
    return with the same `tool_call_id`. A call the journal knows reads what it
    came to: "done: <receipt>" when it landed (even if the run was cancelled
    while it committed), "done, then undone ..." when it was undone since,
    "stopped: outcome unknown, being checked" while its outcome is not known,
    "interrupted by the user: not executed (why)" when it never reached the
    world. A call the journal never saw (an output tool, a retry PydanticAI asked
    for before the fence) keeps the answer the history has, or reads "not
    executed" when it has none. Parts other than tool returns are kept as they
    are; a request cut short by the cancel (`state="interrupted"`) is complete
    once every call is answered.

    Args:
        messages: `RunCancelled.all_messages()`, `result.all_messages()` or a stored history.
        sup: the session the calls ran in.
    """
    out: list[ModelMessage] = list(messages)
    i = 0
    while i < len(out):
        response = out[i]
        calls = (
            [p for p in response.parts if isinstance(p, ToolCallPart)] if isinstance(response, ModelResponse) else []
        )
        if not isinstance(response, ModelResponse) or not calls:
            i += 1
            continue
        following = out[i + 1] if i + 1 < len(out) else None
        request = following if isinstance(following, ModelRequest) else None
        kept = list(request.parts) if request is not None else []
        returns: list[ModelRequestPart] = []
        for call in calls:
            existing = [p for p in kept if _answers(p, call.tool_call_id)]
            key = _conversation_key(response.conversation_id, response.run_id, call.tool_call_id)
            recorded = await recorded_answer(sup, key) if key is not None else None
            if recorded is not None:
                returns.append(
                    ToolReturnPart(
                        call.tool_name,
                        recorded,
                        call.tool_call_id,
                        outcome="success" if recorded.startswith("done: ") else "interrupted",
                    )
                )
            elif existing and not _synthesized(existing[0]):
                returns.append(existing[0])
            else:
                returns.append(ToolReturnPart(call.tool_name, NOT_EXECUTED, call.tool_call_id, outcome="interrupted"))
        ids = {c.tool_call_id for c in calls}
        others = [p for p in kept if not any(_answers(p, tid) for tid in ids)]
        if request is not None:
            out[i + 1] = replace(request, parts=[*returns, *others], state="complete")
        else:
            out.insert(
                i + 1, ModelRequest(parts=returns, run_id=response.run_id, conversation_id=response.conversation_id)
            )
        i += 2
    return out


def _answers(part: ModelRequestPart, tool_call_id: str) -> bool:
    return isinstance(part, (ToolReturnPart, RetryPromptPart)) and part.tool_call_id == tool_call_id


def _synthesized(part: ModelRequestPart) -> bool:
    """A closeout PydanticAI made up for a call cut off by a cancel: not an answer the tool gave."""
    outcome: Literal["success", "failed", "denied", "interrupted", "retried"] | None = getattr(part, "outcome", None)
    return outcome == "interrupted"
