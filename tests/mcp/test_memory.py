"""The reference memory server (npm) behind the fence: create, Stop, undo restores the file exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Rejected, Reversibility, Supervisor
from agentstop.mcp import McpClient, load_mcp_setup

from .conftest import write_task

pytestmark = pytest.mark.anyio

OVERLAY = """
memory:
  read_graph: {class: read_only}
  open_nodes: {class: read_only}
  create_entities:
    class: reversible
    compensate: {tool: delete_entities, args: {entityNames: {jmes: "result.structured_content.entities[].name"}}}
    probe:
      tool: open_nodes
      args: {names: {jmes: "args.entities[].name"}}
      done_if: "length(result.structured_content.entities) == length(args.entities)"
"""

ADA = {"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]}
GRACE = {"name": "Grace", "entityType": "person", "observations": ["found a moth"]}


def memory_task(tmp_path: Path, memory_js: Path) -> tuple[Path, Path]:
    memory = tmp_path / "memory.jsonl"
    servers = f"""
    memory: {{command: node, args: ["{memory_js}"], env: {{MEMORY_FILE_PATH: "{memory}"}}}}
    """
    return write_task(tmp_path, servers, OVERLAY), memory


async def seed(task: Path) -> None:
    """Grace exists before the agent runs, written by the server itself (so the file is in its own format)."""
    async with McpClient.from_setup(load_mcp_setup(task)) as mcp:
        conn = mcp.connection("memory")
        await conn.call_tool(await conn.client(), "create_entities", {"entities": [GRACE]})


async def test_undo_all_after_stop_restores_the_memory_file_exactly(
    tmp_path: Path, journal: Journal, memory_js: Path
) -> None:
    task, memory = memory_task(tmp_path, memory_js)
    await seed(task)
    before = memory.read_bytes()
    async with McpClient.from_setup(load_mcp_setup(task)) as mcp:
        tool = mcp.tool("memory.create_entities")
        assert tool.reversibility is Reversibility.REVERSIBLE and tool.model_name == "memory__create_entities"
        sup = Supervisor(journal, mcp.tools, GrantSpec(tools=["memory.*"]))
        receipt = await sup.call("memory.create_entities", {"entities": [ADA, {**GRACE, "observations": []}]})
        # The server creates only what is new: the receipt says Ada, so the undo deletes Ada alone.
        assert receipt["result"]["structured_content"] == {"entities": [ADA]}
        assert memory.read_bytes() != before
        await sup.stop("wrong goal")
        with pytest.raises(Rejected):
            await sup.call("memory.create_entities", {"entities": [{**ADA, "name": "Late"}]})
        [undone] = await sup.undo_all()
        assert undone.status == "compensated"
        report = await sup.report()
    assert memory.read_bytes() == before
    assert "Grace" in memory.read_text() and "Late" not in memory.read_text()
    assert [(i.tool, i.state) for i in report.done] == [("memory.create_entities", "compensated")]
    assert [(i.tool, i.state) for i in report.interrupted] == [("memory.create_entities", "discarded")]
