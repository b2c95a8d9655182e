"""A PostgreSQL journal whose server connection is lost mid-session fails closed.

The connections are cut by the server (`pg_terminate_backend`, as a failover or
an administrator would) at the worst moment: after a call was prepared, before
its fence transaction. Nothing may be issued without its journal row; the call
is reported for what it is, and the session goes on once the server answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from agentstop import GrantSpec, Journal, Rejected, Supervisor, ToolContext
from tests.support.postgres import PostgresServer
from tests.support.tools import NoteArgs, WriteNote

pytestmark = pytest.mark.anyio


def _cut_every_connection_but_this(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


class CutBeforeFence(WriteNote):
    """Prepares its note, then has the server drop the journal's connections."""

    def __init__(self, root: Path, url: str) -> None:
        super().__init__(root)
        self.url = url
        self.committed: list[str] = []

    async def prepare(self, args: NoteArgs, ctx: ToolContext) -> dict[str, Any]:
        prepared = await super().prepare(args, ctx)
        if args.name.startswith("cut"):
            assert _cut_every_connection_but_this(self.url) >= 1
        return prepared

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        self.committed.append(prepared["name"])
        return await super().commit(prepared, ctx)


async def test_a_connection_lost_before_the_fence_fails_closed_and_the_session_goes_on(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.create_database()
    tool = CutBeforeFence(tmp_path, url)
    async with Journal.open(url) as journal:
        sup = Supervisor(journal, [tool], GrantSpec())
        await sup.call("write_note", {"name": "before"})
        with pytest.raises(Rejected) as caught:
            await sup.call("write_note", {"name": "cut"})
        assert "could not record the fence" in caught.value.reason
        assert "connection to the server was lost" in caught.value.reason
        assert tool.committed == ["before"]  # the cut call never reached the world
        await sup.call("write_note", {"name": "after"})  # the writer reconnected
        report = await sup.stop()
    states = {i.summary: i.state for i in report.all_calls}
    assert states == {"note 'before'": "committed", "note 'cut'": "rejected", "note 'after'": "committed"}
    assert tool.landed() == {"before", "after"}
    postgres.drop_database(url.rsplit("/", 1)[1])
