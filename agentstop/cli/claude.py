"""`agentstop claude` and `agentstop codex`: run the coding CLI with every tool call behind the fence."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agentstop.session import Target, default_journal, shown

from .common import TARGET, run_async

__all__ = ["claude_cmd", "codex_cmd"]


async def _run(kind: str, args: tuple[str, ...], journal: Target | None, task: Path | None) -> int:
    from rich.console import Console

    from agentstop.adapters.coding_cli.policy import load_policy
    from agentstop.adapters.coding_cli.runner import CliRun, run_cli
    from agentstop.journal import Journal, SessionStatus
    from agentstop.supervisor import Supervisor

    from .render import render_report

    policy = load_policy(task)
    target = journal or default_journal()

    def started(sup: Supervisor) -> None:
        click.echo(
            f"agentstop: {kind} runs behind the fence · session {sup.session_id} · journal {shown(target)}\n"
            f"agentstop: Stop: agentstop stop --journal {shown(target)} --session {sup.session_id}  "
            f"(watch: agentstop tui --session {sup.session_id})",
            err=True,
        )

    async with Journal.open(target) as j:
        status, report = await run_cli(j, CliRun(kind, list(args), policy, Path.cwd().resolve()), on_started=started)
    console = Console(file=sys.stderr, soft_wrap=True)
    console.print(render_report(report))
    if report.session.status == SessionStatus.STOPPED:
        console.print(
            f'The {kind} CLI\'s own transcript may call an interrupted call "rejected" or "not written": '
            "agentstop cannot rewrite it. What really landed is the report above; undo it with "
            f"`agentstop undo --journal {shown(target)} --session {report.session.session_id} --all`."
        )
    return status


_EPILOG = "Everything after `--` goes to the CLI unchanged."


def _command(kind: str, name: str) -> click.Command:
    @click.command(
        name, context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}, epilog=_EPILOG
    )
    @click.option(
        "--journal",
        type=TARGET,
        metavar="PATH|URL",
        help="Journal: a SQLite file or a postgresql:// URL (default: $AGENTSTOP_JOURNAL, else the per-user journal).",
    )
    @click.option(
        "--task",
        "task",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A task or policy file: its `grant:` (tools, scopes over files, ttl) and `coding_cli: ask:`.",
    )
    @click.argument("cli_args", nargs=-1, type=click.UNPROCESSED)
    @run_async
    async def command(cli_args: tuple[str, ...], journal: Target | None, task: Path | None) -> int:
        return await _run(kind, cli_args, journal, task)

    return command


claude_cmd = _command("claude", "claude")
claude_cmd.help = """Run Claude Code with every tool call journaled and behind the fence.

Its tools' hooks (PreToolUse, PostToolUse, PostToolUseFailure) go to an endpoint this process serves on
127.0.0.1, for this run only (a generated --settings file; your own settings are not touched). Stop
(`agentstop stop`, the TUI) revokes the grant, so every later tool call is refused, then interrupts the
CLI as Ctrl+C does and kills the commands it left running. The report is printed at the end (stderr);
exit 1 after a Stop. Undo the file edits later with `agentstop undo`.

\b
Examples:
  agentstop claude -- -p "fix the failing test" --allowedTools Edit,Bash
  agentstop claude --task policy.yaml --journal ./agent.db --
  agentstop stop --session latest            # from another terminal
"""

codex_cmd = _command("codex", "codex")
codex_cmd.help = """Run the Codex CLI with every tool call journaled and behind the fence.

Codex gets a CODEX_HOME of its own for this run (your ~/.codex linked in, your config.toml and hooks.json
copied, never written) with agentstop's command hooks added and trusted through Codex's own app-server.
A hook that cannot reach the fence exits 2, which Codex reads as "blocked". Its patches (apply_patch) are
captured and undoable; its shell commands are not. Stop revokes the grant first, then interrupts Codex
as Ctrl+C does and kills the commands it left running. The report is printed at the end (stderr); exit 1
after a Stop.

\b
Examples:
  agentstop codex -- exec "fix the failing test"
  agentstop codex --task policy.yaml --journal ./agent.db -- exec --full-auto "tidy the README"
  agentstop stop --session latest            # from another terminal
"""
