"""What every command shares: which journal, errors as exit codes, tools from the journal.

A journal is a *target*: a SQLite file (a path) or a PostgreSQL database (a
`postgresql://` URL). Commands take it as `--journal TARGET` (or the older
positional JOURNAL), else `$AGENTSTOP_JOURNAL`, else the per-user file; every
message names it through `shown()`, which never prints a password.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import json
import math
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import anyio
import click
import platformdirs

from agentstop._demo_tools import make_importable
from agentstop.errors import AgentstopError
from agentstop.journal import CallRecord, Journal, SessionRecord, SessionStatus
from agentstop.journal.backend import is_url, open_backend, redact_url
from agentstop.supervisor import recover
from agentstop.tools import Tool, ToolRegistry

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "JOURNAL_HELP",
    "SECONDS",
    "SETTLE",
    "TARGET",
    "TEXT",
    "UNDO",
    "Target",
    "TextType",
    "default_journal",
    "echo_notes",
    "importable_tools",
    "journal_argument",
    "journal_to_read",
    "last_demo_journal",
    "mcp_tools_of",
    "needs_extra",
    "needs_servers",
    "open_and_recover",
    "parse_target",
    "remember_demo_journal",
    "require_journal",
    "run_async",
    "same_journal",
    "session_option",
    "shown",
    "tools_from_session",
    "unsettled_mcp",
    "unsettled_note",
]

#: A journal: a SQLite file, or a `postgresql://` URL kept as the string it was given.
Target = Path | str

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

JOURNAL_ENV = "AGENTSTOP_JOURNAL"

P = ParamSpec("P")
T = TypeVar("T")


JOURNAL_HELP = (
    "Journal: a SQLite file or a postgresql://user:password@host/db URL "
    "(default: $AGENTSTOP_JOURNAL, else the per-user journal)."
)


def parse_target(text: str | os.PathLike[str]) -> Target:
    """A journal target from what a person wrote: a URL stays a string, anything else is a path.

    Raises:
        ValueError: a `postgresql://` URL that does not parse (bad port, bad brackets).
    """
    if is_url(text):
        url = str(text)
        parts = urlsplit(url)  # raises ValueError on unbalanced [brackets]
        _ = parts.port  # raises ValueError on a port that is not a number
        return url
    return Path(text).expanduser()


def shown(target: Target) -> str:
    """The journal as messages name it: the path, or the URL with any password replaced by ***."""
    if not isinstance(target, str) or not is_url(target):
        return str(target)
    return redact_url(target)


def same_journal(a: Target, b: Target) -> bool:
    """True when two targets name the same journal (one file, or one database on one server)."""
    if isinstance(a, str) and isinstance(b, str):
        pa, pb = urlsplit(a), urlsplit(b)
        return (pa.hostname or "", pa.port or 5432, pa.path.strip("/"), pa.query) == (
            pb.hostname or "",
            pb.port or 5432,
            pb.path.strip("/"),
            pb.query,
        )
    if isinstance(a, str) or isinstance(b, str):
        return False
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def default_journal() -> Target:
    """`$AGENTSTOP_JOURNAL` (a path or a URL), else `journal.db` in the per-user data directory."""
    env = os.environ.get(JOURNAL_ENV)
    if env:
        try:
            return parse_target(env)
        except ValueError as exc:
            raise click.UsageError(f"${JOURNAL_ENV} is not a valid journal URL ({exc})") from None
    return Path(platformdirs.user_data_dir("agentstop")) / "journal.db"


DEMO_POINTER = "last-demo-journal"
"""A file in the per-user data directory naming the last `agentstop demo`'s journal."""


# The modules each optional extra brings (their top-level packages), for `needs_extra`.
_EXTRA_MODULES = {
    "mcp": frozenset({"mcp", "mcp_types", "jmespath", "jsonschema", "uvicorn", "starlette", "httpx", "httpx_sse"}),
    "postgres": frozenset({"psycopg", "psycopg_binary"}),
}


@contextmanager
def needs_extra(extra: str, what: str) -> Iterator[None]:
    """Turn a missing optional dependency of `extra` into one line with the install command (exit 2)."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _EXTRA_MODULES[extra]:
            raise
        raise AgentstopError(
            f"{what} needs agentstop's {extra} extra, which is not installed (no module named "
            f"{exc.name!r}): pip install 'agentstop[{extra}]'"
        ) from None


def remember_demo_journal(journal: Target) -> None:
    """Note where the demo keeps its journal, so `agentstop report` & co. find it with no argument."""
    pointer = Path(platformdirs.user_data_dir("agentstop")) / DEMO_POINTER
    pointer.parent.mkdir(parents=True, exist_ok=True)
    pointer.write_text(shown(journal) if isinstance(journal, Path) else str(journal))


def last_demo_journal() -> Path | None:
    """The last demo's journal file, if it still exists."""
    pointer = Path(platformdirs.user_data_dir("agentstop")) / DEMO_POINTER
    try:
        path = Path(pointer.read_text().strip())
    except (OSError, UnicodeDecodeError):
        return None
    return path if path.is_file() else None


