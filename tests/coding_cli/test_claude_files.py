"""File tools through the real Claude Code: an Edit's undo after a hand edit, and a hook endpoint that is down."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agentstop.adapters.coding_cli.settings import claude_settings

from .conftest import CLAUDE, agentstop, need, report_json
from .fake_models import FakeModelServer, ToolUse

pytestmark = pytest.mark.slow


def test_edit_undone_after_a_hand_edit_is_refused_with_the_reason_and_force_restores(
    project: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    need(CLAUDE)
    journal = tmp_path / "journal.db"
    target = project / "notes.txt"
    target.write_text("alpha\nbeta\n")
    edit = {"file_path": str(target), "old_string": "beta", "new_string": "gamma"}
    with FakeModelServer(
        [[ToolUse("toolu_read", "Read", {"file_path": str(target)})], [ToolUse("toolu_edit", "Edit", edit)], "edited"]
    ) as model:
        env = {**cli_env, "ANTHROPIC_BASE_URL": model.url}
        done = agentstop(
            "claude",
            "--journal",
            str(journal),
            "--",
            "-p",
            "edit it",
            "--allowedTools",
            "Read,Edit",
            env=env,
            cwd=project,
        )
        assert done.returncode == 0, done.stderr
    assert target.read_text() == "alpha\ngamma\n"
    report = report_json(journal, env)
    assert report["session"]["status"] == "completed"
    assert [(i["tool"], i["undo"]["available"]) for i in report["undoable"]] == [("Edit", True)]

    target.write_text("alpha\ngamma\nmy own line\n")  # a person edits the file after the agent
    refused = agentstop("undo", "--journal", str(journal), "--session", "latest", "--all", env=env)
    assert refused.returncode != 0
    assert "edited since the agent wrote it" in refused.stdout + refused.stderr
    assert target.read_text() == "alpha\ngamma\nmy own line\n"

    forced = agentstop("undo", "--journal", str(journal), "--session", "latest", "--all", "--force", env=env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert target.read_text() == "alpha\nbeta\n"


def test_a_hook_endpoint_that_is_down_keeps_the_tool_from_running(
    project: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The settings agentstop generates, pointed at a port nobody serves: onFailure block holds."""
    need(CLAUDE)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(claude_settings("http://127.0.0.1:9/hook")))
    with FakeModelServer(
        [[ToolUse("toolu_w", "Write", {"file_path": str(project / "x.txt"), "content": "x"})], "ok"]
    ) as model:
        env = {**cli_env, "ANTHROPIC_BASE_URL": model.url, "AGENTSTOP_HOOK_SECRET": "k"}
        done = subprocess.run(
            [str(CLAUDE), "-p", "write", "--settings", str(settings), "--allowedTools", "Write"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, done.stderr
        told = model.results().get("toolu_w", "")
    assert not (project / "x.txt").exists()
    assert told, "the model was not told the call was blocked"
