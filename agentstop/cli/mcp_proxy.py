"""`agentstop mcp-proxy`: a task's MCP servers, behind the fence, served to any MCP host (stdio or HTTP).

The proxy's task file is a task file whose agent is the MCP host: it has
`name`, `mcp_servers`, `mcp_overlay`, `grant`, and optionally `goal`,
`journal`, `stop` and `approve`, but no `agent`, `steps` or `tools`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import click
import yaml
from pydantic import Field, ValidationError

from agentstop import __version__
from agentstop.errors import TaskFileError
from agentstop.journal import Journal
from agentstop.report import Report
from agentstop.session import Target, default_journal, needs_extra, shown
from agentstop.supervisor import Supervisor
from agentstop.task import TaskFile, TaskModel
from agentstop.task.models import StepModel
from agentstop.task.problems import Problem, raise_first
from agentstop.task.validation import problems_from
from agentstop.yaml_lines import LineIndex

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, TARGET, run_async
from .headless import ProgressPrinter

if TYPE_CHECKING:
    from agentstop.mcp.proxy import McpProxy

__all__ = ["ProxyTaskModel", "load_proxy_task", "mcp_proxy_cmd", "parse_bind"]

BY = "agentstop mcp-proxy"

_NOT_FOR_A_PROXY = {
    "agent": "the MCP host is the agent behind a proxy; remove `agent`",
    "steps": "the MCP host plans the calls behind a proxy; remove `steps`",
    "tools": "a proxy serves the tools of its `mcp_servers`; remove `tools` (Python tool classes are for "
    "`agentstop run`)",
}


class ProxyTaskModel(TaskModel):
    """A task file for `agentstop mcp-proxy`: a task whose agent is the MCP host (so it has no steps)."""

    steps: list[StepModel] = Field(default_factory=list, description="None: the MCP host plans the calls.")


def _read(path: Path) -> str:
    shown_path = str(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskFileError(
            shown_path, None, None, "no such file; check the path (a relative path starts from the current directory)"
        ) from None
    except IsADirectoryError:
        raise TaskFileError(shown_path, None, None, "is a directory; pass the task file in it") from None
    except UnicodeDecodeError:
        raise TaskFileError(shown_path, None, None, "not UTF-8 text; save the file as UTF-8") from None
    except OSError as exc:
        raise TaskFileError(
            shown_path, None, None, f"cannot read it ({exc.strerror or exc}); check its permissions"
        ) from None


def load_proxy_task(path: Path) -> TaskFile:
    """Read and validate a proxy's task file (see the module docstring).

    Raises:
        TaskFileError: the file is missing, its YAML or a field is wrong (file, line, field).
    """
    shown_path = str(path)
    text = _read(path)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "unreadable YAML"
        raise TaskFileError(
            shown_path,
            None if mark is None else int(mark.line) + 1,
            None,
            f"YAML syntax error: {what}; fix the YAML here",
        ) from None
    except yaml.YAMLError as exc:
        raise TaskFileError(shown_path, None, None, f"cannot read the YAML: {exc}; fix the file") from None
    finally:
        loader.dispose()
    index = LineIndex(root)
    if not isinstance(data, dict):
        raise TaskFileError(
            shown_path, index.line(()), None, "expected a mapping with name, mcp_servers and grant at the top"
        )
    problems = [Problem(index.line([key]), key, text) for key, text in _NOT_FOR_A_PROXY.items() if key in data]
    problems += [
        Problem(line, ".".join(map(str, [*where, key])) or None, f"key {key!r} is written twice; keep one")
        for line, where, key in index.duplicate_keys()
    ]
    if not data.get("mcp_servers"):
        problems.append(
            Problem(
                index.line(["mcp_servers"]),
                "mcp_servers",
                "a proxy serves the tools of MCP servers: give `mcp_servers` (name: {command, args, "
                "env} or {url, headers})",
            )
        )
    model: ProxyTaskModel | None = None
    if not problems:
        try:
            model = ProxyTaskModel.model_validate(data)
        except ValidationError as exc:
            problems.extend(problems_from(exc, ProxyTaskModel, index))
    raise_first(shown_path, problems)
    assert model is not None
    return TaskFile(model, path.absolute(), shown_path, index)


def parse_bind(text: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`) as (host, port).

    Raises:
        click.BadParameter: not HOST:PORT with a port from 0 to 65535.
    """
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(
            f"{text!r} is not HOST:PORT (like 127.0.0.1:8765; port 0 picks a free one)", param_hint="--http"
        )
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CannotListen(click.ClickException):
    """The `--http` address cannot be listened on (exit status 2, like any input error)."""

    exit_code = EXIT_USAGE


def _listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket (the proxy binds it, so a busy port is an error it can word)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise CannotListen(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another port (0 picks a free one)"
        ) from None
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    return f"http://{shown_host}:{port}/mcp"


def _say(text: str) -> None:
    # stderr only: in stdio mode stdout is the protocol.
    click.echo(f"agentstop mcp-proxy: {text}", err=True)


