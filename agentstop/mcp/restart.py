"""A past session's MCP servers, started again from its task file (for undo, and to settle calls in flight).

The journal names a session's MCP tools (`agentstop.mcp.tool:McpTool[memory.create_entities]`)
and records its task file's absolute path, never a server's command line, env
or headers. So `agentstop undo` and `agentstop report`, in a new process after
the session's own process (a run, or `agentstop mcp-proxy`) has exited, read the
servers and the overlay from that file again, with `${env:NAME}` read from the
environment again, and start only the servers whose tools they need.

```python
async with session_servers(session.task_path, session.session_id, ["memory.create_entities"], "undo") as mcp:
    await run_undo(journal, ToolRegistry(mcp.tools), session.session_id, None)
```

Importing this module is cheap (no SDK): the command line asks `mcp_tool_name` of
every session it reads.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Collection, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import McpConfigError

if TYPE_CHECKING:
    from .client import McpClient

__all__ = ["mcp_tool_name", "session_servers", "task_file_problem"]

# How the journal names an MCP tool (`import_path` of the class `tool_class` builds).
_SPEC = re.compile(r"^agentstop\.mcp\.tool:McpTool\[(?P<name>[^\]]+)\]$")


def mcp_tool_name(spec: str) -> str | None:
    """The agentstop name (`server.tool`) of a session's tool entry when it is an MCP tool, else None."""
    match = _SPEC.match(spec)
    return match.group("name") if match else None


def _servers(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(name.split(".", 1)[0] for name in names))


def task_file_problem(
    task_path: str | None, session_id: str, tools: Collection[str], purpose: str, meanwhile: str = "nothing was done"
) -> McpConfigError | None:
    """Why the servers of `tools` cannot be started from the session's task file (none recorded, or gone), or None.

    Args:
        task_path: the task file the journal recorded for the session.
        session_id: the session, for the message.
        tools: the MCP tools needed (`server.tool`).
        purpose: what they are needed for, for the message ("undo its calls").
        meanwhile: what it means for the calls, ending the message.
    """
    listed = ", ".join(_servers(tools))
    if not task_path:
        return McpConfigError(
            "(no task file)",
            None,
            None,
            f"session {session_id} recorded no task file, so its MCP servers ({listed}) cannot be "
            f"started again to {purpose}; {meanwhile}",
        )
    if not Path(task_path).is_file():
        return McpConfigError(
            task_path,
            None,
            None,
            f"the task file of session {session_id} is gone; agentstop starts the session's MCP "
            f"servers ({listed}) again from it to {purpose}, because their commands, env and "
            "headers are never journaled. Put the file back at this path (with the same "
            f"mcp_servers and mcp_overlay), then run the command again; {meanwhile}",
        )
    return None


@asynccontextmanager
async def session_servers(
    task_path: str | None, session_id: str, tools: Collection[str], purpose: str, meanwhile: str = "nothing was done"
) -> AsyncIterator[McpClient]:
    """Start the servers of `tools` (`server.tool` names) as the session's task file says now; close them after.

    Args:
        task_path: the task file the journal recorded for the session.
        session_id: the session, for messages.
        tools: the MCP tools needed.
        purpose: what they are needed for, for messages ("undo its calls").
        meanwhile: what a failure means for the calls, ending its message.

    Raises:
        McpConfigError: no task file was recorded, it is gone, it no longer names
            a server the session used, or it is wrong (file, line, field).
        McpServerError: a server could not be started again.
    """
    problem = task_file_problem(task_path, session_id, tools, purpose, meanwhile)
    if problem is not None:
        raise problem
    assert task_path is not None
    from .config import load_mcp_setup  # lazy: pydantic models, needed only to start servers

    setup = load_mcp_setup(task_path)
    servers = _servers(tools)
    gone = [name for name in servers if name not in setup.servers]
    if gone:
        raise McpConfigError(
            task_path,
            None,
            "mcp_servers",
            f"session {session_id} used server(s) {', '.join(gone)}, which the task file no longer "
            f"has; add them back to {purpose}; {meanwhile}",
        )
    wanted = dataclasses.replace(
        setup,
        servers={name: setup.servers[name] for name in servers},
        lines={name: setup.lines.get(name) for name in servers},
    )
    from .client import McpClient  # the SDK: seconds to import, only when a server is really needed

    async with McpClient.from_setup(wanted) as mcp:
        yield mcp
