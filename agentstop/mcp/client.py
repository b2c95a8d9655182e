"""`McpClient`: starts a task's MCP servers and turns their tools into agentstop tools.

```python
async with McpClient.from_setup(load_mcp_setup("task.yaml")) as mcp:
    supervisor = Supervisor(journal, [*other_tools, *mcp.tools], grant)
    await supervisor.call("memory.create_entities", {"entities": [...]})
```

Entering starts every server (stdio subprocesses, HTTP sessions) at once,
reads each one's tools (all pages), checks the overlay against them, and pins
each tool's definition by its hash. Every later call, capture, probe and undo
lists the server's tools again first and refuses a tool whose definition is no
longer the pinned one, whether or not the server announced the change
(`notifications/tools/list_changed` is optional, depends on the protocol
era, and can arrive after the call it should have stopped). A person who has
reviewed a change accepts it with `approve_definition(name)`. Leaving closes every
connection and stops every server process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError

from agentstop.errors import ToolError
from agentstop.tools import Reversibility

from .config import McpSetup, Overlay, ServerConfig
from .connection import ServerConnection
from .errors import McpConfigError, McpServerError, ToolDefinitionChanged
from .reversibility import classify
from .tool import McpTool, ToolBinding, describe, tool_class

__all__ = ["McpClient", "definition_digest", "model_name_for"]

_MODEL_NAME_LIMIT = 64  # OpenAI-compatible function names: ^[a-zA-Z0-9_-]{1,64}$


def _dump(definition: types.Tool) -> dict[str, Any]:
    # `_meta` is the server's bookkeeping, not the contract the model and the overlay rely on.
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"meta"})


def definition_digest(definition: types.Tool) -> str:
    """ "sha256:..." of a tool definition: name, title, description, schemas, annotations, execution."""
    canonical = json.dumps(_dump(definition), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _changes(old: types.Tool, new: types.Tool) -> list[str]:
    a, b = _dump(old), _dump(new)
    return sorted(k for k in {*a, *b} if a.get(k) != b.get(k)) or ["definition"]


def model_name_for(server: str, tool: str, taken: set[str]) -> str:
    """`server__tool` as a model may call it: [A-Za-z0-9_-], at most 64 characters, unique in `taken`."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", f"{server}__{tool}")
    if len(name) > _MODEL_NAME_LIMIT or name in taken:
        digest = hashlib.sha256(f"{server}.{tool}".encode()).hexdigest()[:8]
        name = f"{name[: _MODEL_NAME_LIMIT - 9]}_{digest}"
    return name


