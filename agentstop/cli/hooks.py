"""`agentstop hooks install|uninstall`: agentstop's hooks in Claude Code's or Codex's own settings."""

from __future__ import annotations

from pathlib import Path

import click

from agentstop.session import Target, default_journal, shown

from .common import TARGET, run_async

__all__ = ["hooks_group"]

_KIND = click.Choice(["claude-code", "codex"])
_PROJECT = click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    help="The project's settings (.claude/settings.json, .codex/hooks.json) instead of yours.",
)


@click.group("hooks")
def hooks_group() -> None:
    """Install agentstop's hooks into Claude Code or Codex, for when you start the CLI yourself.

    Every tool call the CLI makes is then journaled and fenced by a short `python -I -S` process per hook
    event (no agentstop process stays running): one agentstop session per CLI session. `agentstop stop`
    revokes it, and the CLI's next tool call is refused with a reason the model reads; nothing is
    interrupted (there is no child to interrupt: use `agentstop claude` / `agentstop codex` for that).

    \b
    Examples:
      agentstop hooks install claude-code --project .
      agentstop hooks install codex --journal ./agent.db
      agentstop hooks uninstall claude-code --project .
    """


@hooks_group.command("install")
@click.argument("kind", type=_KIND)
@_PROJECT
@click.option(
    "--journal",
    type=TARGET,
    metavar="PATH|URL",
    help="Journal the hooks write to (default: $AGENTSTOP_JOURNAL, else the per-user journal).",
)
@click.option(
    "--task",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A task or policy file: its `grant:` (tools, scopes over files, ttl) and `coding_cli: ask:`.",
)
@run_async
async def install_cmd(kind: str, project: Path | None, journal: Target | None, task: Path | None) -> int:
    """Add agentstop's hooks (fail closed) to the CLI's settings, after yours; re-running replaces them.

    For Codex, agentstop's hooks (only those) are also marked trusted in its config.toml, with the hash
    Codex's own app-server gives: Codex runs no hook it was not told to trust.
    """
    import functools

    import anyio

    from agentstop.adapters.coding_cli.install import install, trust
    from agentstop.adapters.coding_cli.runner import find_cli

    target = journal or default_journal()
    where = str(await anyio.Path(target).resolve()) if isinstance(target, Path) else str(target)
    root = Path(await anyio.Path(project).resolve()) if project else None
    done = await anyio.to_thread.run_sync(functools.partial(install, kind, root, where, task))
    trusted = await trust(find_cli("codex"), done.settings, root) if kind == "codex" else None
    click.echo(
        f"agentstop hooks installed in {done.settings} (journal {shown(target)})"
        + (f"; trusted in {trusted}" if trusted else ""),
        err=True,
    )
    return 0


@hooks_group.command("uninstall")
@click.argument("kind", type=_KIND)
@_PROJECT
def uninstall_cmd(kind: str, project: Path | None) -> None:
    """Remove agentstop's hooks (only agentstop's) from the CLI's settings."""
    from agentstop.adapters.coding_cli.install import uninstall

    done = uninstall(kind, project.resolve() if project else None)
    click.echo(f"agentstop hooks {'removed from' if done.changed else 'were not in'} {done.settings}", err=True)
