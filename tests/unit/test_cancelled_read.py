"""A read cancelled half-way must not leave the reader on an old snapshot of the journal.

Found when Stop cancelled its own watcher mid-read: the report Stop returned
still said "running" although the session's end was committed, because the
cancelled read's cursor kept a read transaction (and its snapshot) open.
Without the fix about half of these cancellations left a stale reader.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from agentstop import Journal
from agentstop.journal import SessionStatus

pytestmark = pytest.mark.anyio


async def test_reads_after_a_cancelled_read_see_later_writes(tmp_path: Path) -> None:
    async with Journal.open(tmp_path / "journal.db") as journal:
        await journal.create_session("big", task_name="many events")
        for i in range(300):
            await journal.append("big", "note", {"i": i, "text": "x" * 200})
        stale = []
        for n in range(36):
            sid = f"s{n}"
            await journal.create_session(sid, task_name="ends after a cancelled read")
            async with anyio.create_task_group() as tg:
                tg.start_soon(journal.events, "big")
                for _ in range(n % 12):  # cut off at a different point of the read each time
                    await anyio.lowlevel.checkpoint()
                tg.cancel_scope.cancel()
            await journal.end_session(sid, SessionStatus.STOPPED, stopped_by="test", stop_reason="cut")
            if (await journal.session(sid)).status != "stopped":
                stale.append(n)
        assert stale == []
