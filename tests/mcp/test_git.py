"""The reference git server (PyPI `mcp-server-git`) behind the fence: a commit is done, irreversible, its sha kept."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Reversibility, Supervisor
from agentstop.mcp import McpClient, load_mcp_setup

from .conftest import write_task

pytestmark = pytest.mark.anyio

OVERLAY = """
git:
  git_status: {class: read_only}
  git_log: {class: read_only}
  git_add: {class: irreversible, undo_hint: "unstage by hand: git restore --staged FILES"}
  git_commit:
    class: irreversible
    undo_hint: "a commit stays in the history: git revert SHA (or, if nobody has it yet, git reset --soft HEAD~1)"
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real repository with one file not yet added, made with git itself."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.org")
    (path / "hello.txt").write_text("hello, world\n")
    return path


def git_server(tmp_path: Path, repo: Path) -> McpClient:
    if importlib.util.find_spec("mcp_server_git") is None:
        pytest.fail("the git MCP server is not installed: pip install -e '.[test]' (it pins mcp-server-git)")
    args = json.dumps(["-m", "mcp_server_git", "--repository", str(repo)])
    servers = f"git: {{command: {json.dumps(sys.executable)}, args: {args}}}"
    return McpClient.from_setup(load_mcp_setup(write_task(tmp_path, servers, OVERLAY)))


async def test_a_commit_is_done_irreversible_and_its_receipt_carries_the_sha(
    tmp_path: Path, journal: Journal, repo: Path
) -> None:
    async with git_server(tmp_path, repo) as mcp:
        assert mcp.tool("git.git_commit").reversibility is Reversibility.IRREVERSIBLE
        sup = Supervisor(journal, mcp.tools, GrantSpec(tools=["git.*"]))
        await sup.call("git.git_add", {"repo_path": str(repo), "files": ["hello.txt"]})
        await sup.call("git.git_commit", {"repo_path": str(repo), "message": "Say hello"})
        report = await sup.report()
        assert await sup.undo_all() == []
    head = git(repo, "rev-parse", "HEAD")
    assert git(repo, "log", "-1", "--format=%s") == "Say hello"
    assert git(repo, "show", "HEAD:hello.txt") == "hello, world"
    added, committed = report.done
    assert (added.tool, added.state) == ("git.git_add", "committed")
    assert (committed.tool, committed.state, committed.reversibility) == ("git.git_commit", "committed", "irreversible")
    [text] = committed.receipt["result"]["content"]
    assert text["text"] == f"Changes committed successfully with hash {head}"
    assert head in json.dumps(report.to_json()["done"][1]["receipt"])  # what `agentstop report --json` shows
    assert (committed.undo.available, committed.undo.status) == (False, "not_undoable")
    assert committed.undo.detail == (
        "irreversible: a commit stays in the history: git revert SHA "
        "(or, if nobody has it yet, git reset --soft HEAD~1)"
    )
    assert report.undoable == () and report.interrupted == () and report.in_flight == ()
