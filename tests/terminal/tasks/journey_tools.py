"""Tools of the terminal journeys, loaded by path from next to their task files.

`WriteFile` writes `<dir>/<name>.txt` (`<dir>`: $JOURNEY_DIR); with `hold`, its commit
waits until a file of that name exists in `<dir>`, so a test holds a call mid-commit and
releases it by creating the file, instead of racing a timer. `PayInvoice` is irreversible:
under `approve: irreversible` it waits for a person, and it appends to `<dir>/payments.log`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict

from agentstop import Reversibility, Tool, ToolContext

DIR_ENV = "JOURNEY_DIR"


def _root() -> Path:
    return Path(os.environ.get(DIR_ENV, "."))


class WriteFile(Tool):
    """Writes one text file; undo deletes it."""

    name = "write_file"
    description = "Write a text file."
    reversibility = Reversibility.REVERSIBLE

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

        name: str
        text: str = ""
        hold: str = ""

    def summary(self, args: WriteFile.Args) -> str:
        return f"write {args.name}.txt"

    def resource(self, args: WriteFile.Args) -> str:
        return f"files:{args.name}"

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        root = _root()
        if prepared.get("hold"):
            while not (root / prepared["hold"]).exists():
                await anyio.sleep(0.02)
        path = root / f"{prepared['name']}.txt"
        path.write_text(prepared["text"])
        return {"path": str(path)}

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        Path(receipt["path"]).unlink(missing_ok=True)

    def undo_summary(self, receipt: Any) -> str:
        return f"delete {Path(receipt['path']).name}" if isinstance(receipt, dict) and "path" in receipt else ""


class PayInvoice(Tool):
    """Pays an invoice; no undo exists."""

    name = "pay_invoice"
    description = "Pay an invoice."
    reversibility = Reversibility.IRREVERSIBLE
    undo_hint = "Ask the printer for a refund."

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

        amount: int

    def summary(self, args: PayInvoice.Args) -> str:
        return f"pay the printer ${args.amount:,}"

    def resource(self, args: PayInvoice.Args) -> str:
        return "pay:printer"

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        with (_root() / "payments.log").open("a") as log:
            log.write(f"{prepared['amount']}\n")
        return {"paid": prepared["amount"]}
