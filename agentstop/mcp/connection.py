"""One MCP server's connection, held open by its own task, and opened again when it is lost.

The SDK's `Client` is an async context manager whose task groups must be
entered and left by the same task. So each connection lives in a task of the
owner's task group (`_hold`): it opens the transport (a stdio subprocess, or an
HTTP session), runs the protocol's handshake, reports the connected client, and
waits until it is told to close. Calls are made from any task through the
client's session.

A call that finds the connection closed (the server crashed, the HTTP session
ended) marks it lost; the next call opens a new one first. A commit therefore
never goes out on a dead connection, and a probe or an undo after a crash
reaches a fresh server.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO, cast

import anyio
import anyio.abc
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from agentstop.redact import register_secret

from .config import ServerConfig, resolve_env_refs
from .errors import McpServerError
from .watch import ProgressFn

__all__ = ["MAX_PAGES", "ServerConnection", "leaf_error"]

MAX_PAGES = 1000
"""The most pages of tools/list agentstop reads from one server (a paginator that never ends cannot hang a start)."""

_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)  # the SDK's defaults: a response stream may stay open


def leaf_error(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, as the SDK's task groups wrap them."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class _Held:
    """One opened connection: the client and the handles to close it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.close = anyio.Event()
        self.closed = anyio.Event()
        self.lost = False


