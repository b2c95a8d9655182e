"""The real Claude Code and Codex CLIs (installed by .ci/coding-clis.sh), driven against loopback model APIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CLIS = Path(__file__).parent / "clis" / "node_modules" / ".bin"
CLAUDE = CLIS / "claude"
CODEX = CLIS / "codex"


def need(cli: Path) -> str:
    """The CLI's path, or skip saying how to install it."""
    if not cli.exists():
        pytest.skip(f"{cli.name} is not installed here: run .ci/coding-clis.sh (npm ci in tests/coding_cli/clis)")
    return str(cli)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    d = tmp_path / "project"
    d.mkdir()
    return d


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment with a HOME of its own (the CLI writes its transcripts and config there)."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE", "OPENAI_", "CODEX_"))}
    env.update(
        HOME=str(home),
        ANTHROPIC_API_KEY="sk-ant-fake",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        AGENTSTOP_CLAUDE=str(CLAUDE),
        AGENTSTOP_CODEX=str(CODEX),
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    return env


def agentstop(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the `agentstop` command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def report_json(journal: Path, env: dict[str, str]) -> dict[str, Any]:
    done = agentstop("report", "--journal", str(journal), "--json", env=env)
    assert done.returncode in (0, 1), done.stderr
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def codex_home(env: dict[str, str], model_url: str, hooks: dict[str, Any] | None = None) -> dict[str, str]:
    """`env` with a Codex home of the user's whose model provider is the fake Responses API at `model_url`.

    The model is one Codex knows (`gpt-5.5`), so it offers its `apply_patch` tool; the provider reads its key
    from `$OPENAI_API_KEY`. `hooks`: the user's own `hooks.json`, if any.
    """
    home = Path(env["HOME"]) / ".codex"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        'model = "gpt-5.5"\nmodel_provider = "fake"\n\n[model_providers.fake]\nname = "fake"\n'
        f'base_url = "{model_url}/v1"\nwire_api = "responses"\nenv_key = "OPENAI_API_KEY"\n',
        encoding="utf-8",
    )
    if hooks is not None:
        (home / "hooks.json").write_text(json.dumps(hooks), encoding="utf-8")
    return {**env, "CODEX_HOME": str(home), "OPENAI_API_KEY": "sk-fake"}
