"""The OpenAI Agents SDK under agentstop's fence.

```python
from agents import Agent, Runner
import agentstop
from agentstop.adapters import openai_agents

fenced = openai_agents.fence(agent, sup, policy={"search_docs": "read_only"})
async with sup, agentstop.bind(sup) as s:
    result = Runner.run_streamed(fenced, "Tidy the notes folder")
    openai_agents.stop_with(s, result)          # Stop from anywhere also cancels the run
    async for event in result.stream_events():
        ...
history = await openai_agents.reconcile_history(result.to_input_list(), sup)
```

`fence(agent, sup)` returns a copy of the agent (its handoff agents too) whose
`FunctionTool`s go through the fence. Each call is keyed by the SDK's own
tool-call id (`call_key(group_id or session, tool_call_id)`), so a run resumed
from a `RunState` (after an approval) that invokes the same call again gets the
recorded outcome instead of a second effect. A refusal comes back as the tool's
output text ("refused: grant revoked by ...; nothing was sent"), never as an
exception the SDK would turn into "An error occurred while running the tool.
Please try again.", so the transcript says what reached the world.

- A `FunctionTool` made with `function_tool` from an `@agentstop.tool` function
  runs through that function's own `.Tool` (its class, hooks, undo), with the
  arguments the model sent.
- Any other `FunctionTool` becomes an agentstop tool whose commit is the SDK's
  own invocation of the call; irreversible unless `policy` says otherwise, and
  undoable when `compensate` gives its undo.
- Hosted tools, MCP servers' tools (put those behind `agentstop mcp-proxy`) and
  `Handoff` objects are left as they are.

Stop reaches the run through `stop_with(s, result)`: for a streamed run it calls
`RunResultStreaming.cancel(mode="after_turn")` by default (the turn finishes, its
tool calls meet the revoked grant and are refused, the transcript stays whole),
or `mode="immediate"`; for `Runner.run` in an `asyncio.Task`, `task.cancel()`.
An immediate cancel drops the turn in flight from `result.to_input_list()` and
from a `Session`, calls that landed included: `reconcile_history` puts them back
from the journal, and answers every function call exactly once, so the next
`Runner.run(agent, history + [new message])` is a valid transcript.
"""

from __future__ import annotations

import asyncio
import copy
import json
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, cast

from agents import Agent, FunctionTool, RunResultStreaming
from agents.tool_context import ToolContext as SdkToolContext

from agentstop.supervisor import Binding, Supervisor
from agentstop.tools import Reversibility, Tool

from ._common import (
    NOT_EXECUTED,
    Compensation,
    Outcome,
    Policy,
    call_key,
    fenced_call,
    framework_tool,
    recorded_answer,
    reversibility_of,
    tool_class_of,
)

__all__ = ["fence", "fenced_tool", "reconcile_history", "stop_with"]

CancelMode = Literal["immediate", "after_turn"]

# One agentstop tool class per framework tool name and supervisor: fencing the same agent twice
# (or two agents sharing a tool) adopts one class, as the registry requires.
_FRAMEWORK_CLASSES: weakref.WeakKeyDictionary[Supervisor, dict[str, type[Tool]]] = weakref.WeakKeyDictionary()

_CALL_TYPES = ("function_call", "function_call_output")


