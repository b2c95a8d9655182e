"""The fence gives the same answers, and writes the same rows, on SQLite and on PostgreSQL.

On PostgreSQL a call that passes may take the one-round-trip way: the verdict
is `fence_verdict`'s, taken on the grant as the writer's connection last saw
it, and the database only confirms the row is still that (`agentstop_expect`).
SQLite reads the grant in its locked transaction every time. The rule is one
function (`agentstop.grant.fence_verdict`) on both; these cases run the same
journal writes, on a frozen clock, against both databases and compare every
verdict, call row, event and grant row: revoked, expired, out of scope (tool,
resource, a malformed resource), call limit reached, passes, and moves the
lifecycle refuses.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from agentstop import GrantSpec, Journal
from agentstop.errors import IllegalTransition
from agentstop.grant import FenceRefusal
from agentstop.journal import CallState
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.anyio

START = 1_000_000.0


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _fields(grant_id: int, n: int, tool: str = "stamp", resource: str = "notes:a") -> dict[str, Any]:
    return {
        "tool": tool,
        "summary": f"{tool} {n}",
        "resource": resource,
        "args": {"n": n},
        "reversibility": "irreversible",
        "on_stop": "wait",
        "can_compensate": False,
        "can_lookup": False,
        "undo_hint": "",
        "idempotency_key": f"k{n}",
        "grant_id": grant_id,
    }


async def _scenario(target: str) -> dict[str, Any]:
    """Every verdict case, on one journal; returns what it answered and what it wrote."""
    clock = Clock()
    answers: list[Any] = []
    async with Journal.open(target, clock=clock) as journal:
        await journal.create_session("s", task_name="verdicts")
        limited = await journal.issue_grant("s", GrantSpec(tools=["stamp"], scopes=["notes:*"], max_calls=3, ttl=60))
        n = 0

        async def plan_and_fence(grant: int, **kw: Any) -> None:
            nonlocal n
            n += 1
            clock.now += 1
            call_id, verdict = await journal.plan_and_fence(
                "s", prepared={"p": n} if n % 2 else None, **_fields(grant, n, **kw)
            )
            answers.append((call_id, verdict))

        await plan_and_fence(limited)  # ok, the long way on both (nothing seen yet)
        await plan_and_fence(limited)  # ok, one round trip on PostgreSQL
        await plan_and_fence(limited, tool="other")  # out of scope: the tool
        await plan_and_fence(limited, resource="mail:x")  # out of scope: the resource
        await plan_and_fence(limited, resource="notes:../x")  # out of scope: a malformed resource
        await plan_and_fence(limited)  # ok: the third and last call
        await plan_and_fence(limited)  # call limit reached
        clock.now += 120
        await plan_and_fence(limited)  # expired

        # A tool with its own prepare: planned, then fenced on its own.
        open_grant = await journal.issue_grant("s", GrantSpec())
        for _ in range(2):
            clock.now += 1
            n += 1
            call_id = await journal.plan_call("s", **_fields(open_grant, n))
            answers.append(
                (call_id, await journal.fence("s", call_id, open_grant, "stamp", "notes:a", prepared={"q": n}))
            )
        await plan_and_fence(open_grant)  # ok
        await plan_and_fence(open_grant)  # ok, one round trip on PostgreSQL

        # Outcomes, and moves the lifecycle refuses.
        for call_id, verdict in list(answers):
            clock.now += 1
            if verdict is None:
                await journal.transition("s", call_id, CallState.COMMITTED, durable=True, receipt={"id": call_id})
        for call_id, state in ((answers[0][0], CallState.COMMITTED), (answers[2][0], CallState.COMMITTING)):
            with pytest.raises(IllegalTransition) as refused:
                await journal.transition("s", call_id, state, durable=True)
            answers.append(str(refused.value).replace(journal.location, "<journal>"))
        await journal.transition("s", answers[0][0], CallState.COMPENSATING, durable=True, undo_by="me", lease=30)
        await journal.transition("s", answers[0][0], CallState.COMPENSATED, durable=True)

        clock.now += 1
        await journal.revoke("s", by="operator", reason="stop")  # the writer's memory of the grant is not told
        await plan_and_fence(open_grant)  # revoked, though this connection last saw the grant live
        calls = [asdict(c) for c in await journal.calls("s")]
        events = [(e.call_id, e.kind, e.at, e.data) for e in await journal.events("s")]
        grants = [asdict(g) for g in await journal.grants("s")]
    for row in calls:
        row.pop("commit_seq")  # a seq: PostgreSQL's sequences also count inserts rolled back
        row.pop("worker_pid", None)
        row.pop("worker_host", None)
        row.pop("worker_started_at", None)
    return {"answers": answers, "calls": calls, "events": events, "grants": grants}


async def test_sqlite_and_postgresql_give_the_same_verdicts_and_rows(postgres: PostgresServer, tmp_path: Path) -> None:
    lite = await _scenario(str(tmp_path / "journal.db"))
    pg = await _scenario(postgres.create_database())
    verdicts = [a[1][0] if a[1] else None for a in lite["answers"] if isinstance(a, tuple)]
    assert verdicts.count(None) == 7
    for refusal in (FenceRefusal.SCOPE, FenceRefusal.LIMIT, FenceRefusal.EXPIRED, FenceRefusal.REVOKED):
        assert refusal in verdicts, refusal
    assert pg["answers"] == lite["answers"]
    assert pg["calls"] == lite["calls"]
    assert pg["events"] == lite["events"]
    assert pg["grants"] == lite["grants"]
