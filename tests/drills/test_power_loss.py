"""Drill 2: power-loss honesty. `committing` is durable before any demo tool's commit runs.

Each demo tool is wrapped so that, the moment its `commit` (or `compensate`)
is entered, it opens the journal file on a connection of its own and reads the
call's last event, as another process (or the machine after a power cut) would
see it. And the journal's own transaction that wrote the fence is checked to
have committed with `synchronous=FULL`, the setting under which SQLite's WAL
commit reaches the disk before COMMIT returns.
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from agentstop import GrantSpec, Journal, Supervisor, Tool, ToolContext
from agentstop.journal import ops
from demo_tools.world_config import WorldConfig
from tests.drills.crash_fleet import DEMO_TOOLS, demo_args
from tests.drills.stats import record

pytestmark = pytest.mark.anyio

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def _last_event(journal_path: Path, ctx: ToolContext) -> str | None:
    with closing(sqlite3.connect(journal_path)) as db:
        row = db.execute(
            "SELECT kind FROM events WHERE session_id = ? AND call_id = ? ORDER BY seq DESC LIMIT 1",
            (ctx.session_id, ctx.call_id),
        ).fetchone()
    return row[0] if row else None


def _witnessed(cls: type[Tool], journal_path: Path, seen: list[tuple[str, str | None]]) -> Tool:
    """The demo tool, looking at the journal from outside as its commit and compensate begin."""

    class Witness(cls):  # type: ignore[valid-type, misc]
        async def commit(self, prepared: Any, ctx: ToolContext) -> dict[str, Any]:
            seen.append((f"{ctx.tool} commit", _last_event(journal_path, ctx)))
            receipt: dict[str, Any] = await super().commit(prepared, ctx)
            return receipt

    if cls.can_compensate():

        async def compensate(self: Witness, receipt: Any, ctx: ToolContext) -> Any:
            seen.append((f"{ctx.tool} compensate", _last_event(journal_path, ctx)))
            return await super(Witness, self).compensate(receipt, ctx)

        Witness.compensate = compensate
    return Witness()


async def test_committing_is_durable_before_any_demo_commit_begins(
    scratch: Path, world: WorldConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_path = scratch / "power.db"
    seen: list[tuple[str, str | None]] = []
    fence_sync: list[int] = []
    outcome_sync: list[tuple[str, int]] = []
    real_fence, real_transition = ops.fence, ops.transition

    def fence(conn: sqlite3.Connection, *args: Any, **kw: Any) -> Any:
        fence_sync.append(conn.execute("PRAGMA synchronous").fetchone()[0])
        return real_fence(conn, *args, **kw)

    def transition(conn: sqlite3.Connection, session_id: str, call_id: str, state: Any, *args: Any, **kw: Any) -> Any:
        outcome_sync.append((state.value, conn.execute("PRAGMA synchronous").fetchone()[0]))
        return real_transition(conn, session_id, call_id, state, *args, **kw)

    monkeypatch.setattr(ops, "fence", fence)
    monkeypatch.setattr(ops, "transition", transition)
    tools = [_witnessed(cls, journal_path, seen) for cls in DEMO_TOOLS.values()]
    async with Journal.open(journal_path) as journal:
        sup = Supervisor(journal, tools, GrantSpec())
        rng = random.Random(7)
        for i, name in enumerate(DEMO_TOOLS, 1):
            await sup.call(name, demo_args(name, 9000, i, rng))
        results = await sup.undo_all()

    commits = [(what, kind) for what, kind in seen if what.endswith("commit")]
    undos = [(what, kind) for what, kind in seen if what.endswith("compensate")]
    assert commits == [(f"{name} commit", "committing") for name in DEMO_TOOLS]
    assert len(undos) == len(results) == len(DEMO_TOOLS) - 1  # wire_transfer has no undo
    assert {kind for _, kind in undos} == {"compensating"}
    assert fence_sync == [FULL] * len(DEMO_TOOLS)
    # Outcomes and undo intents are durable too; planned and prepared need not be (nothing happened yet).
    durable = [level for state, level in outcome_sync if state in ("committed", "compensating", "compensated")]
    assert len(durable) == 2 * len(DEMO_TOOLS) - 1 + len(undos)
    assert set(durable) == {FULL}
    record(
        "power loss",
        "each demo tool's commit and undo begins only once its intent is durable (FULL) "
        "and visible from another connection",
        len(seen),
    )
