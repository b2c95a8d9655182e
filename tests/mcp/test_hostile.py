"""A misbehaving MCP server (written with the SDK's server API) behind the fence: every outcome is told honestly."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Reversibility, Supervisor, ToolFailed
from agentstop.mcp import META_CALL_ID, META_KEY, META_SESSION, McpClient, load_mcp_setup

from .conftest import FixtureServer, write_task

pytestmark = pytest.mark.anyio

PROBE = """{tool: read_note, args: {name: {jmes: args.name}}, done_if: "result.structured_content.exists"}"""


def client(tmp_path: Path, server: FixtureServer, overlay: str | None = None, **entry: str) -> McpClient:
    return McpClient.from_setup(load_mcp_setup(write_task(tmp_path, server.entry(**entry), overlay)))


async def test_a_tool_that_claims_read_only_but_writes_is_irreversible_unless_trusted(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server) as mcp:
        peek = mcp.tool("fixture.peek")
        assert peek.reversibility is Reversibility.IRREVERSIBLE
        assert "The server claims: read-only, not destructive, idempotent" in peek.description
        sup = Supervisor(journal, mcp.tools, GrantSpec(tools=["fixture.*"]))
        await sup.call("fixture.peek", {"name": "diary"})
        report = await sup.report()
    assert fixture_server.note("diary") == "peeked\n"  # it wrote, whatever it claimed
    [item] = report.done
    assert (item.reversibility, item.undo.available) == ("irreversible", False)
    assert "server hints not trusted" in item.undo.detail and "claims it is read-only" in item.undo.detail


async def test_trusted_annotations_make_read_only_claims_read_only(
    tmp_path: Path, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server, extra="trust_annotations: true") as mcp:
        assert mcp.tool("fixture.peek").reversibility is Reversibility.READ_ONLY
        # A claim describes an effect but cannot supply its undo: writes stay irreversible without one.
        assert mcp.tool("fixture.write_note").reversibility is Reversibility.IRREVERSIBLE


@pytest.mark.slow  # starts the server twice
async def test_a_server_that_crashes_mid_call_leaves_the_call_unknown(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        with pytest.raises(ToolFailed, match="outcome unknown"):
            await sup.call("fixture.crash_after_write", {"name": "a", "text": "landed"})
        report = await sup.report()
        [item] = report.in_flight
        assert item.state == "unknown" and "Connection closed" in (item.reason or "")
        # The next call starts the server again; nothing was lost or repeated.
        await sup.call("fixture.read_note", {"name": "a"})
        assert mcp.connection("fixture").connects == 2
    assert fixture_server.note("a") == "landed"


@pytest.mark.slow  # starts the server twice
async def test_the_probe_settles_a_call_whose_server_crashed_mid_call(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    overlay = f"""
    fixture:
      read_note: {{class: read_only}}
      crash_after_write: {{probe: {PROBE}}}
    """
    async with client(tmp_path, fixture_server, overlay) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        receipt = await sup.call("fixture.crash_after_write", {"name": "a", "text": "landed"})
        report = await sup.report()
    assert receipt["settled_by"] == "probe" and receipt["probe"]["structured_content"]["text"] == "landed"
    [item] = report.done
    assert item.state == "committed"


async def test_a_tool_whose_definition_changes_mid_run_is_refused_until_approved(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        await sup.call("fixture.write_note", {"name": "a", "text": "one"})
        await sup.call("fixture.mutate", {})  # the server changes write_note and announces list_changed
        with pytest.raises(ToolFailed, match="description changed since the session started; nothing was sent"):
            await sup.call("fixture.write_note", {"name": "a", "text": "two"})
        assert mcp.changed == {"fixture.write_note": ["description"]}
        assert fixture_server.note("a") == "one"
        await mcp.approve_definition("fixture.write_note")
        await sup.call("fixture.write_note", {"name": "a", "text": "three"})
        assert "(v2)" in mcp.tool("fixture.write_note").description
        report = await sup.report()
    assert fixture_server.note("a") == "three"
    assert [c["tool"] for c in fixture_server.calls()] == ["write_note", "mutate", "write_note"]
    assert [i.state for i in report.interrupted] == ["failed"]
    assert "nothing was issued" in (report.interrupted[0].reason or "")


async def test_an_error_result_is_a_refusal_with_nothing_landed(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        with pytest.raises(ToolFailed, match=r"the tool answered with an error: .*quota exceeded"):
            await sup.call("fixture.refuse", {"name": "a"})
        report = await sup.report()
    [item] = report.interrupted
    assert item.state == "failed" and "nothing landed" in (item.reason or "")


async def test_an_error_that_may_have_had_an_effect_is_probed_and_can_be_undone(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    overlay = f"""
    fixture:
      read_note: {{class: read_only}}
      half_fail:
        class: compensable
        errors_may_have_effects: true
        probe: {PROBE}
        compensate: {{tool: delete_note, args: {{name: {{jmes: args.name}}}}}}
    """
    async with client(tmp_path, fixture_server, overlay) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        receipt = await sup.call("fixture.half_fail", {"name": "a"})
        assert receipt["settled_by"] == "probe" and fixture_server.note("a") == "partial"
        [undone] = await sup.undo_all()
    assert undone.status == "compensated" and fixture_server.note("a") is None


async def test_invalid_params_from_the_server_mean_nothing_ran(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        with pytest.raises(ToolFailed, match=r"unknown field 'color' \(JSON-RPC -32602\); the tool did not run"):
            await sup.call("fixture.reject_params", {"color": "red"})
        [item] = (await sup.report()).interrupted
    assert item.state == "failed"


async def test_a_result_that_breaks_its_output_schema_is_unknown_not_failed(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        with pytest.raises(ToolFailed, match="outcome unknown"):
            await sup.call("fixture.bad_output", {"name": "a"})
        [item] = (await sup.report()).in_flight
    assert item.state == "unknown" and "invalid result" in (item.reason or "")
    assert fixture_server.note("a") == "counted"  # it did land: calling it "failed" would have been a lie


async def test_arguments_are_checked_against_the_input_schema_before_anything_is_prepared(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        with pytest.raises(Exception, match=r"name: 'Not A Name' does not match"):
            await sup.call("fixture.write_note", {"name": "Not A Name", "text": "x"})
        assert mcp.tool("fixture.write_note").Args.model_json_schema()["required"] == ["name", "text"]
        [item] = (await sup.report()).interrupted
    assert item.state == "rejected" and fixture_server.calls() == []


async def test_each_call_carries_its_idempotency_key_in_meta(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    async with client(tmp_path, fixture_server) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        await sup.call("fixture.write_note", {"name": "a", "text": "x"}, key="k-123")
    [call] = fixture_server.calls()
    assert call["meta"][META_KEY] == "k-123"
    assert call["meta"][META_CALL_ID] == "c1" and call["meta"][META_SESSION] == sup.session_id


async def test_capture_lets_the_undo_restore_an_overwritten_note(
    tmp_path: Path, journal: Journal, fixture_server: FixtureServer
) -> None:
    overlay = """
    fixture:
      read_note: {class: read_only}
      write_note:
        class: compensable
        capture: [{tool: read_note, args: {name: {jmes: args.name}}, as: before}]
        compensate:
          tool: write_note
          args: {name: {jmes: args.name}, text: {jmes: capture.before.structured_content.text}}
    """
    (fixture_server.state / "notes").mkdir()
    (fixture_server.state / "notes" / "old").write_text("the original")
    async with client(tmp_path, fixture_server, overlay) as mcp:
        sup = Supervisor(journal, mcp.tools, GrantSpec())
        await sup.call("fixture.write_note", {"name": "old", "text": "overwritten"})
        await sup.call("fixture.write_note", {"name": "new", "text": "fresh"})
        results = {r.call_id: r for r in await sup.undo_all()}
    assert fixture_server.note("old") == "the original"
    assert results["c1"].status == "compensated"
    # A note that did not exist has no captured text to restore: the undo says so instead of guessing.
    assert results["c2"].status == "failed" and "text came out null" in results["c2"].detail
    assert fixture_server.note("new") == "fresh"


async def test_every_page_of_tools_is_read(tmp_path: Path, fixture_server: FixtureServer) -> None:
    async with client(tmp_path, fixture_server, mode="paginate") as mcp:
        names = [t.name for t in mcp.tools]
    assert len(names) == 11 and names[0] == "fixture.write_note" and names[-1] == "fixture.slow_write"
