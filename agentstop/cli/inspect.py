"""`agentstop report`, `sessions`, `undo`, `stop` and `schema`: the session from the shell."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import anyio
import click

from agentstop.journal import SessionRecord, SessionStatus, escalate_stop, request_stop, request_stop_after_step, revoke
from agentstop.report import IN_EFFECT, REAPPLIABLE, Report
from agentstop.report_stream import StreamedReport, write_report_json
from agentstop.session import (
    Target,
    journal_to_read,
    open_and_recover,
    tools_from_session,
    unsettled_mcp,
    unsettled_note,
)
from agentstop.supervisor.reapply import ReapplyOutcome, run_reapply
from agentstop.supervisor.undo import UndoOutcome, run_undo
from agentstop.text import printable

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, TEXT, echo_notes, journal_argument, run_async, session_option
from .selectors import Selector, select_running

__all__ = ["report_cmd", "schema_cmd", "sessions_cmd", "stop_cmd", "undo_cmd"]


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
        # MCP servers are started (from the session's task file) only for calls this undo may compensate.
        wanted = None if undo_all else set(call_ids)
        needed = {
            c.tool
            for c in await j.calls(sid)
            if c.can_compensate and c.state in IN_EFFECT and (wanted is None or c.call_id in wanted)
        }
        async with tools_from_session(await j.session(sid), needed) as (tools, problems):
            for problem in problems:
                click.echo(f"cannot load tool {printable(problem)}", err=True)
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
        # A journal URL is not repeated: it may hold a password.
        where = f" {journal}" if isinstance(journal, Path) else " --journal URL" if journal is not None else ""
        click.echo(
            f"agentstop: {len(refused)} undo(s) refused: {', '.join(refused)} changed since the agent "
            f"acted (see above), and undoing would overwrite that change; nothing was done to them. "
            f"To undo anyway: agentstop undo{where} --session {sid} --force {' '.join(refused)}",
            err=True,
        )
    return EXIT_FAILED if refused or any(r.status is UndoOutcome.FAILED for r in results) else EXIT_OK


def _warn_if_running(info: SessionRecord, command: str) -> None:
    """Say so when the session still runs: it may commit more, or act on what this undoes."""
    from agentstop.supervisor import is_alive

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
        # MCP servers are started only for calls this re-apply may run.
        needed = {
            c.tool
            for c in await j.calls(sid)
            if c.can_reapply and c.state in REAPPLIABLE and (call_ids is None or c.call_id in call_ids)
        }
        async with tools_from_session(await j.session(sid), needed) as (tools, problems):
            for problem in problems:
                click.echo(f"cannot load tool {printable(problem)}", err=True)
            results = await run_reapply(j, tools, sid, call_ids, by="agentstop undo --reapply")
    finally:
        await j.close()
    if not results:
        click.echo("nothing to re-apply: no undone call of this session can be done again", err=True)
    for r in results:
        click.echo(f"{_REAPPLY_MARK[r.status]} {r.call_id:>5} {printable(r.tool)}: {printable(r.detail)}")
    failed = [r.call_id for r in results if r.status is ReapplyOutcome.FAILED]
    if failed:
        where = f" {journal}" if isinstance(journal, Path) else " --journal URL" if journal is not None else ""
        click.echo(
            f"agentstop: {len(failed)} re-apply(s) failed: {', '.join(failed)} (see above); the effect "
            f"stays undone. To retry: agentstop undo{where} --session {sid} --reapply {' '.join(failed)}",
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
