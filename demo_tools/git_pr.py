"""open_draft_pr: push a branch to the demo origin and open a draft pull request.

prepare clones origin into a private work dir and commits there: nothing is
pushed, nobody sees it. commit pushes the branch and records the PR in
prs.json. The record is written as "pending" before the push and becomes
"draft" after it, so `lookup` can tell, after a crash between the two, whether
the push landed. Records and pushes are serialised by an flock on prs.json.lock.
The undo closes the PR and deletes the branch; before it, `check` refuses when
the branch has moved past the commit the agent pushed (someone else's commits
would be deleted with it), unless the person forces the undo. The re-apply
undoes the undo: it re-creates the branch on origin where it was (the pushed
commit, or where a forced undo found it) and reopens the PR as a draft, the
same PR number; it never overwrites a branch of that name created since.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import anyio
import anyio.to_thread
from pydantic import BaseModel, Field, field_validator

from agentstop import CommitRefused, Reversibility, Tool, ToolContext
from demo_tools.latency import upstream
from demo_tools.local_stores import git_env
from demo_tools.world_config import WorldConfig

__all__ = ["GitError", "OpenDraftPR", "check_branch_name", "check_repo_path"]

_BRANCH_CHARS = re.compile(r"[A-Za-z0-9._/-]+")


class GitError(RuntimeError):
    """Raised when a git command fails; carries the command and git's message."""

    def __init__(self, command: list[str], code: int, stderr: str) -> None:
        self.command = command
        self.code = code
        self.stderr = stderr
        super().__init__(f"git {' '.join(command)} exited {code}: {stderr.strip() or '(no message)'}")


MAX_BRANCH = 200
MAX_PATH = 4096
MAX_PART = 255


def check_branch_name(name: str) -> str:
    """Reject a branch name that is unsafe to hand to git.

    Stricter than git itself (the async `git check-ref-format --branch` in
    prepare is the second check): no option-like names, no whitespace or control
    characters, no `..`, only `[A-Za-z0-9._/-]`.

    Raises:
        ValueError: saying what is wrong with the name.
    """
    if not name:
        raise ValueError("branch name is empty")
    if len(name) > MAX_BRANCH:
        raise ValueError(f"branch name is {len(name)} characters long; at most {MAX_BRANCH} are allowed")
    if name.startswith("-"):
        raise ValueError(f"branch name {name!r} must not start with '-' (git would read it as an option)")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise ValueError(f"branch name {name!r} must not contain spaces or control characters")
    if ".." in name:
        raise ValueError(f"branch name {name!r} must not contain '..'")
    if not _BRANCH_CHARS.fullmatch(name):
        raise ValueError(f"branch name {name!r} may only use letters, digits, '.', '_', '/' and '-'")
    parts = name.split("/")
    if name == "HEAD" or name.endswith(".") or any(not p or p.startswith(".") or p.endswith(".lock") for p in parts):
        raise ValueError(f"branch name {name!r} is not a valid git branch name")
    return name


def check_repo_path(path: str) -> str:
    """Reject a file path that could leave the repository or reach into .git.

    Raises:
        ValueError: saying what is wrong with the path.
    """
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH or any(
        len(part.encode("utf-8", "surrogatepass")) > MAX_PART for part in path.split("/")
    ):
        raise ValueError(
            f"file path {path[:40]!r}… is too long: at most {MAX_PATH} bytes in all and {MAX_PART} per component"
        )
    if not path or any(not ch.isprintable() for ch in path):
        raise ValueError(f"file path {path!r} is empty or contains control characters")
    if "\\" in path:
        raise ValueError(f"file path {path!r} must use '/' separators")
    if path.startswith("/"):
        raise ValueError(f"file path {path!r} must be relative to the repository root, not absolute")
    parts = PurePosixPath(path).parts
    if ".." in parts:
        raise ValueError(f"file path {path!r} must not contain '..' (it would leave the repository)")
    if any(part.lower() == ".git" for part in parts):
        raise ValueError(f"file path {path!r} must not write into .git")
    if path.endswith("/"):
        raise ValueError(f"file path {path!r} names a directory, not a file")
    return path


