"""The story from issue 23 through `agentstop codex`: the real Codex CLI against a loopback Responses API.

Turn 1 patches hello.txt into being (`apply_patch`), turn 2 runs a shell command (`exec_command`, which Codex's
hooks call `Bash`) that writes early.txt, sleeps and would write late.txt, turn 3 would patch after.txt in.
`agentstop stop` from another process once early.txt exists.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CODEX, agentstop, codex_home, need, report_json
from .fake_models import FakeModelServer, ToolUse, Turn
from .test_claude_story import _alive, _wait_for

pytestmark = pytest.mark.slow


def _add(name: str, text: str) -> str:
    return f"*** Begin Patch\n*** Add File: {name}\n+{text}\n*** End Patch\n"


def test_codex_stop_while_shell_sleeps_nothing_lands_after_and_undo_takes_back_the_patch(
    project: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    need(CODEX)
    journal = tmp_path / "journal.db"
    shell = f"echo $$ > {project}/bash.pid; echo early > {project}/early.txt; sleep 30; echo late > {project}/late.txt"
    turns: list[Turn] = [
        [ToolUse("call_patch1", "apply_patch", _add("hello.txt", "hello"))],
        # yield_time_ms: Codex would otherwise hand back a still-running command after 10 s.
        [ToolUse("call_shell2", "exec_command", {"cmd": shell, "yield_time_ms": 60000})],
        [ToolUse("call_patch3", "apply_patch", _add("after.txt", "after"))],
        "done",
    ]
    with FakeModelServer(turns, kind="openai") as model:
        env = codex_home(cli_env, model.url)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentstop",
                "codex",
                "--journal",
                str(journal),
                "--",
                "exec",
                "--skip-git-repo-check",
                "--dangerously-bypass-approvals-and-sandbox",
                "make the files",
            ],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(project / "early.txt", process)
            stopped = agentstop("stop", "--journal", str(journal), "--session", "latest", env=env)
            assert stopped.returncode == 0, stopped.stderr
            _out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 1, err  # agentstop says it was stopped, whatever Codex's own status
        assert not _alive(int((project / "bash.pid").read_text())), "the shell still runs after agentstop codex"
        assert not (project / "late.txt").exists()
        assert not (project / "after.txt").exists()
        assert (project / "hello.txt").read_text() == "hello\n"
        refused = model.results().get("call_patch3")
        assert refused is None or "refused: grant revoked" in refused
        assert not model.script.refused

    report = report_json(journal, env)
    assert report["session"]["status"] == "stopped"
    assert [i["tool"] for i in report["done"]] == ["apply_patch"]
    assert report["done"][0]["undo"]["available"] is True
    flying = [i for i in report["in_flight"] if i["tool"] == "Bash"]
    assert len(flying) == 1 and "may have partly landed" in flying[0]["reason"], report["in_flight"]

    undone = agentstop("undo", "--journal", str(journal), "--session", "latest", "--all", env=env)
    assert undone.returncode in (0, 1), undone.stderr
    assert not (project / "hello.txt").exists()
    assert (project / "early.txt").read_text() == "early\n"  # a shell command is irreversible: what it did stays


@pytest.mark.parametrize("broken", ["endpoint down", "interpreter missing"])
def test_codex_hook_that_cannot_reach_the_fence_blocks_the_tool(
    broken: str, project: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """Codex lets a tool run when its hook exits with anything but 2, or times out: agentstop's exits 2."""
    import anyio

    from agentstop.adapters.coding_cli.codex import codex_command, codex_hooks, fail_closed, prepare_home

    need(CODEX)
    command = (
        codex_command("http://127.0.0.1:9/hook")
        if broken == "endpoint down"
        else fail_closed(f"{tmp_path}/no-such-python -I -S forward.py")
    )
    turns: list[Turn] = [[ToolUse("call_shell1", "exec_command", {"cmd": f"echo ran > {project}/ran.txt"})], "done"]
    with FakeModelServer(turns, kind="openai") as model:
        env = codex_home(cli_env, model.url)
        run_home = tmp_path / "run-home"
        anyio.run(prepare_home, str(CODEX), run_home, codex_hooks(command, 30), project, env, Path(env["CODEX_HOME"]))
        done = subprocess.run(
            [str(CODEX), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "run it"],
            cwd=project,
            env={**env, "CODEX_HOME": str(run_home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        told = model.results().get("call_shell1", "")
    assert not (project / "ran.txt").exists(), done.stderr
    assert "blocked" in told, told
