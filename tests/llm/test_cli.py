"""`agentstop run --headless` with a kind-openai task, against the fake server, in a child process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES
from .fake_server import Fail, FakeChatServer, Stream, finish, text, whole_call


def run_cli(tmp_path: Path, server: FakeChatServer) -> subprocess.CompletedProcess[str]:
    shutil.copy(FIXTURES / "fixture_tools.py", tmp_path)
    (tmp_path / "files").mkdir()
    task = tmp_path / "task.yaml"
    task.write_text(
        "\n".join(
            [
                "name: cli model run",
                "goal: Write the notes.",
                f"agent: {{kind: openai, model: fake-model, base_url: '{server.base_url}', max_retries: 0}}",
                "tools: [fixture_tools:WriteFile]",
                "grant: {tools: ['*'], scopes: ['files:*']}",
            ]
        )
        + "\n"
    )
    env = dict(os.environ, FIXTURE_FILES_DIR=str(tmp_path / "files"))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "agentstop",
            "run",
            str(task),
            "--headless",
            "--json",
            "--journal",
            str(tmp_path / "j.db"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("ending", ["answer", "http_500"])
def test_headless_run_of_a_model(ending: str, tmp_path: Path, server: FakeChatServer) -> None:
    server.add(
        Stream(
            [
                *text("Writing ", "the notes."),
                whole_call("call_1", "write_file", {"name": "notes"}),
                finish("tool_calls"),
            ]
        )
    )
    server.add(Stream([*text("Done."), finish()]) if ending == "answer" else Fail(500, "out of memory"))
    done = run_cli(tmp_path, server)

    assert (tmp_path / "files" / "notes.txt").exists()
    assert "agent: Writing the notes." in done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert [c["state"] for c in report["done"]] == ["committed"]
    if ending == "answer":
        assert done.returncode == 0, done.stderr
        assert report["session"]["status"] == "completed"
    else:
        assert done.returncode == 1, done.stderr  # stopped, with the report: not a usage error
        assert report["session"]["status"] == "stopped"
        assert report["session"]["stopped_by"] == "agentstop"
        assert "the server answered HTTP 500 (out of memory)" in report["session"]["stop_reason"]
        assert "agentstop: model 'fake-model' at " in done.stderr
