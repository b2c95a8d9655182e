"""LangGraph and LangChain behind the fence, through their own code paths.

Two routes, each a real graph: a `StateGraph` whose `ToolNode` gets
`awrap_tool_call=Fence(sup).awrap_tool_call`, and `langchain.agents.create_agent`
with `FenceMiddleware(sup)`. The model is LangChain's fake chat model, made
strict the way real APIs are: it refuses a transcript with a tool call left
unanswered (or answered twice), as "400 No tool output found" does.

Effects are real files; the races are held on events (a tool that waits in its
commit or its prepare until the test lets it go), never on sleeps.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("langgraph.prebuilt")
pytest.importorskip("langchain.agents")

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import tool as lc_tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command, interrupt

import agentstop
from agentstop import CallState, GrantSpec, Journal, Report, Supervisor
from agentstop.adapters import langgraph as fence
from tests.fixtures import decorated_tools
from tests.fixtures.decorated_tools import notes_dir, write_note
from tests.support.hooks import hooks
from tests.support.langchain_transcripts import StrictChatModel, transcript_problems

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio


# -- the world: notes on disk, tools that hold where the test says -------------------------------------


@dataclass
class Hold:
    """Where the held tools wait, and what the test learns from them."""

    commit_entered: anyio.Event = field(default_factory=anyio.Event)
    release_commit: anyio.Event = field(default_factory=anyio.Event)
    prepare_entered: anyio.Event = field(default_factory=anyio.Event)
    release_prepare: anyio.Event = field(default_factory=anyio.Event)
    commit_finished: bool = False
    commit_interrupted: bool = False
    shouted: int = 0


HOLD = Hold()


@pytest.fixture(autouse=True)
def notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    global HOLD
    d = tmp_path / "notes"
    d.mkdir()
    monkeypatch.setenv(decorated_tools.DIR_ENV, str(d))
    HOLD = Hold()
    return d


@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.path}")
async def held_note(path: str, text: str) -> dict[str, Any]:
    """Write a note, holding in the commit until the test lets it go."""
    HOLD.commit_entered.set()
    try:
        await HOLD.release_commit.wait()
    except BaseException:
        HOLD.commit_interrupted = True
        raise
    (notes_dir() / path).write_text(text)
    HOLD.commit_finished = True
    return {"path": path}


@hooks(held_note).compensate
async def _unhold(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
    (notes_dir() / receipt["path"]).unlink(missing_ok=True)


@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.path}")
async def staged_note(path: str) -> dict[str, Any]:
    """Write a note whose prepare holds until the test lets it go."""
    (notes_dir() / path).write_text("staged")
    return {"path": path}


@hooks(staged_note).prepare
async def _stage(args: Any, ctx: agentstop.ToolContext) -> None:
    HOLD.prepare_entered.set()
    await HOLD.release_prepare.wait()


@lc_tool
async def shout(text: str) -> str:
    """Append a line to shouts.txt (a plain LangChain tool: agentstop knows nothing of it)."""
    HOLD.shouted += 1
    with (notes_dir() / "shouts.txt").open("a") as f:
        f.write(text.upper() + "\n")
    return f"shouted {text!r}"


# -- the model: LangChain's fake chat model, strict about transcripts -----------------------------------


class StrictFakeModel(StrictChatModel):
    """The scripted turns of `GenericFakeChatModel`, from a model strict as a real API (and what it read)."""

    seen: list[list[BaseMessage]] = []

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.refuse_invalid(messages)
        self.seen.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def model_of(*turns: AIMessage | str) -> StrictFakeModel:
    return StrictFakeModel(messages=iter(turns), seen=[])


def call_ids(message: AIMessage) -> list[str]:
    """The ids of the tool calls a model turn makes (optional in langchain's type; every call here has one)."""
    ids = [c["id"] for c in message.tool_calls if c["id"] is not None]
    assert len(ids) == len(message.tool_calls), message.tool_calls
    return ids


def calls(*specs: tuple[str, dict[str, Any]], prefix: str = "call") -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[
            {"id": f"{prefix}_{i}", "name": name, "args": args, "type": "tool_call"}
            for i, (name, args) in enumerate(specs, 1)
        ],
    )


# -- the two routes ------------------------------------------------------------------------------------


class Route(enum.Enum):
    TOOL_NODE = "StateGraph + ToolNode(awrap_tool_call=Fence)"
    CREATE_AGENT = "create_agent(middleware=[FenceMiddleware])"


