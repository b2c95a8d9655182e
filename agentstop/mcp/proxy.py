"""`McpProxy`: the merged tools of a task's MCP servers, served to any MCP host, every call behind the fence.

```python
async with McpClient.from_setup(setup) as mcp, Supervisor(journal, mcp.tools, grant) as sup:
    async with McpProxy(mcp, sup) as proxy:
        await proxy.serve_stdio()            # or: await proxy.serve_http(sock, "127.0.0.1")
```

The host (Claude Desktop, Claude Code, Cursor, an Agents SDK app) sees one
MCP server whose tools are the upstream servers' tools, named as a model calls
them (`server__tool`). Each `tools/call` becomes one `Supervisor.call`: the
journal, the fence, exactly one upstream `tools/call`, the receipt. The host
gets the upstream's own result (content and structuredContent), or an
`isError` result saying why nothing was sent:

| what happened | the host gets (isError) |
|---|---|
| the grant was revoked (Stop), before or at the fence | `refused: grant revoked by WHO; nothing was sent` |
| Stop cut off a call past the fence (after the grace) | `stopped: outcome unknown (being checked)` |
| the fence refused it (scope, limit, expiry), bad args | `refused: ...` |
| the upstream answered with an error | the upstream's own error result |

**Stop** is the supervisor's: revoke first, discard what has not reached the
fence, give commits in flight the grace period, then apply each tool's
`on_stop`. When a commit is cancelled (the SDK then sends the upstream
`notifications/cancelled`), the host is answered at once; the call stays in
flight in the report until the overlay's probe settles it.

**A cancel from the host** (`notifications/cancelled` for its request: the SDK
cancels the handler) takes the same path without the revoke: a call not yet
at the fence is discarded, a commit gets the grace period and then its tool's
`on_stop`. The host is not answered (the protocol forbids it).

**Progress** the upstream reports for a call is forwarded to the host (when the
host asked for it with a progress token) until Stop.

**The upstream's own result.** A receipt keeps a bounded copy of a tool's result
(long texts cut, binary data dropped), so the host's answer is not built from
it: each host request's task sets a `CommitWatch` (`agentstop.mcp.watch`), and
the tool's commit hands it the upstream's progress, its own result as it
returns, and the moment Stop cuts it off. Captures, probes and undos never look.

The proxy needs from the supervisor only what `Gate` lists; it never imports
the supervisor (layers point down), so any object with those members can gate it.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import anyio
import anyio.abc
import mcp_types as types
import uvicorn
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from agentstop.answers import STOPPED_UNKNOWN, answer, refusal_text
from agentstop.errors import AgentstopError, CallCutOff, GrantRevoked, ToolFailed, Undone
from agentstop.journal import Journal
from agentstop.planners.base import TranscriptChunk
from agentstop.tools import Reversibility, Tool

from .client import McpClient
from .tool import META_CALL_ID, McpTool
from .watch import CommitWatch, ProgressFn, watching

__all__ = ["META_NAME", "FlightView", "Gate", "McpProxy", "refusal_text"]

logger = logging.getLogger(__name__)

META_NAME = "agentstop/name"
"""The `_meta` key of a listed tool carrying its agentstop name (`server.tool`)."""
META_CLASS = "agentstop/class"
"""The `_meta` key of a listed tool carrying its reversibility class, as agentstop treats it."""

"""What the host reads for a call Stop cut off after it reached the fence."""

_RESERVED_META = "io.modelcontextprotocol/"
_SHUTDOWN_GRACE = 2  # seconds uvicorn lets open HTTP requests finish when the proxy shuts down


class FlightView(Protocol):
    """A call running now, as the supervisor tracks it (`agentstop.supervisor.calls.Flight`)."""

    @property
    def call_id(self) -> str: ...

    @property
    def tool(self) -> Tool: ...

    @property
    def committing(self) -> bool:
        """True once it passed the fence."""
        ...


class Gate(Protocol):
    """What the proxy needs from the session that gates its calls: an `agentstop.Supervisor`."""

    @property
    def journal(self) -> Journal: ...

    @property
    def session_id(self) -> str: ...

    @property
    def grace(self) -> float: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def in_flight(self) -> Sequence[FlightView]: ...

    async def call(
        self, tool: str, args: Any, *, key: str | None = None, cancelled_as: str = "cancelled by the caller"
    ) -> dict[str, Any]: ...

    def on_transcript(self, listener: Callable[[TranscriptChunk], None]) -> None: ...


@dataclass(eq=False)
class _Request:
    """One host `tools/call` in progress: the call behind it and the answer the host will get."""

    tool: McpTool
    request_id: types.RequestId | None
    forward_progress: ProgressFn | None = None
    call_id: str | None = None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    upstream: types.CallToolResult | None = None  # the upstream's own result of the commit's call
    result: types.CallToolResult | None = None
    answered: anyio.Event = field(default_factory=anyio.Event)
    finished: anyio.Event = field(default_factory=anyio.Event)

    def keep_upstream(self, result: types.CallToolResult) -> None:
        """The upstream's own result of the commit's call (what the host is answered with)."""
        self.upstream = result

    def answer(self, result: types.CallToolResult) -> None:
        """Give the host its answer (the first one counts: Stop may answer before the call ends)."""
        if self.result is None:
            self.result = result
            self.answered.set()


# The host request the current task works for: the proxy's call task sets it, so the
# supervisor's announcement of the planned call (in the same task) names the request's call id.
_REQUEST: ContextVar[_Request | None] = ContextVar("agentstop_mcp_proxy_request", default=None)


def _text_result(text: str, *, error: bool = True, call_id: str | None = None) -> types.CallToolResult:
    meta = {META_CALL_ID: call_id} if call_id else None
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error, _meta=meta)


def _as_ours(result: types.CallToolResult, call_id: str | None) -> types.CallToolResult:
    """The upstream's result as the proxy answers it: its content, with the call id in `_meta`.

    The protocol's reserved `_meta` keys (`io.modelcontextprotocol/...`, like the
    upstream's serverInfo stamp) are the upstream's about itself; the proxy's SDK
    stamps its own.
    """
    meta = {k: v for k, v in (result.meta or {}).items() if not k.startswith(_RESERVED_META)}
    if call_id:
        meta[META_CALL_ID] = call_id
    return result.model_copy(update={"meta": meta or None})


def _annotations(tool: McpTool, definition: types.Tool) -> types.ToolAnnotations:
    """The hints a host sees: agentstop's class of the tool, never the server's unverified claims."""
    cls = tool.reversibility
    upstream = definition.annotations or types.ToolAnnotations()
    read_only = cls is Reversibility.READ_ONLY
    return types.ToolAnnotations(
        title=upstream.title,
        read_only_hint=read_only,
        destructive_hint=None if read_only else cls is not Reversibility.REVERSIBLE,
        open_world_hint=upstream.open_world_hint,
    )


class McpProxy:
    """An MCP server (the official SDK's low-level `Server`) in front of a task's MCP servers.

    Args:
        mcp: the started upstream servers and their tools.
        gate: the session every call goes through (an `agentstop.Supervisor`
            over `mcp.tools`, entered so it watches for a revoke).
        name: the server name the host sees.
        version: the version the host sees.
        instructions: what the host's model reads about this server.
        say: where the proxy tells a person what it does that the journal does not show
            (a host's cancel); default: this module's logger. Never stdout.
    """

    def __init__(
        self,
        mcp: McpClient,
        gate: Gate,
        *,
        name: str = "agentstop",
        version: str = "",
        instructions: str | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self._mcp = mcp
        self._gate = gate
        self._say = say or logger.info
        self._tools = {tool.model_name: tool for tool in mcp.tools}
        self._listed = [self._listing(tool) for tool in mcp.tools]
        self._tg: anyio.abc.TaskGroup | None = None
        self._closing = anyio.Event()
        self.server: Server[Any] = Server(
            name,
            version=version,
            instructions=instructions,
            on_list_tools=self._on_list_tools,
            on_call_tool=self._on_call_tool,
        )
        gate.on_transcript(self._on_transcript)

    # -- lifetime -----------------------------------------------------------------------------

    async def __aenter__(self) -> McpProxy:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            # A commit still running is shielded by the supervisor: this waits for it to end.
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)

    def shutdown(self) -> None:
        """Stop serving (a signal, the command ending); `serve_*` return once the transport closed."""
        self._closing.set()

    @property
    def closing(self) -> bool:
        """True once `shutdown()` was called."""
        return self._closing.is_set()

    @property
    def tool_names(self) -> list[str]:
        """The names the host sees (`server__tool`), in listing order."""
        return list(self._tools)

    # -- serving ------------------------------------------------------------------------------

    async def serve_stdio(self) -> None:
        """Serve one host over stdin/stdout until it closes stdin or `shutdown()` is called."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._cancel_on_shutdown, tg.cancel_scope)
            async with stdio_server() as (read, write):
                await self.server.run(read, write, self.server.create_initialization_options())
            tg.cancel_scope.cancel()

    async def serve_http(self, sock: socket.socket, host: str, path: str = "/mcp") -> None:
        """Serve any number of hosts over streamable HTTP on a bound socket until `shutdown()` is called.

        Args:
            sock: a bound, listening TCP socket (bound by the caller, so a busy port is its error).
            host: the address it is bound to; for a loopback address the SDK turns on its DNS
                rebinding protection (Host and Origin must be local).
            path: the endpoint's path.
        """
        app = self.server.streamable_http_app(host=host, streamable_http_path=path)
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=_SHUTDOWN_GRACE
        )
        server = _QuietUvicorn(config)

        async def exit_on_shutdown() -> None:
            await self._closing.wait()
            server.should_exit = True

        async with anyio.create_task_group() as tg:
            tg.start_soon(exit_on_shutdown)
            await server.serve(sockets=[sock])
            tg.cancel_scope.cancel()

    async def _cancel_on_shutdown(self, scope: anyio.CancelScope) -> None:
        await self._closing.wait()
        scope.cancel()

    # -- tools/list -----------------------------------------------------------------------------

    def _listing(self, tool: McpTool) -> types.Tool:
        definition = tool.binding.definition
        return types.Tool(
            name=tool.model_name,
            title=definition.title,
            description=tool.description or None,
            input_schema=definition.input_schema,
            output_schema=definition.output_schema,
            annotations=_annotations(tool, definition),
            _meta={META_NAME: tool.name, META_CLASS: tool.reversibility.value},
        )

    async def _on_list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=list(self._listed))

    # -- tools/call -----------------------------------------------------------------------------

    async def _on_call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = self._tools.get(params.name) or next((t for t in self._tools.values() if t.name == params.name), None)
        if tool is None:
            # Nothing is journaled: nothing was planned (as for a model naming a tool that does not exist).
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"unknown tool {params.name!r}; this server has: {', '.join(self._tools) or 'none'}",
            )
        if self._tg is None:
            raise MCPError(code=types.INTERNAL_ERROR, message="the proxy is shutting down; nothing was sent")
        request = _Request(tool, ctx.request_id)
        if ctx.meta is not None and "progress_token" in ctx.meta:
            request.forward_progress = self._progress_forwarder(ctx, request)
        self._tg.start_soon(self._run, request, dict(params.arguments or {}))
        try:
            await request.answered.wait()
        except anyio.get_cancelled_exc_class():
            # The host cancelled the request (or went away): the same path as Stop, without the revoke.
            tg = self._tg
            if tg is not None and not request.finished.is_set():
                tg.start_soon(self._host_cancelled, request)
            raise
        assert request.result is not None
        return request.result

    async def _run(self, request: _Request, arguments: dict[str, Any]) -> None:
        """The call, in the proxy's own task: a host cancel reaches it only through `_host_cancelled`."""
        _REQUEST.set(request)
        watch = CommitWatch(
            progress=request.forward_progress,
            on_result=request.keep_upstream,
            on_cut_off=lambda: self._cut_off(request),
        )
        try:
            with request.scope, watching(watch):
                try:
                    request.answer(await self._outcome(request, arguments))
                except Exception as exc:  # a bug, not an outcome: the proxy keeps serving the others
                    logger.exception("call to %s", request.tool.name)
                    request.answer(
                        _text_result(
                            f"failed: agentstop could not finish the call ({type(exc).__name__}: "
                            f"{exc}); `agentstop report` says whether anything was sent",
                            call_id=request.call_id,
                        )
                    )
        finally:
            request.finished.set()
            if not request.answered.is_set():  # cancelled: the host is gone, nobody waits for it
                request.answer(
                    _text_result(
                        "cancelled by the host; `agentstop report` says what became of it", call_id=request.call_id
                    )
                )

    async def _outcome(self, request: _Request, arguments: dict[str, Any]) -> types.CallToolResult:
        tool = request.tool
        try:
            # A host's cancel cancels this task: the supervisor then discards a call short of the
            # fence, and gives a commit the grace and its on_stop, journaled as the host's doing.
            receipt = await self._gate.call(
                tool.name, arguments, cancelled_as=f"the host cancelled its request {request.request_id!r}"
            )
        except ToolFailed as exc:
            if exc.phase == "commit" and request.upstream is not None and request.upstream.is_error:
                return _as_ours(request.upstream, exc.call_id)  # the upstream's own error result
            return _text_result(answer(exc, stopping=self._gate.stopping), call_id=exc.call_id)
        except AgentstopError as exc:  # refused, stopped, undone, or the journal could not be written
            if not isinstance(exc, CallCutOff | Undone):
                logger.warning("call to %s: %s", tool.name, exc)
            revoked_by = await self._revoked_by() if self._gate.stopping or isinstance(exc, GrantRevoked) else None
            return _text_result(
                answer(exc, stopping=self._gate.stopping, revoked_by=revoked_by),
                call_id=getattr(exc, "call_id", None) or request.call_id,
            )
        if request.upstream is not None:
            return _as_ours(request.upstream, request.call_id)
        return self._settled_result(request, receipt)

    def _settled_result(self, request: _Request, receipt: dict[str, Any]) -> types.CallToolResult:
        """A receipt with no upstream result of its own: settled by the probe, or done in an earlier epoch."""
        shown = json.dumps(receipt.get("probe") or receipt.get("result"), ensure_ascii=False, default=str)[:2000]
        text = f"done: the effect landed (its own result was not kept; agentstop's check found: {shown})"
        # A host checks structuredContent against an output schema that this answer cannot meet.
        error = request.tool.binding.definition.output_schema is not None
        return _text_result(text, error=error, call_id=request.call_id)

    async def _revoked_by(self) -> str | None:
        grants = await self._gate.journal.grants(self._gate.session_id)
        revoked = [g for g in grants if g.revoked_at is not None]
        return revoked[-1].revoked_by if revoked else None

    def _on_transcript(self, chunk: TranscriptChunk) -> None:
        # The supervisor announces a planned call in the calling task: that task's request gets its id.
        request = _REQUEST.get()
        if chunk.kind == "call" and chunk.call_id and request is not None and request.call_id is None:
            request.call_id = chunk.call_id

    # -- a host's cancel ------------------------------------------------------------------------

    def _flight(self, request: _Request) -> FlightView | None:
        return next((f for f in self._gate.in_flight if f.call_id == request.call_id), None)

    async def _host_cancelled(self, request: _Request) -> None:
        """Say what a host's cancel does, then cancel the request's task: the supervisor takes it from there."""
        flight = self._flight(request)
        committing = flight is not None and flight.committing
        then = (
            f"its commit gets the grace period ({self._gate.grace:g} s), then {request.tool.on_stop.value}"
            if committing
            else "it is discarded before the fence"
        )
        self._say(
            f"the host cancelled its request {request.request_id!r} for {request.tool.name} "
            f"(call {request.call_id or 'not yet journaled'}): {then}"
        )
        request.scope.cancel()

    # -- progress ----------------------------------------------------------------------------------

    def _progress_forwarder(self, ctx: ServerRequestContext[Any], request: _Request) -> ProgressFn:
        async def forward(progress: float, total: float | None, message: str | None) -> None:
            if self._gate.stopping or request.answered.is_set():
                return  # nothing is forwarded after Stop, nor after the host's answer
            with suppress(Exception):  # the host's stream may be gone; progress is best effort
                await ctx.session.report_progress(progress, total, message)

        return forward

    # -- the commit's upstream call, cut off ------------------------------------------------------

    def _cut_off(self, request: _Request) -> None:
        if self._gate.stopping:
            # Stop cancelled the commit after the grace: answer now; the supervisor
            # records it unknown and its probe settles it.
            request.answer(
                _text_result(
                    f"{STOPPED_UNKNOWN}; call {request.call_id} ({request.tool.name}) stays in flight in agentstop's "
                    "report until its probe settles it",
                    call_id=request.call_id,
                )
            )


class _QuietUvicorn(uvicorn.Server):
    """uvicorn's server without its signal handlers: the command handles signals (and exits cleanly)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