class McpClient:
    """The MCP servers of one task, and their tools as agentstop tools.

    Args:
        servers: name -> config (as in `mcp_servers:`).
        overlay: the overlay (default: none; every tool is then irreversible unless trusted).
        base_dir: where relative paths start (the task file's directory).
        source: the task file, as errors name it.
        lines: server name -> line of its entry, for errors.
        environ: where `${env:NAME}` is looked up (default os.environ).
    """

    def __init__(
        self,
        servers: Mapping[str, ServerConfig],
        overlay: Overlay | None = None,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        source: str = "mcp_servers",
        lines: Mapping[str, int | None] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._configs = dict(servers)
        self._overlay = overlay or Overlay()
        self._base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self._source = source
        self._lines = dict(lines or {})
        self._environ = environ
        self._stack: AsyncExitStack | None = None
        self._conns: dict[str, ServerConnection] = {}
        self._bindings: dict[tuple[str, str], ToolBinding] = {}
        self._tools: dict[str, McpTool] = {}
        self._by_model: dict[str, McpTool] = {}
        self._changed: dict[str, list[str]] = {}

    @classmethod
    def from_setup(cls, setup: McpSetup, environ: Mapping[str, str] | None = None) -> McpClient:
        """A client for the servers and overlay a task file names (see `load_mcp_setup`)."""
        return cls(
            setup.servers, setup.overlay, base_dir=setup.base_dir, source=setup.path, lines=setup.lines, environ=environ
        )

    # -- lifetime -------------------------------------------------------------------------------

    async def __aenter__(self) -> McpClient:
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            tg = await stack.enter_async_context(anyio.create_task_group())
            stack.push_async_callback(self._close_all)
            for name, config in self._configs.items():
                self._conns[name] = ServerConnection(
                    name,
                    config,
                    tg,
                    base_dir=self._base_dir,
                    source=self._source,
                    line=self._lines.get(name),
                    environ=self._environ,
                )
            listed = await self._start_all()
            self._build(listed)
        except BaseException:
            # Not shielded here: a task group must be left in the cancel scope it was entered in.
            # Each connection's close is shielded and bounded on its own.
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def _close_all(self) -> None:
        for conn in self._conns.values():
            await conn.aclose()

    async def _start_all(self) -> dict[str, list[types.Tool]]:
        """Start every server at once and list its tools; raise the first error by line."""
        listed: dict[str, list[types.Tool]] = {}
        errors: dict[str, McpConfigError] = {}

        async def start(name: str, conn: ServerConnection) -> None:
            try:
                await conn.connect()
                listed[name] = await conn.list_tools()
            except McpConfigError as exc:
                errors[name] = exc
            except (MCPError, TimeoutError) as exc:
                detail = f"{exc.message} (JSON-RPC {exc.code})" if isinstance(exc, MCPError) else "timed out"
                errors[name] = conn.error(
                    f"{conn.config.where()} could not list its tools: {detail}; "
                    "check that it is an MCP server with tools"
                )

        async with anyio.create_task_group() as tg:
            for name, conn in self._conns.items():
                tg.start_soon(start, name, conn)
        if errors:
            first = min(errors.values(), key=lambda e: e.line or 0)
            more = len(errors) - 1
            if more and isinstance(first, McpServerError):
                raise McpServerError(
                    first.path,
                    first.line,
                    first.server,
                    f"{first.problem} (and {more} more server{'s' if more > 1 else ''} failed)",
                )
            raise first
        return listed

    # -- building the tools -------------------------------------------------------------------------

    def _build(self, listed: dict[str, list[types.Tool]]) -> None:
        overlay = self._overlay
        taken: set[str] = set()
        for server in self._configs:
            trust = self._configs[server].trust_annotations
            tools: dict[str, types.Tool] = {}
            for definition in listed[server]:
                tools.setdefault(definition.name, definition)  # a name listed twice: the first one counts
            for tool_name in overlay.entries.get(server, {}):
                if tool_name not in tools:
                    raise overlay.error(
                        (server, tool_name),
                        f"server {server!r} has no tool {tool_name!r} (it lists: "
                        f"{', '.join(sorted(tools)) or 'none'}); fix the name",
                    )
            for name, definition in tools.items():
                entry = overlay.entry(server, name)
                binding = ToolBinding(
                    server,
                    name,
                    definition,
                    definition_digest(definition),
                    entry,
                    classify(entry, definition.annotations, trust),
                    self._conns[server],
                    self,
                )
                self._bindings[(server, name)] = binding
            for name, entry in overlay.entries.get(server, {}).items():
                for path, called, read_only in entry.called_tools():
                    where = (server, name, *path)
                    target = self._bindings.get((server, called))
                    if target is None:
                        raise overlay.error(
                            where,
                            f"server {server!r} has no tool {called!r} (it lists: "
                            f"{', '.join(sorted(tools)) or 'none'}); fix the name",
                        )
                    cls = target.classification.reversibility
                    if read_only and cls is not Reversibility.READ_ONLY:
                        raise overlay.error(
                            where,
                            f"{path[0]} calls {server}.{called}, which is {cls.value} here; "
                            f"a {path[0]} call must be read-only: mark {called} "
                            "`class: read_only` in the overlay if it is",
                        )
            for name in tools:
                binding = self._bindings[(server, name)]
                model_name = model_name_for(server, name, taken)
                taken.add(model_name)
                tool = tool_class(binding, model_name)(binding)
                self._tools[binding.name] = tool
                self._by_model[model_name] = tool

    # -- what it offers -------------------------------------------------------------------------------

    @property
    def tools(self) -> list[McpTool]:
        """Every server's tools, as agentstop tools (named `server.tool`), in server and listing order."""
        return list(self._tools.values())

    def tool(self, name: str) -> McpTool:
        """A tool by its agentstop name (`server.tool`) or its model name (`server__tool`)."""
        found = self._tools.get(name) or self._by_model.get(name)
        if found is None:
            raise ToolError(f"no MCP tool {name!r} (known: {', '.join(sorted(self._tools)) or 'none'})")
        return found

    def connection(self, server: str) -> ServerConnection:
        """The connection to one server."""
        return self._conns[server]

    def pins(self) -> dict[str, str]:
        """Each tool's pinned definition hash, by agentstop name (for a session's metadata)."""
        return {b.name: b.digest for b in self._bindings.values()}

    @property
    def changed(self) -> dict[str, list[str]]:
        """Tools refused since their definition changed, with what changed; cleared by `approve_definition`."""
        return dict(self._changed)

    # -- pins ------------------------------------------------------------------------------------------

    async def verify(self, server: str, names: list[str]) -> None:
        """List `server`'s tools now and check each of `names` against its pin.

        Raises:
            ToolDefinitionChanged: one of them changed or is gone (recorded in `changed`).
            McpServerError, MCPError, TimeoutError: the server could not be asked.
        """
        now: dict[str, types.Tool] = {}
        for definition in await self._conns[server].list_tools():
            now.setdefault(definition.name, definition)
        for name in dict.fromkeys(names):
            binding = self._bindings[(server, name)]
            current = now.get(name)
            if current is None:
                changes = ["removed"]
            elif definition_digest(current) == binding.digest:
                continue
            else:
                changes = _changes(binding.definition, current)
            self._changed[binding.name] = changes
            raise ToolDefinitionChanged(binding.name, changes)

    async def approve_definition(self, name: str) -> None:
        """Pin the server's current definition of a tool, after a person reviewed the change.

        The tool's input schema, description and class follow the new definition.

        Raises:
            ToolError: no such tool, or the server no longer lists it.
        """
        tool = self.tool(name)
        binding = tool.binding
        current = {d.name: d for d in await self._conns[binding.server].list_tools()}.get(binding.remote)
        if current is None:
            raise ToolError(
                f"MCP tool {binding.name!r} is no longer listed by server {binding.server!r}; nothing to approve"
            )
        trust = self._configs[binding.server].trust_annotations
        binding.pin(current, definition_digest(current), classify(binding.entry, current.annotations, trust))
        describe(type(tool), binding, current)
        self._changed.pop(binding.name, None)

    def __repr__(self) -> str:
        return f"<McpClient servers={list(self._configs)} tools={len(self._tools)}>"
