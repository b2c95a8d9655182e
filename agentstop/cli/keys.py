"""`agentstop keys`: the terminal UI's rebindable keys, and the keys.toml that moves them.

Its own module: the commands that open the UI read keys.toml through `tui_keymap` before
they start anything, so a mistake in it is one line and exit 2, never a UI whose keys
are not what the person believes.
"""

from __future__ import annotations

import json
import sys

import click

from agentstop.errors import AgentstopError

from .common import EXIT_OK, EXIT_USAGE

__all__ = ["keys_cmd", "tui_keymap"]


def tui_keymap() -> dict[str, str]:
    """The keys keys.toml moves, checked (`agentstop.tui.keymap_file.load_keymap`).

    Raises:
        KeymapError: what is wrong in it and how to change it.
    """
    from agentstop.tui.keymap_file import load_keymap  # lazy: Textual, for the commands that open the UI

    return load_keymap()


@click.command("keys")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
def keys_cmd(as_json: bool) -> None:
    """List the terminal UI's keys a person can move, and the key each has now.

    Keys are moved in keys.toml: `$AGENTSTOP_KEYS` if set, else the per-user
    one (on Linux ~/.config/agentstop/keys.toml). Each line there gives a key
    id (the first column below) its keys; a TOML table groups ids by their
    first part. The UI then shows the moved keys in its footer and in every
    hint. Ctrl+C always stops and Esc always goes back, cancels or denies;
    those, Ctrl+Q, Tab between the report's lists and the tables' own keys
    are not moved. A key id that
    does not exist, a key that is not one, or a key another binding already
    has on the same screen is refused (this command says which, and exits 2).

    \b
    Examples:
      agentstop keys
      agentstop keys --json | jq '.[] | select(.now != .default)'

    \b
    A keys.toml:
      stop = "x"                    # x stops; so does Ctrl+C
      "report.undo-all" = "ctrl+u"
      [timeline]
      play = "p"
    """
    from agentstop.tui.keymap_file import key_rows, keys_path

    where = keys_path()
    try:
        keymap = tui_keymap()
    except AgentstopError as exc:
        click.echo(f"agentstop: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    rows = key_rows(keymap)
    if as_json:
        out = [
            {"id": r.key_id.value, "default": r.default, "now": r.now, "does": r.description, "where": list(r.places)}
            for r in rows
        ]
        click.echo(json.dumps(out, indent=2))
        sys.exit(EXIT_OK)
    moved = sum(r.now != r.default for r in rows)
    state = f"{moved} moved" if where.exists() else "absent: every key is its default"
    click.echo(f"keys.toml: {where} ({state})")
    width = max(len(r.key_id.value) for r in rows)
    keys = max(len(r.now) for r in rows)
    for r in rows:
        mark = f"  (default {r.default})" if r.now != r.default else ""
        click.echo(f"  {r.key_id.value:<{width}}  {r.now:<{keys}}  {r.description}: {', '.join(r.places)}{mark}")
    click.echo("Always: Ctrl+C stops; Esc goes back, cancels or denies; Ctrl+Q quits.")
    sys.exit(EXIT_OK)
