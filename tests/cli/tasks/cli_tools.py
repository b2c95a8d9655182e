"""A tool module that lives next to the CLI tests' task files (found from the task's directory).

`Publish` is irreversible: it appends a line to `published.log` in $FIXTURE_FILES_DIR and
has no compensation, only a hint for a person.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentstop import Reversibility, Tool, ToolContext


class Publish(Tool):
    """Publishes a line for everyone to read; it cannot be taken back."""

    name = "publish"
    description = "Publish one line."
    reversibility = Reversibility.IRREVERSIBLE
    undo_hint = "post a correction by hand"

    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid")

        text: str

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        log = Path(os.environ.get("FIXTURE_FILES_DIR", ".")) / "published.log"
        with log.open("a") as f:
            f.write(prepared["text"] + "\n")
        return {"log": str(log)}
