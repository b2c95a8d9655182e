"""Re-apply of the local-store tools: the migration's rows come back, the PR's branch comes back; undo again.

The world is read from its own stores after every step: the production database
through another connection, origin with git plumbing, prs.json as a file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentstop import GrantSpec, Journal, Supervisor
from demo_tools.database import MigrateDatabase
from demo_tools.git_pr import OpenDraftPR
from demo_tools.world_config import WorldConfig

from .test_safe_undo import GOLD_NL, PR, git, head, prs, push_commit, sql

pytestmark = pytest.mark.anyio

ADA = "INSERT INTO customers (name, email, plan) VALUES ('Ada', 'ada.again@example.com', 'pro')"
NEW_CUSTOMER = {"description": "add Ada", "statements": [ADA]}


@pytest.fixture
async def sup(world: WorldConfig, journal: Journal) -> AsyncIterator[Supervisor]:
    migrate = MigrateDatabase()
    try:
        yield Supervisor(journal, [OpenDraftPR(), migrate], GrantSpec(scopes=["git:*", "db:*"]))
    finally:
        migrate.close()


def ada(world: WorldConfig) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in sql(world, "SELECT name, plan FROM customers WHERE email = 'ada.again@example.com'")]


def audit(world: WorldConfig) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in sql(world, "SELECT key, kind FROM audit ORDER BY id")]


# -- database --------------------------------------------------------------------------------


async def test_a_migration_undone_reapplied_and_undone_again(
    world: WorldConfig, journal: Journal, sup: Supervisor
) -> None:
    receipt = await sup.call("migrate_database", NEW_CUSTOMER)
    assert ada(world) == [("Ada", "pro")]
    key = (await journal.call(sup.session_id, "c1")).idempotency_key

    await sup.undo(["c1"])
    assert ada(world) == [], "undo deleted the inserted row"

    [redone] = await sup.reapply(["c1"])
    assert redone.status == "reapplied", redone.detail
    assert ada(world) == [("Ada", "pro")], "re-apply inserted it again"
    assert redone.receipt["audit_id"] != receipt["audit_id"], "the re-run has an audit row of its own"

    [undone] = await sup.undo(["c1"])
    assert undone.status == "compensated", undone.detail
    assert ada(world) == [], "the second undo reverted the re-run"
    assert audit(world) == [
        (key, "migration"),
        (f"{key}:undo", "revert"),
        (f"{key}:reapply1", "migration"),
        (f"{key}:reapply1:undo", "revert"),
    ]


async def test_an_update_is_made_again_and_its_undo_restores_the_rows(world: WorldConfig, sup: Supervisor) -> None:
    before = sql(world, "SELECT id, plan FROM customers WHERE country = 'NL' ORDER BY id")
    await sup.call("migrate_database", GOLD_NL)
    await sup.undo(["c1"])
    assert sql(world, "SELECT id, plan FROM customers WHERE country = 'NL' ORDER BY id") == before

    await sup.reapply(["c1"])
    assert {r[0] for r in sql(world, "SELECT plan FROM customers WHERE country = 'NL'")} == {"gold"}

    await sup.undo(["c1"])
    assert sql(world, "SELECT id, plan FROM customers WHERE country = 'NL' ORDER BY id") == before


async def test_a_reapply_that_conflicts_now_fails_changes_nothing_and_can_be_retried(
    world: WorldConfig, sup: Supervisor
) -> None:
    await sup.call("migrate_database", NEW_CUSTOMER)
    await sup.undo(["c1"])
    sql(world, "INSERT INTO customers (name, email, plan) VALUES ('Ada Lovelace', 'ada.again@example.com', 'free')")

    [failed] = await sup.reapply(["c1"])

    assert failed.status == "failed"
    assert "UNIQUE constraint failed: customers.email" in failed.detail
    assert ada(world) == [("Ada Lovelace", "free")], "nothing was applied"
    sql(world, "DELETE FROM customers WHERE email = 'ada.again@example.com'")  # the person makes room

    [retried] = await sup.reapply(["c1"])
    assert retried.status == "reapplied"
    assert ada(world) == [("Ada", "pro")]


# -- git -------------------------------------------------------------------------------------


async def test_a_pr_undone_reapplied_and_undone_again(world: WorldConfig, sup: Supervisor) -> None:
    pr = await sup.call("open_draft_pr", PR)
    await sup.undo(["c1"])
    assert head(world, "feat/gold") is None and [r["state"] for r in prs(world)] == ["closed"]

    tool = OpenDraftPR()
    assert tool.reapply_summary(pr) == (
        f"re-create branch feat/gold at {pr['head_sha'][:12]} and reopen draft PR #{pr['pr_number']}"
    )
    [redone] = await sup.reapply(["c1"])
    assert redone.status == "reapplied", redone.detail
    assert head(world, "feat/gold") == pr["head_sha"], "the branch is back at the agent's commit"
    assert [(r["number"], r["state"]) for r in prs(world)] == [(pr["pr_number"], "draft")], "the same PR, reopened"
    assert redone.receipt == pr

    [undone] = await sup.undo(["c1"])
    assert undone.status == "compensated", undone.detail
    assert head(world, "feat/gold") is None and [r["state"] for r in prs(world)] == ["closed"]


async def test_a_forced_undo_is_reapplied_where_the_branch_was(world: WorldConfig, sup: Supervisor) -> None:
    await sup.call("open_draft_pr", PR)
    theirs = push_commit(world, "feat/gold", "Grace: fix the gold copy")
    await sup.undo(["c1"], force=True)
    assert head(world, "feat/gold") is None

    await sup.reapply(["c1"])

    assert head(world, "feat/gold") == theirs, "Grace's commit is on the branch again"
    assert "deleted_head" not in prs(world)[0]
    [refused] = await sup.undo(["c1"])
    assert refused.status == "refused", "her commit is still protected by the drift check"


async def test_a_branch_created_since_is_not_overwritten(world: WorldConfig, sup: Supervisor) -> None:
    await sup.call("open_draft_pr", PR)
    await sup.undo(["c1"])
    release = head(world, "release")
    assert release is not None
    git(world, "update-ref", "refs/heads/feat/gold", release)  # someone took the name meanwhile

    [failed] = await sup.reapply(["c1"])

    assert failed.status == "failed"
    assert f"a branch 'feat/gold' exists again on origin, at {release[:12]}" in failed.detail
    assert head(world, "feat/gold") == release
    assert [r["state"] for r in prs(world)] == ["closed"]
