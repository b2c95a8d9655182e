"""`agentstop replay` and `agentstop tui`: the journal viewer, on past sessions or attached to a running one."""

from __future__ import annotations

from pathlib import Path

import click

from agentstop.journal import Journal, SessionRecord, SessionStatus
from agentstop.journal.liveness import is_alive
from agentstop.replay import export_session
from agentstop.report_counts import ReportCounts
from agentstop.session import Target, journal_to_read, require_journal

from .common import EXIT_OK, EXIT_USAGE, TEXT, journal_argument, run_async
from .keys import tui_keymap

__all__ = ["replay_cmd", "tui_cmd"]


@click.command("replay")
@journal_argument
@click.option(
    "--session", "-s", "session", default=None, type=TEXT, help="Open this session (id or 'latest') directly."
)
@click.option(
    "--export",
    "export",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the session's report and timeline to FILE.html, FILE.json or FILE.md instead.",
)
@run_async
async def replay_cmd(journal: Target | None, session: str | None, export: Path | None) -> int:
    """Replay past sessions from a journal: browse, scrub the timeline, see the report, undo.

    Replay only reads the journal; it writes to it only when you undo (an MCP
    tool's undo starts its server again from the session's task file). A
    session that is still running opens live, as in `agentstop tui`.

    \b
    Keys: Enter open · ←/→ step · s jump to the Stop · space play (x: 1x/4x/16x) · r report
    \b
    Examples:
      agentstop replay                              # the sessions of the default journal
      agentstop replay ./release.db --session latest
      agentstop replay --session latest --export incident.html
      agentstop replay --journal postgresql://agents@db.internal/agentstop
    """
    path = journal_to_read(journal)
    await require_journal(path)
    async with Journal.open(path, readonly=True) as j:
        sessions = await j.sessions()
        if not sessions:
            click.echo(f"{j.location} has no sessions yet.", err=True)
            return EXIT_USAGE
        sid = await j.resolve_session(session) if session else None
        if export is not None:
            target = await export_session(j, sid or sessions[-1].session_id, export)
            click.echo(f"wrote {target}", err=True)
            return EXIT_OK
        rows = await _rows(j, sessions) if sid is None else []
    await _view(path, rows, sid, "agentstop replay")
    return EXIT_OK


@click.command("tui")
@journal_argument
@click.option(
    "--session",
    "-s",
    "session",
    default=None,
    type=TEXT,
    help="Open this session (id or 'latest'). Default: the running one, when exactly one runs.",
)
@run_async
async def tui_cmd(journal: Target | None, session: str | None) -> int:
    """Watch a session another process runs, live; Stop it; undo what it did.

    For sessions this terminal did not start: `agentstop mcp-proxy` in front of
    Claude Desktop or Cursor, a headless `agentstop run`, an agent loop using
    the library, another machine on a shared PostgreSQL journal. Its calls show
    as the journal gets them. s or Ctrl+C stops it at once: its grant is
    revoked in the journal, so nothing new of it can commit wherever it runs,
    and the screen says what it still waits for; press again to skip the rest
    of its grace. Then the report: done, interrupted, in flight, undoable, with
    undo (an MCP tool's undo goes through its server, started again from the
    session's task file if the session's process has exited).

    With several sessions running (or none), the sessions browser opens: Enter
    attaches to a running one, or shows an ended one's timeline.

    \b
    Keys: s / Ctrl+C stop · tab report · Esc back · u undo row · A undo all · q quit (asks while it runs)
    \b
    Examples:
      agentstop tui --journal ./proxy.db            # the session of `agentstop mcp-proxy --task proxy.yaml`
      agentstop tui --journal postgresql://agents@db.internal/agentstop
      agentstop tui ./release.db --session latest
    """
    path = journal_to_read(journal)
    await require_journal(path)
    async with Journal.open(path, readonly=True) as j:
        sessions = await j.sessions()
        if not sessions:
            click.echo(
                f"{j.location} has no sessions yet. Start one (agentstop mcp-proxy --task proxy.yaml, "
                "agentstop run TASK.yaml --headless), then run this again.",
                err=True,
            )
            return EXIT_USAGE
        sid = await j.resolve_session(session) if session else _the_running_one(sessions)
        rows = await _rows(j, sessions) if sid is None else []
    await _view(path, rows, sid, "agentstop tui")
    return EXIT_OK


async def _rows(journal: Journal, sessions: list[SessionRecord]) -> list[tuple[SessionRecord, ReportCounts]]:
    """The sessions browser's rows. Not read when a session opens first: the app reads them after it."""
    return [(s, await ReportCounts.read(journal, s.session_id)) for s in sessions]


def _the_running_one(sessions: list[SessionRecord]) -> str | None:
    running = [s.session_id for s in sessions if s.status == SessionStatus.RUNNING and is_alive(s)]
    return running[0] if len(running) == 1 else None


async def _view(
    path: Target, rows: list[tuple[SessionRecord, ReportCounts]], session_id: str | None, title: str
) -> None:
    # Lazy: only the viewer needs Textual, and the tools (pydantic) that undo loads; an export needs neither.
    from agentstop.session import tools_from_session
    from agentstop.tui import make_journal_app

    # Undo loads a session's tools again: Python tools by their recorded import paths,
    # MCP tools from their servers, started from the session's task file for as long as it is open.
    app = make_journal_app(path, rows, tools_from_session, session_id=session_id, title=title, keymap=tui_keymap())
    await app.run_async()