def journal_to_read(journal: Target | None) -> Target:
    """The journal a reading command uses: the one given, else the default one.

    With neither given nor a default journal yet (no `$AGENTSTOP_JOURNAL`, no
    per-user journal), the last `agentstop demo`'s journal, saying so: right after
    the demo, `agentstop report` reads what the demo did.
    """
    if journal is not None:
        return journal
    default = default_journal()
    if isinstance(default, Path) and not default.exists() and not os.environ.get(JOURNAL_ENV):
        demo = last_demo_journal()
        if demo is not None:
            click.echo(
                f"agentstop: reading the last demo's journal {shown(demo)} (no journal at {shown(default)} "
                "yet; pass --journal to choose another)",
                err=True,
            )
            return demo
    return default


class TargetType(click.ParamType):
    """A click parameter holding a journal target (a path or a `postgresql://` URL)."""

    name = "journal"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Target:
        if isinstance(value, Path):
            return value
        try:
            str(value).encode("utf-8")
        except UnicodeEncodeError:
            self.fail(
                f"{str(value).encode('utf-8', 'surrogateescape')!r} is not valid UTF-8; "
                "name the journal with a UTF-8 path",
                param,
                ctx,
            )
        try:
            return parse_target(str(value))
        except ValueError as exc:
            self.fail(f"{shown(str(value))!r} is not a valid postgresql:// URL ({exc})", param, ctx)


TARGET = TargetType()


class TextType(click.ParamType):
    """Text a person typed: refused when it is not valid UTF-8 (the shell passed raw bytes) or holds control codes.

    Such bytes would reach SQLite, the journal or the terminal; a clear usage
    error now beats a `UnicodeEncodeError` later.
    """

    name = "text"

    def __init__(self, multiline: bool = False) -> None:
        self.multiline = multiline

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "surrogateescape")
            self.fail(f"{raw!r} is not valid UTF-8 text; pass plain text", param, ctx)
        from agentstop.text import printable

        if printable(text, multiline=self.multiline) != text:
            self.fail(f"{printable(text)!r} holds control characters; pass plain text", param, ctx)
        return text


TEXT = TextType()


class SecondsType(click.FloatRange):
    """A number of seconds, 0 or more: finite (`nan` would stop at once, `inf` never)."""

    name = "seconds"

    def __init__(self) -> None:
        super().__init__(min=0)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a finite number of seconds; pass one like 2.5", param, ctx)
        return seconds


SECONDS = SecondsType()


def journal_argument(f: Callable[..., T]) -> Callable[..., T]:
    """The optional positional JOURNAL and `--journal TARGET`: either names the journal, as `journal`.

    Both given and naming different journals is a usage error; neither leaves `journal` None
    (the command then uses `default_journal()`).
    """

    @functools.wraps(f)
    def wrapper(*args: Any, journal_arg: Target | None = None, journal_opt: Target | None = None, **kwargs: Any) -> T:
        if "call_ids" in kwargs and _is_call_id(journal_arg):
            # `agentstop undo [--journal J] c3 c5`: the first call id lands where the optional JOURNAL goes.
            kwargs["call_ids"] = (str(journal_arg), *kwargs["call_ids"])
            journal_arg = None
        if journal_arg is not None and journal_opt is not None and not same_journal(journal_arg, journal_opt):
            raise click.UsageError(
                f"two journals given: {shown(journal_arg)} and --journal {shown(journal_opt)}; "
                "pass one (--journal is the newer way)"
            )
        return f(*args, journal=journal_opt if journal_opt is not None else journal_arg, **kwargs)

    # Our own parameter list: the one functools.wraps copied is shared with `f`.
    wrapper.__click_params__ = list(getattr(f, "__click_params__", []))  # type: ignore[attr-defined]
    with_option = click.option("--journal", "journal_opt", type=TARGET, metavar="PATH|URL", help=JOURNAL_HELP)(wrapper)
    return click.argument("journal_arg", metavar="[JOURNAL]", required=False, type=TARGET)(with_option)


_CALL_ID = re.compile(r"c\d+")


def _is_call_id(value: Target | None) -> bool:
    """True for a positional like `c3` that names no file: a call id, not a journal."""
    return isinstance(value, Path) and _CALL_ID.fullmatch(str(value)) is not None and not value.exists()


