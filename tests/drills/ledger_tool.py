"""The tool the framework crash drills' agents call: append an entry to a ledger file, once.

The ledger is the world those drills read: one line per entry, written in one
write (in the file whole, or not at all), so an entry the agent issued twice
shows as a line twice. `lookup` finds an entry in it, so recovery can settle a
call the kill caught mid-commit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio

import agentstop
from tests.support.hooks import hooks

__all__ = ["LEDGER_ENV", "SESSION", "ledger_entry", "ledger_lines"]

LEDGER_ENV = "AGENTSTOP_DRILL_LEDGER"
SESSION = "framework-drill"
"""The session id every drill's agent runs (and resumes after the kill)."""


def _ledger() -> Path:
    return Path(os.environ[LEDGER_ENV])


def ledger_lines(path: Path | None = None) -> list[str]:
    """The entries the ledger holds, in the order they were written."""
    path = path or _ledger()
    return path.read_text().splitlines() if path.exists() else []


@agentstop.tool(reversibility="reversible", resource=lambda a: f"ledger:{a.entry}")
async def ledger_entry(entry: str) -> dict[str, Any]:
    """Append an entry to the ledger.

    Args:
        entry: the entry's name (e1, e2, ...).
    """
    await anyio.sleep(0.01)  # a commit takes a moment, as a real one does: the kill may land inside it
    with _ledger().open("a") as f:
        f.write(entry + "\n")  # one write of one short line
    return {"entry": entry, "ledger_line": True}  # (the drills' model reads this key as "written")


@hooks(ledger_entry).lookup
async def _find(ctx: agentstop.ToolContext) -> dict[str, Any] | None:
    entry = ctx.args["entry"] if isinstance(ctx.args, dict) else ctx.args.entry
    return {"entry": entry, "ledger_line": True} if entry in ledger_lines() else None
