"""`agentstop undo`: a session's calls undone (latest commit first), or re-applied, from the shell.

Its own module: it loads the session's tools and runs the supervisor's undo and
re-apply, which `agentstop report` and `sessions` (in inspect.py) need not import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path

import click

from agentstop.journal import CallRecord, Journal, SessionRecord, SessionStatus
from agentstop.journal.liveness import is_alive
from agentstop.report import IN_EFFECT, REAPPLIABLE
from agentstop.session import Target, open_and_recover, tools_from_session
from agentstop.supervisor.reapply import ReapplyOutcome, run_reapply
from agentstop.supervisor.undo import UndoOutcome, run_undo
from agentstop.text import printable
from agentstop.tools import ToolRegistry

from .common import EXIT_FAILED, EXIT_OK, TEXT, echo_notes, journal_argument, run_async, session_option

__all__ = ["undo_cmd"]


@click.command("undo")
@journal_argument
@session_option
@click.option(
    "--all",
    "undo_all",
    is_flag=True,
    help="Undo every undoable call, latest commit first (with --reapply: re-apply every undone call "
    "that can be, earliest first).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Undo even calls whose effect was changed since the agent made it (skips each tool's drift "
    "check; journaled as forced).",
)
@click.option(
    "--reapply",
    is_flag=True,
    help="Undo the undo: carry these undone calls' effects out again (where their tool can; the "
    "event booked again, the branch re-created, the rows re-inserted), earliest commit first. "
    "Each is then done, and undoable, again.",
)
@click.argument("call_ids", nargs=-1, type=TEXT)
@run_async
async def undo_cmd(
    journal: Target | None, session: str, undo_all: bool, force: bool, reapply: bool, call_ids: tuple[str, ...]
) -> int:
    """Run compensations for a session's calls, latest commit first; or, with --reapply, re-apply undone ones.

    Calls that cannot be undone (irreversible, never landed) are listed with the
    reason and are not errors. Before each undo the tool checks that the effect
    was not changed since the agent made it (the event edited, new commits on
    the branch, the row rewritten); if it was, that undo is refused, nothing is
    done to it, and the others still run. The exit status is 1 if a
    compensation failed or was refused; --force undoes them anyway.

    With --reapply the undo of each call is itself undone: its tool carries the
    effect out again (only tools that define a re-apply; an email is never sent
    twice), journaled with who asked, and the call is undoable again. Calls that
    are not undone, or whose tool cannot re-apply, are listed with the reason;
    the exit status is 1 if a re-apply failed (it stays undone; run it again to
    retry).

    \b
    Examples:
      agentstop undo --all                       # latest session
      agentstop undo ./release.db --session 20261126T080930-3fa2c1 c3 c5
      agentstop undo --force c3                  # c3 was edited since; undo it anyway
      agentstop undo --reapply c3                # c3 should not have been undone: do it again
      agentstop undo --reapply --all             # put back everything the last undo took away
    """
    if undo_all == bool(call_ids):
        raise click.UsageError("pass either --all or one or more CALL_IDs (e.g. c3 c5)")
    if reapply:
        if force:
            raise click.UsageError("--force skips the drift check of an undo; a re-apply has none: drop --force")
        return await _reapply(journal, session, None if undo_all else list(call_ids))
    j, notes = await open_and_recover(journal)
    try:
        echo_notes(notes)
        sid = await j.resolve_session(session)
        _warn_if_running(await j.session(sid), "undo")
        wanted = None if undo_all else set(call_ids)
        async with _tools_for(j, sid, lambda c: c.can_compensate and c.state in IN_EFFECT, wanted) as tools:
            by = "agentstop undo --force" if force else "agentstop undo"
            results = await run_undo(j, tools, sid, None if undo_all else list(call_ids), by=by, force=force)
    finally:
        await j.close()
    if not results:
        click.echo("nothing to undo", err=True)
    for r in results:
        shown = r.drift if r.status is UndoOutcome.REFUSED else r.detail
        click.echo(f"{_UNDO_MARK[r.status]} {r.call_id:>5} {printable(r.tool)}: {printable(shown)}")
    refused = [r.call_id for r in results if r.status is UndoOutcome.REFUSED]
    if refused:
        click.echo(
            f"agentstop: {len(refused)} undo(s) refused: {', '.join(refused)} changed since the agent "
            f"acted (see above), and undoing would overwrite that change; nothing was done to them. "
            f"To undo anyway: agentstop undo{_named(journal)} --session {sid} --force {' '.join(refused)}",
            err=True,
        )
    return EXIT_FAILED if refused or any(r.status is UndoOutcome.FAILED for r in results) else EXIT_OK


@asynccontextmanager
async def _tools_for(
    j: Journal, sid: str, needs: Callable[[CallRecord], bool], call_ids: Collection[str] | None
) -> AsyncIterator[ToolRegistry]:
    """The session's tools for its calls (`call_ids`, else all) that `needs` picks, what could not load said.

    MCP servers are started (from the session's task file) only for the tools of those calls.
    """
    needed = {c.tool for c in await j.calls(sid) if needs(c) and (call_ids is None or c.call_id in call_ids)}
    async with tools_from_session(await j.session(sid), needed) as (tools, problems):
        for problem in problems:
            click.echo(f"cannot load tool {printable(problem)}", err=True)
        yield tools


def _named(journal: Target | None) -> str:
    """The journal as a retry hint names it: a file by its path, a URL not repeated (it may hold a password)."""
    return f" {journal}" if isinstance(journal, Path) else " --journal URL" if journal is not None else ""


def _warn_if_running(info: SessionRecord, command: str) -> None:
    """Say so when the session still runs: it may commit more, or act on what this undoes."""
    if info.status != SessionStatus.RUNNING or not is_alive(info):
        return
    where = f"pid {info.pid} on host {info.host}" if info.pid is not None else f"host {info.host}"
    click.echo(
        f"warning: session {info.session_id} is still running ({where}): it may commit more calls after "
        f"this {command}, or act again on what is undone. Stop it first: agentstop stop --session "
        f"{info.session_id}",
        err=True,
    )


async def _reapply(journal: Target | None, session: str, call_ids: list[str] | None) -> int:
    """`undo --reapply`: carry undone calls' effects out again; one line per call, like undo."""
    j, notes = await open_and_recover(journal)
    try:
        echo_notes(notes)
        sid = await j.resolve_session(session)
        _warn_if_running(await j.session(sid), "undo --reapply")
        async with _tools_for(j, sid, lambda c: c.can_reapply and c.state in REAPPLIABLE, call_ids) as tools:
            results = await run_reapply(j, tools, sid, call_ids, by="agentstop undo --reapply")
    finally:
        await j.close()
    if not results:
        click.echo("nothing to re-apply: no undone call of this session can be done again", err=True)
    for r in results:
        click.echo(f"{_REAPPLY_MARK[r.status]} {r.call_id:>5} {printable(r.tool)}: {printable(r.detail)}")
    failed = [r.call_id for r in results if r.status is ReapplyOutcome.FAILED]
    if failed:
        click.echo(
            f"agentstop: {len(failed)} re-apply(s) failed: {', '.join(failed)} (see above); the effect "
            f"stays undone. To retry: agentstop undo{_named(journal)} --session {sid} --reapply {' '.join(failed)}",
            err=True,
        )
    return EXIT_FAILED if failed else EXIT_OK


_UNDO_MARK: dict[UndoOutcome, str] = {
    UndoOutcome.COMPENSATED: "undone ",
    UndoOutcome.FAILED: "FAILED ",
    UndoOutcome.SKIPPED: "skipped",
    UndoOutcome.REFUSED: "REFUSED",
}
_REAPPLY_MARK: dict[ReapplyOutcome, str] = {
    ReapplyOutcome.REAPPLIED: "redone ",
    ReapplyOutcome.FAILED: "FAILED ",
    ReapplyOutcome.SKIPPED: "skipped",
}
