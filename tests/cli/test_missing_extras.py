"""Without an optional extra, the command that needs it says so in one line, with the install command.

The test runs `agentstop` in a process where the MCP SDK and its companions cannot
be imported (as on a machine where `agentstop[mcp]` was never installed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import child_env

BLOCKED = ("mcp", "mcp_types", "jmespath", "jsonschema", "uvicorn")
RUN_WITHOUT_MCP = f"""
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from agentstop.cli import main
main(sys.argv[1:])
"""


def without_mcp(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_MCP, *map(str, args)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )


PROXY = """\
name: notes
journal: ./proxy.db
mcp_servers:
  memory: {command: npx, args: ["-y", "@modelcontextprotocol/server-memory"]}
grant: {tools: ["memory.*"], ttl: 1h}
"""

TASK = """\
name: With a server
goal: Remember.
agent: {kind: scripted, tokens_per_second: 0}
mcp_servers:
  memory: {command: npx, args: ["-y", "@modelcontextprotocol/server-memory"]}
grant: {tools: ["memory.*"], ttl: 1h}
steps:
  - {thought: "Hi."}
"""


def test_mcp_proxy_without_the_mcp_extra_is_one_line_with_the_install_command(tmp_path: Path) -> None:
    task = tmp_path / "proxy.yaml"
    task.write_text(PROXY)

    result = without_mcp("mcp-proxy", "--task", task)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(
        "agentstop: agentstop mcp-proxy needs agentstop's mcp extra, which is not installed (no module named "
    )
    assert result.stderr.strip().endswith("pip install 'agentstop[mcp]'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_task_with_mcp_servers_without_the_extra_is_one_line(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(TASK)

    result = without_mcp("run", task, "--headless", "--journal", tmp_path / "j.db")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith(f"agentstop: {task} (its mcp_servers) needs agentstop's mcp extra")
    assert result.stderr.strip().endswith("pip install 'agentstop[mcp]'")
