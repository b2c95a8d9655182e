"""LangGraph and LangChain: the fence under a `ToolNode` or a `create_agent`, in one line.

```python
import agentstop
from agentstop.adapters import langgraph as fence

# LangGraph: your own graph, your own ToolNode
tools = ToolNode([write_note, send_email], awrap_tool_call=fence.Fence(sup).awrap_tool_call)

# LangChain: an agent made with create_agent
agent = create_agent(model, [write_note, send_email], middleware=[fence.FenceMiddleware(sup)])

async with agentstop.bind(sup) as s:
    with anyio.CancelScope() as run:       # Stop, from anywhere, cancels the run
        s.on_stop(run.cancel)
        result = await graph.ainvoke(inputs, {"configurable": {"thread_id": "t1"}})
```

What each tool call goes through:

- a tool made from an `@agentstop.tool` function (`tool(write_note)`, or the
  function itself in `ToolNode([write_note])`) runs through that function's own
  `.Tool`: its reversibility, prepare, compensation and lookup hold;
- a tool of that name registered with the `Supervisor` runs as registered;
- any other LangChain tool runs as LangChain runs it (the `execute` handed to the
  wrapper is its commit), behind the fence: irreversible unless `policy` says
  otherwise, undoable only with a compensation you give (`compensations=`);
- its key is the model's tool-call id, namespaced by the thread (`thread_id` of
  the run's config, and the subgraph it runs in): a node that LangGraph runs again
  (resuming after an `interrupt()`, re-running a thread after a cancel) gets the
  recorded outcome of a call that landed instead of a second effect;
- a refusal (Stop, the grant, its scope, a person's no) is a
  `ToolMessage(status="error")` the model reads, never an exception that fails the graph;
- with `approve=`, a call waits for a person through LangGraph's own `interrupt()`,
  before it is journaled (never inside a commit), the answer bound to its effect
  (`approval_answer`).

After a cancel, `reconcile_messages` answers, from the journal, the tool calls
the checkpointed state left unanswered, so the next run's transcript is true and
valid.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Literal

import anyio
from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command, interrupt
from pydantic import BaseModel

from agentstop.adapters._common import (
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
from agentstop.answers import answer
from agentstop.errors import AgentstopError, CommitRefused
from agentstop.journal import CallState
from agentstop.supervisor import Supervisor
from agentstop.supervisor.approval import approval_rule, effect_hash
from agentstop.tools import Reversibility, Tool, ToolContext

__all__ = [
    "APPROVAL",
    "Fence",
    "FenceMiddleware",
    "approval_answer",
    "reconcile_history",
    "reconcile_messages",
    "tool_call_key",
]

ToolResult = ToolMessage | Command[Any]
AsyncExecute = Callable[[ToolCallRequest], Awaitable[ToolResult]]
SyncExecute = Callable[[ToolCallRequest], ToolResult]

# LangChain's own run of the call being committed, for the tools this adapter builds (set around
# `Supervisor.call`/`call_sync`; the supervisor's task copies the context, `call_sync` included).
_LANGCHAIN_RUN: ContextVar[Callable[[], Awaitable[Any]] | None] = ContextVar("agentstop_langchain_run", default=None)


def tool_call_key(
    tool_call_id: str | None, *, thread_id: str | None = None, checkpoint_ns: str | None = None
) -> str | None:
    """The idempotency key of a tool call: the model's id, namespaced by thread and subgraph.

    Args:
        tool_call_id: the id the model gave the call (`AIMessage.tool_calls[i]["id"]`).
        thread_id: the run's `configurable.thread_id`, if it has one.
        checkpoint_ns: the `configurable.checkpoint_ns` the tool node runs in
            (`"agent:<task>|tools:<task>"`); only the subgraph path counts, not
            the task ids (a resumed node gets new ones) nor the tool node's own name.

    Returns:
        The key, or None when the model gave no id (the call then never matches an earlier one).
    """
    if not tool_call_id:
        return None
    path = [part.split(":", 1)[0] for part in (checkpoint_ns or "").split("|") if part]
    return call_key(thread_id, "|".join(path[:-1]), tool_call_id)


def _key(request: ToolCallRequest) -> str | None:
    runtime = getattr(request, "runtime", None)
    config = getattr(runtime, "config", None) or {}
    configurable = config.get("configurable") or {}
    thread = configurable.get("thread_id")
    return tool_call_key(
        request.tool_call.get("id"),
        thread_id=None if thread is None else str(thread),
        checkpoint_ns=configurable.get("checkpoint_ns"),
    )


def _text(content: Any) -> str:
    return content if isinstance(content, str) else json.dumps(content, default=str)


def _output(result: ToolResult) -> Any:
    """What the journal keeps as a LangChain call's receipt (`{"output": ...}`): the content the model read."""
    if isinstance(result, ToolMessage):
        return result.content
    update = result.update
    messages = update.get("messages") if isinstance(update, dict) else None
    contents = [m.content for m in messages or () if isinstance(m, ToolMessage)]
    return contents[0] if len(contents) == 1 else repr(result)


