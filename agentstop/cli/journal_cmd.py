"""`agentstop journal copy`: move sessions between journals (SQLite and PostgreSQL, both ways)."""

from __future__ import annotations

import json
import sys
import time
from typing import NoReturn

import click

from agentstop.errors import AgentstopError
from agentstop.journal.session_copy import CopyProgress, CopyResult, copy_sessions
from agentstop.session import Target, same_journal, shown

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, TARGET

__all__ = ["journal_group"]

#: Progress lines ("copied 120/500 sessions") only for copies at least this long, at most one a second.
PROGRESS_FROM = 20
PROGRESS_EVERY = 1.0
LISTED = 10


@click.group("journal")
def journal_group() -> None:
    """Whole journals: copy sessions between SQLite files and PostgreSQL databases.

    \b
    Examples:
      agentstop journal copy ~/.local/share/agentstop/journal.db postgresql://agents@db.internal/agentstop
      agentstop journal copy postgresql://agents@db.internal/agentstop incident-42.db
    """


@journal_group.command("copy")
@click.argument("source", metavar="SRC", type=TARGET)
@click.argument("destination", metavar="DST", type=TARGET)
@click.option(
    "--json", "as_json", is_flag=True, help="Print what was copied, skipped and still running as JSON on stdout."
)
def copy_cmd(source: Target, destination: Target, as_json: bool) -> None:
    """Copy every session of SRC that DST lacks: sessions, grants, calls and events.

    SRC and DST are each a SQLite file or a postgresql:// URL. SRC is only
    read; DST is created if missing (a new file, or the schema in an empty
    database). Each session is copied in one transaction, with the grant ids
    and event numbers DST assigns, so reports, replay and undo work on the
    copy as on the original. A session DST already has (same id) is skipped:
    copying again copies only what is new. A session still running in SRC is
    copied as it is now, and said so; its later changes are not copied.

    \b
    Examples:
      agentstop journal copy ./release.db postgresql://agents@db.internal/agentstop
      agentstop journal copy postgresql://agents@db.internal/agentstop ./backup.db --json
    """
    if same_journal(source, destination):
        _fail(
            f"journal copy: SRC and DST are the same journal ({shown(source)}); nothing to copy. "
            "Pass another file or database as DST."
        )
    printer = _Progress()
    try:
        result = copy_sessions(source, destination, on_session=printer)
    except AgentstopError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted after {printer.copied} session(s) copied; they stay copied (each is its own "
            "transaction). Run the same command again to copy the rest.",
            err=True,
        )
        sys.exit(EXIT_FAILED)
    _summarise(result, shown(source), shown(destination))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "source": shown(source),
                    "destination": shown(destination),
                    "copied": result.copied,
                    "skipped": result.skipped,
                    "running": result.running,
                    "unreadable": result.unreadable,
                },
                indent=2,
            )
        )
    sys.exit(EXIT_FAILED if result.unreadable else EXIT_OK)


class _Progress:
    """Prints "copied 120/500 sessions" on stderr for long copies, at most once a second."""

    def __init__(self) -> None:
        self.copied = 0
        self._last = time.monotonic()

    def __call__(self, step: CopyProgress) -> None:
        if step.outcome == "copied":
            self.copied += 1
        if step.total < PROGRESS_FROM:
            return
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY or step.index == step.total:
            self._last = now
            click.echo(
                f"copied {self.copied}/{step.total} sessions"
                + (f" ({step.index - self.copied} skipped)" if step.index > self.copied else ""),
                err=True,
            )


def _ids(ids: list[str]) -> str:
    more = f" and {len(ids) - LISTED} more" if len(ids) > LISTED else ""
    return ", ".join(ids[:LISTED]) + more


def _summarise(result: CopyResult, source: str, destination: str) -> None:
    if not result.copied and not result.skipped and not result.unreadable:
        click.echo(f"{source} holds no sessions; nothing to copy.", err=True)
        return
    click.echo(f"copied {len(result.copied)} session(s) from {source} to {destination}", err=True)
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} already in {destination}: {_ids(result.skipped)}", err=True)
    if result.unreadable:
        click.echo(
            f"{len(result.unreadable)} session(s) could not be read whole from the damaged {source} and were "
            f"left out: {_ids(result.unreadable)}. Everything else was copied.",
            err=True,
        )
    if result.running:
        click.echo(
            f"{len(result.running)} copied session(s) were still running in {source}: {_ids(result.running)}. "
            "Each was copied as it was at that moment; what it does next is not copied (copying again "
            "skips it).",
            err=True,
        )


def _fail(message: str) -> NoReturn:
    click.echo(f"agentstop: {message}", err=True)
    sys.exit(EXIT_USAGE)