def build(route: Route, model: StrictFakeModel, tools: list[Any], sup: Supervisor, **fence_args: Any) -> Any:
    """The user's agent, as they would write it, with the one line that adds the fence."""
    if route is Route.CREATE_AGENT:
        return create_agent(
            model, tools, middleware=[fence.FenceMiddleware(sup, **fence_args)], checkpointer=InMemorySaver()
        )

    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode(tools, awrap_tool_call=fence.Fence(sup, **fence_args).awrap_tool_call))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


def config(thread: str = "t1") -> Any:
    return {"configurable": {"thread_id": thread}, "recursion_limit": 10_000}


def agentstop_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def tool_messages(messages: Sequence[BaseMessage]) -> dict[str, ToolMessage]:
    return {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}


async def cancelled_mid_commit(
    route: Route, journal: Journal, sup: Supervisor, then: str = "not reached"
) -> tuple[Any, StrictFakeModel]:
    """Run a turn of two parallel calls, cancel the run while one commits and the other prepares."""
    model = model_of(
        calls(("held_note", {"path": "held.txt", "text": "kept"}), ("staged_note", {"path": "s.txt"})), then
    )
    graph = build(route, model, [held_note, staged_note], sup)
    async with agentstop.bind(sup):
        run = asyncio.ensure_future(graph.ainvoke({"messages": [HumanMessage("write two notes")]}, config()))
        with anyio.fail_after(30):
            await HOLD.commit_entered.wait()
            await HOLD.prepare_entered.wait()
        run.cancel()
        with anyio.fail_after(5), pytest.raises(asyncio.CancelledError):
            await run
        assert not HOLD.commit_finished, "the cancel reached the run while the commit still held"
        HOLD.release_commit.set()  # the commit, owned by the supervisor, goes on
    return graph, model


