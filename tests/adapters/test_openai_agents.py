"""The OpenAI Agents SDK's own Runner, with its tools behind the fence, against a strict loopback model.

The model is the SDK's `OpenAIChatCompletionsModel` over a real `AsyncOpenAI`
client, talking to the fake Chat Completions server in strict-transcript mode:
like the real API, it answers 400 to a conversation with a tool call nobody
answered, or a tool message answering no call.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import openai
import pytest
from agents import (
    Agent,
    FunctionTool,
    ModelSettings,
    OpenAIChatCompletionsModel,
    RunConfig,
    Runner,
    SQLiteSession,
    ToolExecutionConfig,
    function_tool,
    set_tracing_disabled,
)
from agents.items import TResponseInputItem
from agents.tool_context import ToolContext as SdkToolContext
from openai import AsyncOpenAI

import agentstop
from agentstop import GrantSpec, Journal, Supervisor
from agentstop.adapters import openai_agents
from agentstop.adapters._common import NOT_EXECUTED
from tests.llm.fake_server import FakeChatServer, Stream, call_start, finish, text
from tests.support.hooks import hooks

pytestmark = pytest.mark.anyio

set_tracing_disabled(True)  # nothing leaves the machine

# -- the tools ---------------------------------------------------------------------------

NOTES: dict[str, str] = {}
OUTBOX: list[str] = []
GATE: dict[str, asyncio.Event] = {}


@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.name}")
async def write_note(name: str, text: str) -> dict[str, Any]:
    """Write a note.

    Args:
        name: the note's name.
        text: what it says.
    """
    NOTES[name] = text
    return {"name": name, "key": agentstop.current_call().idempotency_key}


@hooks(write_note).compensate
async def _(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
    NOTES.pop(receipt["name"], None)


@agentstop.tool
def shout(word: str) -> str:
    """Say a word loudly (a sync tool returning a plain string)."""
    return word.upper()


@function_tool
async def send_email(to: str, body: str) -> str:
    """Send an email."""
    OUTBOX.append(f"{to}: {body}")
    return f"sent to {to}"


@function_tool
async def slow_send(to: str) -> str:
    """Send an email through a slow relay (the test opens the gate)."""
    GATE["entered"].set()
    await GATE["open"].wait()
    OUTBOX.append(f"{to}: slow")
    return f"slowly sent to {to}"


@function_tool
def lookup_price(item: str) -> str:
    """Look a price up."""
    return f"{item}: 3 EUR"


@function_tool
async def broken(to: str) -> str:
    """A relay that fails."""
    raise RuntimeError("relay down")


@pytest.fixture(autouse=True)
def _fresh_world() -> None:
    NOTES.clear()
    OUTBOX.clear()
    GATE.clear()
    GATE["entered"], GATE["open"] = asyncio.Event(), asyncio.Event()


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer(strict_transcript=True) as s:
        yield s
    assert not s.errors, s.errors


@asynccontextmanager
async def model(server: FakeChatServer) -> AsyncIterator[OpenAIChatCompletionsModel]:
    async with AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=10) as client:
        yield OpenAIChatCompletionsModel("fake-model", client)


def calls(*wanted: tuple[str, str, dict[str, Any]]) -> Stream:
    """One model turn calling tools: (call id, tool name, arguments)."""
    return Stream(
        [call_start(i, cid, name, json.dumps(args)) for i, (cid, name, args) in enumerate(wanted)]
        + [finish("tool_calls")]
    )


def say(words: str) -> Stream:
    return Stream([*text(words), finish()])


def agent_with(m: OpenAIChatCompletionsModel, *tools: FunctionTool, **kw: Any) -> Agent[Any]:
    return Agent(
        "notes",
        instructions="Keep notes.",
        model=m,
        tools=list(tools),
        model_settings=ModelSettings(parallel_tool_calls=True),
        **kw,
    )


ONE_AT_A_TIME = RunConfig(tool_execution=ToolExecutionConfig(max_function_tool_concurrency=1))


def tool_messages(server: FakeChatServer, request: int = -1) -> dict[str, str]:
    """The tool results the SDK sent back in one request, by tool-call id."""
    return {m["tool_call_id"]: m["content"] for m in server.received[request].messages if m["role"] == "tool"}


def function_tools(agent: Agent[Any]) -> list[FunctionTool]:
    """The agent's tools, each checked to be a `FunctionTool` (the only kind these tests give an agent)."""
    tools = [t for t in agent.tools if isinstance(t, FunctionTool)]
    assert tools == agent.tools
    return tools