def fence(
    agent: Agent[Any],
    sup: Supervisor,
    policy: Policy | None = None,
    default: Reversibility | str = Reversibility.IRREVERSIBLE,
    *,
    approve: str | Sequence[str] = "none",
    compensate: Mapping[str, Compensation] | None = None,
    resource: Mapping[str, Callable[[dict[str, Any]], str]] | None = None,
    group_id: str | None = None,
) -> Agent[Any]:
    """A copy of `agent` whose function tools (and its handoff agents') go through `sup`'s fence.

    Args:
        agent: the SDK agent; it is not changed.
        sup: the session the calls are journaled in and checked against.
        policy: tool name to reversibility ("read_only", "reversible",
            "compensable", "irreversible") for tools not made with `@agentstop.tool`
            (a decorated tool's class says its own).
        default: the class of a tool the policy does not name.
        approve: which calls pause the run for the SDK's own approval flow
            (`needs_approval`, `result.interruptions`, `state.approve()`): "none"
            (each tool's own setting), "irreversible" (every irreversible tool),
            or a list of tool names.
        compensate: tool name to `async (receipt, ctx) -> None` that undoes one of
            its calls (the receipt is `{"output": ...}`); such a tool is undoable
            from this process.
        resource: tool name to `(args) -> str`, what grant scopes match (default:
            the tool's name).
        group_id: the conversation the keys belong to (default: the run's
            `RunConfig.group_id`, else the session id); give `reconcile_history` the same.

    Returns:
        `agent.clone(tools=...)`, with its handoffs' agents fenced the same way.
    """
    rule = _approval_rule(approve)
    memo: dict[int, Agent[Any]] = {}

    def fence_agent(a: Agent[Any]) -> Agent[Any]:
        if id(a) in memo:
            return memo[id(a)]
        tools = [
            fenced_tool(
                t,
                sup,
                policy,
                default,
                compensate=(compensate or {}).get(t.name),
                resource=(resource or {}).get(t.name),
                group_id=group_id,
                approve=rule,
            )
            if isinstance(t, FunctionTool)
            else t
            for t in a.tools
        ]
        clone = a.clone(tools=tools)
        memo[id(a)] = clone  # before the handoffs: agents that hand off to each other
        clone.handoffs = [fence_agent(h) if isinstance(h, Agent) else h for h in a.handoffs]
        return clone

    return fence_agent(agent)


def fenced_tool(
    tool: FunctionTool,
    sup: Supervisor,
    policy: Policy | None = None,
    default: Reversibility | str = Reversibility.IRREVERSIBLE,
    *,
    compensate: Compensation | None = None,
    resource: Callable[[dict[str, Any]], str] | None = None,
    group_id: str | None = None,
    approve: Callable[[str, Reversibility], bool] | None = None,
) -> FunctionTool:
    """One `FunctionTool` behind the fence (what `fence` does to each); the original is not changed."""
    original = tool.on_invoke_tool
    tool_cls = tool_class_of(_wrapped_callable(tool))
    decorated = tool_cls is not None
    if tool_cls is None:
        tool_cls = _framework_class(sup, tool, policy, default, compensate, resource)
    raw = _raw_invoker(original)
    cls = tool_cls

    async def on_invoke_tool(ctx: SdkToolContext[Any], input_json: str) -> str:
        key = call_key(group_id or _group_id(ctx) or sup.session_id, ctx.tool_call_id)
        args = _parse_args(input_json)
        if decorated:
            if not isinstance(args, dict):
                return f"refused: the arguments are not a JSON object ({input_json[:200]!r}); nothing was sent"
            outcome = await fenced_call(sup, cls, args, key=key)
        else:

            async def invoke() -> Any:
                return await raw(ctx, input_json)

            journaled = args if isinstance(args, dict) else {"input": input_json}
            outcome = await fenced_call(sup, cls, journaled, key=key, invoke=invoke)
        return _text(outcome)

    fenced = copy.copy(tool)
    fenced.on_invoke_tool = on_invoke_tool
    if approve is not None and approve(tool.name, tool_cls.reversibility):
        fenced.needs_approval = True
    return fenced


