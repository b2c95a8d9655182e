"""A session whose process dies inside a commit, after the effect landed and before the journal heard of it.

Usage: python -m tests.support.dies_in_commit JOURNAL WORLD SESSION_ID

It makes one call of `write_then_die` (key "k1", path "a"): the commit writes
WORLD/a and the process exits at once (`os._exit`, as a SIGKILL would leave it),
so the journal holds the session running and the call `committing`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio

import agentstop
from agentstop import GrantSpec, Journal, Supervisor
from tests.support.hooks import hooks

WORLD_ENV = "AGENTSTOP_TEST_WORLD"


def _world() -> Path:
    return Path(os.environ[WORLD_ENV])


@agentstop.tool(reversibility="reversible")
async def write_then_die(path: str) -> dict[str, Any]:
    """Write a file; in the child, die right after."""
    (_world() / path).write_text("landed")
    if os.environ.get("AGENTSTOP_TEST_DIE_IN_COMMIT"):
        os._exit(9)
    return {"path": path}


@hooks(write_then_die).lookup
async def _find(ctx: agentstop.ToolContext) -> dict[str, Any] | None:
    path = ctx.args["path"] if isinstance(ctx.args, dict) else ctx.args.path
    return {"path": path, "found": True} if (_world() / path).exists() else None


async def main(target: str, session_id: str) -> None:
    async with Journal.open(target) as journal:
        sup = Supervisor(journal, [write_then_die.Tool], GrantSpec(), session_id=session_id)
        await sup.call("write_then_die", {"path": "a"}, key="k1")
    raise SystemExit("the commit returned: the process should have died in it")


if __name__ == "__main__":
    os.environ[WORLD_ENV] = sys.argv[2]
    os.environ["AGENTSTOP_TEST_DIE_IN_COMMIT"] = "1"
    anyio.run(main, sys.argv[1], sys.argv[3])