def as_dicts(items: list[TResponseInputItem]) -> list[dict[str, Any]]:
    """The SDK's input items as the plain dicts they are at runtime, so a test can read any key."""
    return cast(list[dict[str, Any]], items)


def as_input(items: list[dict[str, Any]]) -> list[TResponseInputItem]:
    """Plain dicts (what `reconcile_history` returns) as the SDK's input items, which they are at runtime."""
    return cast(list[TResponseInputItem], items)


async def drain(result: Any) -> list[Any]:
    events = []
    async for event in result.stream_events():
        events.append(event)
    return events


# -- fence: which path each tool takes ---------------------------------------------------


async def test_a_decorated_tool_runs_through_its_Tool_keyed_by_the_tool_call_id(
    server: FakeChatServer, journal: Journal
) -> None:
    server.add(
        calls(("call_w1", "write_note", {"name": "plan", "text": "ship it"}), ("call_s1", "shout", {"word": "done"})),
        say("Noted."),
    )
    sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*", "shout"]))
    async with model(server) as m:
        original = agent_with(m, function_tool(write_note), function_tool(shout))
        fenced = openai_agents.fence(original, sup)
        result = await Runner.run(fenced, "Write the plan down.")
    assert result.final_output == "Noted."
    assert NOTES == {"plan": "ship it"}
    answers = tool_messages(server)
    assert json.loads(answers["call_w1"]) == {"name": "plan", "key": f"{sup.session_id}:call_w1"}
    assert answers["call_s1"] == "DONE"  # a plain return value reads as itself, not {"result": ...}
    by_tool = {c.tool: c for c in await journal.calls(sup.session_id)}
    assert by_tool["write_note"].state == "committed" and by_tool["write_note"].reversibility == "reversible"
    assert by_tool["write_note"].idempotency_key == f"{sup.session_id}:call_w1"
    assert by_tool["write_note"].args == {"name": "plan", "text": "ship it"}
    # The agent handed in is untouched: its tools still run unfenced.
    assert all(
        t.on_invoke_tool is not f.on_invoke_tool
        for t, f in zip(function_tools(original), function_tools(fenced), strict=True)
    )
    # Its undo is the decorated function's own compensate.
    [undone] = await sup.undo([by_tool["write_note"].call_id])
    assert undone.status == "compensated" and NOTES == {}


async def test_any_other_function_tool_commits_through_the_sdk_and_is_irreversible_unless_the_policy_says(
    server: FakeChatServer, journal: Journal
) -> None:
    server.add(
        calls(
            ("call_1", "send_email", {"to": "ada@example.com", "body": "hi"}),
            ("call_2", "lookup_price", {"item": "tea"}),
        ),
        say("Sent."),
    )
    sup = Supervisor(journal, [], GrantSpec())
    async with model(server) as m:
        fenced = openai_agents.fence(agent_with(m, send_email, lookup_price), sup, policy={"lookup_price": "read_only"})
        result = await Runner.run(fenced, "Mail Ada.")
    assert result.final_output == "Sent."
    assert OUTBOX == ["ada@example.com: hi"]
    assert tool_messages(server) == {"call_1": "sent to ada@example.com", "call_2": "tea: 3 EUR"}
    journaled = {c.tool: c for c in await journal.calls(sup.session_id)}
    assert journaled["send_email"].reversibility == "irreversible"
    assert journaled["lookup_price"].reversibility == "read_only"
    assert journaled["send_email"].receipt == {"output": "sent to ada@example.com"}
    assert journaled["send_email"].args == {"to": "ada@example.com", "body": "hi"}


