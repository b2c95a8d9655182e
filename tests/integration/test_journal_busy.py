"""The journal locked by another writer: the fence waits with a bound, then fails closed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agentstop import GrantSpec, Journal, JournalBusy, Rejected, Supervisor, ToolContext
from tests.support.tools import NoteArgs, WriteNote

pytestmark = pytest.mark.anyio


class LockingNote(WriteNote):
    """Another writer grabs the journal's lock while this call is being prepared."""

    def __init__(self, root: Path, journal_path: Path) -> None:
        super().__init__(root)
        self.journal_path = journal_path
        self.other: sqlite3.Connection | None = None

    async def prepare(self, args: NoteArgs, ctx: ToolContext) -> dict[str, Any]:
        prepared = await super().prepare(args, ctx)
        self.other = sqlite3.connect(self.journal_path, isolation_level=None)
        self.other.execute("BEGIN IMMEDIATE")
        return prepared


async def test_a_locked_journal_at_the_fence_rejects_and_issues_nothing(tmp_path: Path, world: Path) -> None:
    path = tmp_path / "j.db"
    notes = LockingNote(world, path)
    async with Journal.open(path, busy_timeout=0.2) as journal:
        sup = Supervisor(journal, [notes], GrantSpec())
        await sup.start()
        try:
            with pytest.raises(Rejected, match=r"could not record the fence \(locked by another writer"):
                await sup.call("write_note", {"name": "locked"})
        finally:
            assert notes.other is not None
            notes.other.execute("ROLLBACK")
            notes.other.close()
        assert notes.landed() == set()
        assert list(world.glob(".*.tmp")) == []  # the prepared effect was released
        kinds = [e.kind for e in await journal.events(sup.session_id) if e.call_id == "c1"]
        assert "committing" not in kinds


async def test_a_locked_journal_before_planning_raises_busy(tmp_path: Path, world: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal.open(path, busy_timeout=0.2) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.start()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(JournalBusy, match="retry when the other process has finished"):
                await sup.call("write_note", {"name": "x"})
        finally:
            other.execute("ROLLBACK")
            other.close()
        await sup.call("write_note", {"name": "after"})
        assert WriteNote(world).landed() == {"after"}