class ServerConnection:
    """The connection to one MCP server.

    Args:
        name: the server's name in `mcp_servers:`.
        config: its entry.
        task_group: where the connection's task runs (owned by the caller, open while it is used).
        base_dir: where relative paths (`cwd`) start: the task file's directory.
        source: the task file, as errors name it.
        line: the line of the server's entry, for errors.
        environ: where `${env:NAME}` is looked up (default os.environ).
    """

    def __init__(
        self,
        name: str,
        config: ServerConfig,
        task_group: anyio.abc.TaskGroup,
        *,
        base_dir: Path,
        source: str,
        line: int | None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.source = source
        self.line = line
        self._tg = task_group
        self._base_dir = base_dir
        self._environ = os.environ if environ is None else environ
        self._held: _Held | None = None
        self._lock = anyio.Lock()
        self._errlog: TextIO | None = None
        self._http_status: tuple[int, str] | None = None
        self.secrets: tuple[str, ...] = ()
        self.protocol_version: str | None = None
        self.server_info: types.Implementation | None = None
        self.connects = 0

    # -- messages -------------------------------------------------------------------------

    def error(self, problem: str) -> McpServerError:
        """A `McpServerError` for this server, with secrets taken out of `problem`."""
        return McpServerError(self.source, self.line, self.name, self.scrub(problem))

    def scrub(self, text: str) -> str:
        """`text` with every env and header value of this server replaced by ***."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def stderr_tail(self, limit: int = 600) -> str:
        """The last lines the server wrote to stderr, on one line, secrets scrubbed ("" when none)."""
        if self._errlog is None:
            return ""
        try:
            self._errlog.flush()
            self._errlog.seek(0, os.SEEK_END)
            size = self._errlog.tell()
            self._errlog.seek(max(0, size - 4 * limit))
            text = self._errlog.read()
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        tail = " | ".join(lines[-4:])
        return self.scrub(tail[-limit:])

    # -- opening ------------------------------------------------------------------------------

    def _resolved(self, kind: str, values: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in values.items():
            try:
                out[key] = resolve_env_refs(value, self._environ)
            except KeyError as missing:
                raise self.error(
                    f"{kind}.{key} reads ${{env:{missing.args[0]}}}, which is not set or empty; "
                    f"export {missing.args[0]} before starting agentstop"
                ) from None
        return out

    def _transport(self, env: dict[str, str], http: httpx2.AsyncClient | None) -> Any:
        config = self.config
        if config.command is not None:
            if self._errlog is None:
                self._errlog = cast(TextIO, tempfile.TemporaryFile("a+", encoding="utf-8", errors="replace"))  # noqa: SIM115
            cwd = self._base_dir / config.cwd if config.cwd else self._base_dir
            params = StdioServerParameters(command=config.command, args=list(config.args), env=env, cwd=cwd)
            return stdio_client(params, errlog=self._errlog)
        assert config.url is not None
        return streamable_http_client(config.url, http_client=http)

    async def _note_status(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self._http_status = (response.status_code, response.reason_phrase)

    def _check_command(self) -> None:
        config = self.config
        if config.command is None:
            return
        cwd = self._base_dir / config.cwd if config.cwd else self._base_dir
        if not cwd.is_dir():
            raise self.error(f"cwd {str(cwd)!r} is not a directory; fix `cwd` (relative to the task file)")
        command = config.command
        if os.sep in command:
            found = (cwd / command) if not os.path.isabs(command) else Path(command)
            ok = found.is_file() and os.access(found, os.X_OK)
        else:
            ok = shutil.which(command) is not None
        if not ok:
            raise self.error(
                f"command {command!r} was not found or is not executable; install it, or give its "
                "full path in `command`"
            )

    async def connect(self) -> None:
        """Open the connection (run the server, handshake).

        Raises:
            McpServerError: the server could not be started, did not answer in
                `init_timeout`, closed during initialize, or refused it; says why,
                with the end of its stderr.
        """
        async with self._lock:
            if self._held is None or self._held.lost:
                await self._open()

    async def _open(self) -> None:
        env = self._resolved("env", self.config.env)
        headers = self._resolved("headers", self.config.headers)
        self.secrets = tuple({*env.values(), *headers.values()})
        for secret in self.secrets:  # literal or from ${env:}: masked wherever it is echoed (receipts too)
            register_secret(secret)
        self._check_command()
        old = self._held
        if old is not None:
            await self._release(old)
        self._http_status = None
        try:
            with anyio.fail_after(self.config.init_timeout):
                held: _Held = await self._tg.start(self._hold, env, headers)
        except TimeoutError:
            raise self.error(
                self._why_not(None, f"did not finish initialize within {self.config.init_timeout:g} s (init_timeout)")
            ) from None
        except McpServerError:
            raise
        self._held = held
        self.connects += 1
        self.protocol_version = held.client.protocol_version
        self.server_info = held.client.server_info

    async def _hold(
        self, env: dict[str, str], headers: dict[str, str], *, task_status: anyio.abc.TaskStatus[_Held]
    ) -> None:
        started = False
        held: _Held | None = None
        try:
            async with AsyncExitStack() as stack:
                http = None
                if self.config.url is not None:
                    http = await stack.enter_async_context(
                        httpx2.AsyncClient(
                            headers=headers, timeout=_HTTP_TIMEOUT, event_hooks={"response": [self._note_status]}
                        )
                    )
                client = Client(
                    self._transport(env, http),
                    cache=None,
                    client_info=types.Implementation(name="agentstop", version=_version()),
                )
                await stack.enter_async_context(client)
                held = _Held(client)
                task_status.started(held)
                started = True
                await held.close.wait()
        except Exception as exc:
            if not started:
                raise self.error(self._why_not(exc, "could not be started")) from None
            # A connection that breaks while held is noticed by the next call on it.
        finally:
            if held is not None:
                held.lost = True
                held.closed.set()

    def _why_not(self, exc: BaseException | None, fallback: str) -> str:
        leaf = leaf_error(exc) if exc is not None else None
        where = self.config.where()
        fix = (
            "run the command by hand to see why"
            if self.config.command is not None
            else "check the URL and that the server is running"
        )
        if self._http_status is not None:
            code, reason = self._http_status
            problem = f"{where} answered HTTP {code} {reason}"
            if code in (401, 403):
                fix = "check the server's `headers` (a missing or wrong token?)"
            else:
                fix = "check the URL and that the server speaks MCP over streamable HTTP"
        elif isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED:
            problem = f"{where} exited or closed the connection during initialize"
        elif isinstance(leaf, MCPError):
            problem = f"{where} refused to initialize: {leaf.message} (error {leaf.code})"
        elif isinstance(leaf, httpx2.TransportError):
            problem = f"cannot reach {where} ({type(leaf).__name__}: {leaf})"
        elif isinstance(leaf, OSError):
            problem = f"{where} could not be started: {leaf.strerror or leaf}"
        elif leaf is not None:
            problem = f"{where} {fallback}: {type(leaf).__name__}: {leaf}"
        else:
            problem = f"{where} {fallback}"
        tail = self.stderr_tail()
        return problem + (f"; its stderr says: {tail}" if tail else "") + f"; {fix}"

    async def _release(self, held: _Held) -> None:
        """Close one held connection and wait (bounded) until its server is gone."""
        held.lost = True
        held.close.set()
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await held.closed.wait()

    async def aclose(self) -> None:
        """Close the connection (stop the server process, end the HTTP session)."""
        held, self._held = self._held, None
        if held is not None:
            await self._release(held)
        if self._errlog is not None:
            self._errlog.close()
            self._errlog = None

    # -- using it ---------------------------------------------------------------------------

    async def client(self) -> Client:
        """The connected client, opening the connection again when it was lost.

        Raises:
            McpServerError: it could not be opened again.
        """
        held = self._held
        if held is not None and not held.lost:
            return held.client
        async with self._lock:
            held = self._held
            if held is None or held.lost:
                await self._open()
            assert self._held is not None
            return self._held.client

    def _noticed(self, client: Client, exc: BaseException) -> None:
        held = self._held
        if held is not None and held.client is client and isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
            held.lost = True

    async def list_tools(self) -> list[types.Tool]:
        """Every tool the server lists, page by page.

        Listing only reads, so a connection found closed (the server died since the
        last call) is opened again and the listing asked once more.

        Raises:
            McpServerError: the server could not be reached again, or its pages never end.
            MCPError: the server answered tools/list with an error (or the connection closed).
            TimeoutError: a page took longer than the server's `timeout`.
        """
        try:
            return await self._list_tools(await self.client())
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise
        return await self._list_tools(await self.client())

    async def _list_tools(self, client: Client) -> list[types.Tool]:
        tools: list[types.Tool] = []
        cursor: str | None = None
        seen: set[str] = set()
        try:
            for _ in range(MAX_PAGES):
                params = types.PaginatedRequestParams(cursor=cursor) if cursor is not None else None
                with anyio.fail_after(self.config.timeout):
                    page = await client.session.list_tools(params=params)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    return tools
                if cursor in seen:
                    raise self.error(
                        "its tools/list pages come round in a loop (a cursor repeats); the server is broken"
                    )
                seen.add(cursor)
        except MCPError as exc:
            self._noticed(client, exc)
            raise
        raise self.error(f"its tools/list did not end within {MAX_PAGES} pages; the server is broken")

    async def call_tool(
        self,
        client: Client,
        name: str,
        arguments: dict[str, Any],
        *,
        meta: dict[str, Any] | None = None,
        read_timeout: float | None = None,
        progress: ProgressFn | None = None,
    ) -> types.CallToolResult:
        """Exactly one tools/call on `client` (from `client()`); nothing is retried or re-sent.

        With `progress`, the call asks the server for progress notifications and hands each to it.

        Raises:
            MCPError: a JSON-RPC error, REQUEST_TIMEOUT, or CONNECTION_CLOSED (then marked lost).
            RuntimeError: the result broke the tool's output schema, or asked for input.
            pydantic.ValidationError: the result is not a valid CallToolResult.
        """
        try:
            return await client.session.call_tool(
                name,
                arguments,
                read_timeout_seconds=read_timeout if read_timeout is not None else self.config.timeout,
                progress_callback=progress,
                meta=cast(types.RequestParamsMeta, meta),
            )
        except MCPError as exc:
            self._noticed(client, exc)
            raise


def _version() -> str:
    # Not `agentstop.__version__`: importing the package root would pull the supervisor in (layers point down).
    try:
        return importlib.metadata.version("agentstop")
    except importlib.metadata.PackageNotFoundError:
        return "0"
