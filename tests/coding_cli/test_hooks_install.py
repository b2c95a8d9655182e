"""`agentstop hooks install|uninstall`: agentstop's command hooks in the CLI's own settings, no resident process.

The deny path with the real Claude Code CLI (nothing to interrupt: Stop is the refusal of the next call),
and the exact merge: a settings file agentstop added nothing else to is back byte for byte after uninstall.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from .conftest import CLAUDE, CODEX, agentstop, codex_home, need, report_json
from .fake_models import FakeModelServer, ToolUse, Turn


@pytest.mark.slow
def test_installed_hooks_stop_denies_the_next_call_and_the_model_reads_the_refusal(
    project: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    need(CLAUDE)
    journal = tmp_path / "journal.db"
    installed = agentstop(
        "hooks", "install", "claude-code", "--project", str(project), "--journal", str(journal), env=cli_env
    )
    assert installed.returncode == 0, installed.stderr
    hooks = json.loads((project / ".claude" / "settings.json").read_text())["hooks"]
    assert all(h["onFailure"] == "block" for groups in hooks.values() for g in groups for h in g["hooks"])

    release = threading.Event()
    turns: list[Turn] = [
        [ToolUse("toolu_w1", "Write", {"file_path": str(project / "hello.txt"), "content": "hello\n"})],
        [ToolUse("toolu_w2", "Write", {"file_path": str(project / "after.txt"), "content": "after\n"})],
        "done",
    ]
    with FakeModelServer(turns, hold={1: release}) as model:
        env = {**cli_env, "ANTHROPIC_BASE_URL": model.url}
        process = subprocess.Popen(
            [str(CLAUDE), "-p", "make the files", "--allowedTools", "Write"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Turn 2 is asked for once the Write's result (and so its PostToolUse) is in: Stop lands between.
            assert model.script.wait_asked(1), process.communicate(timeout=5)
            sessions = report_json(journal, env)
            assert sessions["session"]["status"] == "running"  # owned by the live CLI, not marked crashed
            stopped = agentstop("stop", "--journal", str(journal), "--session", "latest", env=env)
            assert stopped.returncode == 0, stopped.stderr
            release.set()
            _out, err = process.communicate(timeout=60)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, err
    assert (project / "hello.txt").read_text() == "hello\n"
    assert not (project / "after.txt").exists()
    told = model.results()["toolu_w2"]
    assert "refused: grant revoked by agentstop stop; nothing was sent" in told, told

    report = report_json(journal, env)
    assert report["session"]["status"] == "stopped"
    assert [i["tool"] for i in report["done"]] == ["Write"]
    assert report["done"][0]["undo"]["available"] is True
    assert [(i["tool"], i["state"]) for i in report["interrupted"]] == [("Write", "rejected")]


USER_SETTINGS = """{
    "permissions": {
        "allow": [
            "Bash(ls:*)"
        ]
    },
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [
                    {
                        "type": "command",
                        "command": "my-own-check"
                    }
                ]
            }
        ]
    }
}"""


def test_claude_code_install_merges_after_the_users_hooks_and_uninstall_restores_the_file_byte_for_byte(
    project: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    settings = project / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(USER_SETTINGS)
    args = ("--project", str(project), "--journal", str(tmp_path / "j.db"))
    for _ in range(2):  # installing twice replaces agentstop's hooks, never doubles them
        assert agentstop("hooks", "install", "claude-code", *args, env=cli_env).returncode == 0
    merged = json.loads(settings.read_text())
    pre = merged["hooks"]["PreToolUse"]
    assert pre[0]["hooks"][0]["command"] == "my-own-check" and len(pre) == 2
    assert merged["permissions"] == {"allow": ["Bash(ls:*)"]}
    assert set(merged["hooks"]) == {"PreToolUse", "PostToolUse", "PostToolUseFailure", "SessionEnd"}
    removed = agentstop("hooks", "uninstall", "claude-code", "--project", str(project), env=cli_env)
    assert removed.returncode == 0, removed.stderr
    assert settings.read_text() == USER_SETTINGS

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert agentstop("hooks", "install", "claude-code", "--project", str(fresh), env=cli_env).returncode == 0
    assert agentstop("hooks", "uninstall", "claude-code", "--project", str(fresh), env=cli_env).returncode == 0
    assert not (fresh / ".claude" / "settings.json").exists()


def test_codex_install_trusts_only_agentstops_hooks_and_uninstall_restores_both_files(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    need(CODEX)
    theirs = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "my-own-stop"}]}]}}
    env = codex_home(cli_env, "http://127.0.0.1:9", hooks=theirs)
    home = Path(env["CODEX_HOME"])
    before = {name: (home / name).read_bytes() for name in ("config.toml", "hooks.json")}
    installed = agentstop("hooks", "install", "codex", "--journal", str(tmp_path / "j.db"), env=env)
    assert installed.returncode == 0, installed.stderr
    config = (home / "config.toml").read_text()
    assert config.startswith(before["config.toml"].decode())
    assert config.count("trusted_hash") == 3  # PreToolUse, PostToolUse, SessionEnd: not the user's Stop hook
    assert "my-own-stop" in (home / "hooks.json").read_text()
    removed = agentstop("hooks", "uninstall", "codex", env=env)
    assert removed.returncode == 0, removed.stderr
    assert {name: (home / name).read_bytes() for name in before} == before