def _error_content(result: ToolResult) -> str | None:
    """The tool's own error, when LangChain answered the call with one (`ToolException`, `handle_tool_errors`)."""
    if isinstance(result, ToolMessage) and result.status == "error":
        return _text(result.content)
    return None


class _Run:
    """LangChain's run of one call, as the commit of the tool behind the fence; what it came to."""

    def __init__(self) -> None:
        self.result: ToolResult | None = None
        self.interrupt: GraphBubbleUp | None = None

    async def commit(self, run: Callable[[], Awaitable[ToolResult]]) -> Any:
        try:
            result = await run()
        except GraphBubbleUp as exc:
            # `interrupt()` inside the tool: LangGraph pauses the graph and runs the tool again
            # on resume. It did not finish, so it did not land (the key is issued again then).
            self.interrupt = exc
            raise CommitRefused(
                "paused by interrupt() for a person's answer; it runs again when the graph resumes"
            ) from None
        self.result = result
        error = _error_content(result)
        if error is not None:  # the tool said it failed: taken at its word, nothing landed
            raise CommitRefused(error)
        return _output(result)


class Fence:
    """The fence between a LangGraph `ToolNode` and its tools: `ToolNode(tools, awrap_tool_call=fence.awrap_tool_call)`.

    It composes like any tool-call wrapper: a wrapper of your own (one that asks
    a person with `interrupt()` first, say) hands the request on with
    `return await fence.awrap_tool_call(request, execute)`.

    Args:
        sup: the session the calls run in (bind it around the run: `agentstop.bind(sup)`).
        policy: the reversibility of LangChain tools that are not `@agentstop.tool`
            functions, by tool name (`{"search": "read_only", "send_email": "irreversible"}`).
        default: the reversibility of the others ("irreversible").
        compensations: how to undo a LangChain tool's call, by tool name:
            `async def undo(receipt, ctx)`, where `receipt["output"]` is what the tool returned.
            Only a tool with one is undoable.
        resources: what the grant's scopes match for a LangChain tool, by tool name:
            a function of the call's arguments (default: the tool's name).
        approve: which calls wait for a person, through LangGraph's `interrupt()`,
            before they are journaled: "none" (default), "irreversible", or tool names.
            The graph pauses with an interrupt whose value is `{"type": "agentstop.approval",
            "tool", "args", "reversibility", "tool_call_id", "effect"}`; resume it with
            `approval_answer(value, True)` (or False, with a reason). Needs a checkpointer
            and the async route.
    """

    def __init__(
        self,
        sup: Supervisor,
        policy: Policy | None = None,
        default: Reversibility | str = "irreversible",
        *,
        compensations: Mapping[str, Compensation] | None = None,
        resources: Mapping[str, Callable[[dict[str, Any]], str]] | None = None,
        approve: str | Sequence[str] = "none",
    ) -> None:
        self.sup = sup
        self.approve = approve
        self._needs_approval = approval_rule(approve)
        self.policy = dict(policy or {})
        self.default = reversibility_of("(default)", None, default)
        for name in self.policy:
            reversibility_of(name, self.policy, default)  # a wrong word is an error now, not at the first call
        self.compensations = dict(compensations or {})
        self.resources = dict(resources or {})
        self._built: dict[str, type[Tool]] = {}
        self._answers: set[tuple[str, str | None, str]] = set()
        """(kind, tool call id, effect) of each answer journaled by this fence (see `_record_once`)."""

    # -- the wrappers ------------------------------------------------------------------------------

    async def awrap_tool_call(self, request: ToolCallRequest, execute: AsyncExecute) -> ToolResult:
        """Run one tool call of a `ToolNode` through the fence (the `awrap_tool_call` hook).

        Returns:
            LangChain's own result when the call ran now; its recorded output when it
            had landed before (same key); else a `ToolMessage(status="error")` saying
            why nothing was sent.

        Raises:
            CancelledError: the run was cancelled (past the fence, the commit goes on,
                owned by the supervisor; its outcome is journaled).
            GraphInterrupt: a tool called `interrupt()` (the graph pauses as usual).
        """
        tool = self._route(request)
        if tool is None:
            return await execute(request)  # not a tool of this node: LangGraph answers so, nothing runs
        refused = await self._ask(request, tool)
        if refused is not None:
            return refused
        run = _Run()

        async def langchain_run() -> ToolResult:
            return await execute(request)

        token = _LANGCHAIN_RUN.set(lambda: run.commit(langchain_run))
        try:
            outcome = await fenced_call(
                self.sup,
                tool,
                request.tool_call["args"],
                key=_key(request),
                cancelled_as="the LangGraph run was cancelled",
            )
        finally:
            _LANGCHAIN_RUN.reset(token)
        return self._answer(request, run, outcome.landed, outcome.text)

    def wrap_tool_call(self, request: ToolCallRequest, execute: SyncExecute) -> ToolResult:
        """The sync hook (`graph.invoke` / `stream` in a worker thread while `bind(sup)` runs on its loop).

        The same fence, through `Supervisor.call_sync`; LangChain's sync run of the
        tool goes to a worker thread of the supervisor's loop.
        """
        tool = self._route(request)
        if tool is None:
            return execute(request)
        if self.approve != "none":
            raise NotImplementedError(
                "agentstop's approvals through interrupt() need the async route "
                "(graph.ainvoke / astream); or ask in a wrapper of your own"
            )
        run = _Run()

        async def langchain_run() -> ToolResult:
            return await anyio.to_thread.run_sync(execute, request)

        token = _LANGCHAIN_RUN.set(lambda: run.commit(langchain_run))
        try:
            receipt = self.sup.call_sync(tool, request.tool_call["args"], key=_key(request))
        except AgentstopError as exc:
            # Who revoked is not read here (that needs the loop): the answer says "another process".
            return self._answer(request, run, False, answer(exc, stopping=self.sup.stopping))
        finally:
            _LANGCHAIN_RUN.reset(token)
        return self._answer(request, run, True, _text(receipt.get("output", receipt)))

    # -- what runs, what comes back -------------------------------------------------------------------

    async def _ask(self, request: ToolCallRequest, tool: str | type[Tool]) -> ToolMessage | None:
        """A person's answer, through `interrupt()`, for a call that needs one; a refusal, or None to go on.

        Asked before the call is journaled, prepared or fenced (never inside a commit).
        A call whose key landed already (LangGraph running the node again) is not asked again.
        """
        # The tool as the supervisor runs it: registered (by name, or adopted before), else its class's.
        if isinstance(tool, str):
            instance = self.sup.registry.get(tool)
        else:
            instance = self.sup.registry.get(tool.name) if tool.name in self.sup.registry else tool()
        if not self._needs_approval(instance):
            return None
        call = request.tool_call
        key = _key(request)
        shown = self.sup.redactor(call["args"])
        effect = effect_hash(instance.name, shown, None)
        if key is not None:
            earlier = await self.sup.journal.calls_by_key(key, self.sup.session_id)
            if any(c.state in _ASKED_BEFORE for c in earlier):
                return None
            # Approved before, and LangGraph runs the node again (another call of it interrupted): still approved.
            if any(
                e.kind == "interrupt_approved" and e.data.get("key") == key and e.data.get("effect") == effect
                for e in await self.sup.journal.events(self.sup.session_id)
            ):
                return None
        payload = {
            "type": APPROVAL,
            "tool": instance.name,
            "args": shown,
            "tool_call_id": call.get("id"),
            "reversibility": instance.reversibility.value,
            "undo_hint": instance.undo_hint,
            "effect": effect,
        }
        decision = _decision(interrupt(payload), effect)
        while decision is None:
            # An answer for another call of this node (LangGraph hands a node's resume values out by the
            # order its calls reach interrupt()), or for this call as it was before it changed: ask again.
            decision = _decision(interrupt(payload), effect)
        record = {"tool": instance.name, "tool_call_id": call.get("id"), "effect": effect, "key": key}
        if decision.get("approve") is True:
            # Its own event kinds: the supervisor's "approved" events are its standing approvals.
            await self._record_once("interrupt_approved", record)
            return None
        why = str(decision.get("reason") or "denied by the user")
        await self._record_once("interrupt_denied", {**record, "reason": why})
        return ToolMessage(
            content=f"refused: {why}; nothing was sent",
            tool_call_id=call.get("id") or "",
            name=call["name"],
            status="error",
        )

    async def _record_once(self, kind: str, record: dict[str, Any]) -> None:
        """Journal a person's answer for this tool call and effect, unless it is on record already.

        LangGraph runs a node again from its start after each resume and hands its
        calls the answers they were given before: an answer given again is the same
        answer, not a second one. And a run of the node that stopped at another call's
        `interrupt()` can leave this call's `_ask` still running (asyncio.gather does not
        wait for its other calls) while the next run asks it again: the answer is marked
        here before any await, so of two such runs only one journals it. The journal's
        events cover answers given before this process started.
        """
        mark = (kind, record["tool_call_id"], record["effect"])
        if mark in self._answers:
            return
        self._answers.add(mark)
        try:
            for e in await self.sup.journal.events(self.sup.session_id):
                if e.kind == kind and (e.data.get("tool_call_id"), e.data.get("effect")) == mark[1:]:
                    return
            await self.sup.record(kind, record)
        except BaseException:
            self._answers.discard(mark)  # not on record: the next run of the node journals it
            raise

    def _route(self, request: ToolCallRequest) -> str | type[Tool] | None:
        """The agentstop tool a call runs as: the `@agentstop.tool`'s, the registered one, or one built here."""
        name = request.tool_call["name"]
        lc_tool = request.tool
        declared = tool_class_of(lc_tool) or tool_class_of(getattr(lc_tool, "coroutine", None))
        if declared is not None:
            return declared
        if name in self.sup.registry:
            return name
        if lc_tool is None:
            return None
        built = self._built.get(name)
        if built is None:
            built = self._built[name] = self._build(lc_tool)
        return built

    def _build(self, lc_tool: BaseTool) -> type[Tool]:
        """An agentstop tool for a LangChain tool: its commit is LangChain's run of the call."""
        name = lc_tool.name
        base = framework_tool(
            name,
            lc_tool.description,
            reversibility_of(name, self.policy, self.default),
            compensate=self.compensations.get(name),
            resource=self.resources.get(name),
        )

        class LangChainTool(base):  # type: ignore[valid-type,misc]
            __doc__ = f"The LangChain tool {name!r}, behind agentstop's fence."

            async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
                run = _LANGCHAIN_RUN.get()
                if run is None:  # not from the fence's wrapper: says only the adapter can issue it
                    refused: dict[str, Any] = await super().commit(prepared, ctx)
                    return refused
                return {"output": await run()}

        schema = lc_tool.tool_call_schema
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            # The model's arguments are checked before the fence, against the schema it was shown.
            LangChainTool.Args = schema
        # Named as every adapter's framework tool is (`agentstop.adapters._common:FrameworkTool[name]`).
        LangChainTool.__module__, LangChainTool.__qualname__ = base.__module__, base.__qualname__
        return LangChainTool

    @staticmethod
    def _answer(request: ToolCallRequest, run: _Run, landed: bool, text: str) -> ToolResult:
        if run.interrupt is not None:
            raise run.interrupt
        call = request.tool_call
        if run.result is not None and (landed or _error_content(run.result) is not None):
            return run.result  # LangChain's own answer, as it made it
        return ToolMessage(
            content=text, tool_call_id=call.get("id") or "", name=call["name"], status="success" if landed else "error"
        )


