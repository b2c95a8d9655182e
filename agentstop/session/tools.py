"""A session's tools, rebuilt by a process that did not run it: for undo, re-apply and recovery.

Python tools are imported by the paths the journal recorded. MCP tools come
from their servers, started again from the session's task file (commands, env
and headers are read from it, never from the journal). A session that acted on
the demo's world gets that world started again from its folder, the same way.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path

from agentstop._demo_tools import make_importable
from agentstop.errors import AgentstopError
from agentstop.journal import SessionRecord
from agentstop.task.tool_import import recorded_tools
from agentstop.tools import ToolRegistry

from .extras import needs_extra

__all__ = [
    "SETTLE",
    "UNDO",
    "importable_tools",
    "mcp_tools_of",
    "recorded_tools",
    "tools_from_session",
]

UNDO = ("undo its calls", "nothing was undone")
"""Why `tools_from_session` starts a session's MCP servers, and what a failure means: for undo."""
SETTLE = ("check its calls in flight", "until then they stay in flight (outcome unknown)")
"""Why `tools_from_session` starts a session's MCP servers, and what a failure means: to settle calls in flight."""


def importable_tools(session: SessionRecord) -> tuple[ToolRegistry, list[str]]:
    """The session's tools that load without starting anything (not its MCP tools), and the problems.

    For a caller that cannot hold servers open: each MCP tool is a problem
    saying where to undo it instead.
    """
    registry, problems = recorded_tools(session)
    problems += [
        f"{name}: an MCP tool; undo it with `agentstop undo --session {session.session_id}`, which starts "
        "its server again from the task file"
        for name in mcp_tools_of(session)
    ]
    return registry, problems


def mcp_tools_of(session: SessionRecord) -> list[str]:
    """The session's MCP tools, by their agentstop names (`server.tool`)."""
    from agentstop.mcp.restart import mcp_tool_name

    return [name for name in map(mcp_tool_name, session.tools) if name is not None]


@asynccontextmanager
async def tools_from_session(
    session: SessionRecord, needed: Collection[str] | None = None, *, purpose: tuple[str, str] = UNDO
) -> AsyncIterator[tuple[ToolRegistry, list[str]]]:
    """The session's tools and the problems loading them; its MCP servers run until the block ends.

    Python tools are imported by the paths the journal recorded. MCP tools come
    from their servers, started again from the session's task file (commands, env
    and headers are read from it, never from the journal), and only those in
    `needed` (tool names; None: every MCP tool of the session).

    Args:
        session: the session.
        needed: the tools the caller will use; MCP servers start only for these.
        purpose: what the servers are started for, and what a failure means (`UNDO`, `SETTLE`).

    Raises:
        McpConfigError: a needed MCP tool's task file is gone or wrong (the command
            exits 2 saying so), or its server could not be started.
        AgentstopError: the session's demo world is gone or did not start again.
    """
    registry, problems = recorded_tools(session)
    names = [name for name in mcp_tools_of(session) if needed is None or name in needed]
    world = _demo_world_needed(session, registry, needed)
    with _running_demo_world(world, session.session_id, purpose):
        if not names:
            yield registry, problems
            return
        with needs_extra("mcp", "starting the session's MCP servers again"):
            from agentstop.mcp.restart import session_servers

        async with session_servers(session.task_path, session.session_id, names, *purpose) as mcp:
            listed = {tool.name: tool for tool in mcp.tools}
            for name in names:
                if name in listed:
                    registry.add(listed[name])
                else:
                    problems.append(f"{name}: its server no longer lists the tool {name.split('.', 1)[1]!r}")
            yield registry, problems


def _demo_world_needed(session: SessionRecord, registry: ToolRegistry, needed: Collection[str] | None) -> Path | None:
    """The demo world a session acted on, when its tools are needed and no world runs here; else None."""
    world = session.meta.get("demo_world") if isinstance(session.meta, dict) else None
    if not isinstance(world, str) or _demo_world_running_here(Path(world)):
        return None
    demo = {t.name for t in registry if type(t).__module__.startswith("demo_tools.")}
    if not demo or (needed is not None and not demo & set(needed)):
        return None
    return Path(world)


def _demo_world_running_here(world: Path) -> bool:
    """True when this process's demo world ($AGENTSTOP_DEMO_WORLD) is that very world, running."""
    config = os.environ.get("AGENTSTOP_DEMO_WORLD")
    if not config:
        return False
    try:
        running = Path(json.loads(Path(config).read_text())["dir"]).resolve()
    except (OSError, ValueError, KeyError, TypeError):
        return False  # gone, or not a world's config: start the session's own
    return running == world.resolve()


@contextmanager
def _running_demo_world(world: Path | None, session_id: str, purpose: tuple[str, str]) -> Iterator[None]:
    """Start the demo world again (from its folder) for the block, as MCP servers are started from a task file."""
    if world is None:
        yield
        return
    if not (world / "calendar.ics").exists() and not (world / "production.db").exists():
        raise AgentstopError(
            f"session {session_id} acted on the demo world in {world}, which is gone, so agentstop "
            f"cannot {purpose[0]}: {purpose[1]}"
        )
    make_importable()  # a wheel ships the demo package inside agentstop
    from demo_tools.world import WorldStartFailed, running_world

    print(
        f"starting the demo world of session {session_id} again ({world}) to {purpose[0]} ...",
        file=sys.stderr,
        flush=True,
    )
    with ExitStack() as stack:
        try:
            stack.enter_context(running_world(world))
        except WorldStartFailed as exc:
            raise AgentstopError(
                f"the demo world of session {session_id} did not start again: {exc}; cannot {purpose[0]}: {purpose[1]}"
            ) from exc
        yield