# -- (1) cancel during a commit -------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(Route), ids=lambda r: r.name.lower())
async def test_a_run_cancelled_mid_commit_lets_the_commit_finish_and_discards_the_call_before_the_fence(
    tmp_path: Path, notes: Path, route: Route
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*"]))
        await cancelled_mid_commit(route, journal, sup)
        states = {c.tool: c.state for c in await journal.calls(sup.session_id)}
        report = await Report.from_journal(journal, sup.session_id)
        assert HOLD.commit_finished and not HOLD.commit_interrupted, "the tool body ran whole"
        assert states == {"held_note": CallState.COMMITTED, "staged_note": CallState.DISCARDED}
        assert (len(report.done), len(report.interrupted), len(report.in_flight), len(report.undoable)) == (1, 1, 0, 1)
        assert "the LangGraph run was cancelled" in (report.interrupted[0].reason or "")
        assert (notes / "held.txt").read_text() == "kept" and not (notes / "s.txt").exists()

        [undone] = await sup.undo_all()
        assert undone.status == "compensated" and list(notes.iterdir()) == []
        await sup.close()


# -- (2) a run after Stop --------------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(Route), ids=lambda r: r.name.lower())
async def test_a_run_after_stop_completes_with_every_call_answered_by_a_refusal(
    tmp_path: Path, notes: Path, route: Route
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*", "shout"]))
        await sup.stop("the user pressed Stop")
        model = model_of(
            calls(("write_note", {"path": "a.txt", "text": "hi"}), ("shout", {"text": "hey"})),
            "I could not write the note: it was refused.",
        )
        graph = build(route, model, [write_note, shout], sup)
        async with agentstop.bind(sup):
            result = await graph.ainvoke({"messages": [HumanMessage("write a note and shout")]}, config())
        messages = result["messages"]
        called = calls(("write_note", {}), ("shout", {}))
        answers = tool_messages(messages)
        assert sorted(answers) == sorted(call_ids(called))
        for message in answers.values():
            assert message.status == "error"
            assert message.content == "refused: grant revoked by user; nothing was sent"
        assert messages[-1].content == "I could not write the note: it was refused."
        assert transcript_problems(messages) == [] and len(model.seen) == 2  # the model read a valid transcript
        assert list(notes.iterdir()) == [] and HOLD.shouted == 0
        assert {c.state for c in await journal.calls(sup.session_id)} == {CallState.DISCARDED}


# -- (3) a revoke from another process stops the run -------------------------------------------------------


@pytest.mark.parametrize("route", list(Route), ids=lambda r: r.name.lower())
async def test_agentstop_stop_from_another_process_stops_the_graph_through_on_stop(
    tmp_path: Path, notes: Path, route: Route
) -> None:
    path = tmp_path / "j.db"
    # A model that never stops asking: notes through the decorated tool, shouts through a LangChain one.
    endless = (
        calls(("write_note", {"path": f"n{i}.txt", "text": "x"}), ("shout", {"text": f"s{i}"}), prefix=f"turn{i}")
        for i in itertools.count(1)
    )
    model = StrictFakeModel(messages=endless, seen=[])
    stopped: list[str] = []
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*", "shout"]))
        graph = build(route, model, [write_note, shout], sup)
        async with agentstop.bind(sup) as binding:
            run = asyncio.ensure_future(graph.ainvoke({"messages": [HumanMessage("keep going")]}, config()))

            def cancel_run() -> None:
                stopped.append("stop")
                run.cancel()

            binding.on_stop(cancel_run)
            with anyio.fail_after(30):
                while len([p for p in notes.iterdir() if p.name.startswith("n")]) < 3:
                    await anyio.sleep(0.01)
            stop = await anyio.to_thread.run_sync(
                lambda: agentstop_cli("stop", "--journal", path, "--session", sup.session_id)
            )
            assert stop.returncode == 0, stop.stderr
            with anyio.fail_after(30), pytest.raises(asyncio.CancelledError):
                await run
        events = await journal.events(sup.session_id)
        all_calls = await journal.calls(sup.session_id)
        report = await Report.from_journal(journal, sup.session_id)

    assert stopped == ["stop"], "on_stop ran once, and cancelled the run"
    [revoked] = [e.seq for e in events if e.kind == "revoked"]
    assert [e for e in events if e.kind == CallState.COMMITTING and e.seq > revoked] == []
    assert report.session.status == "stopped" and report.in_flight == ()
    assert sorted(i.call_id for i in (*report.done, *report.interrupted)) == sorted(c.call_id for c in all_calls)
    written = {p.name for p in notes.iterdir() if p.name.startswith("n")}
    assert written == {i.args["path"] for i in report.done if i.tool == "write_note"}
    assert HOLD.shouted == len([i for i in report.done if i.tool == "shout"])


# -- (4) the history after a cancel --------------------------------------------------------------------------


@pytest.mark.parametrize("route", list(Route), ids=lambda r: r.name.lower())
async def test_the_history_left_by_a_cancel_is_reconciled_from_the_journal_and_the_thread_runs_on(
    tmp_path: Path, notes: Path, route: Route
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*"]))
        graph, model = await cancelled_mid_commit(route, journal, sup, then="held.txt is written; s.txt is not.")
        state = await graph.aget_state(config())
        messages = state.values["messages"]
        asked = messages[-1]
        assert isinstance(asked, AIMessage) and len(asked.tool_calls) == 2
        assert transcript_problems(messages), "the checkpoint kept the calls unanswered"

        answers = await fence.reconcile_messages(messages, sup, thread_id="t1")
        assert [(a.tool_call_id, a.status) for a in answers] == [("call_1", "success"), ("call_2", "error")]
        assert answers[0].content == 'done: {"path": "held.txt"}'
        assert str(answers[1].content).startswith("interrupted by the user: not executed (")
        assert await fence.reconcile_messages([*messages, *answers], sup, thread_id="t1") == []
        history = await fence.reconcile_history(messages, sup, thread_id="t1")
        assert transcript_problems(history) == [] and history[-2:] == answers

        await graph.aupdate_state(config(), {"messages": answers}, as_node="tools")
        async with agentstop.bind(sup):
            result = await graph.ainvoke(None, config())
        assert transcript_problems(result["messages"]) == [] and len(model.seen) == 2  # the model took it
        assert result["messages"][-1].content == "held.txt is written; s.txt is not."
        assert {c.tool: c.state for c in await journal.calls(sup.session_id)} == {
            "held_note": CallState.COMMITTED,
            "staged_note": CallState.DISCARDED,
        }, "nothing ran again"
        await sup.close()


# -- LangGraph's own case: parallel calls, an interrupt() in one, resumed ------------------------------------


@pytest.mark.parametrize("when", ["after the others landed", "at once"])
async def test_parallel_calls_with_an_interrupt_in_one_issue_each_effect_once_when_the_node_runs_again(
    tmp_path: Path, notes: Path, when: str
) -> None:
    """LangGraph runs the whole ToolNode again on resume (langgraph PR #3126): the keys absorb it.

    "after the others landed": the two other calls had landed when the third
    interrupted (their ToolMessages are lost with the node, LangGraph runs them
    again on resume: the journal's receipts answer). "at once": the interrupt
    cut the node while they ran (LangGraph cancels them; whatever had passed the
    fence lands, the rest never started): each effect once all the same.
    """
    wrapped: list[str] = []
    landed = anyio.Event()
    answered: list[str] = []
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*", "shout"]))
        guard = fence.Fence(sup)

        async def ask_first(request: ToolCallRequest, execute: Any) -> Any:
            """The user's own wrapper: a person approves ask.txt first, then the fence runs the call."""
            call = request.tool_call
            wrapped.append(call["id"] or "")
            if call["args"].get("path") == "ask.txt":
                if when == "after the others landed" and not landed.is_set():
                    await landed.wait()
                if interrupt({"approve": call["args"]}) != "yes":
                    return ToolMessage(
                        "refused: denied by the user; nothing was sent",
                        status="error",
                        tool_call_id=call["id"],
                        name=call["name"],
                    )
            result = await guard.awrap_tool_call(request, execute)
            answered.append(call["id"] or "")
            if len(answered) == 2:
                landed.set()
            return result

        model = model_of(
            calls(
                ("write_note", {"path": "a.txt", "text": "one"}),
                ("shout", {"text": "two"}),
                ("write_note", {"path": "ask.txt", "text": "three"}),
            ),
            "all three done",
        )

        async def agent(state: MessagesState) -> dict[str, Any]:
            return {"messages": [await model.ainvoke(state["messages"])]}

        builder = StateGraph(MessagesState)
        builder.add_node("agent", agent)
        builder.add_node("tools", ToolNode([write_note, shout], awrap_tool_call=ask_first))
        builder.add_edge(START, "agent")
        builder.add_conditional_edges("agent", tools_condition)
        builder.add_edge("tools", "agent")
        graph = builder.compile(checkpointer=InMemorySaver())

        async with agentstop.bind(sup):
            first = await graph.ainvoke({"messages": [HumanMessage("three things")]}, config())
            assert "__interrupt__" in first
            await sup.drain()  # whatever the interrupt left past the fence lands (owned by the supervisor)
            if when == "after the others landed":
                assert (notes / "a.txt").read_text() == "one" and HOLD.shouted == 1
            result = await graph.ainvoke(Command(resume="yes"), config())
        journaled = await journal.calls(sup.session_id)
        await sup.close()

    assert wrapped.count("call_1") == 2 and wrapped.count("call_2") == 2, "LangGraph ran the node again"
    assert HOLD.shouted == 1 and (notes / "shouts.txt").read_text() == "TWO\n", "the LangChain tool ran once"
    assert (notes / "a.txt").read_text() == "one" and (notes / "ask.txt").read_text() == "three"
    landed_calls = sorted((c.tool, c.args.get("path")) for c in journaled if c.state == CallState.COMMITTED)
    assert landed_calls == [("shout", None), ("write_note", "a.txt"), ("write_note", "ask.txt")]
    answers = tool_messages(result["messages"])
    assert sorted(answers) == ["call_1", "call_2", "call_3"]
    assert answers["call_2"].content == "shouted 'two'" and answers["call_2"].status == "success"
    assert transcript_problems(result["messages"]) == [] and result["messages"][-1].content == "all three done"


# -- the sync route: graph.invoke in a worker thread ---------------------------------------------------------


@lc_tool
def whisper(text: str) -> str:
    """Append a line to whispers.txt (a sync LangChain tool)."""
    with (notes_dir() / "whispers.txt").open("a") as f:
        f.write(text + "\n")
    return f"whispered {text!r}"


async def test_a_sync_run_in_a_worker_thread_goes_through_the_same_fence(tmp_path: Path, notes: Path) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec())
        model = model_of(
            calls(("append_line", {"name": "log.txt", "line": "one"}), ("whisper", {"text": "psst"})),
            "both done",
            calls(("append_line", {"name": "log.txt", "line": "two"}), ("whisper", {"text": "again"}), prefix="late"),
            "refused, both",
        )
        agent = create_agent(
            model,
            [decorated_tools.append_line, whisper],
            middleware=[fence.FenceMiddleware(sup)],
            checkpointer=InMemorySaver(),
        )
        async with agentstop.bind(sup):
            done = await anyio.to_thread.run_sync(
                lambda: agent.invoke({"messages": [HumanMessage("log and whisper")]}, config("t1"))
            )
            await sup.stop("enough")
            refused = await anyio.to_thread.run_sync(
                lambda: agent.invoke({"messages": [HumanMessage("again")]}, config("t2"))
            )
        states = [(c.tool, c.state) for c in await journal.calls(sup.session_id)]

    assert [m.status for m in tool_messages(done["messages"]).values()] == ["success", "success"]
    assert tool_messages(done["messages"])["call_2"].content == "whispered 'psst'"
    assert {str(m.content) for m in tool_messages(refused["messages"]).values()} == {
        "refused: grant revoked by another process; nothing was sent"
    }
    assert transcript_problems(done["messages"]) == [] and transcript_problems(refused["messages"]) == []
    assert (notes / "log.txt").read_text() == "one\n" and (notes / "whispers.txt").read_text() == "psst\n"
    assert sorted(states) == [
        ("append_line", CallState.COMMITTED),
        ("append_line", CallState.DISCARDED),
        ("whisper", CallState.COMMITTED),
        ("whisper", CallState.DISCARDED),
    ]


# -- LangChain tools agentstop knows nothing of ---------------------------------------------------------------


async def _unshout(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
    target = notes_dir() / "shouts.txt"
    shouted = ctx.args["text"].upper()  # the call's arguments, as journaled
    target.write_text(target.read_text().replace(f"{shouted}\n", "", 1))


@lc_tool
def fails(text: str) -> str:
    """A LangChain tool that says it failed (ToolException, handled the LangChain way)."""
    from langchain_core.tools import ToolException

    raise ToolException(f"cannot {text}")


fails.handle_tool_error = True


@lc_tool
def boom(text: str) -> str:
    """A LangChain tool that raises mid-commit (LangGraph would fail the graph on it)."""
    raise RuntimeError(f"{text} went wrong half-way")


@lc_tool
async def ask_then_shout(text: str) -> str:
    """A LangChain tool that asks a person with interrupt() before it shouts."""
    if interrupt({"shout": text}) != "yes":
        return "not shouted"
    return str(await shout.ainvoke({"text": text}))


async def test_a_langchain_tool_takes_the_policy_and_the_compensation_it_is_given(tmp_path: Path, notes: Path) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec())
        model = model_of(
            calls(
                ("shout", {"text": "hey"}),
                ("shout", {"txt": "typo"}),
                ("fails", {"text": "do it"}),
                ("boom", {"text": "it"}),
            ),
            "one shouted",
        )
        graph = build(
            Route.TOOL_NODE,
            model,
            [shout, fails, boom],
            sup,
            policy={"shout": "compensable"},
            compensations={"shout": _unshout},
        )
        async with agentstop.bind(sup):
            result = await graph.ainvoke({"messages": [HumanMessage("shout")]}, config())
        answers = tool_messages(result["messages"])
        assert (answers["call_1"].status, answers["call_1"].content) == ("success", "shouted 'hey'")
        assert answers["call_2"].status == "error" and str(answers["call_2"].content).startswith(
            "refused: invalid arguments: text: Field required"
        ), "checked before the fence, against its schema"
        assert (answers["call_3"].status, answers["call_3"].content) == ("error", "cannot do it"), (
            "the tool's own error, as LangChain words it"
        )
        assert (answers["call_4"].status, answers["call_4"].content) == (
            "error",
            "failed: RuntimeError: it went wrong half-way; outcome unknown (the tool has no lookup)",
        )
        report = await Report.from_journal(journal, sup.session_id)
        assert [(i.tool, i.state) for i in report.in_flight] == [("boom", "unknown")], "nothing says it did not land"
        assert [(i.tool, i.reversibility, i.receipt) for i in report.undoable] == [
            ("shout", "compensable", {"output": "shouted 'hey'"})
        ]
        assert sorted((i.tool, i.state) for i in report.interrupted) == [("fails", "failed"), ("shout", "rejected")]
        assert (notes / "shouts.txt").read_text() == "HEY\n"
        [undone] = await sup.undo_all()
        assert undone.status == "compensated", undone
        assert (notes / "shouts.txt").read_text() == ""
        await sup.close()


async def test_an_interrupt_inside_a_langchain_tool_pauses_the_graph_and_the_tool_lands_once_on_resume(
    tmp_path: Path, notes: Path
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec())
        model = model_of(calls(("ask_then_shout", {"text": "hey"})), "shouted")
        graph = build(Route.TOOL_NODE, model, [ask_then_shout], sup)
        async with agentstop.bind(sup):
            first = await graph.ainvoke({"messages": [HumanMessage("shout, if they agree")]}, config())
            assert [i.value for i in first["__interrupt__"]] == [{"shout": "hey"}] and HOLD.shouted == 0
            result = await graph.ainvoke(Command(resume="yes"), config())
        journaled = [(c.state, c.reason) for c in await journal.calls(sup.session_id)]
        await sup.close()
    assert tool_messages(result["messages"])["call_1"].content == "shouted 'hey'" and HOLD.shouted == 1
    assert journaled[0][0] == CallState.FAILED and "paused by interrupt()" in (journaled[0][1] or "")
    assert journaled[1] == (CallState.COMMITTED, None)


# -- approvals through LangGraph's interrupt(), bound to the effect --------------------------------------------


@pytest.mark.parametrize("route", list(Route), ids=lambda r: r.name.lower())
async def test_an_irreversible_call_waits_for_a_person_through_interrupt_and_the_answer_is_bound_to_its_effect(
    tmp_path: Path, notes: Path, route: Route
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec())
        model = model_of(
            calls(
                ("write_note", {"path": "a.txt", "text": "one"}), ("shout", {"text": "yes"}), ("shout", {"text": "no"})
            ),
            "shouted once",
        )
        graph = build(route, model, [write_note, shout], sup, approve="irreversible")
        asked: list[dict[str, Any]] = []
        async with agentstop.bind(sup):
            result = await graph.ainvoke({"messages": [HumanMessage("note, then shout twice")]}, config())
            assert HOLD.shouted == 0, "nothing irreversible ran unasked"
            while "__interrupt__" in result:  # a ToolNode asks one at a time, create_agent all at once
                pending = result["__interrupt__"]
                asked += [i.value for i in pending]
                verdicts = [
                    fence.approval_answer(i.value, i.value["args"]["text"] == "yes", "not that one") for i in pending
                ]
                await sup.drain()
                result = await graph.ainvoke(Command(resume={i.id: verdicts for i in pending}), config())
        journaled = sorted((c.tool, c.state) for c in await journal.calls(sup.session_id))
        kinds = [e.kind for e in await journal.events(sup.session_id) if e.kind.startswith("interrupt_")]
        await sup.close()

    assert sorted(a["args"]["text"] for a in asked) == ["no", "yes"], "each asked once"
    assert {(a["type"], a["tool"], a["reversibility"]) for a in asked} == {(fence.APPROVAL, "shout", "irreversible")}
    answers = tool_messages(result["messages"])
    assert (answers["call_2"].status, answers["call_2"].content) == ("success", "shouted 'yes'")
    assert (answers["call_3"].status, answers["call_3"].content) == ("error", "refused: not that one; nothing was sent")
    assert HOLD.shouted == 1 and (notes / "a.txt").read_text() == "one"
    assert journaled == [("shout", CallState.COMMITTED), ("write_note", CallState.COMMITTED)]
    assert sorted(kinds) == ["interrupt_approved", "interrupt_denied"]
    assert transcript_problems(result["messages"]) == []


async def test_an_approval_given_for_another_effect_does_not_let_the_call_through(tmp_path: Path, notes: Path) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec())
        graph = build(
            Route.TOOL_NODE, model_of(calls(("shout", {"text": "hey"})), "refused"), [shout], sup, approve=["shout"]
        )
        async with agentstop.bind(sup):
            first = await graph.ainvoke({"messages": [HumanMessage("shout")]}, config())
            [asked] = first["__interrupt__"]
            stale = fence.approval_answer({**asked.value, "effect": "an effect shown earlier"}, True)
            again = await graph.ainvoke(Command(resume=stale), config())
            [asked_again] = again["__interrupt__"]
            assert asked_again.value == asked.value and HOLD.shouted == 0, "asked again, nothing ran"
            result = await graph.ainvoke(Command(resume=fence.approval_answer(asked.value, False)), config())
        await sup.close()
    answer = tool_messages(result["messages"])["call_1"]
    assert (answer.status, answer.content) == ("error", "refused: denied by the user; nothing was sent")
    assert HOLD.shouted == 0
