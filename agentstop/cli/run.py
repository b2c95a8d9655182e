"""`agentstop run TASK`: run the agent a task file describes, headless or in the TUI; or resume one of its sessions."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import click

from agentstop.session import Target, default_journal, needs_extra
from agentstop.task import load_task

from .common import SECONDS, TARGET, TEXT, TextType, run_async
from .headless import run_headless
from .keys import tui_keymap
from .resume import session_to_resume

__all__ = ["run_cmd"]


@click.command("run")
@click.argument("task", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--headless", is_flag=True, help="No UI: progress lines on stderr, report at the end.")
@click.option(
    "--stop-after",
    type=SECONDS,
    metavar="SECONDS",
    help="Press Stop this many seconds after the session started (with --resume: after the Resume).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON on stdout (headless).")
@click.option(
    "--journal",
    type=TARGET,
    metavar="PATH|URL",
    help="Journal: a SQLite file or a postgresql://user:password@host/db URL (default: the task's "
    "`journal`, else $AGENTSTOP_JOURNAL, else the per-user journal).",
)
@click.option(
    "--resume",
    "resume",
    metavar="ID|latest",
    type=TEXT,
    help="Run this stopped (or ended) session of TASK on, as a new epoch under a new grant; 'latest' is "
    "the task's latest session. What landed is not done again.",
)
@click.option(
    "--instruction",
    metavar="TEXT",
    type=TextType(multiline=True),
    help="With --resume: what to tell the agent (a model reads it).",
)
@run_async
async def run_cmd(
    task: Path,
    headless: bool,
    stop_after: float | None,
    as_json: bool,
    journal: Target | None,
    resume: str | None,
    instruction: str | None,
) -> int:
    """Run the agent described by TASK (a task.yaml), or resume one of its sessions.

    Ctrl+C is Stop: the grant is revoked first, then the agent is cancelled,
    and the report says what happened. Exit status: 0 when the run completed
    cleanly, 1 when it was stopped or something failed, 2 for bad input
    (and for a session that cannot be resumed: unknown, or still running).

    With --resume the session continues where it stopped: the agent replays
    its plan from the journal, calls that landed are not issued again, and
    the exit status follows this last epoch.

    \b
    Examples:
      agentstop run release.yaml                  # in the terminal UI
      agentstop run release.yaml --headless
      agentstop run release.yaml --headless --stop-after 2.5 --json > report.json
      agentstop run release.yaml --journal postgresql://agents@db.internal/agentstop
      agentstop run release.yaml --resume latest --instruction "skip the announcement"
    """
    if instruction is not None and resume is None:
        raise click.UsageError("--instruction goes with --resume (it is what the resumed agent is told)")
    keymap = None if headless else tui_keymap()  # a mistake in keys.toml is said before anything starts
    spec = load_task(task)
    tools = spec.load_tools()
    target = journal or spec.journal_target(default_journal())
    session_id = await session_to_resume(target, resume, spec) if resume is not None else None
    async with AsyncExitStack() as stack:
        if spec.model.mcp_servers:
            with needs_extra("mcp", f"{task} (its mcp_servers)"):
                from agentstop.mcp import McpClient, load_mcp_setup  # lazy: the `mcp` extra, seconds to import

            mcp = await stack.enter_async_context(McpClient.from_setup(load_mcp_setup(task)))
            for tool in mcp.tools:
                tools.add(tool)
        spec.check_steps(tools)
        if headless:
            return await run_headless(
                spec,
                tools,
                target,
                stop_after=stop_after,
                as_json=as_json,
                resume=session_id,
                instruction=instruction or "",
            )
        from agentstop.tui import run_tui  # lazy: the headless paths never import Textual

        # The TUI opens it with Journal.connect, which takes a path or a URL (its annotation says Path).
        return await run_tui(
            spec, tools, target, stop_after=stop_after, resume=session_id, instruction=instruction or "", keymap=keymap
        )
