"""`agentstop replay`: open a past session from its journal, or export it for sharing."""

from __future__ import annotations

from pathlib import Path

import click

from agentstop.journal import Journal
from agentstop.replay import export_session
from agentstop.report import Report
from agentstop.tools import ToolRegistry

from .common import (
    EXIT_OK,
    EXIT_USAGE,
    Target,
    default_journal,
    importable_tools,
    journal_argument,
    run_async,
)

__all__ = ["replay_cmd"]


@click.command("replay")
@journal_argument
@click.option("--session", "-s", "session", default=None, help="Open this session (id or 'latest') directly.")
@click.option("--export", "export", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the session's report and timeline to FILE.html, FILE.json or FILE.md instead.")
@run_async
async def replay_cmd(journal: Target | None, session: str | None, export: Path | None) -> int:
    """Replay past sessions from a journal: browse, scrub the timeline, see the report, undo.

    Replay only reads the journal; it writes to it only when you undo.

    \b
    Keys: Enter open · ←/→ step · s jump to the Stop · space play (x: 1x/4x/16x) · r report
    \b
    Examples:
      agentstop replay                              # the sessions of the default journal
      agentstop replay ./release.db --session latest
      agentstop replay --session latest --export incident.html
      agentstop replay --journal postgresql://agents@db.internal/agentstop
    """
    path = journal or default_journal()
    if isinstance(path, Path) and not path.exists():
        raise click.ClickException(f"no journal at {path}. Run a task first, or pass the journal's path.")
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
        rows = [(s, await Report.from_journal(j, s.session_id)) for s in sessions]
    by_id = {s.session_id: s for s in sessions}

    def load_tools(session_id: str) -> tuple[ToolRegistry, list[str]]:
        # The browser cannot hold MCP servers open: an MCP tool's undo is `agentstop undo`'s.
        return importable_tools(by_id[session_id])

    from agentstop.tui.replay_app import ReplayApp  # lazy: only this command needs Textual

    # ReplayApp opens it with Journal.open, which takes a path or a URL (its annotation says Path).
    await ReplayApp(path, rows, load_tools, session_id=sid).run_async()
    return EXIT_OK
