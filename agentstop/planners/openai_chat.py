"""`OpenAIChatPlanner`: a real model behind any OpenAI-compatible Chat Completions server.

Each turn streams one chat completion. Text is said to the transcript as it
arrives; tool calls are assembled from their fragments (`tool_call_assembly`)
and run through the agent (the supervisor), at once when there are several.
Every call gets a `tool` message back: its receipt, or why it was refused or
failed. The loop ends when the model answers without a tool call, or after
`max_steps` turns.

Stop cancels the planner, and cancellation closes the HTTP stream at once: the
server sees the connection drop mid-answer, and no fragment of a half-streamed
call is ever run. A server that fails (HTTP error, unreachable, timeout) raises
`PlannerError`, which makes the supervisor stop the session with that reason.

The API key is held by this object and the SDK client only: it is never said,
journaled, or shown in an error message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import anyio
import openai

from agentstop.errors import CallCutOff, OutcomeUnknown, PlannerError, ToolFailed, UnknownTool
from agentstop.journal.events import EventKind
from agentstop.report_buckets import IN_FLIGHT, LANDED
from agentstop.tools.base import Tool

from .base import Agent, Resumption
from .tool_call_assembly import AssembledCall, Fragment, ToolCallAssembler

__all__ = ["DEFAULT_SYSTEM_PROMPT", "NO_KEY", "OpenAIChatPlanner", "tool_function"]

NO_KEY = "not-needed"
"""The key sent to servers that need none (the SDK insists on some key)."""

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent that acts on the world only through the tools you are given. "
    "Every tool call is recorded before it runs and checked against a grant that a person can revoke "
    "at any moment. A call may be refused; its result then says why. Do not repeat a refused call "
    "unchanged. Call several tools in one turn only when they do not depend on each other. "
    "When the task is done, or cannot be done, answer with a short summary and no tool call."
)

# How long closing the stream or the client may take once Stop (or an error) asked for it.
_CLOSE_WITHIN = 2.0
# How much of a server's error text goes into a PlannerError.
_ERROR_CHARS = 300


def model_name(tool: Tool) -> str:
    """The name the model calls a tool by: `server__tool` for an MCP tool (no dots in function names)."""
    return getattr(tool, "model_name", "") or tool.name


def tool_function(tool: Tool) -> dict[str, Any]:
    """The Chat Completions `tools` entry for one tool: its name, description and JSON schema."""
    description = tool.description or (type(tool).__doc__ or "").strip().split("\n", 1)[0]
    return {
        "type": "function",
        "function": {"name": model_name(tool), "description": description, "parameters": tool.Args.model_json_schema()},
    }


def _given(value: Any) -> Any:
    # Typed Any on purpose: the SDK's "leave it out" sentinel is spelled differently across versions.
    return openai.NOT_GIVEN if value is None else value


def _shown_url(url: str | None) -> str:
    """The base URL without any user:password part, for messages."""
    if url is None:
        return "the OpenAI API"
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _short(text: object) -> str:
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= _ERROR_CHARS else one_line[: _ERROR_CHARS - 1] + "…"


def _fragment(part: Any) -> Fragment:
    """A `delta.tool_calls` entry of the SDK as a plain `Fragment`."""
    function = getattr(part, "function", None)
    arguments: Any = getattr(function, "arguments", None)
    if arguments is not None and not isinstance(arguments, str):
        arguments = json.dumps(arguments)  # a few servers send the arguments as an object
    return Fragment(
        index=getattr(part, "index", None),
        id=getattr(part, "id", None),
        name=getattr(function, "name", None),
        arguments=arguments,
    )


@dataclass(frozen=True)
class _Turn:
    """What the model said in one streamed turn."""

    text: str
    calls: list[AssembledCall]


@dataclass(frozen=True)
class _Request:
    """One tool call ready for the agent: the value to pass, and why its JSON failed (if it did)."""

    call: AssembledCall
    args: Any
    bad_json: str | None


class OpenAIChatPlanner:
    """An agent driven by a model over the OpenAI Chat Completions API (streaming, tool calls).

    Works with OpenAI and with local OpenAI-compatible servers (Ollama, vLLM,
    llama.cpp's server). Task files build it from `agent: {kind: openai, ...}`.

    Args:
        model: the model name the server knows.
        goal: what the agent is asked to do (the user message).
        base_url: the server's `/v1` endpoint; None for OpenAI's.
        api_key: the key (read from the environment by the caller); None for a server without auth.
        api_key_env: the variable the key came from, named in error messages (never the key).
        max_steps: the most model turns; the planner says so and ends when they are used up.
        temperature: sampling temperature; None for the server's default.
        system: extra system prompt, added after agentstop's own.
        timeout: seconds the client waits to connect, and between two pieces of the answer.
        max_retries: how often the SDK retries a failed request (connection errors, 429, 5xx).

    Example:
        ```python
        planner = OpenAIChatPlanner("llama3.1", "Write the release notes.", base_url="http://127.0.0.1:11434/v1")
        report = await Supervisor(journal, tools, grant, planner).run()
        ```
    """

    def __init__(
        self,
        model: str,
        goal: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        max_steps: int = 20,
        temperature: float | None = None,
        system: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.model = model
        self.goal = goal
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.max_steps = max_steps
        self.temperature = temperature
        self.system = system
        self.timeout = timeout
        self.max_retries = max_retries
        self._api_key = api_key or NO_KEY

    def __repr__(self) -> str:
        return f"<OpenAIChatPlanner {self.model!r} at {_shown_url(self.base_url)}>"

    @property
    def source(self) -> str:
        """What errors call this planner: the model and where it is served."""
        return f"model {self.model!r} at {_shown_url(self.base_url)}"

    def first_messages(self) -> list[dict[str, Any]]:
        """The conversation's start: the system prompt and the goal."""
        system = DEFAULT_SYSTEM_PROMPT + (f"\n\n{self.system.strip()}" if self.system and self.system.strip() else "")
        return [{"role": "system", "content": system}, {"role": "user", "content": self.goal}]

    async def run(self, agent: Agent) -> None:
        """Talk to the model until it answers without a tool call, or `max_steps` turns are used.

        Raises:
            PlannerError: the server failed, could not be reached, or timed out.
        """
        client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self._api_key, timeout=self.timeout, max_retries=self.max_retries
        )
        try:
            await self._loop(client, agent)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_WITHIN):
                await client.close()

    async def _loop(self, client: openai.AsyncOpenAI, agent: Agent) -> None:
        messages = self.first_messages()
        resumption = await agent.resumed_from((_ASSISTANT, _RESULTS))
        if resumption is not None:
            messages.extend(continued_conversation(resumption, agent.session_id))
        tools = [tool_function(t) for t in agent.tools]
        for _ in range(self.max_steps):
            await agent.step_boundary()
            turn = await self._stream_turn(client, agent, messages, tools)
            if not turn.calls:
                return
            requests = [_request(call) for call in turn.calls]
            assistant = _assistant_message(turn.text, requests)
            messages.append(assistant)
            # Journaled before the calls run, so a Resume after a Stop in the middle of
            # them can answer every tool call id the model sent (see continued_conversation).
            await agent.record(_ASSISTANT, assistant)
            replies = await self._run_calls(agent, requests)
            messages.extend(replies)
            await agent.record(_RESULTS, {"messages": replies})
        await agent.say(
            f"(stopping here: the model used all {self.max_steps} turns (max_steps) without a final answer)"
        )
        await agent.end_thought()

    async def _stream_turn(
        self, client: openai.AsyncOpenAI, agent: Agent, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> _Turn:
        assembler = ToolCallAssembler()
        text: list[str] = []
        try:
            stream = await client.chat.completions.create(
                model=self.model,
                messages=cast(Any, messages),
                tools=_given(tools or None),
                stream=True,
                temperature=_given(self.temperature),
            )
        except Exception as exc:  # whatever the SDK (or its HTTP layer) raised, the turn cannot happen
            raise self._failure(exc) from exc
        chunks = stream.__aiter__()
        try:
            while True:
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # only SDK code runs in this try: the answer broke off
                    raise self._failure(exc) from exc
                # getattr: servers leave fields out (a usage-only chunk, a choice without index).
                for choice in getattr(chunk, "choices", None) or ():
                    delta = getattr(choice, "delta", None)
                    if getattr(choice, "index", 0) not in (0, None) or delta is None:
                        continue
                    if delta.content:
                        text.append(delta.content)
                        await agent.say(delta.content)
                    for part in delta.tool_calls or ():
                        assembler.feed(_fragment(part))
        finally:
            # Closing drops the connection when the answer is cut short (Stop): the server sees it at once.
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_WITHIN):
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()
                await stream.close()
        await agent.end_thought()
        return _Turn("".join(text), assembler.calls())

    async def _run_calls(self, agent: Agent, requests: Sequence[_Request]) -> list[dict[str, Any]]:
        outcomes: list[dict[str, Any] | BaseException]
        named = {model_name(t): t.name for t in agent.tools}
        if len(requests) == 1:
            only = requests[0]
            try:
                outcomes = [
                    await agent.call(
                        named.get(only.call.name, only.call.name),
                        only.args,
                        key=call_key(agent.session_id, only.call.id),
                    )
                ]
            except (CallCutOff, ToolFailed, UnknownTool) as exc:
                outcomes = [exc]
        else:
            outcomes = await agent.call_parallel(
                [(named.get(r.call.name, r.call.name), r.args) for r in requests],
                [call_key(agent.session_id, r.call.id) for r in requests],
            )
        names = sorted(t.name for t in agent.tools)
        replies: list[dict[str, Any]] = []
        for request, outcome in zip(requests, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, CallCutOff | ToolFailed | UnknownTool):
                raise outcome  # a broken journal or supervisor: not the model's to handle
            if not isinstance(outcome, dict):
                await agent.say(_note(request, outcome))
                await agent.end_thought()
            replies.append(
                {"role": "tool", "tool_call_id": request.call.id, "content": _tool_result(request, outcome, names)}
            )
        return replies

    def _failure(self, exc: Exception) -> PlannerError:
        """The PlannerError for what the SDK raised: what went wrong, and what to do."""
        fix = "See the server's log; the calls made before this are in the journal."
        # Older SDKs let their HTTP library's errors through unwrapped: recognise timeouts by name too.
        if isinstance(exc, openai.APITimeoutError | TimeoutError) or "Timeout" in type(exc).__name__:
            problem = f"no answer within {self.timeout:g} s"
            fix = (
                "Raise agent.timeout in the task file, or use a smaller model; the calls made before this are "
                "in the journal."
            )
        elif isinstance(exc, openai.APIConnectionError):
            problem = f"cannot reach the server ({_short(exc.__cause__ or exc)})"
            fix = (
                "Start the server, or fix agent.base_url (Ollama serves http://127.0.0.1:11434/v1); "
                "the calls made before this are in the journal."
            )
        elif isinstance(exc, openai.APIStatusError):
            body = exc.body
            said = body.get("message") if isinstance(body, dict) else None
            problem = f"the server answered HTTP {exc.status_code} ({_short(said or exc.message)})"
            if exc.status_code in (401, 403):
                where = f"${self.api_key_env}" if self.api_key_env else "agent.api_key_env (none is set)"
                fix = f"Check the API key in {where}."
            elif exc.status_code == 404:
                fix = "Check agent.model and agent.base_url: the server has no such model or endpoint."
            elif exc.status_code == 429:
                fix = "The server is rate limiting; wait, then run the task again."
        elif isinstance(exc, openai.APIError):
            problem = f"the server reported an error mid-answer ({_short(exc.message)})"
        elif isinstance(exc, json.JSONDecodeError):
            problem = f"the server sent a stream event that is not JSON ({_short(exc)})"
            fix = "Check that agent.base_url is an OpenAI-compatible endpoint (it usually ends in /v1)."
        else:
            problem = f"the request failed ({type(exc).__name__}: {_short(exc)})"
        if self._api_key != NO_KEY:  # a server that echoes the key must not put it in the journal
            problem = problem.replace(self._api_key, "***")
        return PlannerError(self.source, problem, fix)