async def _shutdown_on_signals(proxy: McpProxy) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if not proxy.closing:
                name = "Ctrl+C" if signum == signal.SIGINT else "SIGTERM"
                _say(
                    f"{name}: shutting down (calls in flight are stopped: the grant is revoked first; "
                    "press Ctrl+C again to quit at once)"
                )
                proxy.shutdown()
            else:
                _say("quitting now; the journal is consistent and `agentstop report` reconciles what was in flight")
                os._exit(130)


@click.command("mcp-proxy")
@click.option(
    "--task",
    "task",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The proxy's task file: name, mcp_servers, mcp_overlay, grant (no steps: the host is the agent).",
)
@click.option(
    "--http",
    "http",
    metavar="HOST:PORT",
    help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (port 0 picks a free one; "
    "the address is printed on stderr).",
)
@click.option(
    "--journal",
    type=TARGET,
    metavar="PATH|URL",
    help="Journal: a SQLite file or a postgresql:// URL (default: the task's `journal`, else "
    "$AGENTSTOP_JOURNAL, else the per-user journal).",
)
@run_async
async def mcp_proxy_cmd(task: Path, http: str | None, journal: Target | None) -> int:
    """Serve the task's MCP servers to any MCP host, every tools/call behind the fence.

    The host (Claude Desktop, Claude Code, Cursor, ...) sees one MCP server whose
    tools are those of the task's mcp_servers, named server__tool. Each call is
    journaled, checked against the grant at the commit fence, sent upstream
    once, and its result returned as the upstream gave it. `agentstop stop` (from
    any terminal) revokes the grant: new calls are refused with nothing sent,
    and calls in flight get the grace period, then are cancelled upstream and
    reported "outcome unknown" until the overlay's probe settles them. Undo
    afterwards with `agentstop undo` (it starts the servers again from this file).
    Logs go to stderr; in stdio mode stdout is the protocol.

    \b
    Examples:
      agentstop mcp-proxy --task proxy.yaml                    # stdio, for Claude Desktop / Code
      agentstop mcp-proxy --task proxy.yaml --http 127.0.0.1:8765
      agentstop stop --journal ./proxy.db --session latest     # Stop, from another terminal
    """
    spec = load_proxy_task(task)
    bind = parse_bind(http) if http is not None else None
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="agentstop mcp-proxy: %(name)s: %(message)s")
    with needs_extra("mcp", "agentstop mcp-proxy"):
        from agentstop.mcp import McpClient, load_mcp_setup  # lazy: the `mcp` extra, seconds to import
        from agentstop.mcp.proxy import McpProxy

    sock = _listen(*bind) if bind is not None else None
    target = journal or spec.journal_target(default_journal())
    try:
        async with Journal.open(target) as j, McpClient.from_setup(load_mcp_setup(task)) as mcp:
            where = _url(sock, bind[0]) if sock is not None and bind is not None else "stdio"
            sup = Supervisor(
                j,
                mcp.tools,
                spec.grant_spec(),
                task_name=spec.name,
                goal=spec.goal,
                task_path=str(spec.path),
                grace=spec.grace_seconds,
                approve=spec.approve,
                meta={"mcp_proxy": where, "mcp_pins": mcp.pins()},
            )
            async with (
                sup,
                McpProxy(mcp, sup, version=__version__, say=_say, instructions=_instructions(sup.session_id)) as proxy,
            ):
                servers = ", ".join(dict.fromkeys(t.server for t in mcp.tools))
                _say(
                    f"serving {len(proxy.tool_names)} tools ({servers}) at {where} · session {sup.session_id} · "
                    f"journal {shown(target)}"
                )
                _say(f"Stop: agentstop stop --journal {_journal_arg(target)} --session {sup.session_id}")
                if bind is not None and not _is_loopback(bind[0]):
                    _say(
                        f"warning: {bind[0]} is not a loopback address and the proxy has no authentication: "
                        "anyone who can reach it can call the tools under this grant"
                    )
                progress = ProgressPrinter(j, sup.session_id, sys.stderr)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(progress.follow)
                    tg.start_soon(_shutdown_on_signals, proxy)
                    if sock is not None and bind is not None:
                        await proxy.serve_http(sock, bind[0])
                    else:
                        await proxy.serve_stdio()
                    if sup.in_flight:
                        # The host is gone; the grant goes with it, and what it left running is settled.
                        await sup.stop("the proxy shut down with calls in flight", BY, escalate=False)
                    tg.cancel_scope.cancel()
                await progress.poll()
            report = await Report.from_journal(j, sup.session_id)
    finally:
        if sock is not None:
            sock.close()
    _say(report.summary_line())
    return EXIT_OK if report.clean else EXIT_FAILED


def _journal_arg(target: Target) -> str:
    return "URL" if isinstance(target, str) else str(target)


def _instructions(session_id: str) -> str:
    return (
        f"These tools run behind agentstop (session {session_id}): every call is journaled before it is sent "
        "and checked against a revocable grant. A result starting 'refused:' was never sent; 'stopped: outcome "
        "unknown' means a person pressed Stop while the call ran: do not retry it, the person will check."
    )
