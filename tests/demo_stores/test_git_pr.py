"""open_draft_pr: nothing pushed until commit, one PR per key, undo closes it and deletes the branch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agentstop import CommitRefused, Reversibility
from demo_tools.git_pr import OpenDraftPR, check_branch_name, check_repo_path
from demo_tools.local_stores import git_env
from demo_tools.world_config import WorldConfig

from .conftest import MakeCtx, undo_ctx

pytestmark = pytest.mark.anyio


def _git(world: WorldConfig, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", f"--git-dir={world.git_remote}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=git_env(),
        check=False,
    )


def _remote_head(world: WorldConfig, branch: str) -> str | None:
    done = _git(world, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
    return done.stdout.strip() if done.returncode == 0 else None


def _prs(world: WorldConfig) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(Path(world.prs).read_text())
    return records


def _args(**over: Any) -> OpenDraftPR.Args:
    fields: dict[str, Any] = {
        "branch": "docs/readme-typo",
        "title": "Fix a typo in the README",
        "files": {"README.md": "# acme-app\n\nFixed.\n", "docs/notes.md": "notes\n"},
    }
    return OpenDraftPR.Args(**(fields | over))


async def test_prepare_pushes_nothing(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)

    assert _remote_head(world, "docs/readme-typo") is None
    assert _prs(world) == []
    assert Path(prepared["workdir"]).is_relative_to(world.dir)
    assert (Path(prepared["workdir"]) / "docs" / "notes.md").read_text() == "notes\n"
    assert set(prepared) == {"workdir", "branch", "base", "title", "commit_sha"}
    await tool.discard(prepared, ctx)


async def test_commit_pushes_the_branch_and_opens_a_draft(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    receipt = await tool.commit(prepared, ctx)

    sha = prepared["commit_sha"]
    assert receipt == {"pr_number": 1, "branch": "docs/readme-typo", "base": "main", "head_sha": sha}
    assert _remote_head(world, "docs/readme-typo") == sha
    assert _git(world, "show", f"{sha}:README.md").stdout == "# acme-app\n\nFixed.\n"
    assert _git(world, "rev-parse", f"{sha}^").stdout.strip() == _remote_head(world, "main")
    assert _prs(world) == [
        {
            "number": 1,
            "branch": "docs/readme-typo",
            "base": "main",
            "title": "Fix a typo in the README",
            "state": "draft",
            "head_sha": sha,
            "key": ctx.idempotency_key,
        }
    ]
    assert not Path(prepared["workdir"]).exists()


async def test_second_commit_with_the_same_key_opens_no_second_pr(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    first = await tool.commit(prepared, ctx)
    again = await tool.commit(prepared, ctx)

    assert again == first
    assert len(_prs(world)) == 1


async def test_lookup_finds_the_pr_and_nothing_for_an_unknown_key(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)

    assert await tool.lookup(ctx) == receipt
    assert await tool.lookup(make_ctx(tool, args)) is None


async def test_lookup_settles_a_commit_cut_off_between_record_and_push(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
    records = _prs(world)
    records[0]["state"] = "pending"
    Path(world.prs).write_text(json.dumps(records))

    assert await tool.lookup(ctx) == receipt  # the branch is on origin: the push landed
    assert _prs(world)[0]["state"] == "draft"

    records[0]["state"] = "pending"
    Path(world.prs).write_text(json.dumps(records))
    _git(world, "update-ref", "-d", "refs/heads/docs/readme-typo")
    assert await tool.lookup(ctx) is None  # recorded long ago (no pending_since), never pushed: gone
    assert _prs(world) == []


async def test_compensate_closes_the_pr_and_deletes_the_branch_twice_over(
    world: WorldConfig, make_ctx: MakeCtx
) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)

    await tool.compensate(receipt, undo_ctx(ctx))
    await tool.compensate(receipt, undo_ctx(ctx, attempt=2))
    await tool.compensate({}, ctx)  # without a receipt, the call's own key finds the PR

    assert _remote_head(world, "docs/readme-typo") is None
    assert [r["state"] for r in _prs(world)] == ["closed"]
    assert await tool.lookup(ctx) == receipt  # it did land; the undo is a separate fact
    assert _remote_head(world, "main") is not None


async def test_compensate_keeps_a_branch_someone_else_moved(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
    release = _remote_head(world, "release")
    assert release is not None
    _git(world, "update-ref", "refs/heads/docs/readme-typo", release)

    with pytest.raises(RuntimeError, match="moved"):
        await tool.compensate(receipt, undo_ctx(ctx))
    assert _remote_head(world, "docs/readme-typo") == release
    assert _prs(world)[0]["state"] == "closed"


async def test_discard_removes_the_workdir(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    await tool.discard(prepared, ctx)

    assert not Path(prepared["workdir"]).exists()
    assert _remote_head(world, "docs/readme-typo") is None
    assert _prs(world) == []


async def test_commit_refused_when_the_branch_appeared_meanwhile(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    main = _remote_head(world, "main")
    assert main is not None
    _git(world, "update-ref", "refs/heads/docs/readme-typo", main)

    with pytest.raises(CommitRefused, match="refused the push"):
        await tool.commit(prepared, ctx)
    assert _remote_head(world, "docs/readme-typo") == main
    assert _prs(world) == []
    assert await tool.lookup(ctx) is None
    await tool.discard(prepared, ctx)


async def test_commit_refused_when_the_prepared_workdir_is_gone(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args()
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    await tool.discard(prepared, ctx)

    with pytest.raises(CommitRefused, match="gone"):
        await tool.commit(prepared, ctx)
    assert _prs(world) == []


async def test_pr_against_release_is_scoped_to_git_release(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool, args = OpenDraftPR(), _args(base="release", files={"CHANGELOG.md": "# Changelog\n"})
    assert tool.resource(args) == "git:release"
    assert tool.resource(_args()) == "git:main"
    ctx = make_ctx(tool, args)
    prepared = await tool.prepare(args, ctx)
    receipt = await tool.commit(prepared, ctx)
    assert receipt["base"] == "release"
    assert _git(world, "rev-parse", f"{prepared['commit_sha']}^").stdout.strip() == _remote_head(world, "release")
    assert tool.reversibility is Reversibility.COMPENSABLE


async def test_prepare_refuses_an_existing_branch_or_a_missing_base(world: WorldConfig, make_ctx: MakeCtx) -> None:
    tool = OpenDraftPR()
    with pytest.raises(ValueError, match="already exists"):
        await tool.prepare(_args(branch="release"), make_ctx(tool, None))
    with pytest.raises(ValueError, match="does not exist on origin"):
        await tool.prepare(_args(base="nope"), make_ctx(tool, None))
    same = _git(world, "show", "main:README.md").stdout
    with pytest.raises(ValueError, match="nothing to propose"):
        await tool.prepare(_args(files={"README.md": same}), make_ctx(tool, None))
    assert not list((Path(world.dir) / "work" / "git").iterdir())


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../../etc/passwd", r"\.\."),
        ("docs/../../outside", r"\.\."),
        ("/etc/passwd", "absolute"),
        (".git/hooks/pre-commit", r"\.git"),
        ("sub/.GIT/config", r"\.git"),
        ("..\\evil", "separators"),
        ("", "empty"),
        ("a\x00b", "control"),
        ("docs/", "directory"),
    ],
)
def test_hostile_file_paths_are_rejected(path: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        _args(files={path: "x"})


@pytest.mark.parametrize(
    ("branch", "reason"),
    [
        ("--upload-pack=x", "must not start with '-'"),
        ("-b", "must not start with '-'"),
        ("has space", "spaces"),
        ("tab\there", "spaces"),
        ("bell\x07", "control"),
        ("a..b", r"'\.\.'"),
        ("feat~1", "may only use"),
        ("x@{-1}", "may only use"),
        ("ends.lock", "not a valid"),
        ("HEAD", "not a valid"),
        ("", "empty"),
    ],
)
def test_hostile_branch_names_are_rejected(branch: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        _args(branch=branch)
    with pytest.raises(ValidationError, match=reason):
        _args(base=branch)


def test_empty_files_are_rejected() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        _args(files={})


async def test_symlink_in_base_cannot_carry_a_write_out(world: WorldConfig, make_ctx: MakeCtx) -> None:
    outside = Path(world.dir) / "outside"
    outside.mkdir()
    blob = _git(world, "hash-object", "-w", "--stdin", stdin=str(outside)).stdout.strip()
    tree = _git(world, "mktree", stdin=f"120000 blob {blob}\tescape\n").stdout.strip()
    commit = _git(world, "commit-tree", tree, "-m", "a symlink pointing out of the repo").stdout.strip()
    _git(world, "update-ref", "refs/heads/linked", commit)

    tool = OpenDraftPR()
    args = _args(base="linked", files={"escape/pwned.txt": "x"})
    with pytest.raises(ValueError, match="outside the repository"):
        await tool.prepare(args, make_ctx(tool, args))
    assert not (outside / "pwned.txt").exists()


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab./-_~^:@{} \\", min_size=1, max_size=12))
def test_every_accepted_branch_name_is_one_git_accepts(name: str) -> None:
    try:
        check_branch_name(name)
    except ValueError:
        return
    done = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, env=git_env())
    assert done.returncode == 0, name


@settings(max_examples=200)
@given(st.text(alphabet="a./\\-", min_size=1, max_size=16))
def test_every_accepted_file_path_stays_inside_the_repo(path: str) -> None:
    try:
        check_repo_path(path)
    except ValueError:
        return
    root = Path("/repo")
    assert (root / path).resolve().is_relative_to(root), path
