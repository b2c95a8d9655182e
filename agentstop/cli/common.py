"""What every command shares: click's parameter types and options, errors as exit codes, notes on stderr.

A journal is a *target* (`agentstop.session.Target`): a SQLite file (a path) or
a PostgreSQL database (a `postgresql://` URL). Commands take it as `--journal
TARGET` (or the older positional JOURNAL), else `$AGENTSTOP_JOURNAL`, else the
per-user file; every message names it through `shown()`, which never prints a
password. What is not click's (targets, tools from a session, crash recovery)
lives in `agentstop.session`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import math
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import anyio
import click

from agentstop.errors import AgentstopError
from agentstop.session import JournalTargetError, Target, parse_target, same_journal, shown

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "JOURNAL_HELP",
    "SECONDS",
    "TARGET",
    "TEXT",
    "TextType",
    "echo_notes",
    "journal_argument",
    "one_line",
    "run_async",
    "session_option",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

P = ParamSpec("P")
T = TypeVar("T")


JOURNAL_HELP = (
    "Journal: a SQLite file or a postgresql://user:password@host/db URL "
    "(default: $AGENTSTOP_JOURNAL, else the per-user journal)."
)


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
        except JournalTargetError as exc:
            raise click.UsageError(str(exc)) from None  # how the command was called, like a bad option
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
        # asyncio's own cancel class: `anyio.run` has returned (no loop to ask anyio for it), and it runs asyncio.
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


def echo_notes(notes: list[str]) -> None:
    """Print recovery notes to stderr."""
    from agentstop.text import printable

    for note in notes:
        click.echo(printable(note), err=True)