def session_option(f: Callable[P, T]) -> Callable[P, T]:
    """`--session ID|latest` (default latest)."""
    return click.option(
        "--session", "-s", "session", default="latest", show_default=True, type=TEXT, help="Session id, or 'latest'."
    )(f)


def run_async(fn: Callable[P, Awaitable[int]]) -> Callable[P, None]:
    """Run an async command; an error a person or the machine caused becomes one line and exit 2.

    That is an `AgentstopError` (also one raised inside a task group, which wraps it in an
    ExceptionGroup) or an `OSError` (a full disk, a vanished directory); a bug stays a traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            code = anyio.run(functools.partial(fn, *args, **kwargs))
        except (AgentstopError, OSError, BaseExceptionGroup) as exc:
            line = one_line(exc)
            if line is None:
                raise
            click.echo(f"agentstop: {line}", err=True)
            sys.exit(EXIT_USAGE)
        sys.exit(code)

    return wrapper


def one_line(exc: BaseException) -> str | None:
    """The one line a person reads for `exc`, or None when it is a bug (it then stays a traceback).

    An exception group (a task group's failure) reads as its first `AgentstopError`,
    then its first `OSError`, when every exception in it is one of those or a cancellation.
    """
    from agentstop.redact import scrub
    from agentstop.text import printable

    if isinstance(exc, AgentstopError):
        return printable(scrub(str(exc)))
    if isinstance(exc, OSError):
        where = f" ({printable(str(exc.filename))})" if exc.filename else ""
        fix = (
            "free disk space; the fence held: nothing was issued without its journal record"
            if exc.errno == errno.ENOSPC
            else "check the path and its permissions"
        )
        return f"{exc.strerror or exc}{where}: {fix}."
    if isinstance(exc, BaseExceptionGroup):
        leaves = list(_leaves(exc))
        if not all(isinstance(e, AgentstopError | OSError | asyncio.CancelledError) for e in leaves):
            return None
        first = next(
            (e for e in leaves if isinstance(e, AgentstopError)),
            next((e for e in leaves if isinstance(e, OSError)), None),
        )
        return None if first is None else one_line(first)
    return None


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


def _python_tools(session: SessionRecord) -> tuple[ToolRegistry, list[str]]:
    """The session's Python tools, imported by the paths it recorded (MCP tools are skipped), and the problems."""
    from agentstop.mcp.restart import mcp_tool_name
    from agentstop.task.tool_import import ToolImportProblem, import_tool, search_path

    dirs = [Path.cwd()]
    if session.task_path:
        dirs.insert(0, Path(session.task_path).parent)
    tools: list[Tool] = []
    problems: list[str] = []
    with search_path(dirs):
        for spec in session.tools:
            if mcp_tool_name(spec) is not None:
                continue
            try:
                tools.append(import_tool(spec, ", ".join(str(d) for d in dirs)))
            except ToolImportProblem as exc:
                problems.append(f"{spec}: {exc}")
    return ToolRegistry(tools), problems


def importable_tools(session: SessionRecord) -> tuple[ToolRegistry, list[str]]:
    """The session's tools that load without starting anything (not its MCP tools), and the problems.

    For a caller that cannot hold servers open (the replay browser's undo): each
    MCP tool is a problem saying where to undo it instead.
    """
    registry, problems = _python_tools(session)
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


UNDO = ("undo its calls", "nothing was undone")
"""Why `tools_from_session` starts a session's MCP servers, and what a failure means: for undo."""
SETTLE = ("check its calls in flight", "until then they stay in flight (outcome unknown)")
"""Why `tools_from_session` starts a session's MCP servers, and what a failure means: to settle calls in flight."""


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
        needed: the tools the command will use; MCP servers start only for these.
        purpose: what the servers are started for, and what a failure means (`UNDO`, `SETTLE`).

    Raises:
        McpConfigError: a needed MCP tool's task file is gone or wrong (the command
            exits 2 saying so), or its server could not be started.
    """
    registry, problems = _python_tools(session)
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

    click.echo(f"starting the demo world of session {session_id} again ({world}) to {purpose[0]} ...", err=True)
    with ExitStack() as stack:
        try:
            stack.enter_context(running_world(world))
        except WorldStartFailed as exc:
            raise AgentstopError(
                f"the demo world of session {session_id} did not start again: {exc}; cannot {purpose[0]}: {purpose[1]}"
            ) from exc
        yield


async def unsettled_mcp(journal: Journal, session: SessionRecord) -> AgentstopError | None:
    """Why the session's MCP calls in flight cannot be settled (its task file is gone), or None."""
    from agentstop.mcp.restart import task_file_problem

    names = needs_servers(await journal.calls(session.session_id)) & set(mcp_tools_of(session))
    if not names:
        return None
    return task_file_problem(session.task_path, session.session_id, sorted(names), *SETTLE)


