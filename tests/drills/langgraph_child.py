"""A LangGraph agent behind the fence in its own process, for the drill that kills it and runs it again.

Usage: python -m tests.drills.langgraph_child JOURNAL CHECKPOINTS LEDGER CALLS async|sync

The agent is what a person writes from docs/adapters/langgraph.md: a `StateGraph`
whose `ToolNode` gets `Fence(sup).awrap_tool_call`, checkpointed durably
(`AsyncSqliteSaver`, `durability="sync"`) on thread "t1": the page's async route. With `sync`, its
sync route: the graph runs with `stream()` in a worker thread while `bind(sup)`
runs on the event loop, its `ToolNode` gets `Fence(sup).wrap_tool_call` (each call
through `Supervisor.call_sync`), checkpointed by the sync `SqliteSaver`. Its model asks for
`ledger_entry` CALLS times, one call a turn, each with a fresh random tool-call id
as a real model gives, deciding the next entry from the transcript (so a run that
starts again from the checkpoint goes on where the thread was). The tool appends
its entry to LEDGER (tests/drills/ledger_tool.py).

Run again on the same files, it does what the docs say to do after a crash:
resume the session (`Supervisor(..., session_id=SESSION, resume=True)`, which
settles what the dead process left in flight) and invoke the thread again.

It prints `session <id>` once the session runs, `entry <n>` after each entry's
commit returns (the ledger has it by then), and `finished` at the end.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import anyio
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

import agentstop
from agentstop import GrantSpec, Journal, Supervisor
from agentstop.adapters import langgraph as fence
from tests.drills.ledger_model import WRITTEN_MARK, next_entry
from tests.drills.ledger_tool import LEDGER_ENV, SESSION, ledger_entry
from tests.support.langchain_transcripts import StrictChatModel

THREAD: RunnableConfig = {"configurable": {"thread_id": "t1"}, "recursion_limit": 10_000}


class LedgerModel(StrictChatModel):
    """Asks for the first entry the transcript does not say was written, with a new tool-call id each time;
    then says done. Strict as a real API: a call left unanswered, or answered twice, is refused (a 400)."""

    calls: int = 0

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.refuse_invalid(messages)
        asked = {
            str(c["id"]): c["args"].get("entry") for m in messages if isinstance(m, AIMessage) for c in m.tool_calls
        }
        done = {
            asked[m.tool_call_id] for m in messages if isinstance(m, ToolMessage) and WRITTEN_MARK in str(m.content)
        }
        entry = next_entry({e for e in done if e}, self.calls)
        if entry is None:
            return ChatResult(generations=[ChatGeneration(message=AIMessage("done"))])
        call = {
            "id": f"call_{uuid.uuid4().hex[:16]}",
            "name": "ledger_entry",
            "args": {"entry": entry},
            "type": "tool_call",
        }
        return ChatResult(generations=[ChatGeneration(message=AIMessage("", tool_calls=[call]))])


def _say(line: str) -> None:
    print(line, flush=True)


async def main(journal_path: str, checkpoints: str, calls: int, sync: bool) -> None:
    model = LedgerModel(messages=iter(()), calls=calls)
    async with Journal.open(journal_path) as journal:
        # Run again after a kill, the session is resumed: agentstop settles what the dead process left first.
        resume = SESSION in {s.session_id for s in await journal.sessions()}
        sup = Supervisor(journal, [ledger_entry.Tool], GrantSpec(), session_id=SESSION, resume=resume)
        inputs: MessagesState | None = None if resume else {"messages": [HumanMessage(f"write {calls} ledger entries")]}
        async with agentstop.bind(sup):
            _say(f"session {sup.session_id}")
            if sync:
                await anyio.to_thread.run_sync(_run_sync, model, sup, checkpoints, inputs)
            else:
                await _run_async(model, sup, checkpoints, inputs)
    _say("finished")


def _graph(node: Any, tools: ToolNode) -> StateGraph[MessagesState]:
    graph = StateGraph(MessagesState)
    graph.add_node("agent", node)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph


def _say_entries(chunk: dict[str, Any]) -> None:
    for message in chunk.get("tools", {}).get("messages", []):
        _say(f"entry {message.content}")


async def _run_async(model: LedgerModel, sup: Supervisor, checkpoints: str, inputs: MessagesState | None) -> None:
    async def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    tools = ToolNode([ledger_entry], awrap_tool_call=fence.Fence(sup).awrap_tool_call)
    async with AsyncSqliteSaver.from_conn_string(checkpoints) as saver:
        app = _graph(agent, tools).compile(checkpointer=saver)
        async for chunk in app.astream(inputs, THREAD, durability="sync", stream_mode="updates"):
            _say_entries(chunk)


def _run_sync(model: LedgerModel, sup: Supervisor, checkpoints: str, inputs: MessagesState | None) -> None:
    """The sync route, in a worker thread: `stream()`, the sync `SqliteSaver`, `wrap_tool_call`."""

    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    tools = ToolNode([ledger_entry], wrap_tool_call=fence.Fence(sup).wrap_tool_call)
    with SqliteSaver.from_conn_string(checkpoints) as saver:
        app = _graph(agent, tools).compile(checkpointer=saver)
        for chunk in app.stream(inputs, THREAD, durability="sync", stream_mode="updates"):
            _say_entries(chunk)


if __name__ == "__main__":
    os.environ.setdefault(LEDGER_ENV, sys.argv[3])
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[4]), sys.argv[5] == "sync")
