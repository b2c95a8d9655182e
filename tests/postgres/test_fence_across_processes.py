"""The fence holds across processes on a shared PostgreSQL journal.

Several OS processes run sessions with many concurrent callers against one
database; another process (this one) revokes each session while its callers
are committing flat out. Once `revoke` has returned, no call of that session
enters `committing`: by the journal's order (no `committing` event after the
`revoked` one; the grant row lock orders them) and by the clock (no call whose
fence began after the revoke returned got through).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from agentstop import Journal, revoke
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3
CALLERS = 6
COMMITTED_BEFORE_REVOKE = 15


async def _committed(journal: Journal, session_id: str) -> int:
    return sum(1 for c in await journal.calls(session_id) if c.state == "committed")


async def test_no_call_enters_committing_after_a_revoke_from_another_process(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.create_database()
    async with Journal.open(url):
        pass  # the schema exists before the children race to open it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    children: list[subprocess.Popen[str]] = []

    def start(argv: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    for k in range(PROCESSES):
        world = tmp_path / f"world{k}"
        world.mkdir()
        argv = [sys.executable, "-m", "tests.postgres.race_child", url, str(world), str(CALLERS)]
        children.append(await anyio.to_thread.run_sync(start, argv))
    try:
        sessions = []
        for child in children:
            assert child.stdout is not None
            sessions.append(child.stdout.readline().split()[1])
        revoked_at: dict[str, float] = {}
        async with Journal.open(url, readonly=True) as journal:
            with anyio.fail_after(60):
                for sid in sessions:
                    while await _committed(journal, sid) < COMMITTED_BEFORE_REVOKE:
                        await anyio.sleep(0.02)
            for sid in sessions:  # every session still has all its callers running
                await anyio.to_thread.run_sync(functools.partial(revoke, url, sid, by="operator"))
                revoked_at[sid] = time.time()
        for child in children:
            assert await anyio.to_thread.run_sync(functools.partial(child.wait, timeout=60)) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()

    cut_off = 0
    async with Journal.open(url, readonly=True) as journal:
        for sid in sessions:
            events = await journal.events(sid)
            revoked_seq = next(e.seq for e in events if e.kind == "revoked")
            late = [e.call_id for e in events if e.kind == "committing" and e.seq > revoked_seq]
            assert late == [], f"{sid}: calls entered committing after the revoke: {late}"
            calls = await journal.calls(sid)
            passed = [c for c in calls if c.fence_at is not None and c.state != "rejected"]
            assert all(c.fence_at is not None and c.fence_at < revoked_at[sid] for c in passed)
            rejected = [c for c in calls if c.state == "rejected"]
            grant = (await journal.grants(sid))[0]
            # The grant counted exactly the calls that passed its fence.
            assert grant.calls_used == len(passed) >= COMMITTED_BEFORE_REVOKE
            assert all(c.state in ("committed", "rejected", "discarded") for c in calls), {
                c.call_id: c.state for c in calls if c.state not in ("committed", "rejected", "discarded")
            }
            assert (await journal.session(sid)).status == "stopped"
            cut_off += len(rejected) + sum(1 for c in calls if c.state == "discarded")
        # The revoke landed while calls were on their way: some were cut off at or before the fence.
        assert cut_off > 0
    postgres.drop_database(url.rsplit("/", 1)[1])
