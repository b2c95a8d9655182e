"""A LangGraph agent behind the fence in its own process, for the drill that kills it and runs it again.

Usage: python -m tests.drills.langgraph_child JOURNAL CHECKPOINTS LEDGER CALLS

The agent is what a person writes from docs/adapters/langgraph.md: a `StateGraph`
whose `ToolNode` gets `Fence(sup).awrap_tool_call`, checkpointed durably
(`AsyncSqliteSaver`, `durability="sync"`) on thread "t1". Its model asks for
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


async def main(journal_path: str, checkpoints: str, calls: int) -> None:
    model = LedgerModel(messages=iter(()), calls=calls)
    async with Journal.open(journal_path) as journal, AsyncSqliteSaver.from_conn_string(checkpoints) as saver:
        # Run again after a kill, the session is resumed: agentstop settles what the dead process left first.
        resume = SESSION in {s.session_id for s in await journal.sessions()}
        sup = Supervisor(journal, [ledger_entry.Tool], GrantSpec(), session_id=SESSION, resume=resume)

        async def agent(state: MessagesState) -> dict[str, Any]:
            return {"messages": [await model.ainvoke(state["messages"])]}

        graph = StateGraph(MessagesState)
        graph.add_node("agent", agent)
        graph.add_node("tools", ToolNode([ledger_entry], awrap_tool_call=fence.Fence(sup).awrap_tool_call))
        graph.add_edge(START, "agent")
        graph.add_conditional_edges("agent", tools_condition)
        graph.add_edge("tools", "agent")
        app = graph.compile(checkpointer=saver)
        async with agentstop.bind(sup):
            _say(f"session {sup.session_id}")
            inputs: MessagesState | None = (
                None if resume else {"messages": [HumanMessage(f"write {calls} ledger entries")]}
            )
            async for chunk in app.astream(inputs, THREAD, durability="sync", stream_mode="updates"):
                for message in chunk.get("tools", {}).get("messages", []):
                    _say(f"entry {message.content}")
        _say("finished")


if __name__ == "__main__":
    os.environ.setdefault(LEDGER_ENV, sys.argv[3])
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[4]))
