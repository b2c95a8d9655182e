"""agentstop.mcp's surface: what it exports, and what importing its config costs."""

from __future__ import annotations

import subprocess
import sys

import agentstop.mcp


def test_every_exported_name_resolves() -> None:
    for name in agentstop.mcp.__all__:
        assert getattr(agentstop.mcp, name) is not None, name


def test_the_config_models_load_without_the_sdk_or_textual() -> None:
    # The task file's models use ServerConfig: loading a task must not need the `mcp` extra, nor the TUI.
    code = (
        "import sys, agentstop.mcp.config; heavy = [m for m in ('mcp', 'mcp_types', 'jmespath', 'textual') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
