"""The errors of agentstop's MCP client, placed in agentstop's one hierarchy.

```
AgentstopError
├── ToolError
│   ├── ToolDefinitionChanged     a pinned MCP tool definition changed; refused until approved
│   └── McpCallFailed             an MCP call made for a capture, probe or undo failed
└── TaskFileError                 (file, line, field)
    └── McpConfigError            mcp_servers or the overlay is wrong
        └── McpServerError        a server could not be started, initialised or listed
```

`McpOutcomeUnknown` is deliberately *not* an `AgentstopError` and not a
`CommitRefused`: it is what an MCP tool's `commit` raises when the call may
have landed (a timeout, a lost connection, a crash, an error result the overlay
says may have had an effect), so that the supervisor asks the overlay's
`probe` instead of guessing.

Every message ends with what to do, and never holds an env or header value.
"""

from __future__ import annotations

from agentstop.errors import TaskFileError, ToolError

__all__ = ["McpCallFailed", "McpConfigError", "McpOutcomeUnknown", "McpServerError", "ToolDefinitionChanged"]


class McpConfigError(TaskFileError):
    """`mcp_servers:` or the overlay file is wrong; says the file, the line and the field.

    A subclass of `TaskFileError`, so the command line reports it in one line
    and exits with status 2, like any other task file mistake.
    """


class McpServerError(McpConfigError):
    """An MCP server could not be started, initialised or listed.

    Attributes:
        server: the server's name in `mcp_servers:`.
    """

    def __init__(self, path: str, line: int | None, server: str, problem: str) -> None:
        self.server = server
        super().__init__(path, line, f"mcp_servers.{server}", problem)


class ToolDefinitionChanged(ToolError):
    """Raised by `prepare` when the server's definition of a tool differs from the one pinned at start.

    Attributes:
        tool: the tool's agentstop name (`server.tool`).
        changes: what differs ("description", "inputSchema", ...), or ["removed"].
    """

    def __init__(self, tool: str, changes: list[str]) -> None:
        self.tool = tool
        self.changes = changes
        what = (
            "the server no longer lists it"
            if changes == ["removed"]
            else (f"its {', '.join(changes)} changed since the session started")
        )
        super().__init__(
            f"MCP tool {tool!r} is refused: {what}; nothing was sent. Review the new definition and approve it "
            f"(McpClient.approve_definition({tool!r})), or restart the session to pin the new one."
        )


class McpCallFailed(ToolError):
    """An MCP call agentstop made on its own behalf (capture, probe, undo) failed or answered with an error."""


class McpOutcomeUnknown(Exception):
    """Raised by an MCP tool's `commit` when the call may have had its effect; `lookup` (the probe) decides."""