_ASSISTANT = EventKind.LLM_ASSISTANT
_RESULTS = EventKind.LLM_RESULTS


def call_key(session_id: str, tool_call_id: str) -> str:
    """The idempotency key of the call the model asked for with this tool call id."""
    return f"{session_id}-{re.sub(r'[^A-Za-z0-9_.-]', '_', tool_call_id)}"


def continued_conversation(resumption: Resumption, session_id: str) -> list[dict[str, Any]]:
    """The messages after the goal, rebuilt from the journal for a resumed session.

    Every tool call id the model sent is answered: by the result recorded for it,
    else (Stop came between the call and its result) by what the journal knows:
    the receipt of a call that landed, "stopped: outcome unknown, being checked"
    for one in flight, "interrupted by the user: not executed" for the rest. Each
    Resume's instruction follows as a user message.
    """
    messages: list[dict[str, Any]] = []
    pending: list[str] = []

    def answer_pending() -> None:
        for call_id in pending:
            state, receipt = resumption.outcomes.get(call_key(session_id, call_id), ("", None))
            if state in LANDED:
                content = json.dumps(receipt or {}, ensure_ascii=False, default=str)
            elif state in IN_FLIGHT:
                content = "stopped: outcome unknown, being checked"
            else:
                content = "interrupted by the user: not executed"
            messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
        pending.clear()

    for kind, data in resumption.records:
        if kind == _ASSISTANT:
            answer_pending()
            messages.append(data)
            pending.extend(str(c["id"]) for c in data.get("tool_calls") or ())
        elif kind == _RESULTS:
            for reply in data.get("messages", ()):
                messages.append(reply)
                if reply.get("tool_call_id") in pending:
                    pending.remove(reply["tool_call_id"])
        elif kind == EventKind.SESSION_RESUMED:
            answer_pending()
            instruction = str(data.get("instruction") or "").strip()
            messages.append(
                {
                    "role": "user",
                    "content": instruction or "(The user stopped you, then resumed the session. Continue the task.)",
                }
            )
    answer_pending()
    return messages