def stop_with(
    s: Binding | Supervisor, run: RunResultStreaming | asyncio.Future[Any], *, mode: CancelMode = "after_turn"
) -> None:
    """Have Stop (from anywhere, once `s` watches: `agentstop.bind` or `async with sup`) cancel the run.

    Args:
        s: the binding (`async with agentstop.bind(sup) as s`) or the supervisor.
        run: `Runner.run_streamed(...)`'s result, or the `asyncio.Task` running `Runner.run(...)`.
        mode: for a streamed run, how the SDK cancels it: "after_turn" (default: the
            model's turn finishes, its tool calls are refused at the fence and
            answered, and the run ends before the next turn, with a whole
            transcript) or "immediate" (the run ends now; the turn in flight is
            dropped from its items: `reconcile_history` puts back what landed).
            A task is always cancelled at once.

    An asyncio boundary: `Runner.run` is the SDK's asyncio coroutine, and the task
    running it is the caller's asyncio object, handed in to be cancelled; so this
    is the adapter's one `asyncio` use (what it cancels, not how agentstop runs).
    """
    if isinstance(run, RunResultStreaming):
        s.on_stop(lambda: run.cancel(mode=mode))
    elif isinstance(run, asyncio.Future):
        s.on_stop(run.cancel)
    else:
        raise TypeError(f"stop_with takes a RunResultStreaming or an asyncio.Task, not {type(run).__name__}")


async def reconcile_history(
    items: Iterable[Any], sup: Supervisor, *, group_id: str | None = None
) -> list[dict[str, Any]]:
    """Input items whose every function call is answered exactly once, as the journal knows it.

    Give it `result.to_input_list()` (or a `Session`'s items, or items collected
    from stream events) after a cancel, then run on with
    `Runner.run(agent, history + [{"role": "user", "content": ...}])`.

    - A `function_call` with no `function_call_output` in its run of call items
      gets one, right after that run: what the journal says the call came to
      (`recorded_answer`: "done: ...", "stopped: outcome unknown, being
      checked", "interrupted by the user: not executed (why)"), or "interrupted
      by the user: not executed" for a call the fence never saw.
    - An output answering no call of its run, or answering one a second time, is dropped.
    - Calls the fence journaled in this session under `group_id` that the items
      do not mention, planned after the last call they do (the turn an immediate
      cancel dropped), are appended as call and output: the model learns what landed.

    Args:
        items: the input items (dicts, or SDK items with `to_input_item()`/`model_dump()`).
        sup: the session the fenced calls were journaled in.
        group_id: the same `group_id` the keys were made with (see `fence`).
    """
    namespace = group_id or sup.session_id
    listed = [_item_dict(i) for i in items]
    runs: list[list[dict[str, Any]]] = []
    for item in listed:
        if item.get("type") in _CALL_TYPES and runs and runs[-1] and runs[-1][0].get("type") in _CALL_TYPES:
            runs[-1].append(item)
        else:
            runs.append([item])
    history: list[dict[str, Any]] = []
    mentioned: set[str] = set()
    for run in runs:
        if run[0].get("type") not in _CALL_TYPES:
            history.extend(run)
            continue
        calls = [i for i in run if i.get("type") == "function_call"]
        called = {str(c.get("call_id")) for c in calls}
        mentioned |= called
        answered: set[str] = set()
        for item in run:
            if item.get("type") == "function_call_output":
                call_id = str(item.get("call_id"))
                if call_id not in called or call_id in answered:
                    continue
                answered.add(call_id)
            history.append(item)
        for call in calls:
            call_id = str(call.get("call_id"))
            if call_id not in answered:
                answered.add(call_id)
                said = await recorded_answer(sup, call_key(namespace, call_id))
                history.append(_output(call_id, said or NOT_EXECUTED))
    history.extend(await _lost_calls(sup, namespace, mentioned))
    return history


# -- helpers ----------------------------------------------------------------------------


def _approval_rule(approve: str | Sequence[str]) -> Callable[[str, Reversibility], bool]:
    if isinstance(approve, str):
        if approve == "none":
            return lambda name, rev: False
        if approve == "irreversible":
            return lambda name, rev: rev is Reversibility.IRREVERSIBLE
        names = {approve}
    else:
        names = set(approve)
    return lambda name, rev: name in names


