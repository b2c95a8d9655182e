"""The `agentstop` command line (click).

Each command lives in its own module and is imported only when it runs (or its
own `--help` is asked for): `agentstop --help` lists them from the table below
without importing the journal, the supervisor, the task models or Textual.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from agentstop import __version__

__all__ = ["main"]

# name: (module, attribute, the one line `agentstop --help` shows)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("agentstop.cli.demo", "demo_cmd", 'Run the demo: an agent misreads "hold the release" as "ship it".'),
    "run": ("agentstop.cli.run", "run_cmd", "Run the agent a task file describes, or resume one of its sessions."),
    "report": (
        "agentstop.cli.inspect",
        "report_cmd",
        "The four-way report of a session: done, interrupted, in flight, undoable.",
    ),
    "undo": ("agentstop.cli.undo", "undo_cmd", "Undo a session's calls (latest commit first), or re-apply them."),
    "stop": ("agentstop.cli.inspect", "stop_cmd", "Revoke running sessions' grants from another terminal or machine."),
    "sessions": (
        "agentstop.cli.inspect",
        "sessions_cmd",
        "List a journal's sessions: how each ended, counts, where it runs.",
    ),
    "tui": ("agentstop.cli.replay", "tui_cmd", "Watch a session another process runs, live; Stop it; undo its calls."),
    "replay": (
        "agentstop.cli.replay",
        "replay_cmd",
        "Replay past sessions: browse, scrub a timeline, report, undo, export.",
    ),
    "mcp-proxy": (
        "agentstop.cli.mcp_proxy",
        "mcp_proxy_cmd",
        "Serve a task's MCP servers to any MCP host, every call behind the fence.",
    ),
    "journal": (
        "agentstop.cli.journal_cmd",
        "journal_group",
        "Whole journals: copy sessions between SQLite and PostgreSQL.",
    ),
    "claude": (
        "agentstop.cli.claude",
        "claude_cmd",
        "Run Claude Code with every tool call behind the fence (its hooks), Stop that stops, undo.",
    ),
    "codex": (
        "agentstop.cli.claude",
        "codex_cmd",
        "Run the Codex CLI with every tool call behind the fence (its hooks), Stop that stops, undo.",
    ),
    "hooks": (
        "agentstop.cli.hooks",
        "hooks_group",
        "Install agentstop's hooks into Claude Code or Codex, for when you start the CLI yourself.",
    ),
    "keys": ("agentstop.cli.keys", "keys_cmd", "List the terminal UI's keys, and move them in keys.toml."),
    "schema": ("agentstop.cli.inspect", "schema_cmd", "Print the task file's JSON schema."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when used; its `--help` lists them from `COMMANDS`."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command: Any = getattr(importlib.import_module(entry[0]), entry[1])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="agentstop")
def main() -> None:
    """agentstop: an honest Stop button for AI agents.

    Every tool call is journaled before it acts and re-checked against a
    revocable grant at the commit fence. After Stop: what was done, what was
    interrupted, what is in flight, and what can still be undone.

    \b
    Examples:
      agentstop demo                              # the guided demo, in the terminal UI
      agentstop run task.yaml --headless --stop-after 3 --json
      agentstop report --session latest
      agentstop undo --all
      agentstop sessions --journal postgresql://agents@db.internal/agentstop
      agentstop stop --journal postgresql://agents@db.internal/agentstop --all-running
    """
