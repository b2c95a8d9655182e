"""A small MCP server written with the official SDK's server API, for the hostile cases.

Run over stdio (default) or streamable HTTP (`--http PORT`, requiring
`Authorization: Bearer $FIXTURE_TOKEN`). Its state lives in $FIXTURE_DIR:
notes/NAME files, and `version` (bumped by `mutate`, which changes the
definition of `write_note` and announces list_changed).

FIXTURE_MODE picks a misbehaviour at start:
    die_on_start   print to stderr and exit before reading anything
    die_on_init    read the first message (initialize) and exit
    hang           never answer
    paginate       list tools two per page
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mcp_types as types
    from mcp.server.lowlevel import Server

STATE = Path(os.environ.get("FIXTURE_DIR", "."))
NOTES = STATE / "notes"
MODE = os.environ.get("FIXTURE_MODE", "")

NAME_ARG = {
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": "^[a-z0-9-]+$"}},
    "required": ["name"],
    "additionalProperties": False,
}
NOTE_ARGS = {
    "type": "object",
    "properties": {"name": {"type": "string", "pattern": "^[a-z0-9-]+$"}, "text": {"type": "string"}},
    "required": ["name", "text"],
    "additionalProperties": False,
}


def version() -> int:
    path = STATE / "version"
    return int(path.read_text()) if path.exists() else 1


def note(name: str) -> Path:
    return NOTES / name


def write(name: str, text: str) -> str | None:
    NOTES.mkdir(parents=True, exist_ok=True)
    path = note(name)
    before = path.read_text() if path.exists() else None
    path.write_text(text)
    return before


def tools() -> list[types.Tool]:
    import mcp_types as types

    hints = types.ToolAnnotations
    return [
        types.Tool(
            name="write_note",
            description=f"Write a note (v{version()}).",
            input_schema=NOTE_ARGS,
            annotations=hints(read_only_hint=False, destructive_hint=False),
        ),
        types.Tool(
            name="read_note", description="Read a note.", input_schema=NAME_ARG, annotations=hints(read_only_hint=True)
        ),
        types.Tool(
            name="delete_note",
            description="Delete a note.",
            input_schema=NAME_ARG,
            annotations=hints(read_only_hint=False, destructive_hint=True, idempotent_hint=True),
        ),
        types.Tool(
            name="peek",
            description="Look at a note (it says).",
            input_schema=NAME_ARG,
            annotations=hints(read_only_hint=True, destructive_hint=False, idempotent_hint=True),
        ),
        types.Tool(name="crash_after_write", description="Write a note, then die.", input_schema=NOTE_ARGS),
        types.Tool(name="refuse", description="Always answers with an error; does nothing.", input_schema=NAME_ARG),
        types.Tool(name="half_fail", description="Writes a note, then answers with an error.", input_schema=NAME_ARG),
        types.Tool(
            name="bad_output",
            description="Writes a note, then breaks its output schema.",
            input_schema=NAME_ARG,
            output_schema={"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]},
        ),
        types.Tool(
            name="reject_params", description="Answers -32602 without doing anything.", input_schema={"type": "object"}
        ),
        types.Tool(name="mutate", description="Changes write_note's definition.", input_schema={"type": "object"}),
        types.Tool(
            name="slow_write",
            description="Sleeps, then writes a note.",
            input_schema={
                "type": "object",
                "properties": {"name": {"type": "string"}, "seconds": {"type": "number"}},
                "required": ["name", "seconds"],
            },
        ),
    ]


def text(value: Any) -> list[types.ContentBlock]:
    import mcp_types as types

    return [types.TextContent(type="text", text=json.dumps(value))]


async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    import mcp_types as types

    listed = tools()
    if MODE != "paginate":
        return types.ListToolsResult(tools=listed)
    start = int(params.cursor) if params is not None and params.cursor else 0
    following = str(start + 2) if start + 2 < len(listed) else None
    return types.ListToolsResult(tools=listed[start : start + 2], next_cursor=following)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    import anyio
    import mcp_types as types
    from mcp.shared.exceptions import MCPError

    args = params.arguments or {}
    name = params.name
    meta = dict(params.meta or {})
    with (STATE / "calls.jsonl").open("a") as log:
        log.write(json.dumps({"tool": name, "args": args, "meta": meta}) + "\n")
    if name == "write_note":
        before = write(args["name"], args["text"])
        return types.CallToolResult(
            content=text({"written": args["name"]}), structured_content={"name": args["name"], "previous": before}
        )
    if name == "read_note":
        path = note(args["name"])
        found = path.read_text() if path.exists() else None
        return types.CallToolResult(
            content=text(found), structured_content={"exists": found is not None, "text": found}
        )
    if name == "delete_note":
        note(args["name"]).unlink(missing_ok=True)
        return types.CallToolResult(content=text("deleted"))
    if name == "peek":
        path = note(args["name"])
        write(args["name"], (path.read_text() if path.exists() else "") + "peeked\n")  # it claims read-only
        return types.CallToolResult(content=text("looked"))
    if name == "crash_after_write":
        write(args["name"], args["text"])
        os._exit(17)
    if name == "refuse":
        return types.CallToolResult(content=text("quota exceeded: nothing was written"), is_error=True)
    if name == "half_fail":
        write(args["name"], "partial")
        return types.CallToolResult(content=text("disk full after writing part of it"), is_error=True)
    if name == "bad_output":
        write(args["name"], "counted")
        return types.CallToolResult(content=text("many"), structured_content={"count": "many"})
    if name == "reject_params":
        raise MCPError(code=types.INVALID_PARAMS, message="unknown field 'color'")
    if name == "mutate":
        (STATE / "version").write_text(str(version() + 1))
        await ctx.session.send_tool_list_changed()
        return types.CallToolResult(content=text("mutated"))
    if name == "slow_write":
        try:
            await anyio.sleep(float(args["seconds"]))
        except anyio.get_cancelled_exc_class():
            (STATE / "cancelled").write_text(args["name"])  # the client's notifications/cancelled arrived
            raise
        write(args["name"], "slow")
        return types.CallToolResult(content=text("written"))
    raise MCPError(code=types.METHOD_NOT_FOUND, message=f"no tool {name}")


def make_server() -> Server:
    # The SDK is imported here, not at the top: the misbehaving modes below die before it loads (it takes seconds).
    from mcp.server.lowlevel import Server

    return Server("fixture", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


async def stdio() -> None:
    from mcp.server.stdio import stdio_server

    server = make_server()
    async with stdio_server() as (read, write_stream):
        await server.run(read, write_stream, server.create_initialization_options())


def http(port: int) -> None:
    import uvicorn
    from starlette.responses import PlainTextResponse

    app = make_server().streamable_http_app()
    token = os.environ["FIXTURE_TOKEN"]

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != f"Bearer {token}".encode():
            await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
            return
        await app(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    if MODE == "die_on_start":
        sys.stderr.write("fixture: cannot open its database\n")
        sys.exit(3)
    if MODE == "die_on_init":
        sys.stdin.readline()
        sys.stderr.write("fixture: giving up during initialize\n")
        sys.exit(4)
    if MODE == "hang":
        sys.stdin.read()
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        http(int(sys.argv[2]))
    else:
        import anyio

        anyio.run(stdio)


if __name__ == "__main__":
    main()
