"""Any MCP server's tools behind agentstop's fence (the `agentstop[mcp]` extra).

```python
from agentstop.mcp import McpClient, load_mcp_setup

async with McpClient.from_setup(load_mcp_setup("task.yaml")) as mcp:
    supervisor = Supervisor(journal, mcp.tools, GrantSpec(tools=["memory.*"]))
```

- `config`: `mcp_servers:` entries and the overlay file, with line-numbered errors.
- `reversibility`: `classify`, a tool's reversibility from the overlay and the server's (untrusted) annotations.
- `client`: `McpClient`, which starts the servers, pins tool definitions and builds the tools.
- `tool`: `McpTool`, the Tool contract over MCP (capture, one call, probe, compensate).
- `connection`: one server's connection, reopened when lost.

`config` and `errors` need only pydantic and PyYAML, so the task file's models
can use `ServerConfig` without the extra installed; the rest (the MCP SDK,
jmespath) is imported on first use of a name that needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentstop.lazy_names import names_imported_on_use

from .errors import McpCallFailed, McpConfigError, McpOutcomeUnknown, McpServerError, ToolDefinitionChanged

if TYPE_CHECKING:
    from .client import McpClient, definition_digest, model_name_for
    from .config import (
        CallSpec,
        CaptureSpec,
        CheckSpec,
        McpSetup,
        Overlay,
        ProbeSpec,
        ServerConfig,
        ToolOverlay,
        UndoableIf,
        load_mcp_setup,
        load_overlay,
        parse_overlay,
    )
    from .reversibility import Classification, classify
    from .tool import META_CALL_ID, META_KEY, META_SESSION, McpTool

__all__ = [
    "META_CALL_ID",
    "META_KEY",
    "META_SESSION",
    "CallSpec",
    "CaptureSpec",
    "CheckSpec",
    "Classification",
    "McpCallFailed",
    "McpClient",
    "McpConfigError",
    "McpOutcomeUnknown",
    "McpServerError",
    "McpSetup",
    "McpTool",
    "Overlay",
    "ProbeSpec",
    "ServerConfig",
    "ToolDefinitionChanged",
    "ToolOverlay",
    "UndoableIf",
    "classify",
    "definition_digest",
    "load_mcp_setup",
    "load_overlay",
    "model_name_for",
    "parse_overlay",
]

_LAZY = {
    "CallSpec": ".config",
    "CaptureSpec": ".config",
    "CheckSpec": ".config",
    "McpSetup": ".config",
    "Overlay": ".config",
    "ProbeSpec": ".config",
    "ServerConfig": ".config",
    "ToolOverlay": ".config",
    "UndoableIf": ".config",
    "load_mcp_setup": ".config",
    "load_overlay": ".config",
    "parse_overlay": ".config",
    "Classification": ".reversibility",
    "classify": ".reversibility",
    "McpClient": ".client",
    "definition_digest": ".client",
    "model_name_for": ".client",
    "META_CALL_ID": ".tool",
    "META_KEY": ".tool",
    "META_SESSION": ".tool",
    "McpTool": ".tool",
}

__getattr__ = names_imported_on_use(__name__, _LAZY)
