"""Tools of the TUI undo drill, loaded by path from the drill's task file.

`SlowUndoFile` writes `<dir>/<name>.txt` (`<dir>`: $TUI_DRILL_DIR) and its undo deletes it
after, and before returning, a short wait that stands for an upstream's latency: so an
undo of several calls is long enough for a kill to land inside one (before or after its
effect) as well as between them. With `hold`, the commit waits until a file of that name
exists in `<dir>`, so the drill knows where the agent stands when it presses Stop.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict

from agentstop import Reversibility, Tool, ToolContext

DIR_ENV = "TUI_DRILL_DIR"
UNDO_LATENCY_S = 0.04


def _root() -> Path:
    return Path(os.environ.get(DIR_ENV, "."))


class SlowUndoFile(Tool):
    """Writes one text file; undo deletes it, taking an upstream's time on each side of the effect."""

    name = "write_file"
    description = "Write a text file."
    reversibility = Reversibility.REVERSIBLE

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

        name: str
        hold: str = ""

    def summary(self, args: SlowUndoFile.Args) -> str:
        return f"write {args.name}.txt"

    def resource(self, args: SlowUndoFile.Args) -> str:
        return f"files:{args.name}"

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        root = _root()
        if prepared.get("hold"):
            while not (root / prepared["hold"]).exists():
                await anyio.sleep(0.02)
        path = root / f"{prepared['name']}.txt"
        path.write_text(ctx.idempotency_key)
        return {"path": str(path)}

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        await anyio.sleep(UNDO_LATENCY_S)
        Path(receipt["path"]).unlink(missing_ok=True)
        await anyio.sleep(UNDO_LATENCY_S)

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        path = _root() / f"{ctx.args['name']}.txt"
        return {"path": str(path)} if path.exists() else None
