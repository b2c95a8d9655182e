"""Stop pressed again from another process: `agentstop stop` on a session that is stopping skips its grace.

The session (a library's agent loop: `async with Supervisor`) has a commit
parked and a 30 s grace; the first `agentstop stop` revokes its grant, the
second asks it to skip the rest of the grace, and it cancels the commit (its
lookup says nothing landed) and ends long before the 30 s are up.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from agentstop import GrantSpec, Interrupted, Journal, Supervisor
from agentstop.cli import main
from agentstop.journal import STOP_ESCALATED
from tests.tui.helpers import GatedNote

pytestmark = pytest.mark.anyio

SID = "20270115T080000-again"


def stop(path: Path) -> Result:
    return CliRunner().invoke(main, ["stop", "--journal", str(path), "--session", SID])


async def test_a_second_stop_from_another_terminal_skips_the_grace(tmp_path: Path, world: Path) -> None:
    path = tmp_path / "journal.db"
    notes = GatedNote(world)
    notes.hold_commit("slow")
    raised: list[BaseException] = []
    async with Journal.open(path) as journal, anyio.create_task_group() as tg:
        sup = Supervisor(
            journal, [notes], GrantSpec(tools=["write_note"]), task_name="Tidy", grace=30.0, session_id=SID
        )
        await sup.__aenter__()
        try:

            async def slow() -> None:
                try:
                    await sup.call("write_note", {"name": "slow"})
                except Interrupted as exc:
                    raised.append(exc)

            tg.start_soon(slow)
            with anyio.fail_after(10):
                while not notes.parked("slow"):
                    await anyio.sleep(0.01)

            first = await anyio.to_thread.run_sync(stop, path)
            assert first.exit_code == 0 and "revoked grant(s) g1" in first.output
            with anyio.fail_after(5):
                while not sup.stopping:
                    await anyio.sleep(0.01)
            assert (await journal.session(SID)).status == "running"  # waiting for the commit, 30 s of grace

            began = time.monotonic()
            again = await anyio.to_thread.run_sync(stop, path)
            assert again.exit_code == 0
            assert "was already stopping; asked it to skip the rest of its grace" in again.output
            with anyio.fail_after(10):
                while (await journal.session(SID)).status == "running":
                    await anyio.sleep(0.02)
            assert time.monotonic() - began < 10
        finally:
            notes.release_all()
            await sup.__aexit__(None, None, None)
    assert raised and "commit cancelled by Stop" in str(raised[0])
    async with Journal.open(path, readonly=True) as j:
        [call] = await j.calls(SID)
        kinds = [e.kind for e in await j.events(SID)]
    assert call.state in ("failed", "rejected")  # cut off; its lookup found nothing landed
    assert STOP_ESCALATED in kinds and "slow" not in notes.landed()
