"""`agentstop report`, `sessions`, `undo`, `stop` and `schema`: the session from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import click
from rich.console import Console

from agentstop.journal import request_stop_after_step, revoke
from agentstop.report import Report
from agentstop.supervisor.undo import run_undo

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    default_journal,
    echo_notes,
    journal_argument,
    open_and_recover,
    run_async,
    session_option,
    tools_from_session,
)
from .render import render_report, render_sessions

__all__ = ["report_cmd", "schema_cmd", "sessions_cmd", "stop_cmd", "undo_cmd"]


@click.command("report")
@journal_argument
@session_option
@click.option("--json", "as_json", is_flag=True, help="Print Report.to_json() on stdout, nothing else.")
@run_async
async def report_cmd(journal: Path | None, session: str, as_json: bool) -> int:
    """The four-way report of a session: done, interrupted, in flight, undoable.

    \b
    Examples:
      agentstop report                          # latest session, default journal
      agentstop report ./release.db --session 20261126T080930-3fa2c1
      agentstop report --json | jq '.undoable[].call_id'
    """
    j, notes = await open_and_recover(journal)
    try:
        echo_notes(notes)
        sid = await j.resolve_session(session)
        report = await Report.from_journal(j, sid)
    finally:
        await j.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        Console().print(render_report(report))
    return EXIT_OK


@click.command("sessions")
@journal_argument
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@run_async
async def sessions_cmd(journal: Path | None, as_json: bool) -> int:
    """List the sessions in a journal with how they ended and their bucket counts.

    \b
    Example:
      agentstop sessions ./release.db
    """
    j, notes = await open_and_recover(journal)
    try:
        echo_notes(notes)
        rows = [(s, await Report.from_journal(j, s.session_id)) for s in await j.sessions()]
    finally:
        await j.close()
    if as_json:
        click.echo(json.dumps([r.to_json()["session"] | {
            "done": len(r.done), "interrupted": len(r.interrupted), "in_flight": len(r.in_flight),
            "undoable": len(r.undoable)} for _, r in rows], indent=2))
    elif not rows:
        click.echo("no sessions yet", err=True)
    else:
        Console().print(render_sessions(rows))
    return EXIT_OK


@click.command("undo")
@journal_argument
@session_option
@click.option("--all", "undo_all", is_flag=True, help="Undo every undoable call, latest commit first.")
@click.argument("call_ids", nargs=-1)
@run_async
async def undo_cmd(journal: Path | None, session: str, undo_all: bool, call_ids: tuple[str, ...]) -> int:
    """Run compensations for a session's calls, latest commit first.

    Calls that cannot be undone (irreversible, never landed) are listed with the
    reason and are not errors; the exit status is 1 only if a compensation failed.

    \b
    Examples:
      agentstop undo --all                       # latest session
      agentstop undo ./release.db --session 20261126T080930-3fa2c1 c3 c5
    """
    if undo_all == bool(call_ids):
        raise click.UsageError("pass either --all or one or more CALL_IDs (e.g. c3 c5)")
    j, notes = await open_and_recover(journal)
    try:
        echo_notes(notes)
        sid = await j.resolve_session(session)
        tools, problems = tools_from_session(await j.session(sid))
        for problem in problems:
            click.echo(f"cannot load tool {problem}", err=True)
        results = await run_undo(j, tools, sid, None if undo_all else list(call_ids), by="agentstop undo")
    finally:
        await j.close()
    if not results:
        click.echo("nothing to undo", err=True)
    for r in results:
        mark = {"compensated": "undone ", "failed": "FAILED ", "skipped": "skipped"}[r.status]
        click.echo(f"{mark} {r.call_id:>5} {r.tool}: {r.detail}")
    return EXIT_FAILED if any(r.status == "failed" for r in results) else EXIT_OK


@click.command("stop")
@journal_argument
@session_option
@click.option("--reason", default="stopped from another terminal", show_default=True)
@click.option("--after-step", is_flag=True,
              help="Let the calls of the current step finish and start no new step, then stop.")
@run_async
async def stop_cmd(journal: Path | None, session: str, reason: str, after_step: bool) -> int:
    """Revoke a running session's grant from another terminal; it stops itself.

    From the moment this returns, the session cannot commit anything new.
    With --after-step, the current step's calls may still finish first.

    \b
    Examples:
      agentstop stop --session latest
      agentstop stop ./release.db --session latest --after-step
    """
    j, _ = await open_and_recover(journal, recover_dead=False)
    try:
        sid = await j.resolve_session(session)
        info = await j.session(sid)
    finally:
        await j.close()
    if info.status != "running":
        click.echo(f"session {sid} ({info.task_name}) already ended ({info.status}); nothing to revoke.", err=True)
        return EXIT_OK
    path = journal or default_journal()
    if after_step:
        await anyio.to_thread.run_sync(
            lambda: request_stop_after_step(path, sid, by="agentstop stop --after-step", reason=reason))
        click.echo(f"asked session {sid} ({info.task_name}) to stop after its current step; "
                   "it revokes its grant once that step's calls have finished.", err=True)
        return EXIT_OK
    revoked = await anyio.to_thread.run_sync(lambda: revoke(path, sid, by="agentstop stop", reason=reason))
    if revoked:
        click.echo(f"revoked grant(s) {', '.join(f'g{g}' for g in revoked)} of session {sid} "
                   f"({info.task_name}); nothing new can commit. It stops within 100 ms if running.", err=True)
    else:
        click.echo(f"session {sid} had no live grant (status {info.status}); nothing to revoke.", err=True)
    return EXIT_OK


@click.command("schema")
def schema_cmd() -> None:
    """Print the task.yaml JSON schema.

    \b
    Example:
      agentstop schema > task.schema.json
    """
    from agentstop.task import task_json_schema

    click.echo(json.dumps(task_json_schema(), indent=2))
