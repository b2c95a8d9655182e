"""A note tool whose undo and re-apply can be stopped dead at a chosen point, for the kill drills.

`HeldNote` writes `<dir>/<name>.txt` ($HELD_NOTES_DIR), undo deletes it, re-apply
writes it again, lookup finds it. With $HELD_KILL_AT set in the process that runs
it (`undo_before_effect`, `undo_after_effect`, `reapply_before_effect`,
`reapply_after_effect`) the undo or re-apply touches `<dir>/at-<point>` at that
point and then waits forever: the test sees the file and SIGKILLs the process
there, a kill point that does not depend on timing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict

from agentstop import Reversibility, Tool, ToolContext

DIR_ENV = "HELD_NOTES_DIR"
KILL_ENV = "HELD_KILL_AT"


class HeldNote(Tool):
    """Writes a note; undo deletes it; re-apply writes it again."""

    name = "held_note"
    description = "Write a note."
    reversibility = Reversibility.REVERSIBLE

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

        name: str

    def __init__(self) -> None:
        self.root = Path(os.environ.get(DIR_ENV, "."))

    def resource(self, args: HeldNote.Args) -> str:
        return f"note:{args.name}"

    async def _point(self, point: str) -> None:
        if os.environ.get(KILL_ENV) == point:
            (self.root / f"at-{point}").touch()
            await anyio.sleep(3600)  # the test kills the process here

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        path = self.root / f"{prepared['name']}.txt"
        path.write_text(ctx.idempotency_key)
        return {"path": str(path)}

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        await self._point("undo_before_effect")
        Path(receipt["path"]).unlink(missing_ok=True)
        await self._point("undo_after_effect")

    async def reapply(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        await self._point("reapply_before_effect")
        Path(receipt["path"]).write_text(ctx.idempotency_key)
        await self._point("reapply_after_effect")
        return {"path": receipt["path"]}

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        path = self.root / f"{ctx.args['name']}.txt"
        return {"path": str(path)} if path.exists() else None
