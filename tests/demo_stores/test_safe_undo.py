"""Safe undo of the local-store tools: a branch with new commits, a row changed since the migration.

The drift is made the way people make it: a commit pushed onto the PR's branch,
an UPDATE from another connection. The undo is refused with what changed and the
world is left alone; forced, it goes through.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agentstop import GrantSpec, Journal, Supervisor
from agentstop.supervisor.undo import UNDO_REFUSED
from demo_tools.database import MigrateDatabase
from demo_tools.git_pr import OpenDraftPR
from demo_tools.local_stores import git_env
from demo_tools.world_config import WorldConfig

from .conftest import MakeCtx, undo_ctx

pytestmark = pytest.mark.anyio

PR = {"branch": "feat/gold", "title": "Gold tier", "files": {"gold.md": "gold\n"}}
GOLD_NL = {"statements": ["UPDATE customers SET plan = 'gold' WHERE country = 'NL'"], "description": "gold for NL"}


@pytest.fixture
async def sup(world: WorldConfig, journal: Journal) -> AsyncIterator[Supervisor]:
    migrate = MigrateDatabase()
    try:
        yield Supervisor(journal, [OpenDraftPR(), migrate], GrantSpec(scopes=["git:*", "db:*"]))
    finally:
        migrate.close()


def git(world: WorldConfig, *args: str, who: str = "Grace Hopper") -> str:
    env = git_env() | {"GIT_AUTHOR_NAME": who, "GIT_COMMITTER_NAME": who}
    done = subprocess.run(
        ["git", f"--git-dir={world.git_remote}", *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def push_commit(world: WorldConfig, branch: str, message: str) -> str:
    """A commit on top of the branch, pushed by someone else (plumbing on the bare origin)."""
    head = git(world, "rev-parse", f"refs/heads/{branch}")
    new = git(world, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", message)
    git(world, "update-ref", f"refs/heads/{branch}", new, head)
    return new


def head(world: WorldConfig, branch: str) -> str | None:
    done = subprocess.run(
        ["git", f"--git-dir={world.git_remote}", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
        env=git_env(),
        check=False,
    )
    return done.stdout.strip() or None


def prs(world: WorldConfig) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(Path(world.prs).read_text())
    return records


def sql(world: WorldConfig, statement: str) -> list[tuple[Any, ...]]:
    """Another connection to production, the way a person or another service writes to it."""
    with closing(sqlite3.connect(world.database, isolation_level=None, timeout=2)) as conn:
        return conn.execute(statement).fetchall()


async def refusals(journal: Journal, sup: Supervisor) -> list[tuple[str | None, str]]:
    return [(e.call_id, e.data["reason"]) for e in await journal.events(sup.session_id) if e.kind == UNDO_REFUSED]


# -- git -------------------------------------------------------------------------------------


async def test_a_branch_with_new_commits_is_not_deleted_unless_forced(
    world: WorldConfig, journal: Journal, sup: Supervisor
) -> None:
    pr = await sup.call("open_draft_pr", PR)
    theirs = push_commit(world, "feat/gold", "Grace: fix the gold copy")

    [result] = await sup.undo(["c1"])

    assert result.status == "refused"
    assert result.drift == (
        f"branch 'feat/gold' has 1 new commit(s) since the agent pushed {pr['head_sha'][:12]} "
        f"(now at {theirs[:12]}, latest “Grace: fix the gold copy” by Grace Hopper)"
    )
    assert head(world, "feat/gold") == theirs, "Grace's commit is still on the branch"
    assert [r["state"] for r in prs(world)] == ["draft"], "the PR was not even closed"
    assert await refusals(journal, sup) == [("c1", result.drift)]
    assert (await journal.call(sup.session_id, "c1")).state == "committed"

    [forced] = await sup.undo(["c1"], force=True)

    assert forced.status == "compensated"
    assert head(world, "feat/gold") is None
    [record] = prs(world)
    assert record["state"] == "closed"
    assert record["deleted_head"] == theirs, "where Grace's commit was is kept, to restore it by hand"


async def test_a_rewritten_branch_is_refused_too(world: WorldConfig, sup: Supervisor) -> None:
    pr = await sup.call("open_draft_pr", PR)
    release = head(world, "release")
    assert release is not None
    git(world, "update-ref", "refs/heads/feat/gold", release)  # a force-push of something else

    [result] = await sup.undo(["c1"])

    assert result.status == "refused"
    assert result.drift == (
        f"branch 'feat/gold' was rewritten since the agent pushed {pr['head_sha'][:12]}: it "
        f"now points at {release[:12]}, which does not contain the agent's commit"
    )
    assert head(world, "feat/gold") == release


async def test_the_git_check_only_reads_and_an_untouched_branch_passes(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool = OpenDraftPR()
    args = OpenDraftPR.Args.model_validate(PR)
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
    sha = receipt["head_sha"]
    assert tool.undo_summary(receipt) == f"close draft PR #1 and delete branch feat/gold (at {sha[:12]})"
    records = Path(world.prs).read_text()

    assert await tool.check(receipt, undo_ctx(ctx)) is None
    theirs = push_commit(world, "feat/gold", "more")
    assert await tool.check(receipt, undo_ctx(ctx)) is not None
    assert (Path(world.prs).read_text(), head(world, "feat/gold")) == (records, theirs), "the check only read"
    git(world, "update-ref", "-d", "refs/heads/feat/gold")
    assert await tool.check(receipt, undo_ctx(ctx)) is None, "a branch already gone is no drift"


# -- database --------------------------------------------------------------------------------


async def test_a_row_changed_since_the_migration_is_not_reverted_unless_forced(
    world: WorldConfig, journal: Journal, sup: Supervisor
) -> None:
    await sup.call("migrate_database", GOLD_NL)
    sql(world, "UPDATE customers SET plan = 'enterprise' WHERE id = 5")  # sales upgraded Edsger meanwhile

    [result] = await sup.undo(["c1"])

    assert result.status == "refused"
    assert result.drift == "rows the migration wrote were changed since: row 5 of customers: plan 'gold' → 'enterprise'"
    assert sql(world, "SELECT plan FROM customers WHERE id = 5") == [("enterprise",)]
    assert sql(world, "SELECT count(*) FROM audit WHERE kind = 'revert'") == [(0,)]
    assert await refusals(journal, sup) == [("c1", result.drift)]

    [forced] = await sup.undo(["c1"], force=True)

    assert forced.status == "compensated"
    assert sql(world, "SELECT plan FROM customers WHERE id = 5") == [("free",)], "the before-image, as forced"


async def test_a_deleted_row_and_several_changes_are_all_named(world: WorldConfig, sup: Supervisor) -> None:
    await sup.call(
        "migrate_database",
        {
            "description": "two new customers and gold for GB",
            "statements": [
                "INSERT INTO customers (name, email, country) VALUES ('Barbara Liskov', 'barbara@example.com', 'US')",
                "INSERT INTO customers (name, email, country) VALUES ('Frances Allen', 'frances@example.com', 'US')",
                "UPDATE customers SET plan = 'gold' WHERE country = 'GB'",
            ],
        },
    )
    sql(world, "DELETE FROM customers WHERE email = 'barbara@example.com'")
    sql(world, "UPDATE customers SET country = 'IE', plan = 'pro' WHERE id = 1")

    [result] = await sup.undo(["c1"])

    assert result.status == "refused"
    assert result.drift.startswith("rows the migration wrote were changed since: ")
    assert "row 1 of customers: plan 'gold' → 'pro'" in result.drift
    assert "row 1 of customers: country 'GB' → 'IE'" in result.drift
    assert "row 6 of customers was deleted" in result.drift


async def test_the_agents_own_later_migration_is_drift_for_an_earlier_one_until_it_is_undone(
    world: WorldConfig, sup: Supervisor
) -> None:
    await sup.call("migrate_database", GOLD_NL)
    await sup.call(
        "migrate_database",
        {
            "description": "platinum for NL",
            "statements": ["UPDATE customers SET plan = 'platinum' WHERE country = 'NL'"],
        },
    )

    [alone] = await sup.undo(["c1"])
    assert alone.status == "refused" and "plan 'gold' → 'platinum'" in alone.drift

    results = await sup.undo_all()  # latest first: c2 puts 'gold' back, then c1 finds its own write and reverts it
    assert [(r.call_id, r.status) for r in results] == [("c2", "compensated"), ("c1", "compensated")]
    assert sql(world, "SELECT plan FROM customers WHERE id = 5") == [("free",)]


async def test_the_revert_checks_again_in_its_own_transaction(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool = MigrateDatabase()
    try:
        args = MigrateDatabase.Args.model_validate(GOLD_NL)
        ctx = make_ctx(tool, args)
        receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
        assert tool.undo_summary(receipt) == (
            f"revert “gold for NL” (audit #{receipt['audit_id']}): restore or remove the 1 row(s) it changed"
        )
        assert await tool.check(receipt, undo_ctx(ctx)) is None
        sql(world, "UPDATE customers SET plan = 'enterprise' WHERE id = 5")  # after the check, before the revert

        with pytest.raises(RuntimeError, match="not reverted: rows the migration wrote were changed since"):
            await tool.compensate(receipt, undo_ctx(ctx))
        assert sql(world, "SELECT plan FROM customers WHERE id = 5") == [("enterprise",)]

        await tool.compensate(receipt, replace(undo_ctx(ctx), forced=True))
        assert sql(world, "SELECT plan FROM customers WHERE id = 5") == [("free",)]
        assert await tool.check(receipt, undo_ctx(ctx)) is None, "a migration already reverted is no drift"
    finally:
        tool.close()


# -- both, in one undo all ---------------------------------------------------------------------


async def test_undo_all_goes_on_past_a_refused_pr(world: WorldConfig, journal: Journal, sup: Supervisor) -> None:
    await sup.call("migrate_database", GOLD_NL)
    await sup.call("open_draft_pr", PR)
    await sup.call(
        "migrate_database",
        {"description": "gold for US", "statements": ["UPDATE customers SET plan = 'gold' WHERE country = 'US'"]},
    )
    theirs = push_commit(world, "feat/gold", "Grace: more gold")

    results = await sup.undo_all()

    assert [(r.call_id, r.tool, r.status) for r in results] == [
        ("c3", "migrate_database", "compensated"),
        ("c2", "open_draft_pr", "refused"),
        ("c1", "migrate_database", "compensated"),
    ]
    assert sql(world, "SELECT count(*) FROM customers WHERE plan = 'gold'") == [(0,)]
    assert head(world, "feat/gold") == theirs
    report = await sup.report()
    assert [i.call_id for i in report.undoable] == ["c2"]
