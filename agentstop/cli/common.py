"""What every command shares: the default journal, errors as exit codes, tools from the journal."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import anyio
import click
import platformdirs

from agentstop.errors import AgentstopError
from agentstop.journal import Journal, SessionRecord
from agentstop.supervisor import recover
from agentstop.tools import Tool, ToolRegistry

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "default_journal",
    "journal_argument",
    "open_and_recover",
    "run_async",
    "session_option",
    "tools_from_session",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

JOURNAL_ENV = "AGENTSTOP_JOURNAL"

P = ParamSpec("P")
T = TypeVar("T")


def default_journal() -> Path:
    """`$AGENTSTOP_JOURNAL`, else `journal.db` in the per-user data directory."""
    env = os.environ.get(JOURNAL_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("agentstop")) / "journal.db"


def journal_argument(f: Callable[P, T]) -> Callable[P, T]:
    """The optional JOURNAL argument (a path; default: the per-user journal)."""
    return click.argument("journal", required=False, type=click.Path(dir_okay=False, path_type=Path))(f)


def session_option(f: Callable[P, T]) -> Callable[P, T]:
    """`--session ID|latest` (default latest)."""
    return click.option("--session", "-s", "session", default="latest", show_default=True,
                        help="Session id, or 'latest'.")(f)


def run_async(fn: Callable[P, Awaitable[int]]) -> Callable[P, None]:
    """Run an async command; AgentstopError becomes a one-line message and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            code = anyio.run(functools.partial(fn, *args, **kwargs))
        except AgentstopError as exc:
            click.echo(f"agentstop: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        sys.exit(code)

    return wrapper


def tools_from_session(session: SessionRecord) -> tuple[ToolRegistry, list[str]]:
    """Import the session's tools by the paths it recorded; returns them and the problems."""
    from agentstop.task.tool_import import ToolImportProblem, import_tool, search_path

    dirs = [Path.cwd()]
    if session.task_path:
        dirs.insert(0, Path(session.task_path).parent)
    tools: list[Tool] = []
    problems: list[str] = []
    with search_path(dirs):
        for spec in session.tools:
            try:
                tools.append(import_tool(spec, ", ".join(str(d) for d in dirs)))
            except ToolImportProblem as exc:
                problems.append(f"{spec}: {exc}")
    return ToolRegistry(tools), problems


async def open_and_recover(path: Path | None, *, recover_dead: bool = True) -> tuple[Journal, list[str]]:
    """Open a journal (must exist) and recover sessions whose process died.

    Returns the open journal (the caller closes it) and notes for the user.
    """
    journal_path = path or default_journal()
    if not journal_path.exists():
        raise click.ClickException(
            f"no journal at {journal_path}. Run a task first (agentstop run TASK.yaml --headless), "
            f"or pass the journal's path.")
    journal = await Journal.connect(journal_path)
    notes: list[str] = []
    if recover_dead:
        from agentstop.supervisor import is_alive

        for session in await journal.sessions():
            if session.status == "running":
                if is_alive(session):
                    continue
            elif not any(c.state in ("committing", "unknown") for c in await journal.calls(session.session_id)):
                continue  # ended cleanly; an ended session with calls in flight (abandoned) is settled below
            tools, problems = tools_from_session(session)
            result = await recover(journal, tools, session.session_id)
            if result.marked_crashed:
                notes.append(f"session {session.session_id} had crashed (process {session.pid} is gone); "
                             f"reconciled {len(result.reconciled)} call(s)")
            notes.extend(f"  cannot load tool {p}" for p in problems)
    return journal, notes


def echo_notes(notes: list[str]) -> None:
    """Print recovery notes to stderr."""
    for note in notes:
        click.echo(note, err=True)
