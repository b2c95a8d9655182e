"""`agentstop demo`: start the local services, run the seed story, show where the world is."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import anyio
import click
import platformdirs

from agentstop._demo_tools import make_importable
from agentstop.errors import AgentstopError
from agentstop.session import Target, remember_demo_journal, shown
from agentstop.task import load_task

from .common import EXIT_USAGE, SECONDS, TARGET
from .headless import run_headless
from .keys import tui_keymap

__all__ = ["demo_cmd"]


def _task_path(name: str) -> Path:
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    return make_importable() / "tasks" / f"{name}.yaml"


def _where(world_dir: Path, journal: Target) -> str:
    # A URL goes behind --journal, quoted for the shell, and without its password.
    again = shown(journal) if isinstance(journal, Path) else f"--journal '{shown(journal)}'"
    return "\n".join(
        [
            "The world the agent acted on (check it against the report):",
            f"  mailbox (Maildir)   {world_dir / 'mailbox'}",
            f"  calendar            {world_dir / 'calendar.ics'}",
            f"  chat channel        {world_dir / 'chat.jsonl'}",
            f"  git remote, PRs     {world_dir / 'origin.git'}, {world_dir / 'prs.json'}",
            f"  database, ledger    {world_dir / 'production.db'}, {world_dir / 'ledger.db'}",
            f"  journal             {shown(journal)}",
            f"Replay the report:    agentstop report {again}",
            f"Undo later:           agentstop undo --journal {again.removeprefix('--journal ')} --session latest --all"
            "   (starts this world again)",
        ]
    )


@click.command("demo")
@click.option(
    "--task",
    "task_name",
    default="seed",
    show_default=True,
    help="Which demo task: 'seed' (the misread release), 'parallel', or a path to a task file.",
)
@click.option("--headless", is_flag=True, help="No UI: progress lines on stderr, report at the end.")
@click.option(
    "--stop-after", type=SECONDS, metavar="SECONDS", help="Press Stop this many seconds after the session started."
)
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON on stdout (headless).")
@click.option(
    "--dir",
    "world_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo world lives (default: a new folder in the per-user data directory).",
)
@click.option(
    "--journal",
    type=TARGET,
    metavar="PATH|URL",
    help="Journal: a SQLite file or a postgresql://user:password@host/db URL (default: demo.db next to the world).",
)
@click.option(
    "--undo-window",
    type=SECONDS,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    envvar="AGENTSTOP_DEMO_UNDO_WINDOW",
    show_envvar=True,
    help="How long a sent email stays in the outbox, exactly undoable, before delivery.",
)
def demo_cmd(
    task_name: str,
    headless: bool,
    stop_after: float | None,
    as_json: bool,
    world_dir: Path | None,
    journal: Target | None,
    undo_window: float,
) -> None:
    """Run the demo: an agent that misreads "hold the release" as "ship it".

    It starts real local services on 127.0.0.1 (SMTP mail with an outbox,
    calendar, git remote, chat webhook, a production database and a payments
    ledger), runs the agent against them, and lets you press Stop and undo.
    When it ends it prints where each service keeps its data, so you can check
    that the world matches the report.

    \b
    Examples:
      agentstop demo                                  # in the terminal UI: press s to Stop
      agentstop demo --headless --stop-after 6 --json
      agentstop demo --task parallel --headless --stop-after 1
      agentstop demo --headless --journal postgresql://agents@127.0.0.1/agentstop
    """
    try:
        keymap = None if headless else tui_keymap()  # a mistake in keys.toml is said before the world starts
    except AgentstopError as exc:
        click.echo(f"agentstop: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    make_importable()  # a wheel ships the demo package inside agentstop
    from demo_tools.world import WorldStartFailed, running_world

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    world = (world_dir or Path(platformdirs.user_data_dir("agentstop")) / "demo" / stamp).resolve()
    journal_path: Target = journal or world / "demo.db"
    remember_demo_journal(journal_path)  # `agentstop report` with no journal given then reads this one
    os.environ["AGENTSTOP_DEMO_UNDO_WINDOW"] = str(undo_window)
    # Recorded with the session: `agentstop undo`, `report` and `tui` start this world again when they need it.
    meta = {"demo_world": str(world)}
    try:
        spec = load_task(_task_path(task_name))
        click.echo(f"starting the demo world in {world} ...", err=True)
        with running_world(world):
            tools = spec.load_tools()
            spec.check_steps(tools)
            if headless:
                code = anyio.run(
                    lambda: run_headless(spec, tools, journal_path, stop_after=stop_after, as_json=as_json, meta=meta)
                )
            else:
                from agentstop.tui import run_tui

                # run_tui opens it with Journal.connect, which takes a path or a URL (its annotation says Path).
                code = anyio.run(
                    lambda: run_tui(spec, tools, journal_path, stop_after=stop_after, meta=meta, keymap=keymap)
                )
    except (AgentstopError, WorldStartFailed) as exc:
        click.echo(f"agentstop: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(_where(world, journal_path), err=True)
    sys.exit(code)
