"""`agentstop report`, `sessions`, `stop` and `schema`: the session from the shell (`undo` is in undo.py)."""

from __future__ import annotations

import functools
import json

import anyio
import click

from agentstop.journal import SessionRecord, SessionStatus, escalate_stop, request_stop, request_stop_after_step, revoke
from agentstop.report import Report
from agentstop.report_stream import StreamedReport, write_report_json
from agentstop.session import (
    Target,
    journal_to_read,
    open_and_recover,
    unsettled_mcp,
    unsettled_note,
)
from agentstop.text import printable

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, TEXT, echo_notes, journal_argument, run_async, session_option
from .selectors import Selector, select_running

__all__ = ["report_cmd", "schema_cmd", "sessions_cmd", "stop_cmd"]


@click.command("report")
@journal_argument
@session_option
@click.option("--json", "as_json", is_flag=True, help="Print Report.to_json() on stdout, nothing else.")
@run_async
async def report_cmd(journal: Target | None, session: str, as_json: bool) -> int:
    """The four-way report of a session: done, interrupted, in flight, undoable.

    \b
    Examples:
      agentstop report                          # latest session, default journal
      agentstop report ./release.db --session 20261126T080930-3fa2c1
      agentstop report --json | jq '.undoable[].call_id'
      agentstop report --journal postgresql://agents@db.internal/agentstop --session latest
    """
    j, notes = await open_and_recover(journal)
    try:
        sid = await j.resolve_session(session)
        # A session's MCP calls in flight are settled by its servers, started again from its task file.
        unsettled = await unsettled_mcp(j, await j.session(sid))
        echo_notes([n for n in notes if unsettled is None or not n.startswith(unsettled_note(sid))])  # said last
        if as_json:
            # Written as it is read, a window of calls at a time: memory does not grow with the session.
            out = click.get_text_stream("stdout")
            async with j.read_snapshot():  # every list of one moment, though read one after another
                await write_report_json(await StreamedReport.open(j, sid), out.write)
            out.write("\n")
            out.flush()
        else:
            report = await Report.from_journal(j, sid)
    finally:
        await j.close()
    if not as_json:
        from rich.console import Console  # lazy: `report --json` needs no terminal rendering

        from .render import render_report

        Console().print(render_report(report))
    if unsettled is not None:
        click.echo(f"agentstop: {printable(str(unsettled))}", err=True)
        return EXIT_USAGE
    return EXIT_OK


@click.command("sessions")
@journal_argument
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
@run_async
async def sessions_cmd(journal: Target | None, as_json: bool) -> int:
    """List the sessions in a journal: how each ended, its counts, and where it runs.

    Each session shows the host and process that run(s) it, and for a running
    session whether it is live (its process answers, or, on another machine,
    its heartbeat is recent). On a shared PostgreSQL journal this is the fleet:
    every machine's sessions, running and past.

    \b
    Examples:
      agentstop sessions ./release.db
      agentstop sessions --journal postgresql://agents@db.internal/agentstop
      agentstop sessions --json | jq '.[] | select(.live) | .id'
    """
    j, notes = await open_and_recover(journal)
    try:
        echo_notes(notes)
        # One journal (one connection pair) for every session; each session row is read once.
        rows = [
            (s, Report.build(s, await j.calls(s.session_id), await j.grants(s.session_id))) for s in await j.sessions()
        ]
    finally:
        await j.close()
    from .render import render_sessions, session_json

    if as_json:
        click.echo(json.dumps([session_json(s, r) for s, r in rows], indent=2))
    elif not rows:
        click.echo("no sessions yet", err=True)
    else:
        from rich.console import Console

        Console().print(render_sessions(rows))
    return EXIT_OK


