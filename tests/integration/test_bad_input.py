"""Bad input gives a clear error and loses nothing already journaled."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from agentstop import (
    CallLimitReached,
    CallState,
    GrantSpec,
    InvalidArgs,
    Journal,
    JournalCorrupt,
    JournalTooNew,
    OutOfScope,
    Report,
    Supervisor,
    ToolFailed,
)
from agentstop.errors import IllegalTransition
from agentstop.journal import SCHEMA_VERSION
from tests.support.plans import plan
from tests.support.tools import WriteNote

pytestmark = pytest.mark.anyio


async def test_args_that_fail_the_model_are_rejected_and_journaled(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    with pytest.raises(InvalidArgs) as caught:
        await sup.call("write_note", {"text": 5})
    assert "name: Field required" in str(caught.value) and "text: Input should be a valid string" in str(caught.value)
    [item] = (await sup.report()).interrupted
    assert item.state == "rejected" and item.reason is not None and item.reason.startswith("invalid arguments")


async def test_a_tool_raising_in_prepare_fails_the_call_and_nothing_is_issued(
    journal: Journal, notes: WriteNote
) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    with pytest.raises(ToolFailed, match="failed in prepare: ValueError: cannot compose this note"):
        await sup.call("write_note", {"name": "x", "fail_in": "prepare"})
    [item] = (await sup.report()).interrupted
    assert item.state == "failed" and "nothing was issued" in (item.reason or "")


async def test_a_commit_refused_upstream_is_failed_and_nothing_landed(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    with pytest.raises(ToolFailed, match="nothing landed"):
        await sup.call("write_note", {"name": "x", "fail_in": "refuse"})
    [item] = (await sup.report()).interrupted
    assert item.state == "failed" and item.reason == "refused upstream: the notes service said no; nothing landed"


async def test_a_commit_raising_is_reconciled_by_lookup(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    with pytest.raises(ToolFailed, match="lookup found no effect"):
        await sup.call("write_note", {"name": "x", "fail_in": "commit"})
    [item] = (await sup.report()).interrupted
    assert item.state == "failed"


async def test_scopes_and_call_limits_are_enforced_at_the_fence(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec(scopes=["notes:team-*"], max_calls=1))
    with pytest.raises(OutOfScope, match="resource 'notes:other' is outside grant"):
        await sup.call("write_note", {"name": "other"})
    await sup.call("write_note", {"name": "team-a"})
    with pytest.raises(CallLimitReached, match="allows 1 calls, all used"):
        await sup.call("write_note", {"name": "team-b"})
    assert notes.landed() == {"team-a"}
    sup2 = Supervisor(journal, [notes], GrantSpec(tools=["read_*"]))
    with pytest.raises(OutOfScope, match="tool 'write_note' is not in grant"):
        await sup2.call("write_note", {"name": "team-c"})


async def test_secrets_are_redacted_in_the_journal(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call(
        "write_note", {"name": "a", "text": "Authorization: Bearer abcdefghijklmnop", "api_token": "hunter2"}
    )
    raw = Path(journal.path).read_bytes() + Path(f"{journal.path}-wal").read_bytes()
    assert b"hunter2" not in raw and b"abcdefghijklmnop" not in raw
    [item] = (await sup.report()).done
    assert item.args["api_token"] == "***" and item.args["text"] == "Authorization: ***"


async def test_the_journal_refuses_an_illegal_transition(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    await sup.call("write_note", {"name": "a"})
    with pytest.raises(IllegalTransition, match="cannot go from committed to prepared"):
        await journal.transition(sup.session_id, "c1", CallState.PREPARED, durable=False)
    assert (await journal.call(sup.session_id, "c1")).state == "committed"


async def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not sqlite" * 100)
    before = path.read_bytes()
    with pytest.raises(JournalCorrupt, match="not a usable agentstop journal"):
        async with Journal.open(path):
            pass
    assert path.read_bytes() == before


async def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalCorrupt, match="another program"):
        async with Journal.open(path):
            pass


async def test_a_newer_schema_is_refused_and_nothing_is_lost(tmp_path: Path, world: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.call("write_note", {"name": "keep"})
        session_id = sup.session_id
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(JournalTooNew, match="schema version 99 is newer"):
        async with Journal.open(path):
            pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.commit()
    conn.close()
    async with Journal.open(path, readonly=True) as journal:
        assert [i.summary for i in (await Report.from_journal(journal, session_id)).done] == ["note 'keep'"]


async def test_the_journal_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal.open(path) as journal:
        await journal.create_session("s1", task_name="t")
    assert os.stat(path).st_mode & 0o777 == 0o600


async def test_a_readonly_journal_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal.open(path) as journal:
        await journal.create_session("s1", task_name="t")
    async with Journal.open(path, readonly=True) as journal:
        with pytest.raises(Exception, match="opened read-only"):
            await journal.create_session("s2", task_name="t")
        assert [s.session_id for s in await journal.sessions()] == ["s1"]


async def test_a_version_1_journal_is_migrated_forward_and_keeps_its_sessions(tmp_path: Path, world: Path) -> None:
    path = tmp_path / "v1.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.call("write_note", {"name": "old"})
    conn = sqlite3.connect(path)  # make it look like a journal written by schema version 1
    conn.execute("DROP INDEX calls_session_n")
    for column in (
        "can_reapply",
        "reapplies",
        "reapply_error",  # added by version 3
        "worker_pid",
        "worker_host",
        "worker_started_at",
        "lease_until",
    ):  # and by version 4
        conn.execute(f"ALTER TABLE calls DROP COLUMN {column}")
    conn.execute("ALTER TABLE sessions DROP COLUMN stop_requested_at")
    conn.execute("DROP TABLE call_numbers")  # and by version 5
    conn.execute("DROP TABLE timeline_checkpoints")  # and by version 6
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    async with Journal.open(path) as journal:
        [session] = await journal.sessions()
        assert [c.summary for c in await journal.calls(session.session_id)] == ["note 'old'"]
        # Version 5 numbers calls from a counter per session: it starts where the session's calls left off.
        assert await plan(journal, session.session_id, "write_note", "k2", summary="again", resource="") == "c2"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'calls_session_n'").fetchone()
    finally:
        conn.close()