async def test_a_refusal_is_the_tool_output_and_the_run_goes_on(server: FakeChatServer, journal: Journal) -> None:
    server.add(calls(("call_1", "write_note", {"name": "secret", "text": "x"})), say("I may not."))
    sup = Supervisor(journal, [], GrantSpec(scopes=["notes:public-*"]))
    async with model(server) as m:
        result = await Runner.run(openai_agents.fence(agent_with(m, function_tool(write_note)), sup), "Go.")
    assert result.final_output == "I may not."
    assert tool_messages(server)["call_1"] == (
        "refused: resource 'notes:secret' is outside grant g1 (scopes ['notes:public-*']); nothing was sent"
    )
    assert NOTES == {}
    [call] = await journal.calls(sup.session_id)
    assert call.state == "rejected"


async def test_a_failing_tool_says_it_failed_instead_of_please_try_again(
    server: FakeChatServer, journal: Journal
) -> None:
    server.add(calls(("call_1", "broken", {"to": "ada"})), say("The relay is down."))
    sup = Supervisor(journal, [], GrantSpec())
    async with model(server) as m:
        await Runner.run(openai_agents.fence(agent_with(m, broken), sup), "Go.")
    # It raised past the fence, and a framework tool has no lookup: the model is told it may have landed.
    assert tool_messages(server)["call_1"] == (
        "failed: RuntimeError: relay down; outcome unknown (the tool has no lookup)"
    )
    [call] = await journal.calls(sup.session_id)
    assert call.state == "unknown"


async def test_the_same_tool_call_id_again_returns_the_recorded_outcome_without_a_second_effect(
    journal: Journal,
) -> None:
    sup = Supervisor(journal, [], GrantSpec())
    fenced = openai_agents.fenced_tool(send_email, sup)
    args = json.dumps({"to": "ada", "body": "once"})

    def ctx() -> SdkToolContext[Any]:
        return SdkToolContext(context=None, tool_name="send_email", tool_call_id="call_7", tool_arguments=args)

    first = await fenced.on_invoke_tool(ctx(), args)
    again = await fenced.on_invoke_tool(ctx(), args)  # a run resumed from its RunState invokes it again
    assert first == again == "sent to ada"
    assert OUTBOX == ["ada: once"]


async def test_handoff_agents_are_fenced_too_and_fencing_twice_shares_one_tool_class(
    server: FakeChatServer, journal: Journal
) -> None:
    sup = Supervisor(journal, [], GrantSpec())
    async with model(server) as m:
        mailer = agent_with(m, send_email)
        triage = Agent("triage", model=m, handoffs=[mailer])
        mailer.handoffs = [triage]  # a cycle
        fenced = openai_agents.fence(triage, sup)
        again = openai_agents.fence(mailer, sup)
    [fenced_mailer] = fenced.handoffs
    assert isinstance(fenced_mailer, Agent) and fenced_mailer is not mailer
    assert fenced_mailer.handoffs == [fenced]
    ctx = SdkToolContext(context=None, tool_name="send_email", tool_call_id="c1", tool_arguments="{}")
    for i, agent in enumerate([fenced_mailer, again]):
        [tool] = agent.tools
        assert isinstance(tool, FunctionTool)
        await tool.on_invoke_tool(ctx, json.dumps({"to": f"x{i}", "body": "b"}))
    assert OUTBOX == ["x0: b"]  # one key, one effect: the second is the first's recorded outcome
    assert mailer.tools == [send_email]


# -- Stop reaches the run ----------------------------------------------------------------