def _wrapped_callable(tool: FunctionTool) -> Any:
    """The function `function_tool` was made from (the SDK keeps it as `tool.__wrapped__`), else None."""
    try:
        return tool.__wrapped__
    except AttributeError:
        return None


def _raw_invoker(
    invoker: Callable[[SdkToolContext[Any], str], Awaitable[Any]],
) -> Callable[[SdkToolContext[Any], str], Awaitable[Any]]:
    """The SDK's invocation without its failure handler: a failure reaches the fence as a failure.

    `function_tool` wraps the function's invocation in a handler that turns an
    exception into "An error occurred while running the tool. Please try again."
    returned as output; through the fence that would journal a failed call as
    landed. Any other invoker is used as it is.
    """
    inner = getattr(invoker, "_invoke_tool_impl", None)
    return cast(Callable[[SdkToolContext[Any], str], Awaitable[Any]], inner) if callable(inner) else invoker


def _framework_class(
    sup: Supervisor,
    tool: FunctionTool,
    policy: Policy | None,
    default: Reversibility | str,
    compensate: Compensation | None,
    resource: Callable[[dict[str, Any]], str] | None,
) -> type[Tool]:
    classes = _FRAMEWORK_CLASSES.setdefault(sup, {})
    cls = classes.get(tool.name)
    if cls is None:
        cls = framework_tool(
            tool.name,
            tool.description,
            reversibility_of(tool.name, policy, default),
            compensate=compensate,
            resource=resource,
        )
        classes[tool.name] = cls
    return cls


def _group_id(ctx: SdkToolContext[Any]) -> str | None:
    run_config = getattr(ctx, "run_config", None)
    group = getattr(run_config, "group_id", None)
    return group if isinstance(group, str) and group else None


def _parse_args(input_json: str) -> Any:
    if not input_json or not input_json.strip():
        return {}
    try:
        return json.loads(input_json)
    except ValueError:
        return None


def _text(outcome: Outcome) -> str:
    """What the model reads: the tool's output (an `@agentstop.tool`'s plain return value unwrapped)."""
    receipt = outcome.receipt
    if isinstance(receipt, dict) and set(receipt) == {"result"}:
        value = receipt["result"]
        return value if isinstance(value, str) else json.dumps(value, default=str)
    return outcome.text


def _item_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return dict(item)
    for attr in ("to_input_item", "model_dump"):
        convert = getattr(item, attr, None)
        if callable(convert):
            converted = convert(exclude_unset=True) if attr == "model_dump" else convert()
            if isinstance(converted, dict):
                return dict(converted)
    raise TypeError(f"reconcile_history takes input items (dicts), not {type(item).__name__}")


def _output(call_id: str, text: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": text}


async def _lost_calls(sup: Supervisor, namespace: str, mentioned: set[str]) -> list[dict[str, Any]]:
    """The journal's fenced calls after the last one the items mention, as call items and their answers."""
    prefix = f"{namespace}:"
    keyed = [
        (c, c.idempotency_key[len(prefix) :])
        for c in await sup.journal.calls(sup.session_id)
        if c.idempotency_key.startswith(prefix)
    ]
    last = max((c.n for c, tool_call_id in keyed if tool_call_id in mentioned), default=0)
    lost: dict[str, Any] = {}
    for call, tool_call_id in keyed:
        if call.n > last and tool_call_id not in mentioned:
            lost.setdefault(tool_call_id, call)  # a key called again is one model call
    calls = [
        {
            "type": "function_call",
            "call_id": tool_call_id,
            "name": call.tool,
            "arguments": json.dumps(call.args, default=str),
        }
        for tool_call_id, call in lost.items()
    ]
    outputs = [
        _output(tool_call_id, await recorded_answer(sup, call_key(namespace, tool_call_id)) or NOT_EXECUTED)
        for tool_call_id in lost
    ]
    return calls + outputs
