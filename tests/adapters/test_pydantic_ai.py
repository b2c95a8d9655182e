"""PydanticAI under the fence: `Agent(tools=[...], capabilities=[Fence(sup)])`, through PydanticAI's own run.

The model is PydanticAI's `FunctionModel`, scripted turn by turn; it also
records what it was sent, so a test reads the transcript the model got. The
tools write real files (tests/fixtures/decorated_tools.py, and two held tools
here); the races are controlled by events the tools wait on, never by sleeps.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, RunContext
from pydantic_ai.capabilities import AbstractCapability, ValidatedToolArgs
from pydantic_ai.exceptions import ModelRetry, RunCancelled
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.usage import UsageLimits

import agentstop
from agentstop import CallState, GrantSpec, Journal, Report, Supervisor
from agentstop.adapters import pydantic_ai as fence
from tests.fixtures import decorated_tools as tools
from tests.fixtures.decorated_tools import write_note
from tests.support.hooks import hooks

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio


@dataclass
class Holds:
    """Where the held tools wait, and what they saw."""

    commit_entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    parked: asyncio.Event = field(default_factory=asyncio.Event)
    never: asyncio.Event = field(default_factory=asyncio.Event)
    commit_finished: bool = False
    commit_interrupted: bool = False


HOLD = Holds()


@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.path}")
async def held_note(path: str, text: str) -> dict[str, Any]:
    """Write a note; the commit holds until the test releases it."""
    HOLD.commit_entered.set()
    try:
        await HOLD.release.wait()
    except BaseException:
        HOLD.commit_interrupted = True
        raise
    (tools.notes_dir() / path).write_text(text)
    HOLD.commit_finished = True
    return {"path": path}


@hooks(held_note).compensate
async def _unhold(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
    (tools.notes_dir() / receipt["path"]).unlink(missing_ok=True)


@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.path}")
async def parked_note(path: str, text: str) -> dict[str, Any]:
    """Write a note; its prepare holds until the call is cut off."""
    (tools.notes_dir() / path).write_text(text)
    return {"path": path}


@hooks(parked_note).prepare
async def _park(args: Any, ctx: agentstop.ToolContext) -> None:
    HOLD.parked.set()
    await HOLD.never.wait()


@dataclass
class AfterTheHeldCommit(AbstractCapability[Any]):
    """Lets `parked_note` reach the fence only once `held_note` is committing: c1 is held_note, c2 parked_note."""

    async def before_tool_execute(
        self, ctx: RunContext[Any], *, call: ToolCallPart, tool_def: ToolDefinition, args: ValidatedToolArgs
    ) -> ValidatedToolArgs:
        if call.tool_name == "parked_note":
            await HOLD.commit_entered.wait()
        return args


@pytest.fixture(autouse=True)
def notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    global HOLD
    HOLD = Holds()
    d = tmp_path / "notes"
    d.mkdir()
    monkeypatch.setenv(tools.DIR_ENV, str(d))
    return d


def two_notes_then_done(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """One turn with two calls (a held commit, a parked prepare), then an answer."""
    if not any(isinstance(m, ModelResponse) for m in messages):
        return ModelResponse(
            parts=[
                ToolCallPart("held_note", {"path": "one.txt", "text": "one"}, tool_call_id="t1"),
                ToolCallPart("parked_note", {"path": "two.txt", "text": "two"}, tool_call_id="t2"),
            ]
        )
    return ModelResponse(parts=[TextPart("done")])


def answers(messages: Sequence[ModelMessage]) -> dict[str, list[Any]]:
    """Every tool call of a transcript, with the contents of the returns that answer it."""
    found: dict[str, list[Any]] = {}
    for message in messages:
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                found.setdefault(part.tool_call_id, [])
            elif isinstance(part, ToolReturnPart):
                found.setdefault(part.tool_call_id, []).append(part.content)
    return found


def assert_valid(messages: Sequence[ModelMessage]) -> None:
    """Every tool call answered exactly once, by the request right after its response."""
    for i, message in enumerate(messages):
        if not isinstance(message, ModelResponse):
            continue
        ids = [p.tool_call_id for p in message.parts if isinstance(p, ToolCallPart)]
        if not ids:
            continue
        following = messages[i + 1] if i + 1 < len(messages) else None
        assert isinstance(following, ModelRequest), f"the calls {ids} have no request answering them"
        returned = [p.tool_call_id for p in following.parts if isinstance(p, ToolReturnPart)]
        assert sorted(returned) == sorted(ids), f"calls {ids} answered by {returned}"


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


async def cut_off_before_the_fence(journal: Journal, session_id: str, call_id: str) -> None:
    """Wait until the journal has the call discarded or rejected (its state a reader sees)."""
    with anyio.fail_after(10):
        while (await journal.call(session_id, call_id)).state not in (CallState.DISCARDED, CallState.REJECTED):
            await anyio.sleep(0.01)


async def held_and_parked() -> None:
    with anyio.fail_after(10):
        await HOLD.commit_entered.wait()
        await HOLD.parked.wait()


# -- (1) the run cancelled while a commit is in flight ------------------------------------------------


async def test_cancelling_the_run_mid_commit_lets_the_commit_land_and_discards_the_call_before_the_fence(
    tmp_path: Path, notes: Path
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*"]))
        agent = Agent(
            FunctionModel(two_notes_then_done),
            tools=[held_note, parked_note],
            capabilities=[fence.Fence(sup), AfterTheHeldCommit()],
        )
        async with agentstop.bind(sup):
            run = asyncio.ensure_future(agent.run("Write two notes."))
            await held_and_parked()
            run.cancel()  # the asyncio way: a timeout, a TaskGroup, a web request going away
            with anyio.fail_after(10), pytest.raises(asyncio.CancelledError):
                await run
            finished_early = HOLD.commit_finished  # read into a name: asserting on HOLD's would narrow it for good
            assert not finished_early, "the run returned at once, while the commit still held"
            HOLD.release.set()
        calls = await journal.calls(sup.session_id)
        report = await Report.from_journal(journal, sup.session_id)
        assert [(c.call_id, c.tool, c.state) for c in calls] == [
            ("c1", "held_note", CallState.COMMITTED),
            ("c2", "parked_note", CallState.DISCARDED),
        ]
        assert (len(report.done), len(report.interrupted), len(report.in_flight), len(report.undoable)) == (1, 1, 0, 1)
        assert HOLD.commit_finished and not HOLD.commit_interrupted, "the tool body ran whole"
        assert (notes / "one.txt").read_text() == "one" and not (notes / "two.txt").exists()

        [undone] = await sup.undo_all()
        await sup.close()
    assert (undone.call_id, undone.status) == ("c1", "compensated")
    assert list(notes.iterdir()) == []


# -- (2) a run after Stop -----------------------------------------------------------------------------


async def test_a_run_after_stop_completes_with_every_call_answered_by_the_refusal(tmp_path: Path, notes: Path) -> None:
    shouted: list[str] = []

    async def shout(text: str) -> str:
        """Say it loudly (a plain function: agentstop builds an irreversible tool of it)."""
        shouted.append(text)
        return text.upper()

    sent: list[list[ModelMessage]] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        sent.append(list(messages))
        if len(sent) == 1:
            return ModelResponse(
                parts=[
                    ToolCallPart("write_note", {"path": "a.txt", "text": "hello"}, tool_call_id="t1"),
                    ToolCallPart("shout", {"text": "hello"}, tool_call_id="t2"),
                ]
            )
        return ModelResponse(parts=[TextPart("Nothing was done: the session was stopped.")])

    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec())
        agent = Agent(FunctionModel(model), tools=[write_note, shout], capabilities=[fence.Fence(sup)])
        async with agentstop.bind(sup):
            await sup.stop("the user changed their mind")
            result = await agent.run("Write a note and shout.")
        states = [(c.tool, c.state) for c in await journal.calls(sup.session_id)]

    refusal = "refused: grant revoked by user; nothing was sent"
    assert result.output == "Nothing was done: the session was stopped."
    assert answers(sent[1]) == {"t1": [refusal], "t2": [refusal]}, "the model read the refusal, once per call"
    assert_valid(result.all_messages())
    assert shouted == [] and list(notes.iterdir()) == []
    assert [s for _, s in states if s in (CallState.COMMITTING, CallState.COMMITTED)] == []
    assert sorted(t for t, _ in states) == ["shout", "write_note"]


# -- (3) Stop from another process ------------------------------------------------------------------------


async def test_agentstop_stop_from_another_process_cancels_the_run_and_nothing_commits_after_the_revoke(
    tmp_path: Path, notes: Path
) -> None:
    path = tmp_path / "j.db"
    third_note = asyncio.Event()
    turns = 0

    def forever(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        """An agent that would never stop by itself: one more note every turn."""
        nonlocal turns
        turns += 1
        if turns > 3:
            third_note.set()
        return ModelResponse(
            parts=[ToolCallPart("write_note", {"path": f"n{turns}.txt", "text": "x"}, tool_call_id=f"t{turns}")]
        )

    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*"]))
        agent = Agent(FunctionModel(forever), tools=[write_note], capabilities=[fence.Fence(sup)])
        async with agentstop.bind(sup):
            run = asyncio.ensure_future(agent.run("Keep writing notes.", usage_limits=UsageLimits(request_limit=None)))
            with anyio.fail_after(30):
                await third_note.wait()
            stop = await anyio.to_thread.run_sync(
                lambda: agentstop_cli("stop", "--journal", path, "--session", sup.session_id)
            )
            assert stop.returncode == 0, stop.stderr
            with anyio.fail_after(30), pytest.raises(RunCancelled) as cancelled:
                await run
        events = await journal.events(sup.session_id)
        calls = await journal.calls(sup.session_id)
        report = await Report.from_journal(journal, sup.session_id)
        reconciled = await fence.reconcile_history(cancelled.value.all_messages(), sup)

    [revoked] = [e.seq for e in events if e.kind == "revoked"]
    assert [e for e in events if e.kind == CallState.COMMITTING and e.seq > revoked] == []
    assert report.session.status == "stopped"
    assert sorted(i.call_id for i in (*report.done, *report.interrupted, *report.in_flight)) == sorted(
        c.call_id for c in calls
    )
    assert {f"n{i}.txt" for i in range(1, len(report.done) + 1)} == {p.name for p in notes.iterdir()}
    assert_valid(reconciled)


# -- (4) the history after a cancel ------------------------------------------------------------------------


async def test_reconciled_history_answers_every_call_once_with_what_the_journal_says(
    tmp_path: Path, notes: Path
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*"]))
        agent = Agent(
            FunctionModel(two_notes_then_done),
            tools=[held_note, parked_note],
            capabilities=[fence.Fence(sup), AfterTheHeldCommit()],
        )
        async with agentstop.bind(sup):
            run = asyncio.ensure_future(agent.run("Write two notes."))
            await held_and_parked()
            stopping = asyncio.ensure_future(sup.stop("wrong goal"))  # Stop cancels the run through on_stop
            with anyio.fail_after(10), pytest.raises(RunCancelled) as cancelled:
                await run
            history = cancelled.value.all_messages()
            # The moment this test means: c1 still committing, c2 cut off. The run returns once its tasks are
            # cancelled; the supervisor, which owns the call, may still be journaling c2's discard.
            await cut_off_before_the_fence(journal, sup.session_id, "c2")

            while_committing = await fence.reconcile_history(history, sup)
            HOLD.release.set()
            with anyio.fail_after(10):
                await stopping
            settled = await fence.reconcile_history(history, sup)

            sent: list[list[ModelMessage]] = []

            def reader(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
                sent.append(list(messages))
                return ModelResponse(parts=[TextPart("one note was written; the other was not")])

            resumed = await Agent(FunctionModel(reader), capabilities=[fence.Fence(sup)]).run(
                "What happened?", message_history=settled
            )
            await Agent(FunctionModel(reader), capabilities=[fence.Fence(sup)]).run(
                "What happened?", message_history=history
            )

    assert answers(history) == {"t1": [], "t2": []}, "the cancelled run's history leaves both calls unanswered"
    now = answers(while_committing)
    assert now["t1"] == ["stopped: outcome unknown, being checked"]
    assert len(now["t2"]) == 1 and now["t2"][0].startswith("interrupted by the user: not executed (")
    assert answers(settled) == {"t1": ['done: {"path": "one.txt"}'], "t2": now["t2"]}
    assert_valid(settled)
    assert answers(sent[0]) == answers(settled), "the next run's model read the journal's answers, once each"
    assert resumed.output == "one note was written; the other was not"
    # Without the journal, PydanticAI closes the landed call out as interrupted (pydantic-ai #7977).
    closeout = [p for m in sent[1] for p in m.parts if isinstance(p, ToolReturnPart) and p.tool_call_id == "t1"]
    assert [p.outcome for p in closeout] == ["interrupted"]
    assert (notes / "one.txt").read_text() == "one"


# -- tools that are not agentstop's ------------------------------------------------------------------------


async def test_a_plain_tool_is_fenced_by_policy_undone_by_its_compensation_and_replayed_by_its_call_id(
    tmp_path: Path, notes: Path
) -> None:
    issued: list[str] = []

    async def post(text: str) -> str:
        """Post a message to the board (a plain PydanticAI tool)."""
        if not text[:1].isupper():
            raise ModelRetry("start with a capital letter")  # the tool's own answer: a retry, nothing landed
        issued.append(text)
        (notes / "board.txt").write_text(text)
        return f"posted {text!r}"

    async def unpost(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
        (notes / "board.txt").unlink()

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returned = [p for p in messages[-1].parts if isinstance(p, ToolReturnPart)]
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("post", {"text": "hello"}, tool_call_id="p1")])
        if returned[0].outcome == "retried":
            return ModelResponse(parts=[ToolCallPart("post", {"text": "Hello"}, tool_call_id="p2")])
        return ModelResponse(parts=[TextPart(str(returned[0].content))])

    def replay(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("post", {"text": "Hello"}, tool_call_id="p2")])
        return model(messages, info)

    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec())
        agent = Agent(
            FunctionModel(model),
            tools=[post],
            capabilities=[fence.Fence(sup, policy={"post": "compensable"}, compensate={"post": unpost})],
        )
        async with agentstop.bind(sup):
            first = await agent.run("Post hello.")
            # The same conversation makes the same call again (a durable engine replaying the run,
            # a history resumed with the call still open): the recorded output, not a second post.
            replayed = await agent.run(
                "Post hello.", conversation_id=first.conversation_id, model=FunctionModel(replay)
            )
            [undone] = await sup.undo_all()
        calls = await journal.calls(sup.session_id)

    assert first.output == "posted 'Hello'" and replayed.output == "posted 'Hello'"
    assert issued == ["Hello"], "one effect for the call id p2, however often it is made"
    assert [(c.call_id, c.state) for c in calls] == [("c1", CallState.FAILED), ("c2", CallState.COMPENSATED)]
    assert "the tool raised ModelRetry" in (calls[0].reason or "")
    assert undone.status == "compensated" and not (notes / "board.txt").exists()


async def test_pydantic_ais_approval_defers_the_call_before_the_fence_and_the_approved_call_runs_once(
    tmp_path: Path,
) -> None:
    sent: list[str] = []

    async def send(to: str) -> str:
        """Send a message (PydanticAI asks for approval first)."""
        sent.append(to)
        return f"sent to {to}"

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("send", {"to": "ada"}, tool_call_id="s1")])
        [answer] = [p for p in messages[-1].parts if isinstance(p, ToolReturnPart)]
        return ModelResponse(parts=[TextPart(str(answer.content))])

    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec())
        agent = Agent(FunctionModel(model), output_type=[str, DeferredToolRequests], capabilities=[fence.Fence(sup)])
        agent.tool_plain(requires_approval=True)(send)
        async with agentstop.bind(sup):
            asked = await agent.run("Send Ada the note.")
            before = await journal.calls(sup.session_id)
            approved = await agent.run(
                message_history=asked.all_messages(), deferred_tool_results=DeferredToolResults(approvals={"s1": True})
            )
        after = await journal.calls(sup.session_id)

    assert isinstance(asked.output, DeferredToolRequests) and before == [], "asking is not a call: nothing journaled"
    assert approved.output == "sent to ada" and sent == ["ada"]
    assert [(c.tool, c.state) for c in after] == [("send", CallState.COMMITTED)]