async def test_stop_after_turn_finishes_the_turn_with_refusals_and_the_transcript_stays_valid(
    server: FakeChatServer, journal: Journal
) -> None:
    server.add(calls(("call_1", "slow_send", {"to": "ada"}), ("call_2", "write_note", {"name": "after", "text": "x"})))
    sup = Supervisor(journal, [], GrantSpec(), grace=10)
    async with model(server) as m:
        fenced = openai_agents.fence(agent_with(m, slow_send, function_tool(write_note)), sup)
        async with sup, agentstop.bind(sup) as s:
            result = Runner.run_streamed(fenced, "Mail Ada, then note it.", run_config=ONE_AT_A_TIME)
            openai_agents.stop_with(s, result)
            cancelled = asyncio.Event()
            s.on_stop(cancelled.set)  # Stop's callbacks run in order, right after the revoke
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, result)
                await GATE["entered"].wait()  # slow_send is past the fence, committing
                stopping = asyncio.ensure_future(sup.stop("wrong recipient", by="the on-call engineer"))
                await cancelled.wait()
                GATE["open"].set()  # its commit lands within the grace
                await stopping
        history = result.to_input_list()
        assert len(server.received) == 1  # no turn after the one in flight
        answers = {i["call_id"]: i["output"] for i in as_dicts(history) if i.get("type") == "function_call_output"}
        assert answers == {
            "call_1": "slowly sent to ada",
            "call_2": "refused: grant revoked by the on-call engineer; nothing was sent",
        }
        assert OUTBOX == ["ada: slow"] and NOTES == {}
        # The transcript is whole: the strict model takes it as it is.
        server.add(say("Stopped as asked."))
        again = await Runner.run(agent_with(m), [*history, {"role": "user", "content": "What happened?"}])
    assert again.final_output == "Stopped as asked." and not server.rejected


async def test_stop_immediate_drops_the_turn_and_reconcile_history_puts_back_what_landed(
    server: FakeChatServer, journal: Journal
) -> None:
    server.add(
        calls(
            ("call_1", "send_email", {"to": "ada", "body": "first"}),
            ("call_2", "slow_send", {"to": "bob"}),
            ("call_3", "lookup_price", {"item": "tea"}),
        )
    )
    sup = Supervisor(journal, [], GrantSpec(), grace=10)
    seen: list[TResponseInputItem] = []
    async with model(server) as m:
        fenced = openai_agents.fence(agent_with(m, send_email, slow_send, lookup_price), sup)
        async with sup, agentstop.bind(sup) as s:
            result = Runner.run_streamed(fenced, "Mail Ada and Bob.", run_config=ONE_AT_A_TIME)
            openai_agents.stop_with(s, result, mode="immediate")
            cancelled = asyncio.Event()
            s.on_stop(cancelled.set)

            async def watch() -> None:
                async for event in result.stream_events():
                    if event.type == "run_item_stream_event" and event.name == "tool_called":
                        seen.append(event.item.to_input_item())

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                await GATE["entered"].wait()
                stopping = asyncio.ensure_future(sup.stop("wrong goal", by="the on-call engineer"))
                await cancelled.wait()
                assert result.is_complete
                GATE["open"].set()  # the SDK cancelled it; the supervisor lets the commit land in the grace
                await stopping
        lost = result.to_input_list()
        # The SDK dropped the whole turn: the model would never learn that two emails went out.
        assert [i.get("type", i.get("role")) for i in lost] == ["user"]
        assert OUTBOX == ["ada: first", "bob: slow"]

        # Items collected from the stream events have calls nobody answered: the API's 400.
        partial: list[TResponseInputItem] = [*lost, *seen, {"role": "user", "content": "Go on."}]
        with pytest.raises(openai.BadRequestError, match="did not have response messages"):
            await Runner.run(agent_with(m), partial)

        restored = await openai_agents.reconcile_history(lost, sup)
        fixed = await openai_agents.reconcile_history([*lost, *seen], sup)
        server.add(say("Ada and Bob were mailed."), say("Ada and Bob were mailed."))
        landed = {"call_1": "done: sent to ada", "call_2": "done: slowly sent to bob"}
        # call_3 never reached the fence (one tool at a time): the journal has nothing to restore; the
        # events had it, and reconcile_history answers it as not executed.
        for history, answers in ((restored, landed), (fixed, {**landed, "call_3": NOT_EXECUTED})):
            again = await Runner.run(agent_with(m), [*as_input(history), {"role": "user", "content": "Go on."}])
            assert again.final_output == "Ada and Bob were mailed."
            assert tool_messages(server) == answers
    assert len(server.rejected) == 1
    restored_calls = [i for i in restored if i.get("type") == "function_call"]
    assert [(c["call_id"], c["name"], json.loads(c["arguments"])) for c in restored_calls] == [
        ("call_1", "send_email", {"to": "ada", "body": "first"}),
        ("call_2", "slow_send", {"to": "bob"}),
    ]


