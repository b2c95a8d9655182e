"""Resume of a model-driven session: the conversation continues from the journal, every tool call answered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import Journal, Supervisor
from agentstop.planners.base import Resumption
from agentstop.planners.openai_chat import call_key, continued_conversation

from .conftest import openai_task, until
from .fake_server import FakeChatServer, Stream, finish, text, whole_call

pytestmark = pytest.mark.anyio


def _assistant(*ids: str) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "write_file", "arguments": "{}"}} for i in ids
        ],
    }


def test_every_tool_call_id_is_answered_from_what_the_journal_knows() -> None:
    sid = "s1"
    resumption = Resumption(
        records=(
            ("llm_assistant", _assistant("call_1")),
            ("llm_results", {"messages": [{"role": "tool", "tool_call_id": "call_1", "content": '{"ok": 1}'}]}),
            ("llm_assistant", _assistant("call_2", "call_3", "call_4")),  # Stop came while these ran
            ("session_resumed", {"epoch": 2, "instruction": "only the notes, please"}),
        ),
        outcomes={
            call_key(sid, "call_1"): ("committed", {"ok": 1}),
            call_key(sid, "call_2"): ("committed", {"path": "b.txt"}),
            call_key(sid, "call_3"): ("unknown", None),
        },  # call_4 never reached the journal
    )
    messages = continued_conversation(resumption, sid)
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant", "tool", "tool", "tool", "user"]
    answers = {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}
    assert answers == {
        "call_1": '{"ok": 1}',
        "call_2": json.dumps({"path": "b.txt"}),
        "call_3": "stopped: outcome unknown, being checked",
        "call_4": "interrupted by the user: not executed",
    }
    assert messages[-1] == {"role": "user", "content": "only the notes, please"}


async def test_a_resumed_model_session_continues_the_conversation(
    server: FakeChatServer, files: Path, journal: Journal
) -> None:
    server.add(
        Stream(
            [
                *text("Writing a and b."),
                whole_call("call_a", "write_file", {"name": "a", "delay": 1.0}, 0),
                whole_call("call_b", "write_file", {"name": "b"}, 1),
                finish("tool_calls"),
            ]
        ),
        Stream([*text("Done."), finish()]),
    )
    task = openai_task(server.base_url)
    tools = task.load_tools()
    first = Supervisor(journal, tools, task.grant_spec(), task.planner(), task_name=task.name, goal=task.goal, grace=5)
    async with anyio.create_task_group() as tg:
        tg.start_soon(first.run)
        await until(lambda: (files / "b.txt").exists())
        report = await first.stop("I meant only a", "user")  # call_a is still committing: it lands (wait)
    assert sorted(i.summary.split()[0] for i in report.done) == ["write_file", "write_file"]

    resumed = Supervisor(
        journal,
        tools,
        task.grant_spec(),
        task.planner(),
        session_id=first.session_id,
        resume=True,
        instruction="Good. Now stop writing files.",
    )
    final = await resumed.run()

    assert final.session.status == "completed" and final.epochs == 2
    assert len(server.received) == 2
    messages = server.received[1].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool", "user"]
    asked = {c["id"] for c in messages[2]["tool_calls"]}
    answered = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    assert asked == answered == {"call_a", "call_b"}
    assert all(json.loads(m["content"])["path"].endswith(".txt") for m in messages if m["role"] == "tool")
    assert messages[-1] == {"role": "user", "content": "Good. Now stop writing files."}
    # Nothing was issued twice: two calls in the journal, both from the first epoch.
    assert [(i.epoch, i.state) for i in final.all_calls] == [(1, "committed"), (1, "committed")]
