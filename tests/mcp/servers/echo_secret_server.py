"""An MCP server that repeats its credential back, for the secrets test (issue 20, item 6).

Written with the official SDK's high-level server (`MCPServer`, FastMCP in the 1.x
SDK) and run over stdio. Its credential comes from the environment the task file's
`env:` gives it, as a real server's API key would, and two tools echo it: `whoami`
in a successful result, `deny` in an error result, the way an upstream that
quotes the key it was handed does. It also names the credential on its stderr at
start, as a chatty server logs its configuration.

`hold` lets a test look at the journal while a call is in flight: it creates
$ECHO_HOLD_DIR/held and answers once $ECHO_HOLD_DIR/release exists.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("echo-secret")


def _credential() -> str:
    return os.environ.get("ECHO_API_CREDENTIAL", "(none)")


@server.tool()
def whoami(who: str) -> str:
    """Say who is calling, and with which credential (a successful result that holds it)."""
    return f"hello {who}, you are authenticated with {_credential()}"


@server.tool()
def deny(who: str) -> str:
    """Refuse, quoting the credential (an error result that holds it)."""
    raise ToolError(f"403 for {who}: credential {_credential()} may not do this")


@server.tool()
async def hold(who: str) -> str:
    """Wait until the test releases the call (it reads the journal meanwhile)."""
    flags = Path(os.environ["ECHO_HOLD_DIR"])
    (flags / "held").touch()
    while not (flags / "release").exists():
        await anyio.sleep(0.02)
    return f"released {who}"


if __name__ == "__main__":
    print(f"echo-secret: starting with credential {_credential()}", file=sys.stderr, flush=True)
    server.run("stdio")