async def test_stop_cancels_a_runner_run_task_and_the_journal_restores_its_turn(
    server: FakeChatServer, journal: Journal
) -> None:
    server.add(calls(("call_1", "slow_send", {"to": "ada"})))
    sup = Supervisor(journal, [], GrantSpec(), grace=10)
    async with model(server) as m:
        fenced = openai_agents.fence(agent_with(m, slow_send), sup)
        async with sup:
            task = asyncio.ensure_future(Runner.run(fenced, "Mail Ada."))
            openai_agents.stop_with(sup, task)
            await GATE["entered"].wait()
            stopping = asyncio.ensure_future(sup.stop("not now"))
            with anyio.fail_after(5):
                while not task.done():  # cancelled by Stop's callback, right after the revoke
                    await asyncio.sleep(0.01)
            GATE["open"].set()
            await stopping
        with pytest.raises(asyncio.CancelledError):
            await task
        history = await openai_agents.reconcile_history([{"role": "user", "content": "Mail Ada."}], sup)
        server.add(say("Ada was mailed."))
        again = await Runner.run(agent_with(m), [*as_input(history), {"role": "user", "content": "Status?"}])
    assert again.final_output == "Ada was mailed."
    assert tool_messages(server) == {"call_1": "done: slowly sent to ada"}


async def test_a_session_rewritten_with_the_reconciled_history_runs_on(
    server: FakeChatServer, journal: Journal
) -> None:
    server.add(calls(("call_1", "send_email", {"to": "ada", "body": "hi"}), ("call_2", "slow_send", {"to": "bob"})))
    sup = Supervisor(journal, [], GrantSpec(), grace=10)
    session = SQLiteSession("conversation-1")
    async with model(server) as m:
        fenced = openai_agents.fence(agent_with(m, send_email, slow_send), sup)
        async with sup:
            task = asyncio.ensure_future(
                Runner.run(fenced, "Mail Ada and Bob.", session=session, run_config=ONE_AT_A_TIME)
            )
            openai_agents.stop_with(sup, task)
            await GATE["entered"].wait()
            stopping = asyncio.ensure_future(sup.stop("not now"))
            # The commit lands after the Stop has cancelled the run (as a slow relay would): opened any
            # sooner, the run could finish its turn, and save it, before the Stop reached it.
            with anyio.fail_after(10):
                while not task.cancelling():
                    await anyio.sleep(0.001)
            GATE["open"].set()
            await stopping
        assert [i.get("role") for i in await session.get_items()] == ["user"]  # the turn is gone
        history = await openai_agents.reconcile_history(await session.get_items(), sup)
        await session.clear_session()
        await session.add_items(as_input(history))
        server.add(say("Both were mailed."))
        again = await Runner.run(agent_with(m), "Status?", session=session)
    assert again.final_output == "Both were mailed." and not server.rejected
    assert tool_messages(server) == {"call_1": "done: sent to ada", "call_2": "done: slowly sent to bob"}
    session.close()


# -- reconcile_history on its own ---------------------------------------------------------