@click.command("stop")
@journal_argument
@click.option(
    "--session",
    "-s",
    "session",
    default=None,
    type=TEXT,
    help="Session id, or 'latest' (the default when no selector is given).",
)
@click.option("--all-running", is_flag=True, help="Every running session in the journal.")
@click.option(
    "--tool",
    "tools",
    multiple=True,
    metavar="NAME",
    type=TEXT,
    help="Running sessions that have this tool: its name (send_email), class (SendEmail) or import "
    "path (demo_tools.mail:SendEmail). Repeat for any of several.",
)
@click.option(
    "--task",
    "tasks",
    multiple=True,
    metavar="NAME",
    type=TEXT,
    help="Running sessions of the task with this name (its `name:`). Repeat for any of several.",
)
@click.option("--reason", default="stopped from another terminal", show_default=True, type=TEXT)
@click.option(
    "--after-step", is_flag=True, help="Let the calls of the current step finish and start no new step, then stop."
)
@run_async
async def stop_cmd(
    journal: Target | None,
    session: str | None,
    all_running: bool,
    tools: tuple[str, ...],
    tasks: tuple[str, ...],
    reason: str,
    after_step: bool,
) -> int:
    """Revoke a running session's grant from another terminal or machine; it stops itself.

    From the moment this returns, the session cannot commit anything new, and
    it stops within 100 ms (on PostgreSQL it hears of it at once). With
    --after-step, the current step's calls may still finish first. Run it
    again while the session is still stopping (waiting for calls in flight):
    as with Stop pressed twice, the rest of its grace is skipped.

    Select one session with --session, or, in an incident, every running
    session that matches: --all-running, --tool NAME, --task NAME (--tool and
    --task together: sessions matching both). Each is revoked durably, one
    line per session; the exit status is 1 when none matched.

    \b
    Examples:
      agentstop stop --session latest
      agentstop stop ./release.db --session latest --after-step
      agentstop stop --journal postgresql://agents@db.internal/agentstop --session 20261126T080930-3fa2c1
      agentstop stop --journal postgresql://agents@db.internal/agentstop --all-running --reason "incident 42"
      agentstop stop --journal postgresql://agents@db.internal/agentstop --tool send_email --tool create_event
      agentstop stop --journal postgresql://agents@db.internal/agentstop --task "Tidy the release notes" --after-step
    """
    selector = Selector(all_running=all_running, tools=tools, tasks=tasks)
    if selector.given and session is not None:
        raise click.UsageError("pass either --session or a selector (--all-running, --tool, --task), not both")
    if all_running and (tools or tasks):
        raise click.UsageError(
            "--all-running already selects every running session; drop --tool/--task, "
            "or drop --all-running to select by them"
        )
    target = journal_to_read(journal)
    j, _ = await open_and_recover(target, recover_dead=False)
    try:
        where = j.location
        if selector.given:
            chosen = await select_running(j, selector)
        else:
            one = await j.session(await j.resolve_session(session or "latest"))
    finally:
        await j.close()
    if not selector.given:
        return await _stop_one(target, one, reason, after_step)
    if not chosen.matched:
        click.echo(chosen.nothing_matched(where), err=True)
        return EXIT_FAILED
    for picked in chosen.matched:
        sid, what = picked.session.session_id, picked.describe()
        if after_step:
            await anyio.to_thread.run_sync(
                functools.partial(request_stop_after_step, target, sid, by="agentstop stop --after-step", reason=reason)
            )
            click.echo(f"asked session {what} to stop after its current step", err=True)
            continue
        revoked = await anyio.to_thread.run_sync(
            functools.partial(revoke, target, sid, by="agentstop stop", reason=reason)
        )
        if revoked:
            click.echo(f"revoked {', '.join(f'g{g}' for g in revoked)} of session {what}", err=True)
        else:
            click.echo(f"session {what} had no live grant (it ended meanwhile); nothing to revoke", err=True)
    done = (
        "asked to stop after their current step"
        if after_step
        else "revoked: nothing new can commit in them; each stops within 100 ms"
    )
    click.echo(f"{len(chosen.matched)} session(s) {done} ({selector.describe()}, {where}).", err=True)
    return EXIT_OK


async def _stop_one(target: Target, info: SessionRecord, reason: str, after_step: bool) -> int:
    """`stop --session`: one session, by id or 'latest'."""
    sid, name = info.session_id, printable(info.task_name)
    if after_step and info.status != SessionStatus.RUNNING:
        click.echo(f"session {sid} ({name}) already ended ({info.status}); nothing to stop.", err=True)
        return EXIT_OK
    if not after_step:
        # Always written, whatever this process read a moment ago: an epoch may be starting (a Resume)
        # between that read and this write, and the request binds it (see `request_stop`).
        revoked, status = await anyio.to_thread.run_sync(
            lambda: request_stop(target, sid, by="agentstop stop", reason=reason)
        )
        if revoked:
            click.echo(
                f"revoked grant(s) {', '.join(f'g{g}' for g in revoked)} of session {sid} "
                f"({name}); nothing new can commit. It stops within 100 ms if running.",
                err=True,
            )
        elif status != SessionStatus.RUNNING:
            click.echo(
                f"session {sid} ({name}) already ended ({status}); nothing to revoke. The stop is "
                "journaled: a resume of it already starting ends before it commits anything.",
                err=True,
            )
        else:
            # Already revoked and still running: it is stopping, waiting for calls in flight. As when
            # Stop is pressed twice where it runs, the rest of its grace is skipped.
            await anyio.to_thread.run_sync(lambda: escalate_stop(target, sid, by="agentstop stop"))
            click.echo(
                f"session {sid} ({name}) was already stopping; asked it to skip the rest of its "
                "grace: commits still in flight are cancelled and their outcome checked with the upstream.",
                err=True,
            )
        return EXIT_OK
    await anyio.to_thread.run_sync(
        lambda: request_stop_after_step(target, sid, by="agentstop stop --after-step", reason=reason)
    )
    click.echo(
        f"asked session {sid} ({name}) to stop after its current step; "
        "it revokes its grant once that step's calls have finished.",
        err=True,
    )
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