async def require_journal(target: Target) -> None:
    """Fail unless `target` already holds a journal: never create one by reading it.

    A missing file is a usage error with what to do; a database is checked
    read-only (reachable, an agentstop journal, a schema version this agentstop
    reads), so a wrong URL is a `JournalError` naming it, not a new empty journal.
    """
    if isinstance(target, str):
        backend = open_backend(target, 5.0)
        await anyio.to_thread.run_sync(backend.prepare, True)
    elif not target.exists():
        demo = last_demo_journal()
        hint = f"; the last demo's journal is {shown(demo)}" if demo is not None and demo != target else ""
        raise AgentstopError(
            f"no journal at {shown(target)}. Run a task first (agentstop run TASK.yaml --headless), "
            f"or pass the journal's path with --journal{hint}."
        )


async def open_and_recover(target: Target | None, *, recover_dead: bool = True) -> tuple[Journal, list[str]]:
    """Open a journal (must exist) and recover sessions whose process died.

    Returns the open journal (the caller closes it) and notes for the user.
    """
    where = journal_to_read(target)
    await require_journal(where)
    journal = await Journal.connect(where)
    try:
        return journal, await _recover_dead(journal) if recover_dead else []
    except BaseException:
        # Closed on every failure: a reader thread left open keeps the process from exiting.
        with anyio.CancelScope(shield=True):
            await journal.close()
        raise


async def _recover_dead(journal: Journal) -> list[str]:
    """Recover the journal's sessions whose process died, and undos or re-applies whose process died."""
    from agentstop.supervisor import is_alive
    from agentstop.supervisor.recovery import WORKED, work_alive

    notes: list[str] = []
    for session in await journal.sessions():
        calls = await journal.calls(session.session_id)
        # An undo or a re-apply whose own process died (an `agentstop undo` killed half-way) is
        # settled whatever the session's state: else it says "in progress" forever.
        dead_work = any(c.state in WORKED and not work_alive(c, session) for c in calls)
        if session.status == "running" and is_alive(session) and not dead_work:
            continue
        if session.status != "running" and not dead_work:
            if not any(c.state in _IN_FLIGHT for c in calls):
                continue  # ended cleanly; an ended session with calls in flight (abandoned) is settled below
            if is_alive(dataclasses.replace(session, status=SessionStatus.RUNNING)):
                continue  # its process is still settling them (recovery leaves it be): start no servers
        notes.extend(await _recover(journal, session, calls))
    return notes


_IN_FLIGHT = ("committing", "unknown")


def needs_servers(calls: list[CallRecord]) -> set[str]:
    """The tools recovery must ask about: those of calls in flight that can look their outcome up."""
    return {c.tool for c in calls if c.state in _IN_FLIGHT and c.can_lookup}


async def _recover(journal: Journal, session: SessionRecord, calls: list[CallRecord]) -> list[str]:
    """Recover one session (see `recover`); its MCP servers are started only to settle calls in flight."""
    notes: list[str] = []
    async with AsyncExitStack() as stack:
        try:
            tools, problems = await stack.enter_async_context(
                tools_from_session(session, needs_servers(calls), purpose=SETTLE)
            )
        except AgentstopError as exc:
            # Its MCP calls stay in flight (unknown) until the servers can be asked; the rest is recovered.
            notes.append(f"{unsettled_note(session.session_id)}{exc}")
            tools, problems = _python_tools(session)
        result = await recover(journal, tools, session.session_id)
    if result.marked_crashed:
        notes.append(
            f"session {session.session_id} had crashed (process {session.pid} is gone); "
            f"reconciled {len(result.reconciled)} call(s)"
        )
    cut = sorted(
        (cid for cid, outcome in result.reconciled.items() if outcome in ("compensation_failed", "reapply_failed")),
        key=lambda cid: (len(cid), cid),
    )
    if cut:
        notes.append(
            f"session {session.session_id}: the undo or re-apply of {', '.join(cut)} was cut off by a "
            "crash (its process is gone); recorded failed, retryable: run the undo (or --reapply) again"
        )
    notes.extend(f"  cannot load tool {p}" for p in problems)
    return notes


def unsettled_note(session_id: str) -> str:
    """How a recovery note about a session whose MCP calls in flight could not be settled begins."""
    return f"session {session_id}: cannot settle its MCP calls in flight: "


def echo_notes(notes: list[str]) -> None:
    """Print recovery notes to stderr."""
    from agentstop.text import printable

    for note in notes:
        click.echo(printable(note), err=True)
