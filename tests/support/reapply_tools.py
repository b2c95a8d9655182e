"""`ReapplyNote`: the file tool of the core tests (`WriteNote`), with a re-apply.

After its undo deleted the note, `reapply` writes it again at the same path
(nothing more when it is already there: a retried re-apply writes it once). Its
re-apply can be made to fail a number of times, and it remembers the keys its
re-applies were given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentstop import ToolContext
from tests.support.tools import NoteArgs, WriteNote

__all__ = ["ReapplyNote"]


class ReapplyNote(WriteNote):
    """Writes `<root>/<key>.json`; undo deletes it; re-apply writes it again."""

    name = "reapply_note"

    def __init__(self, root: Path | str) -> None:
        super().__init__(Path(root))
        self.reapply_failures: dict[str, int] = {}
        self.keys: list[str] = []

    def summary(self, args: NoteArgs) -> str:
        return f"note {args.name!r}"

    def reapply_summary(self, receipt: dict[str, Any]) -> str:
        return f"write note {receipt.get('name', '?')!r} again"

    async def reapply(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        self.keys.append(ctx.idempotency_key)
        left = self.reapply_failures.get(ctx.call_id, 0)
        if left:
            self.reapply_failures[ctx.call_id] = left - 1
            raise ConnectionError("notes service unavailable")
        path = Path(receipt["path"])
        if not path.exists():  # a retry of a re-apply that landed writes nothing more
            path.write_text(json.dumps({"name": receipt["name"], "again": ctx.idempotency_key}))
        return {"path": str(path), "name": receipt["name"], "again": True}