class FenceMiddleware(AgentMiddleware):
    """The fence as `create_agent` middleware: `create_agent(model, tools, middleware=[FenceMiddleware(sup)])`.

    Every tool call of the agent goes through `Fence` (same arguments). Put it
    last in `middleware` if other middleware wraps tool calls (retries, say): the
    first is outermost, and the fence belongs right around the tool.
    """

    def __init__(
        self,
        sup: Supervisor,
        policy: Policy | None = None,
        default: Reversibility | str = "irreversible",
        *,
        compensations: Mapping[str, Compensation] | None = None,
        resources: Mapping[str, Callable[[dict[str, Any]], str]] | None = None,
        approve: str | Sequence[str] = "none",
    ) -> None:
        super().__init__()
        self.fence = Fence(sup, policy, default, compensations=compensations, resources=resources, approve=approve)

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Awaitable[ToolResult]]
    ) -> ToolResult:
        """Run the call through the fence (see `Fence.awrap_tool_call`)."""
        return await self.fence.awrap_tool_call(request, handler)

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], ToolResult]) -> ToolResult:
        """Run the call through the fence from a sync run (see `Fence.wrap_tool_call`)."""
        return self.fence.wrap_tool_call(request, handler)


# -- approvals, through interrupt() ------------------------------------------------------------------