class OpenDraftPR(Tool):
    """Open a draft pull request from a new branch with the given files."""

    name = "open_draft_pr"
    description = (
        "Push a new branch with the given files (path -> full content) and open a draft pull "
        "request against a base branch (main by default)."
    )
    reversibility = Reversibility.COMPENSABLE
    settle_time = 30.0  # an orphaned `git push` can land after the agent died

    class Args(BaseModel):
        """Arguments of open_draft_pr."""

        branch: str = Field(description="the new branch to push, e.g. 'fix/typo-in-readme'")
        base: str = Field(default="main", description="the branch the PR targets")
        title: str = Field(min_length=1, max_length=200)
        files: dict[str, str] = Field(description="path inside the repo -> full new content")

        @field_validator("branch", "base")
        @classmethod
        def _safe_branch(cls, value: str) -> str:
            return check_branch_name(value)

        @field_validator("files")
        @classmethod
        def _safe_files(cls, value: dict[str, str]) -> dict[str, str]:
            if not value:
                raise ValueError("files is empty: a pull request needs at least one changed file")
            for path in value:
                check_repo_path(path)
            return value

    def resource(self, args: OpenDraftPR.Args) -> str:
        """`git:<base>`, so a grant scope `git:main` limits which branch PRs may target."""
        return f"git:{args.base}"

    def summary(self, args: OpenDraftPR.Args) -> str:
        """`draft PR ship-2.0 → release: “Ship 2.0”`."""
        return f"draft PR {args.branch} → {args.base}: “{args.title}”"

    async def prepare(self, args: OpenDraftPR.Args, ctx: ToolContext) -> dict[str, Any]:
        """Clone origin privately, branch from base, write the files and commit; push nothing.

        Returns:
            {"workdir", "branch", "base", "title", "commit_sha"}.
        """
        world = WorldConfig.load()
        if args.branch == args.base:
            raise ValueError(f"branch {args.branch!r} is the base branch; name a new branch")
        for name in (args.branch, args.base):
            if (await _git("check-ref-format", "--branch", name, check=False)).returncode != 0:
                raise ValueError(f"{name!r} is not a valid git branch name")
        if await _remote_head(world, args.branch) is not None:
            raise ValueError(f"branch {args.branch!r} already exists on origin; choose a new branch name")

        workdir = _workdir(world, ctx.idempotency_key)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))
        workdir.parent.mkdir(parents=True, exist_ok=True)
        try:
            cloned = await _git(
                "clone",
                "--quiet",
                "--single-branch",
                "--branch",
                args.base,
                world.git_remote,
                str(workdir),
                check=False,
            )
            if cloned.returncode != 0:
                raise ValueError(f"base branch {args.base!r} does not exist on origin")
            await _git("switch", "--quiet", "-c", args.branch, cwd=workdir)
            root = workdir.resolve()
            for path, content in args.files.items():
                target = (root / path).resolve()
                # Resolving follows symlinks already in the repo, so a link cannot smuggle a write out.
                if not target.is_relative_to(root) or (root / ".git") in (target, *target.parents):
                    raise ValueError(f"file path {path!r} resolves outside the repository")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content, encoding="utf-8")
            await _git("add", "--", *args.files, cwd=workdir)
            if (await _git("diff", "--cached", "--quiet", cwd=workdir, check=False)).returncode == 0:
                raise ValueError(f"the files are identical to {args.base!r}: there is nothing to propose")
            await _git("commit", "--quiet", "--no-verify", "-m", args.title, cwd=workdir)
            sha = (await _git("rev-parse", "HEAD", cwd=workdir)).stdout.strip()
            await upstream("test_branch")
        except BaseException:
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))
            raise
        return {
            "workdir": str(workdir),
            "branch": args.branch,
            "base": args.base,
            "title": args.title,
            "commit_sha": sha,
        }

    async def commit(self, prepared: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Push the branch and open the draft PR, once per idempotency key.

        Returns:
            {"pr_number", "branch", "base", "head_sha"}.

        Raises:
            CommitRefused: origin refused the push, or the prepared work dir is gone;
                nothing landed.
        """
        world = WorldConfig.load()
        key = ctx.idempotency_key
        branch, sha = prepared["branch"], prepared["commit_sha"]
        await upstream("push_branch")  # before the record: nothing is pending until the push begins
        async with _locked_prs(world) as prs:
            record = _find(prs.records, key)
            if record is not None and record["state"] != "pending":
                return _receipt(record)
            workdir = Path(prepared["workdir"])
            have_workdir = (workdir / ".git").is_dir()
            if record is None:
                if not have_workdir:
                    raise CommitRefused(f"the prepared work dir {workdir} is gone; nothing was pushed")
                record = {
                    "number": max((r["number"] for r in prs.records), default=0) + 1,
                    "branch": branch,
                    "base": prepared["base"],
                    "title": prepared["title"],
                    "state": "pending",
                    "pending_since": time.time(),
                    "head_sha": sha,
                    "key": key,
                }
                prs.records.append(record)
                await prs.save()
            problem = f"the prepared work dir {workdir} is gone"
            if have_workdir:
                pushed = await _git(
                    "push",
                    "--quiet",
                    "--porcelain",
                    f"--force-with-lease=refs/heads/{branch}:",
                    world.git_remote,
                    f"{sha}:refs/heads/{branch}",
                    cwd=workdir,
                    check=False,
                )
                problem = "" if pushed.returncode == 0 else (pushed.stderr.strip() or pushed.stdout.strip())
            # A failed push may have landed on an earlier attempt (crash after push): the remote says.
            if problem and await _remote_head(world, branch) != sha:
                prs.records.remove(record)
                await prs.save()
                raise CommitRefused(f"origin refused the push of {branch!r}: {problem}; nothing landed")
            record["state"] = "draft"
            record.pop("pending_since", None)
            await prs.save()
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))
        return _receipt(record)

    async def discard(self, prepared: dict[str, Any], ctx: ToolContext) -> None:
        """Remove the private work dir; nothing was ever pushed."""
        workdir = Path(prepared["workdir"])
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))

    def undo_summary(self, receipt: dict[str, Any]) -> str:
        """`close draft PR #3 and delete branch ship-2.0 (at 1a2b3c4d5e6f)`."""
        if not isinstance(receipt, dict) or "pr_number" not in receipt:
            return ""
        return (
            f"close draft PR #{receipt['pr_number']} and delete branch {receipt.get('branch', '?')} "
            f"(at {str(receipt.get('head_sha', '?'))[:12]})"
        )

    async def check(self, receipt: dict[str, Any], ctx: ToolContext) -> str | None:
        """Refuse the undo when the PR's branch has commits beyond the one the agent pushed.

        Only reads. A branch already deleted, or still at the pushed commit, is no drift.
        """
        world = WorldConfig.load()
        records = await anyio.to_thread.run_sync(_read_prs, Path(world.prs))
        record = _record_for(records, receipt, ctx)
        if record is None:
            return None  # compensate says there is no such PR
        branch, pushed = record["branch"], record["head_sha"]
        head = await _remote_head(world, branch)
        if head is None or head == pushed:
            return None
        remote = f"--git-dir={world.git_remote}"
        if (await _git(remote, "merge-base", "--is-ancestor", pushed, head, check=False)).returncode != 0:
            return (
                f"branch {branch!r} was rewritten since the agent pushed {pushed[:12]}: it now points at "
                f"{head[:12]}, which does not contain the agent's commit"
            )
        count = (await _git(remote, "rev-list", "--count", f"{pushed}..{head}")).stdout.strip()
        latest = (await _git(remote, "log", "-1", "--format=%s\x1f%an", head)).stdout.strip().split("\x1f")
        by = f" by {latest[1]}" if len(latest) > 1 and latest[1] else ""
        return (
            f"branch {branch!r} has {count} new commit(s) since the agent pushed {pushed[:12]} "
            f"(now at {head[:12]}, latest “{latest[0][:80]}”{by})"
        )

    async def compensate(self, receipt: dict[str, Any], ctx: ToolContext) -> None:
        """Close the PR and delete its branch from origin; already done is success.

        The PR is the one the receipt's pr_number names (ctx may carry the undo's
        own key, `<key>:undo`, as agentstop's undo passes it). A forced undo
        (`ctx.forced`) deletes the branch even if it moved, and keeps the commit
        it pointed at in the PR record (`deleted_head`) so it can be restored.

        Raises:
            RuntimeError: the PR is unknown, or (not forced) its branch moved past
                the PR's head (someone else's commits are not deleted); the PR is
                closed anyway.
        """
        world = WorldConfig.load()
        async with _locked_prs(world) as prs:
            record = _record_for(prs.records, receipt, ctx)
            number = receipt.get("pr_number") if isinstance(receipt, dict) else None
            key = ctx.idempotency_key.removesuffix(":undo")
            if record is None:
                raise RuntimeError(f"no pull request #{number} (key {key}) was opened; there is nothing to undo")
            if record["state"] != "closed":
                record["state"] = "closed"
                await prs.save()
            head = await _remote_head(world, record["branch"])
            if head is None:
                return
            if head != record["head_sha"]:
                if not ctx.forced:
                    raise RuntimeError(
                        f"PR #{record['number']} is closed, but branch {record['branch']!r} moved to {head[:12]} "
                        f"after the PR opened at {record['head_sha'][:12]}; delete it by hand if that is intended"
                    )
                record["deleted_head"] = head  # forced: someone else's commits go, and this says where they were
                await prs.save()
            await _git(f"--git-dir={world.git_remote}", "update-ref", "-d", f"refs/heads/{record['branch']}", head)

    def reapply_summary(self, receipt: dict[str, Any]) -> str:
        """`re-create branch ship-2.0 at 1a2b3c4d5e6f and reopen draft PR #3`."""
        if not isinstance(receipt, dict) or "pr_number" not in receipt:
            return ""
        return (
            f"re-create branch {receipt.get('branch', '?')} at {str(receipt.get('head_sha', '?'))[:12]} and "
            f"reopen draft PR #{receipt['pr_number']}"
        )

    async def reapply(self, receipt: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        """Re-create the deleted branch on origin and reopen the PR as a draft; already done is success.

        The branch comes back where the undo deleted it: at the pushed commit, or,
        after a forced undo, where it had moved to (`deleted_head`), so nobody's
        commits are left unreachable. The commits are still in origin (the undo
        only deleted the ref).

        Returns:
            {"pr_number", "branch", "base", "head_sha"}: the same PR, open again.

        Raises:
            RuntimeError: the PR is unknown; a branch of that name exists again at
                another commit (created since: not overwritten); or the commit is
                gone from origin. Nothing was changed.
        """
        world = WorldConfig.load()
        async with _locked_prs(world) as prs:
            record = _record_for(prs.records, receipt, ctx)
            if record is None:
                number = receipt.get("pr_number") if isinstance(receipt, dict) else None
                raise RuntimeError(f"no pull request #{number} was opened; there is nothing to re-apply")
            branch = record["branch"]
            target = record.get("deleted_head") or record["head_sha"]
            remote = f"--git-dir={world.git_remote}"
            head = await _remote_head(world, branch)
            if head is None:
                if (await _git(remote, "cat-file", "-e", f"{target}^{{commit}}", check=False)).returncode != 0:
                    raise RuntimeError(
                        f"commit {target[:12]} of branch {branch!r} is gone from origin; re-create the branch by hand"
                    )
                # "" as the old value: create only if no branch of that name appeared meanwhile.
                await _git(remote, "update-ref", f"refs/heads/{branch}", target, "")
            elif head != target:
                raise RuntimeError(
                    f"a branch {branch!r} exists again on origin, at {head[:12]}, not the PR's "
                    f"{target[:12]}: someone created it since; it was not overwritten"
                )
            record["state"] = "draft"
            record.pop("deleted_head", None)
            await prs.save()
            return _receipt(record)

    async def lookup(self, ctx: ToolContext) -> dict[str, Any] | None:
        """The receipt of the PR opened with this key, or None when it never landed."""
        world = WorldConfig.load()
        records = await anyio.to_thread.run_sync(_read_prs, Path(world.prs))
        record = _find(records, ctx.idempotency_key)
        if record is None:
            return None
        if record["state"] != "pending":
            return _receipt(record)
        async with _locked_prs(world) as prs:
            record = _find(prs.records, ctx.idempotency_key)
            if record is None:
                return None
            if record["state"] == "pending":
                # A commit cut off between recording and finishing: the remote ref says whether its
                # push landed. Not yet is not never (an orphaned `git push` may still be running), so
                # the pending record stays for a later lookup; `settle_time` tells recovery to wait.
                if await _remote_head(world, record["branch"]) != record["head_sha"]:
                    if time.time() - float(record.get("pending_since", 0)) >= self.settle_time:
                        prs.records.remove(record)  # past the settle time: that push is not coming
                        await prs.save()
                    return None
                record["state"] = "draft"
                record.pop("pending_since", None)
                await prs.save()
            return _receipt(record)


# -- prs.json ------------------------------------------------------------------


class _PRFile:
    """prs.json, loaded while its lock is held; `save` replaces it atomically."""

    def __init__(self, path: Path, records: list[dict[str, Any]]) -> None:
        self.path = path
        self.records = records

    async def save(self) -> None:
        text = json.dumps(self.records, indent=2) + "\n"
        await anyio.to_thread.run_sync(_atomic_write, self.path, text)


@asynccontextmanager
async def _locked_prs(world: WorldConfig) -> AsyncIterator[_PRFile]:
    path = Path(world.prs)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        await anyio.to_thread.run_sync(fcntl.flock, fd, fcntl.LOCK_EX)
        records = await anyio.to_thread.run_sync(_read_prs, path)
        yield _PRFile(path, records)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _read_prs(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records: list[dict[str, Any]] = json.loads(path.read_text() or "[]")
    return records


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _find(records: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((r for r in records if r.get("key") == key), None)


def _record_for(records: list[dict[str, Any]], receipt: Any, ctx: ToolContext) -> dict[str, Any] | None:
    """The PR record the receipt's pr_number names, else the one opened with the call's key."""
    number = receipt.get("pr_number") if isinstance(receipt, dict) else None
    if number is not None:
        return next((r for r in records if r["number"] == number), None)
    return _find(records, ctx.idempotency_key.removesuffix(":undo"))


def _receipt(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "pr_number": record["number"],
        "branch": record["branch"],
        "base": record["base"],
        "head_sha": record["head_sha"],
    }


# -- git -----------------------------------------------------------------------


@dataclass(frozen=True)
class _GitResult:
    """What a git command printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str


async def _git(*args: str, cwd: Path | None = None, check: bool = True) -> _GitResult:
    done = await anyio.run_process(
        ["git", "-c", "protocol.file.allow=always", *args], cwd=cwd, env=git_env(), check=False
    )
    result = _GitResult(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))
    if check and done.returncode != 0:
        raise GitError(list(args), done.returncode, result.stderr)
    return result


async def _remote_head(world: WorldConfig, branch: str) -> str | None:
    done = await _git(
        f"--git-dir={world.git_remote}",
        "rev-parse",
        "--verify",
        "--quiet",
        f"refs/heads/{branch}",
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _workdir(world: WorldConfig, key: str) -> Path:
    safe = key if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key) else hashlib.sha256(key.encode()).hexdigest()[:32]
    return Path(world.dir) / "work" / "git" / safe