async def test_reconcile_history_answers_each_call_once_and_drops_orphans(journal: Journal) -> None:
    sup = Supervisor(journal, [], GrantSpec())
    await sup.start()
    items = [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "a", "name": "send_email", "arguments": "{}"},
        {"type": "function_call", "call_id": "b", "name": "send_email", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": "sent"},
        {"type": "function_call_output", "call_id": "a", "output": "sent again"},
        {"type": "function_call_output", "call_id": "zzz", "output": "to nobody"},
        {"role": "assistant", "content": "ok"},
        {"type": "function_call_output", "call_id": "b", "output": "too late"},
    ]
    history = await openai_agents.reconcile_history(items, sup)
    assert history == [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "a", "name": "send_email", "arguments": "{}"},
        {"type": "function_call", "call_id": "b", "name": "send_email", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": "sent"},
        {"type": "function_call_output", "call_id": "b", "output": NOT_EXECUTED},
        {"role": "assistant", "content": "ok"},
    ]
    assert await openai_agents.reconcile_history(history, sup) == history


# -- the SDK's own approvals ---------------------------------------------------------------


async def test_the_sdks_approval_pauses_irreversible_tools_and_an_approved_call_meets_the_fence(
    server: FakeChatServer, journal: Journal
) -> None:
    server.add(
        calls(("call_1", "send_email", {"to": "ada", "body": "hi"}), ("call_2", "lookup_price", {"item": "tea"})),
        say("Done."),
    )
    sup = Supervisor(journal, [], GrantSpec())
    async with model(server) as m:
        fenced = openai_agents.fence(
            agent_with(m, send_email, lookup_price), sup, policy={"lookup_price": "read_only"}, approve="irreversible"
        )
        paused = await Runner.run(fenced, "Mail Ada.")
        [asked] = paused.interruptions
        assert asked.tool_name == "send_email" and OUTBOX == []
        assert [c.tool for c in await journal.calls(sup.session_id)] == ["lookup_price"]
        state = paused.to_state()
        state.approve(asked)
        resumed = await Runner.run(fenced, state)
    assert resumed.final_output == "Done."
    assert OUTBOX == ["ada: hi"]
    assert tool_messages(server)["call_1"] == "sent to ada"


async def test_a_call_approved_after_stop_is_refused_at_the_fence(server: FakeChatServer, journal: Journal) -> None:
    server.add(calls(("call_1", "send_email", {"to": "ada", "body": "hi"})), say("Stopped."))
    sup = Supervisor(journal, [], GrantSpec())
    async with model(server) as m:
        fenced = openai_agents.fence(agent_with(m, send_email), sup, approve=["send_email"])
        paused = await Runner.run(fenced, "Mail Ada.")
        await sup.stop("changed my mind", by="ops")
        state = paused.to_state()
        state.approve(paused.interruptions[0])
        resumed = await Runner.run(fenced, state)
    assert resumed.final_output == "Stopped." and OUTBOX == []
    assert tool_messages(server)["call_1"] == "refused: grant revoked by ops; nothing was sent"


# -- the example ---------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openai_agents_notes.py"


async def test_the_example_runs_against_the_loopback_model(
    server: FakeChatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("openai_agents_notes", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "openai_agents_notes", example)
    spec.loader.exec_module(example)
    monkeypatch.setattr(example, "NOTES", tmp_path / "notes")
    server.add(
        calls(
            ("call_1", "write_note", {"name": "plan", "text": "ship it"}),
            ("call_2", "send_summary", {"to": "ada", "summary": "plan written"}),
        ),
        say("All done."),
    )
    async with model(server) as m:
        history = await example.main("Write the plan and tell Ada.", m, str(tmp_path / "notes.db"))
    printed = capsys.readouterr().out
    assert "call_2: sent to ada" in printed and "All done." in printed
    assert "completed: 2 done, 0 interrupted, 0 in flight, 1 undoable" in printed
    assert (tmp_path / "notes" / "plan.md").read_text() == "ship it"
    assert [i["output"] for i in history if i.get("type") == "function_call_output"] == [
        '{"name": "plan", "chars": 7}',
        "sent to ada",
    ]
