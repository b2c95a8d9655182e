"""A child process of the PostgreSQL fence race: one session, many callers, flat out until revoked.

    python -m tests.postgres.race_child URL WORLD_DIR CALLERS

Prints `session <id>` once its grant is issued, then runs CALLERS concurrent
callers that each make gated calls back to back until the session is stopped
(by a revoke from another process), and exits 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from agentstop import AgentstopError, GrantSpec, Journal, Supervisor
from tests.support.tools import WriteNote


async def main(url: str, world: Path, callers: int) -> None:
    async with Journal.open(url) as journal, Supervisor(journal, [WriteNote(world)], GrantSpec()) as sup:
        print(f"session {sup.session_id}", flush=True)

        async def caller(k: int) -> None:
            i = 0
            while not sup.stopping:
                i += 1
                try:
                    await sup.call("write_note", {"name": f"{sup.session_id}-{k}-{i}"})
                except AgentstopError:
                    pass

        async with anyio.create_task_group() as tg:
            for k in range(callers):
                tg.start_soon(caller, k)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))
