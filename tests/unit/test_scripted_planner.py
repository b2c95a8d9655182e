"""ScriptedPlanner: streams thoughts, issues calls in order, survives refusals, stops at once.

The first tests drive it with a recording fake agent; the rest run it under a
real Supervisor and Journal with the fixture tool that writes files.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import TaskStatus

from agentstop import Journal, OutcomeUnknown, OutOfScope, Supervisor, ToolFailed, TranscriptChunk, UnknownTool
from agentstop.planners.base import Resumption
from agentstop.planners.scripted import ScriptedPlanner, ScriptedStep, split_tokens
from agentstop.task import TaskFile, parse_task

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"

pytestmark = pytest.mark.usefixtures("isolated_imports")


class FakeAgent:
    """Records what the planner asks for; `results` says how each call ends."""

    def __init__(self, results: dict[str, Any] | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.results = results or {}
        self.keys: list[str | None] = []

    session_id = "s1"

    @property
    def tools(self) -> Sequence[Any]:
        return []

    async def call(self, tool: str, args: Any, *, key: str | None = None) -> dict[str, Any]:
        self.events.append(("call", (tool, args)))
        self.keys.append(key)
        await anyio.lowlevel.checkpoint()
        result = self.results.get(tool, {"ok": True})
        if isinstance(result, BaseException):
            raise result
        return dict(result)

    async def call_parallel(
        self, calls: Sequence[tuple[str, Any]], keys: Sequence[str | None] | None = None
    ) -> list[dict[str, Any] | BaseException]:
        self.events.append(("parallel", list(calls)))
        self.keys.extend(keys or [None] * len(calls))
        await anyio.lowlevel.checkpoint()
        return [self.results.get(tool, {"ok": True}) for tool, _ in calls]

    async def say(self, text: str) -> None:
        self.events.append(("say", text))

    async def step_boundary(self) -> None:
        pass

    async def record(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append(("record", (kind, data)))

    async def resumed_from(self, kinds: Sequence[str]) -> Resumption | None:
        return None  # always a new session: the scripted planner's resume is tested under a real Supervisor

    async def end_thought(self) -> None:
        self.events.append(("end", None))


def step(thought: str = "", *calls: tuple[str, dict[str, Any]], parallel: bool = False) -> ScriptedStep:
    return ScriptedStep(thought, tuple(calls), parallel)


# -- with a fake agent -------------------------------------------------------------


def test_split_tokens_keeps_the_whitespace() -> None:
    assert split_tokens("First I  will\nwrite.\n") == ["First ", "I  ", "will\n", "write.\n"]
    assert "".join(split_tokens("a b  c ")) == "a b  c "
    assert split_tokens("") == []


def test_scripted_step_checks_its_shape() -> None:
    with pytest.raises(ValueError, match="parallel"):
        ScriptedStep("x", (("a", {}), ("b", {})))
    with pytest.raises(ValueError, match="tokens_per_second"):
        ScriptedPlanner([], tokens_per_second=-1)


@pytest.mark.parametrize(("rate", "delay"), [(40.0, 0.025), (0.0, 0.0), (float("inf"), 0.0)])
def test_delay_between_words(rate: float, delay: float) -> None:
    assert ScriptedPlanner([], tokens_per_second=rate).delay == pytest.approx(delay)


@pytest.mark.anyio
async def test_thought_then_call_then_next_step() -> None:
    agent = FakeAgent()
    await ScriptedPlanner(
        [
            step("Send it now.", ("send", {"to": "a"})),
            step("Just thinking."),
            step("", ("book", {})),
        ],
        tokens_per_second=0,
    ).run(agent)
    assert agent.events == [
        ("say", "Send "),
        ("say", "it "),
        ("say", "now."),
        ("end", None),
        ("call", ("send", {"to": "a"})),
        ("say", "Just "),
        ("say", "thinking."),
        ("end", None),
        ("end", None),
        ("call", ("book", {})),
    ]


@pytest.mark.anyio
async def test_words_are_paced_by_the_rate() -> None:
    agent = FakeAgent()
    started = time.monotonic()
    await ScriptedPlanner([step("one two three four five six")], tokens_per_second=100).run(agent)
    assert time.monotonic() - started >= 5 * 0.01 * 0.9  # five pauses between six words


@pytest.mark.anyio
async def test_refused_and_failed_calls_are_said_and_the_plan_goes_on() -> None:
    agent = FakeAgent(
        {
            "send": OutOfScope("c1", "send", "resource 'mail:x' is outside the grant"),
            "pay": ToolFailed("c2", "pay", "commit", "OSError: down", "nothing landed"),
        }
    )
    await ScriptedPlanner(
        [step("", ("send", {})), step("", ("pay", {})), step("", ("book", {}))], tokens_per_second=0
    ).run(agent)
    said = [text for kind, text in agent.events if kind == "say"]
    assert said == [
        "(call refused: resource 'mail:x' is outside the grant)",
        "(call failed: OSError: down; nothing landed)",
    ]
    assert agent.events[-1] == ("call", ("book", {}))


@pytest.mark.anyio
async def test_a_call_that_may_have_landed_is_not_said_to_be_refused() -> None:
    agent = FakeAgent({"pay": OutcomeUnknown("c1", "pay", "commit cancelled by Stop (wrong goal)")})
    await ScriptedPlanner([step("", ("pay", {})), step("", ("after", {}))], tokens_per_second=0).run(agent)
    said = [text for kind, text in agent.events if kind == "say"]
    assert said == ["(call cut off, outcome unknown: commit cancelled by Stop (wrong goal))"]
    assert agent.events[-1] == ("call", ("after", {}))


@pytest.mark.anyio
async def test_parallel_step_notes_each_refusal() -> None:
    agent = FakeAgent({"send": OutOfScope("c1", "send", "not in scope")})
    await ScriptedPlanner(
        [step("Both.", ("book", {}), ("send", {}), parallel=True), step("", ("after", {}))], tokens_per_second=0
    ).run(agent)
    assert ("parallel", [("book", {}), ("send", {})]) in agent.events
    assert ("say", "(call refused: not in scope)") in agent.events
    assert agent.events[-1] == ("call", ("after", {}))


@pytest.mark.anyio
async def test_unknown_tool_ends_the_plan() -> None:
    agent = FakeAgent({"nope": UnknownTool("nope", ["send"])})
    with pytest.raises(UnknownTool):
        await ScriptedPlanner([step("", ("nope", {})), step("", ("send", {}))], tokens_per_second=0).run(agent)
    with pytest.raises(UnknownTool):
        await ScriptedPlanner([step("", ("nope", {}), parallel=True)], tokens_per_second=0).run(agent)


@pytest.mark.anyio
async def test_cancellation_stops_the_stream_at_once() -> None:
    agent = FakeAgent()
    planner = ScriptedPlanner([step(" ".join(f"w{i}" for i in range(100)), ("send", {}))], tokens_per_second=0)
    with anyio.CancelScope() as scope:

        async def say(text: str) -> None:
            agent.events.append(("say", text))
            if text == "w4 ":
                scope.cancel()

        agent.say = say  # type: ignore[method-assign]
        await planner.run(agent)
    assert agent.events[-1] == ("say", "w4 ")


# -- under a real supervisor ---------------------------------------------------------


def task_file(*steps: str, scopes: str = "['files:*']", rate: float = 0) -> TaskFile:
    text = (
        "\n".join(
            [
                "name: planner test",
                f"agent: {{kind: scripted, tokens_per_second: {rate}}}",
                "tools: [fixture_tools:WriteFile, fixture_tools:ListFiles]",
                f"grant: {{tools: ['*'], scopes: {scopes}, ttl: 1m}}",
                "steps:",
                *steps,
            ]
        )
        + "\n"
    )
    return parse_task(text, FIXTURES / "planner.yaml")


async def run_task(task: TaskFile, journal: Journal, chunks: list[TranscriptChunk]) -> Supervisor:
    tools = task.load_tools()
    task.check_steps(tools)
    sup = Supervisor(journal, tools, task.grant_spec(), task.planner(), task_name=task.name, grace=task.grace_seconds)
    sup.on_transcript(chunks.append)
    return sup


@pytest.mark.anyio
async def test_thoughts_stream_and_calls_happen_in_order(tmp_path: Path, files: Path) -> None:
    task = task_file(
        "  - thought: First the notes.",
        "    tool: write_file",
        "    args: {name: notes, text: hello}",
        "  - thought: Now two at once.",
        "    parallel:",
        "      - {tool: write_file, args: {name: summary, delay: 0.2}}",
        "      - {tool: write_file, args: {name: changelog, delay: 0.2}}",
        "  - thought: Check.",
        "    tool: list_files",
        "  - thought: All done.",
    )
    chunks: list[TranscriptChunk] = []
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = await run_task(task, journal, chunks)
        report = await sup.run()
    thoughts = [c.text for c in chunks if c.kind == "thought"]
    assert thoughts[:3] == ["First ", "the ", "notes."]
    assert "".join(thoughts) == "First the notes.Now two at once.Check.All done."
    assert sorted(p.stem for p in files.glob("*.txt")) == ["changelog", "notes", "summary"]
    assert report.session.status == "completed"
    calls = report.all_calls
    assert (calls[0].tool, calls[0].args["name"]) == ("write_file", "notes")
    assert calls[-1].tool == "list_files"
    assert calls[-1].receipt == {"files": ["changelog", "notes", "summary"]}  # after both parallel writes
    # Both parallel writes were in flight at the same time.
    parallel = [c.receipt for c in calls if c.receipt and "started" in c.receipt and "notes" not in c.receipt["path"]]
    assert len(parallel) == 2
    assert max(r["started"] for r in parallel) < min(r["ended"] for r in parallel)
    assert calls[0].committed_at is not None
    assert calls[1].planned_at >= calls[0].committed_at  # each step waits for its call's outcome


@pytest.mark.anyio
async def test_refused_call_does_not_end_the_plan(tmp_path: Path, files: Path) -> None:
    task = task_file(
        "  - {tool: write_file, args: {name: notes}}",
        "  - thought: Sneak one in.",
        "    tool: write_file",
        "    args: {name: secret}",
        "  - {tool: write_file, args: {name: after}}",
        scopes="['files:notes', 'files:after']",
    )
    chunks: list[TranscriptChunk] = []
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = await run_task(task, journal, chunks)
        report = await sup.run()
    said = "".join(c.text for c in chunks if c.kind == "thought")
    assert "(call refused: " in said
    assert "files:secret" in said
    assert sorted(p.stem for p in files.glob("*.txt")) == ["after", "notes"]
    assert [c.state for c in report.all_calls] == ["committed", "rejected", "committed"]


@pytest.mark.anyio
async def test_stop_mid_stream_stops_at_once(tmp_path: Path, files: Path) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    task = task_file(
        "  - {tool: write_file, args: {name: first}}",
        f"  - thought: {words}",
        "    tool: write_file",
        "    args: {name: second}",
        "  - {tool: write_file, args: {name: third}}",
        rate=200,
    )
    chunks: list[TranscriptChunk] = []
    midway = anyio.Event()

    def watch(chunk: TranscriptChunk) -> None:
        if chunk.text == "w5 ":
            midway.set()

    async with Journal.open(tmp_path / "j.db") as journal:
        sup = await run_task(task, journal, chunks)
        sup.on_transcript(watch)

        async def run(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            await sup.run()

        async with anyio.create_task_group() as tg:
            await tg.start(run)
            await midway.wait()
            report = await sup.stop("enough")
            seen = len(chunks)
            await anyio.sleep(0.1)  # twenty words' worth at this rate
            assert len(chunks) == seen, "no chunk may arrive after stop() returned"
    thoughts = [c.text for c in chunks if c.kind == "thought"]
    assert "w5 " in thoughts
    assert "w199" not in thoughts
    assert report.session.status == "stopped"
    assert [(c.args or {}).get("name") for c in report.all_calls] == ["first"]  # later steps never planned
    assert [p.stem for p in files.glob("*.txt")] == ["first"]
