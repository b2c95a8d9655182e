"""A session that a test kills with SIGKILL at a random moment.

Usage: python -m tests.support.crash_child JOURNAL WORLD SEED
Prints the session id once the session exists, then runs calls (some in
parallel, each with a short commit delay) and finally undoes everything.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import anyio

from agentstop import AgentstopError, GrantSpec, Journal, Supervisor
from tests.support.tools import WriteNote


async def main(journal_path: Path, world: Path, seed: int) -> None:
    rng = random.Random(seed)
    async with Journal.open(journal_path) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec(), task_name="crash drill")
        await sup.start()
        print(sup.session_id, flush=True)

        async def one(i: int) -> None:
            try:
                await sup.call(
                    "write_note",
                    {"name": f"n{i}", "prepare_delay": rng.uniform(0, 0.01), "commit_delay": rng.uniform(0, 0.03)},
                )
            except AgentstopError:
                pass

        for batch in range(4):
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(one, batch * 3 + i)
        await sup.undo_all()
        await sup.close()
        print("finished", flush=True)


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
