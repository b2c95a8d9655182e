"""Real tools for the core tests: side effects are files in a directory.

`WriteNote` prepares the content in a hidden temp file (invisible to the world)
and commits it with an atomic rename; its idempotency key is the file name, so
a repeated commit cannot duplicate it. Delays and failures are arguments, so
tests can race calls against Stop.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel

from agentstop import CommitRefused, Reversibility, StopPolicy, Tool, ToolContext


class NoteArgs(BaseModel):
    name: str
    text: str = ""
    prepare_delay: float = 0.0
    commit_delay: float = 0.0
    fail_in: str | None = None  # "prepare", "commit", "commit_after_effect", "refuse", "compensate:N"
    api_token: str | None = None


class WriteNote(Tool):
    """Writes `<root>/<key>.json`; undo deletes it."""

    name = "write_note"
    description = "Write a note file."
    reversibility = Reversibility.REVERSIBLE
    Args = NoteArgs

    def __init__(self, root: Path, on_stop: StopPolicy = StopPolicy.WAIT) -> None:
        self.root = root
        self.on_stop = on_stop  # type: ignore[misc]
        self.compensate_failures: dict[str, int] = {}
        self.preparing = 0
        """How many prepares have begun (a test that stops a call mid-prepare waits for one)."""

    def summary(self, args: NoteArgs) -> str:
        return f"note {args.name!r}"

    def resource(self, args: NoteArgs) -> str:
        return f"notes:{args.name}"

    def _final(self, key: str) -> Path:
        return self.root / f"{key}.json"

    async def prepare(self, args: NoteArgs, ctx: ToolContext) -> dict[str, Any]:
        self.preparing += 1
        await anyio.sleep(args.prepare_delay)
        if args.fail_in == "prepare":
            raise ValueError("cannot compose this note")
        tmp = self.root / f".{ctx.idempotency_key}.tmp"
        tmp.write_text(json.dumps({"name": args.name, "text": args.text, "call": ctx.call_id}))
        return {
            "tmp": str(tmp),
            "name": args.name,
            "commit_delay": args.commit_delay,
            "fail_in": args.fail_in,
            "api_token": args.api_token,
        }

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        await anyio.sleep(prepared["commit_delay"])
        if prepared["fail_in"] == "refuse":
            raise CommitRefused("the notes service said no")
        if prepared["fail_in"] == "commit":
            raise OSError("disk on fire")
        final = self._final(ctx.idempotency_key)
        if not final.exists():
            os.replace(prepared["tmp"], final)
        if prepared["fail_in"] == "commit_after_effect":
            raise TimeoutError("the reply got lost after the write")
        return {"path": str(final), "name": prepared["name"]}

    async def discard(self, prepared: dict[str, Any], ctx: ToolContext) -> None:
        Path(prepared["tmp"]).unlink(missing_ok=True)

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        left = self.compensate_failures.get(ctx.call_id, 0)
        if left:
            self.compensate_failures[ctx.call_id] = left - 1
            raise ConnectionError("notes service unavailable")
        Path(receipt["path"]).unlink(missing_ok=True)

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        final = self._final(ctx.idempotency_key)
        if final.exists():
            return {"path": str(final), "name": json.loads(final.read_text())["name"]}
        return None

    def landed(self) -> set[str]:
        """Names of the notes that exist in the world now."""
        return {json.loads(p.read_text())["name"] for p in self.root.glob("*.json")}


class ReadNotes(Tool):
    """Read-only: lists the notes."""

    name = "read_notes"
    description = "List notes."
    reversibility = Reversibility.READ_ONLY

    class Args(BaseModel):
        pass

    def __init__(self, root: Path) -> None:
        self.root = root

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        return {"notes": sorted(p.name for p in self.root.glob("*.json"))}


class Wire(Tool):
    """Irreversible: appends a line to a ledger file, no undo."""

    name = "wire"
    description = "Wire money."
    reversibility = Reversibility.IRREVERSIBLE
    undo_hint = "call the bank to recall the wire"

    class Args(BaseModel):
        amount: int

    def __init__(self, root: Path) -> None:
        self.root = root

    async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
        with (self.root / "wires.log").open("a") as f:
            f.write(f"{ctx.idempotency_key} {prepared['amount']}\n")
        return {"amount": prepared["amount"]}
