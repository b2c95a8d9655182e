"""Which journal: a target (a SQLite file or a PostgreSQL URL), its defaults, and how messages name it.

A journal is a *target*: a SQLite file (a path) or a PostgreSQL database (a
`postgresql://` URL). Whoever names one (the command line's `--journal`, the
TUI, a script) passes it here; with none given, `$AGENTSTOP_JOURNAL`, else the
per-user file, else (for reading, right after `agentstop demo`) the last
demo's journal. Every message names a journal through `shown()`, which never
prints a password.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import platformdirs

from agentstop.errors import AgentstopError
from agentstop.journal.backend import is_url, redact_url
from agentstop.journal.opening import open_backend

__all__ = [
    "DEMO_POINTER",
    "JOURNAL_ENV",
    "JournalTargetError",
    "Target",
    "default_journal",
    "journal_to_read",
    "last_demo_journal",
    "parse_target",
    "remember_demo_journal",
    "require_journal",
    "same_journal",
    "shown",
]

#: A journal: a SQLite file, or a `postgresql://` URL kept as the string it was given.
Target = Path | str

JOURNAL_ENV = "AGENTSTOP_JOURNAL"
"""The environment variable naming the default journal (a path or a URL)."""

DEMO_POINTER = "last-demo-journal"
"""A file in the per-user data directory naming the last `agentstop demo`'s journal."""


class JournalTargetError(AgentstopError):
    """`$AGENTSTOP_JOURNAL` names no journal this agentstop can open (a URL that does not parse).

    A mistake in how the command was called: the command line shows it as a usage error.
    """


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
    """`$AGENTSTOP_JOURNAL` (a path or a URL), else `journal.db` in the per-user data directory.

    Raises:
        JournalTargetError: `$AGENTSTOP_JOURNAL` is a URL that does not parse.
    """
    env = os.environ.get(JOURNAL_ENV)
    if env:
        try:
            return parse_target(env)
        except ValueError as exc:
            raise JournalTargetError(f"${JOURNAL_ENV} is not a valid journal URL ({exc})") from None
    return Path(platformdirs.user_data_dir("agentstop")) / "journal.db"


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
    per-user journal), the last `agentstop demo`'s journal, saying so on stderr:
    right after the demo, `agentstop report` reads what the demo did.

    Raises:
        JournalTargetError: `$AGENTSTOP_JOURNAL` is a URL that does not parse.
    """
    if journal is not None:
        return journal
    default = default_journal()
    if isinstance(default, Path) and not default.exists() and not os.environ.get(JOURNAL_ENV):
        demo = last_demo_journal()
        if demo is not None:
            print(
                f"agentstop: reading the last demo's journal {shown(demo)} (no journal at {shown(default)} "
                "yet; pass --journal to choose another)",
                file=sys.stderr,
                flush=True,
            )
            return demo
    return default


async def require_journal(target: Target) -> None:
    """Fail unless `target` already holds a journal: never create one by reading it.

    A missing file is an error with what to do; a database is checked read-only
    (reachable, an agentstop journal, a schema version this agentstop reads), so
    a wrong URL is a `JournalError` naming it, not a new empty journal.

    Raises:
        AgentstopError: no journal at `target` (`JournalError` for a database).
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
