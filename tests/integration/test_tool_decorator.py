"""`@agentstop.tool` and `agentstop.bind`: plain functions behind the fence, in the user's own loop.

The tools live in tests/fixtures/decorated_tools.py and write real files; other
processes (`agentstop undo`, `agentstop stop`, `agentstop run`) import them by path.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

import agentstop
from agentstop import CallCutOff, CallState, GrantSpec, Journal, NotBound, OutOfScope, Report, Supervisor
from tests.fixtures import decorated_tools as tools
from tests.fixtures.decorated_tools import append_line, stage_and_write, write_note

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "notes"
    d.mkdir()
    monkeypatch.setenv(tools.DIR_ENV, str(d))
    return d


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


# -- the decorated object ---------------------------------------------------------------------------


def test_the_decorated_function_keeps_its_signature_and_its_tool_class_is_importable_by_path() -> None:
    import inspect

    assert inspect.iscoroutinefunction(write_note)
    assert list(inspect.signature(write_note).parameters) == ["path", "text", "due"]
    assert write_note.__doc__ == write_note.__wrapped__.__doc__
    cls = write_note.Tool
    assert issubclass(cls, agentstop.Tool)
    assert (cls.name, cls.reversibility, cls.on_stop) == ("write_note", "reversible", "wait")
    assert cls.description == "Write a note to the notes folder."
    assert cls.can_compensate() and cls.can_lookup() and not cls.can_reapply()
    assert agentstop.tools.import_path(cls()) == "tests.fixtures.decorated_tools:write_note.Tool"
    schema = cls.Args.model_json_schema()
    assert schema["required"] == ["path", "text"]
    assert schema["properties"]["text"]["description"] == "the note"  # from Field
    assert schema["properties"]["path"]["description"] == "the note's file name inside the folder."  # docstring
    assert schema["properties"]["due"]["anyOf"][0] == {"format": "date-time", "type": "string"}
    assert not inspect.iscoroutinefunction(append_line)


def test_the_openai_agents_sdk_infers_the_same_schema_as_for_the_plain_function() -> None:
    agents = pytest.importorskip("agents")
    fenced, plain = agents.function_tool(write_note), agents.function_tool(write_note.__wrapped__)
    assert fenced.params_json_schema == plain.params_json_schema
    assert (fenced.name, fenced.description) == ("write_note", "Write a note to the notes folder.")


def test_langchain_infers_the_same_schema_as_for_the_plain_function() -> None:
    lc_tools = pytest.importorskip("langchain_core.tools")
    fenced, plain = lc_tools.tool(write_note), lc_tools.tool(write_note.__wrapped__)
    assert fenced.tool_call_schema.model_json_schema() == plain.tool_call_schema.model_json_schema()
    assert fenced.coroutine is write_note  # LangChain awaits our wrapper: the call goes through the fence


def test_pydantic_ai_infers_the_same_schema_as_for_the_plain_function() -> None:
    pai_tools = pytest.importorskip("pydantic_ai.tools")
    fenced, plain = pai_tools.Tool(write_note), pai_tools.Tool(write_note.__wrapped__)
    assert fenced.function_schema.json_schema == plain.function_schema.json_schema
    assert not fenced.takes_ctx


async def test_called_with_no_supervisor_bound_it_raises_and_runs_nothing(notes: Path) -> None:
    with pytest.raises(NotBound, match="no supervisor bound, so nothing ran"):
        await write_note(path="a.txt", text="hello")
    with pytest.raises(NotBound):
        await anyio.to_thread.run_sync(lambda: append_line(name="b.txt", line="x"))
    assert list(notes.iterdir()) == []


# -- calls through the bound supervisor ----------------------------------------------------------------


async def test_a_bound_call_goes_through_the_fence_and_returns_the_receipt(tmp_path: Path, notes: Path) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [], GrantSpec(tools=["write_note"], scopes=["notes:a*"]))
        async with agentstop.bind(sup):
            receipt = await write_note(path="a.txt", text="hello")
            with pytest.raises(OutOfScope):
                await write_note(path="b.txt", text="out of scope")
        call, refused = await journal.calls(sup.session_id)
        session = await journal.session(sup.session_id)
    assert refused.state == CallState.REJECTED and not (notes / "b.txt").exists()
    assert receipt == {"path": "a.txt", "key": call.idempotency_key, "call_id": "c1"}
    assert (notes / "a.txt").read_text() == "hello"
    assert call.state == CallState.COMMITTED and call.resource == "notes:a.txt"
    assert session.tools == ["tests.fixtures.decorated_tools:write_note.Tool"]


async def test_a_sync_tool_runs_from_worker_threads_through_the_supervisor_loop(tmp_path: Path, notes: Path) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [append_line.Tool], GrantSpec())
        async with agentstop.bind(sup):
            # anyio's worker thread inherits the binder's context ...
            first = await anyio.to_thread.run_sync(lambda: append_line(name="log.txt", line="one"))
            # ... a framework's own thread does not: the process's only bound supervisor is used.
            results: list[Any] = []
            thread = threading.Thread(target=lambda: results.append(append_line(name="log.txt", line="two")))
            thread.start()
            await anyio.to_thread.run_sync(thread.join)
        states = [c.state for c in await journal.calls(sup.session_id)]
    assert first == {"name": "log.txt", "line": "one"} and results == [{"name": "log.txt", "line": "two"}]
    assert (notes / "log.txt").read_text() == "one\ntwo\n"
    assert states == [CallState.COMMITTED, CallState.COMMITTED]


async def test_call_sync_from_the_loop_thread_refuses_instead_of_blocking_and_a_timeout_cancels(
    tmp_path: Path, notes: Path
) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [append_line.Tool], GrantSpec())
        async with agentstop.bind(sup):
            with pytest.raises(RuntimeError, match="would block it forever"):
                append_line(name="x.txt")
            assert list(notes.iterdir()) == []


async def test_hooks_prepare_check_and_reapply_and_a_subclass_override_apply_everywhere(
    tmp_path: Path, notes: Path
) -> None:
    class Shouting(stage_and_write.Tool):  # type: ignore[name-defined,misc]
        def summary(self, args: Any) -> str:
            return f"SHOUT {args.name}"

    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [Shouting], GrantSpec())
        async with agentstop.bind(sup):
            receipt = await stage_and_write(name="s.txt", text="quiet")
        assert receipt == {"name": "s.txt", "etag": "QUIET"}
        [call] = await journal.calls(sup.session_id)
        assert call.summary == "SHOUT s.txt"  # the registered subclass served the direct call
        (notes / "s.txt").write_text("edited by hand")
        [refused] = await sup.undo(["c1"])
        assert refused.status == "refused" and "the note now says 'edited by hand'" in (refused.drift or "")
        [forced] = await sup.undo(["c1"], force=True)
        assert forced.status == "compensated" and not (notes / "s.txt").exists()
        [again] = await sup.reapply(["c1"])
        assert again.status == "reapplied" and (notes / "s.txt").read_text() == "QUIET"


async def test_sup_call_by_name_and_by_class_run_the_same_tool(tmp_path: Path, notes: Path) -> None:
    async with Journal.open(tmp_path / "j.db") as journal:
        sup = Supervisor(journal, [write_note.Tool], GrantSpec())
        await sup.call("write_note", {"path": "n.txt", "text": "by name"})
        await sup.call(write_note.Tool, {"path": "c.txt", "text": "by class"})
        await sup.close()
    assert (notes / "n.txt").read_text() == "by name" and (notes / "c.txt").read_text() == "by class"


# -- other processes ------------------------------------------------------------------------------------


async def test_agentstop_undo_in_another_process_compensates_decorated_calls(tmp_path: Path, notes: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [], GrantSpec())
        async with agentstop.bind(sup):
            await write_note(path="a.txt", text="hello")
            await anyio.to_thread.run_sync(lambda: append_line(name="log.txt", line="one"))
        await sup.close()
    assert sorted(p.name for p in notes.iterdir()) == ["a.txt", "log.txt"]

    undo = await anyio.to_thread.run_sync(
        lambda: agentstop_cli("undo", "--journal", path, "--session", sup.session_id, "--all")
    )

    assert undo.returncode == 0, undo.stderr
    assert not (notes / "a.txt").exists() and (notes / "log.txt").read_text() == ""


def test_a_task_file_names_a_decorated_tool_by_its_path(tmp_path: Path, notes: Path) -> None:
    task = tmp_path / "notes.yaml"
    task.write_text(
        "name: Notes\ngoal: Write one note.\nagent: {kind: scripted, tokens_per_second: 0}\n"
        "tools: ['tests.fixtures.decorated_tools:write_note.Tool']\n"
        "grant: {tools: [write_note], scopes: ['notes:*'], ttl: 10m}\n"
        "steps:\n  - {thought: 'One.', tool: write_note, args: {path: one.txt, text: hi}}\n"
    )
    run = agentstop_cli("run", task, "--headless", "--json", "--journal", tmp_path / "j.db")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert [(i["tool"], i["state"]) for i in report["done"]] == [("write_note", "committed")]
    assert (notes / "one.txt").read_text() == "hi"


async def test_agentstop_stop_from_another_process_cancels_the_loop_through_on_stop(
    tmp_path: Path, notes: Path
) -> None:
    path = tmp_path / "j.db"
    stopped: list[str] = []
    async with Journal.open(path) as journal:
        sup = Supervisor(journal, [], GrantSpec(scopes=["notes:*"]))

        async def my_agent() -> None:
            n = 0
            while True:  # the user's own loop, calling their decorated tool
                n += 1
                try:
                    await write_note(path=f"n{n}.txt", text="x")
                except CallCutOff:
                    pass  # refused after the revoke (or cut off by Stop); the loop goes on until cancelled

        async with agentstop.bind(sup) as binding:
            loop_task = asyncio.ensure_future(my_agent())

            def cancel_loop() -> None:
                stopped.append("stop")
                loop_task.cancel()

            binding.on_stop(cancel_loop)
            with anyio.fail_after(30):
                while len(list(notes.iterdir())) < 3:
                    await anyio.sleep(0.01)
            stop = await anyio.to_thread.run_sync(
                lambda: agentstop_cli("stop", "--journal", path, "--session", sup.session_id)
            )
            assert stop.returncode == 0, stop.stderr
            with anyio.fail_after(30):
                with pytest.raises(asyncio.CancelledError):
                    await loop_task
        events = await journal.events(sup.session_id)
        calls = await journal.calls(sup.session_id)
        report = await Report.from_journal(journal, sup.session_id)

    assert stopped == ["stop"], "on_stop ran once"
    [revoked] = [e.seq for e in events if e.kind == "revoked"]
    assert [e for e in events if e.kind == CallState.COMMITTING and e.seq > revoked] == []
    assert report.session.status == "stopped"
    assert sorted(i.call_id for i in (*report.done, *report.interrupted, *report.in_flight)) == sorted(
        c.call_id for c in calls
    )
    assert {f"n{i}.txt" for i in range(1, len(report.done) + 1)} == {p.name for p in notes.iterdir()}