def _request(call: AssembledCall) -> _Request:
    value, bad_json = call.parse()
    # Arguments that are not JSON go to the agent as the raw text: the tool's
    # Args model refuses a string, so the call is journaled as rejected.
    return _Request(call, call.arguments if bad_json else value, bad_json)


def _assistant_message(text: str, requests: Sequence[_Request]) -> dict[str, Any]:
    # Some servers (Ollama) parse the arguments we send back and refuse the whole
    # request when they are not JSON; the tool message tells the model what it sent.
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": r.call.id,
                "type": "function",
                "function": {"name": r.call.name, "arguments": "{}" if r.bad_json else r.call.arguments},
            }
            for r in requests
        ],
    }


def _tool_result(request: _Request, outcome: dict[str, Any] | BaseException, names: list[str]) -> str:
    """What the model reads about one call it made."""
    if isinstance(outcome, dict):
        return json.dumps(outcome, ensure_ascii=False, default=str)
    if isinstance(outcome, UnknownTool):
        return f"unknown tool {request.call.name!r}; available: {', '.join(names) or 'none'}. Nothing was run."
    if request.bad_json is not None:
        return (
            f"rejected: {request.bad_json}; nothing was run. You sent: {_short(request.call.arguments)}. "
            "Send the arguments as one JSON object."
        )
    if isinstance(outcome, OutcomeUnknown):
        return f"outcome unknown: {outcome.reason}"  # it may have landed: not "rejected"
    if isinstance(outcome, CallCutOff):
        return f"rejected: {outcome.reason}"
    if isinstance(outcome, ToolFailed):
        return f"failed: {outcome.error}; {outcome.landed}"
    return f"error: {outcome}"


def _note(request: _Request, outcome: BaseException) -> str:
    """The transcript line for a call that did not go through."""
    if isinstance(outcome, UnknownTool):
        return f"(the model asked for an unknown tool {request.call.name!r}; nothing was run)"
    if isinstance(outcome, OutcomeUnknown):
        return f"(call cut off, outcome unknown: {outcome.reason})"
    if isinstance(outcome, CallCutOff):
        return f"(call refused: {request.bad_json or outcome.reason})"
    if isinstance(outcome, ToolFailed):
        return f"(call failed: {outcome.error}; {outcome.landed})"
    return f"(call error: {outcome})"
