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


ROOT = Path(__file__).resolve().parents[2]


async def died_in_commit(target: str, world: Path, session_id: str) -> None:
    """Run the child to its death: the journal at `target` then holds `session_id` running, its call committing."""
    with anyio.fail_after(60):
        child = await anyio.run_process(
            [sys.executable, "-m", "tests.support.dies_in_commit", target, str(world), session_id],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
    assert child.returncode == 9, child.stderr.decode()


async def main(target: str, session_id: str) -> None:
    async with Journal.open(target) as journal:
        sup = Supervisor(journal, [write_then_die.Tool], GrantSpec(), session_id=session_id)
        await sup.call("write_then_die", {"path": "a"}, key="k1")
    raise SystemExit("the commit returned: the process should have died in it")


if __name__ == "__main__":
    os.environ[WORLD_ENV] = sys.argv[2]
    os.environ["AGENTSTOP_TEST_DIE_IN_COMMIT"] = "1"
    # Run from the module imported by its name, so the session records an import path another process can use
    # (`tests.support.dies_in_commit:...`, not `__main__:...`).
    from tests.support import dies_in_commit

    anyio.run(dies_in_commit.main, sys.argv[1], sys.argv[3])