APPROVAL = "agentstop.approval"
"""The `type` of the value an approval `interrupt()` carries (`result["__interrupt__"][i].value`)."""

# A call with this key that landed, or may have, is not asked about again when LangGraph runs the node again.
_ASKED_BEFORE = frozenset(
    {
        CallState.COMMITTING,
        CallState.COMMITTED,
        CallState.UNKNOWN,
        CallState.COMPENSATING,
        CallState.COMPENSATED,
        CallState.COMPENSATION_FAILED,
        CallState.REAPPLYING,
        CallState.REAPPLY_FAILED,
    }
)


def approval_answer(request: Mapping[str, Any], approve: bool, reason: str = "") -> dict[str, Any]:
    """A person's answer to an approval `interrupt()`, bound to the effect they were shown.

    Resume every pending approval with all the answers: a `ToolNode` running
    calls in parallel hands its resume values to them in the order they reach
    `interrupt()`, so each call picks its own by effect (and asks again if none is):

    ```python
    pending = result["__interrupt__"]
    answers = [approval_answer(i.value, decide(i.value)) for i in pending]
    result = await graph.ainvoke(Command(resume={i.id: answers for i in pending}), config)
    ```

    The effect (`request["effect"]`) is a hash of the tool and its arguments: a
    call that changed since it was shown is asked about again, never let through.

    Args:
        request: the interrupt's value (`type` "agentstop.approval").
        approve: True to let the call go to the fence, False to refuse it.
        reason: for a refusal, what the model reads ("not to Bob").
    """
    return {"type": APPROVAL, "effect": request["effect"], "approve": approve, "reason": reason}


