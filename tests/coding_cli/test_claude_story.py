"""The story from issue 23, with the real Claude Code CLI against a loopback Messages API.

Turn 1 writes hello.txt, turn 2 runs a Bash that writes early.txt, sleeps and would write late.txt, turn 3
would write after.txt. `agentstop stop` from another process while the Bash sleeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import CLAUDE, agentstop, need, report_json
from .fake_models import FakeModelServer, ToolUse, Turn

pytestmark = pytest.mark.slow


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Poll for a file the Bash writes (the race is controlled by the file, not by a sleep)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_stop_while_bash_sleeps_nothing_lands_after_and_undo_takes_back_the_write(
    project: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    need(CLAUDE)
    journal = tmp_path / "journal.db"
    bash = f"echo $$ > {project}/bash.pid; echo early > {project}/early.txt; sleep 30; echo late > {project}/late.txt"
    turns: list[Turn] = [
        [ToolUse("toolu_write1", "Write", {"file_path": str(project / "hello.txt"), "content": "hello\n"})],
        [ToolUse("toolu_bash2", "Bash", {"command": bash, "description": "slow"})],
        [ToolUse("toolu_write3", "Write", {"file_path": str(project / "after.txt"), "content": "after\n"})],
        "done",
    ]
    with FakeModelServer(turns) as model:
        env = {**cli_env, "ANTHROPIC_BASE_URL": model.url}
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentstop",
                "claude",
                "--journal",
                str(journal),
                "--",
                "-p",
                "make the files",
                "--allowedTools",
                "Write,Bash,Edit",
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
        assert process.returncode == 1, err  # claude -p exits 0 after SIGINT; agentstop says it was stopped
        bash_pid = int((project / "bash.pid").read_text())
        assert not _alive(bash_pid), "the Bash still runs after agentstop claude returned"
        # The Bash is dead, so late.txt can never be written; after.txt's call never passed the fence.
        assert not (project / "late.txt").exists()
        assert not (project / "after.txt").exists()
        assert (project / "hello.txt").read_text() == "hello\n"
        refused = model.results().get("toolu_write3")
        assert refused is None or "refused: grant revoked" in refused

    report = report_json(journal, env)
    assert report["session"]["status"] == "stopped"
    done = {i["tool"]: i for i in report["done"]}
    assert done["Write"]["undo"]["available"] is True
    assert [i["tool"] for i in report["done"]] == ["Write"]
    flying = [i for i in report["in_flight"] if i["tool"] == "Bash"]
    assert len(flying) == 1 and "may have partly landed" in flying[0]["reason"], report["in_flight"]
    assert "Stop" in err or "stopped" in err

    undone = agentstop("undo", "--journal", str(journal), "--session", "latest", "--all", env=env)
    assert undone.returncode in (0, 1), undone.stderr
    assert not (project / "hello.txt").exists()
    assert (project / "early.txt").read_text() == "early\n"  # Bash is irreversible: what it did stays
