"""OpenAIChatPlanner against a real HTTP server speaking the streaming Chat Completions protocol.

No SDK is mocked: the planner's `openai.AsyncOpenAI` client talks SSE over
HTTP/1.1 to `FakeChatServer` on 127.0.0.1, and the tools write real files.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import Journal, PlannerError, TranscriptChunk

from .conftest import openai_task, run_task, supervisor, until
from .fake_server import Fail, FakeChatServer, Stream, call_args, call_start, finish, free_port, text, whole_call

pytestmark = pytest.mark.anyio


def done(*pieces: str) -> Stream:
    """A final answer: text and no tool call."""
    return Stream([*text(*pieces), finish()])


def tool_messages(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}


# -- one turn, one call ------------------------------------------------------------------


async def test_fragmented_arguments_are_assembled_and_run(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream(
            [
                *text("I will ", "write the notes."),
                call_start(0, "call_a", "write_file"),
                *call_args(0, '{"na', 'me": "no', 'tes", "te', 'xt": "caf', 'é ✓"}'),
                finish("tool_calls"),
            ]
        ),
        done("Done: ", "notes written."),
    )
    run = await run_task(openai_task(server.base_url), journal)

    assert run.error is None
    assert (files / "notes.txt").read_text() == "café ✓"
    assert run.report.session.status == "completed"
    [call] = run.report.all_calls
    assert (call.tool, call.state, call.args) == (
        "write_file",
        "committed",
        {"name": "notes", "text": "café ✓", "delay": 0.0, "hold": ""},
    )
    assert run.said == "I will write the notes.Done: notes written."
    assert [c.text for c in run.chunks if c.kind == "thought"][:2] == ["I will ", "write the notes."]

    first, second = server.received
    assert first.path == "/v1/chat/completions"
    assert first.body["stream"] is True
    assert first.body["model"] == "fake-model"
    assert "temperature" not in first.body
    offered = {t["function"]["name"]: t["function"] for t in first.body["tools"]}
    assert sorted(offered) == ["list_files", "write_file"]
    assert offered["write_file"]["description"] == "Write a text file."
    assert offered["write_file"]["parameters"]["properties"]["name"]["type"] == "string"
    assert [m["role"] for m in first.messages] == ["system", "user"]
    assert first.messages[1]["content"] == "Write the release notes."

    system, user, assistant, tool = second.messages
    assert (system, user) == (first.messages[0], first.messages[1])
    assert assistant["role"] == "assistant"
    assert assistant["content"] == "I will write the notes."
    assert assistant["tool_calls"] == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "write_file", "arguments": '{"name": "notes", "text": "café ✓"}'},
        }
    ]
    assert tool["role"] == "tool"
    assert tool["tool_call_id"] == "call_a"
    assert json.loads(tool["content"])["path"] == str(files / "notes.txt")

    transcript = [e.data["text"] for e in await journal.events(run.report.session.session_id) if e.kind == "transcript"]
    assert transcript == ["I will write the notes.", "Done: notes written."]


async def test_temperature_and_extra_system_prompt_are_sent(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(done("Nothing to do."))
    run = await run_task(openai_task(server.base_url, temperature=0.2, system="Answer in French."), journal)
    assert run.error is None
    [request] = server.received
    assert request.body["temperature"] == 0.2
    assert request.messages[0]["content"].endswith("\n\nAnswer in French.")
    assert run.report.all_calls == ()


# -- several calls in one turn -----------------------------------------------------------


async def test_two_calls_at_distinct_indexes_run_concurrently(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream(
            [
                call_start(0, "call_1", "write_file"),
                call_start(1, "call_2", "write_file"),
                *call_args(0, '{"name": "summary", ', '"delay": 0.3}'),
                *call_args(1, '{"name": "changelog", ', '"delay": 0.3}'),
                finish("tool_calls"),
            ]
        ),
        done("Both written."),
    )
    run = await run_task(openai_task(server.base_url), journal)

    assert run.error is None
    assert sorted(p.stem for p in files.glob("*.txt")) == ["changelog", "summary"]
    receipts = [c.receipt for c in run.report.all_calls]
    assert len(receipts) == 2
    assert max(r["started"] for r in receipts) < min(r["ended"] for r in receipts), "both were in flight at once"

    assistant, *tools = server.received[1].messages[2:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_1", "call_2"]
    assert [m["tool_call_id"] for m in tools] == ["call_1", "call_2"]
    results = tool_messages(tools)
    assert json.loads(results["call_1"])["path"].endswith("summary.txt")
    assert json.loads(results["call_2"])["path"].endswith("changelog.txt")


async def test_ollama_style_calls_at_one_index_are_split_by_id(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream(
            [
                whole_call("call_x", "write_file", {"name": "alpha"}),
                whole_call("call_y", "write_file", {"name": "beta"}),
                finish("tool_calls"),
            ]
        ),
        done("ok"),
    )
    run = await run_task(openai_task(server.base_url), journal)

    assert run.error is None
    assert sorted(p.stem for p in files.glob("*.txt")) == ["alpha", "beta"]
    assert [c.args["name"] for c in run.report.all_calls] == ["alpha", "beta"]
    messages = server.received[1].messages
    assert [c["function"]["arguments"] for c in messages[2]["tool_calls"]] == ['{"name": "alpha"}', '{"name": "beta"}']
    assert sorted(tool_messages(messages)) == ["call_x", "call_y"]


# -- calls that do not go through ---------------------------------------------------------


async def test_invalid_json_arguments_are_journaled_rejected_and_the_model_told(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream([whole_call("call_bad", "write_file", '{"name": "oops",'), finish("tool_calls")]),
        done("Sorry."),
    )
    run = await run_task(openai_task(server.base_url), journal)

    assert run.error is None
    assert list(files.iterdir()) == []
    [call] = run.report.all_calls
    assert call.state == "rejected"
    assert call.args == '{"name": "oops",'  # what the model sent, as it sent it
    assert call.reason is not None and call.reason.startswith("invalid arguments: ")
    assert "(call refused: the arguments are not valid JSON" in run.said

    messages = server.received[1].messages
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == "{}"  # servers that parse it must not choke
    told = tool_messages(messages)["call_bad"]
    assert told.startswith("rejected: the arguments are not valid JSON (")
    assert '{"name": "oops",' in told


async def test_refused_call_is_said_and_the_model_gets_the_reason(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream([whole_call("call_1", "write_file", {"name": "secret"}), finish("tool_calls")]),
        done("Understood."),
    )
    run = await run_task(openai_task(server.base_url, scopes="files:notes"), journal)

    assert run.error is None
    assert [c.state for c in run.report.all_calls] == ["rejected"]
    told = tool_messages(server.received[1].messages)["call_1"]
    assert told.startswith("rejected: ")
    assert "files:secret" in told
    assert "(call refused: " in run.said


async def test_unknown_tool_is_answered_and_not_journaled(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream([whole_call("call_u", "delete_everything", {}), finish("tool_calls")]),
        done("I cannot."),
    )
    run = await run_task(openai_task(server.base_url), journal)

    assert run.error is None
    assert run.report.all_calls == ()  # UnknownTool is raised before anything is journaled
    told = tool_messages(server.received[1].messages)["call_u"]
    assert told == "unknown tool 'delete_everything'; available: list_files, write_file. Nothing was run."
    assert "unknown tool 'delete_everything'" in run.said
    assert run.report.session.status == "completed"


# -- Stop ------------------------------------------------------------------------------------


async def test_stop_mid_stream_closes_the_connection_and_runs_nothing(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream(
            [
                *text("Let me ", "write it."),
                call_start(0, "call_s", "write_file", '{"name": "sec'),
                *call_args(0, 'ret"}'),
                finish("tool_calls"),
            ],
            stall_after=3,
        )
    )
    chunks: list[TranscriptChunk] = []
    sup = supervisor(openai_task(server.base_url), journal, chunks)
    finished = anyio.Event()

    async def run() -> None:
        await sup.run()
        finished.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await until(lambda: server.received and server.received[0].stalled.is_set())
        await until(lambda: any(c.text == "write it." for c in chunks))
        started = anyio.current_time()
        report = await sup.stop("enough")
        assert anyio.current_time() - started < 1.0, "Stop must not wait for the model"
        with anyio.fail_after(1):
            await finished.wait()  # the planner was cancelled: run() returned
        await until(lambda: server.received[0].hung_up.is_set(), within=2)

    assert report.session.status == "stopped"
    assert report.all_calls == ()  # the half-streamed call was never planned, let alone committed
    assert list(files.iterdir()) == []
    assert len(server.received) == 1


# -- server trouble ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "said"),
    [
        ("http_500", "the server answered HTTP 500 (the model crashed)"),
        ("refused", "cannot reach the server"),
    ],
)
async def test_server_failure_stops_the_session_with_the_reason(
    broken: str, said: str, server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(Stream([whole_call("call_1", "write_file", {"name": "first"}), finish("tool_calls")]))
    url = server.base_url
    if broken == "http_500":
        server.add(Fail(500, "the model crashed"))
    else:
        server.add(Fail(500, "unused"))
        url = f"http://127.0.0.1:{free_port()}/v1"
    task = openai_task(url)
    run = await run_task(task, journal)

    assert isinstance(run.error, PlannerError)
    assert said in str(run.error)
    assert str(run.error).startswith(f"model 'fake-model' at {url}: ")
    assert run.report.session.status == "stopped"
    assert run.report.session.stopped_by == "agentstop"
    assert run.report.session.stop_reason is not None
    assert said in run.report.session.stop_reason
    if broken == "http_500":  # the call before the failure landed and stays in the report
        assert [(c.args["name"], c.state) for c in run.report.all_calls] == [("first", "committed")]
        assert (files / "first.txt").exists()


async def test_a_slow_server_is_just_slow(server: FakeChatServer, files: Path, journal: Journal) -> None:
    server.add(
        Stream(
            [
                *text("Thinking ", "slowly ", "about ", "it."),
                call_start(0, "call_1", "write_file"),
                *call_args(0, '{"name": ', '"slow"}'),
                finish("tool_calls"),
            ],
            delay=0.1,
        ),
        Stream([*text("Done."), finish()], delay=0.1),
    )
    run = await run_task(openai_task(server.base_url, timeout=2), journal)

    assert run.error is None
    assert run.seconds >= 0.7  # seven pauses of 0.1 s
    assert (files / "slow.txt").exists()
    assert run.report.session.status == "completed"


async def test_a_server_silent_past_the_timeout_is_an_error(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(Stream([*text("Hmm", "..."), finish()], delay=1.0))
    run = await run_task(openai_task(server.base_url, timeout=0.2), journal)
    assert isinstance(run.error, PlannerError)
    assert "no answer within 0.2 s" in str(run.error)
    assert run.report.session.status == "stopped"


# -- the key ------------------------------------------------------------------------------------


async def test_the_api_key_never_reaches_the_journal(
    server: FakeChatServer, files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "k3y-" + secrets.token_hex(16)  # no shape the redactor knows: only our care keeps it out
    monkeypatch.setenv("FAKE_MODEL_KEY", key)
    server.add(
        Stream([whole_call("call_1", "write_file", {"name": "notes"}), finish("tool_calls")]),
        Fail(401, f"Incorrect API key provided: {key}"),
    )
    task = openai_task(server.base_url, api_key_env="FAKE_MODEL_KEY")
    assert key not in repr(task.planner())
    async with Journal.open(tmp_path / "keyed.db") as journal:
        run = await run_task(task, journal)

    assert [r.headers["authorization"] for r in server.received] == [f"Bearer {key}"] * 2
    assert isinstance(run.error, PlannerError)
    assert "HTTP 401" in str(run.error)
    assert "$FAKE_MODEL_KEY" in str(run.error)
    assert key not in str(run.error)
    journal_files = list(tmp_path.glob("keyed.db*"))
    assert journal_files
    for path in journal_files:
        assert key.encode() not in path.read_bytes(), path.name


# -- max_steps --------------------------------------------------------------------------------


async def test_max_steps_ends_the_run_and_says_so(server: FakeChatServer, files: Path, journal: Journal) -> None:
    server.add(
        Stream([whole_call("call_1", "list_files", {}), finish("tool_calls")]),
        Stream([whole_call("call_2", "list_files", {}), finish("tool_calls")]),
        done("never asked for"),
    )
    run = await run_task(openai_task(server.base_url, max_steps=2), journal)

    assert run.error is None
    assert len(server.received) == 2
    assert [c.state for c in run.report.all_calls] == ["committed", "committed"]
    assert "the model used all 2 turns (max_steps)" in run.said
    assert run.report.session.status == "completed"


async def test_stop_while_a_call_commits_lets_it_land_and_asks_the_model_nothing_more(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream([whole_call("call_1", "write_file", {"name": "slow", "delay": 0.4}), finish("tool_calls")]),
        done("never asked for"),
    )
    chunks: list[TranscriptChunk] = []
    sup = supervisor(openai_task(server.base_url), journal, chunks)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sup.run)
        await until(lambda: any(f.phase.value == "committing" for f in sup.in_flight))
        report = await sup.stop("enough")

    assert [(c.args["name"], c.state) for c in report.all_calls] == [("slow", "committed")]  # on_stop: wait
    assert (files / "slow.txt").exists()
    assert len(server.received) == 1  # the planner was cancelled before sending the result back
    assert report.session.status == "stopped"