def _decision(said: Any, effect: str) -> Mapping[str, Any] | None:
    """This effect's answer among what an approval interrupt was resumed with (one answer, or a list); or None."""
    answers = [said] if isinstance(said, Mapping) else said if isinstance(said, list | tuple) else []
    for answer_ in answers:
        if isinstance(answer_, Mapping) and answer_.get("type") == APPROVAL and answer_.get("effect") == effect:
            return answer_
    return None


# -- history after a cancel --------------------------------------------------------------------------


async def reconcile_messages(
    messages: Sequence[BaseMessage], sup: Supervisor, *, thread_id: str | None = None, checkpoint_ns: str | None = None
) -> list[ToolMessage]:
    """The `ToolMessage`s that answer, from the journal, every tool call of `messages` left unanswered.

    A run cancelled mid-node (Stop, `task.cancel()`) leaves the checkpointed state
    with an `AIMessage` whose tool calls have no `ToolMessage`: a transcript most
    model APIs refuse. Each answer says what the call came to: landed ("done:"
    and its output), never sent ("interrupted by the user: not executed"), or
    "stopped: outcome unknown, being checked". Add them to the state before the
    next run:

    ```python
    state = await graph.aget_state(config)
    answers = await reconcile_messages(state.values["messages"], sup, thread_id="t1")
    await graph.aupdate_state(config, {"messages": answers}, as_node="tools")
    ```

    Args:
        messages: the thread's messages (`state.values["messages"]`).
        sup: the session the calls ran in (or a later one resuming it).
        thread_id: the thread the calls ran in (as in the run's config).
        checkpoint_ns: for a tool node inside a subgraph, the subgraph's path.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    answers: list[ToolMessage] = []
    for message in messages:
        if not isinstance(message, AIMessage):
            continue
        for call in message.tool_calls:
            call_id = call.get("id")
            if not call_id or call_id in answered:
                continue
            answered.add(call_id)
            key = tool_call_key(
                call_id, thread_id=thread_id, checkpoint_ns=f"{checkpoint_ns}|tools" if checkpoint_ns else None
            )
            said = await recorded_answer(sup, key) if key else None
            text = said or NOT_EXECUTED
            status: Literal["success", "error"] = "success" if text.startswith("done") else "error"
            answers.append(ToolMessage(content=text, tool_call_id=call_id, name=call["name"], status=status))
    return answers


async def reconcile_history(
    messages: Sequence[BaseMessage], sup: Supervisor, *, thread_id: str | None = None, checkpoint_ns: str | None = None
) -> list[BaseMessage]:
    """`messages` with every unanswered tool call answered from the journal, each answer after its `AIMessage`.

    For a history you pass in yourself (no checkpointer); with a checkpointed
    thread, `reconcile_messages` gives the answers to add to its state.
    """
    answers = {
        m.tool_call_id: m
        for m in await reconcile_messages(messages, sup, thread_id=thread_id, checkpoint_ns=checkpoint_ns)
    }
    history: list[BaseMessage] = []
    pending: list[ToolMessage] = []
    for message in messages:
        if pending and not isinstance(message, ToolMessage):
            history.extend(pending)
            pending = []
        history.append(message)
        if isinstance(message, AIMessage):
            pending = [answers[i] for i in (c.get("id") for c in message.tool_calls) if i and i in answers]
    history.extend(pending)
    return history
