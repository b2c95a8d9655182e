"""A LangChain agent that keeps notes on disk, behind agentstop's fence.

    pip install 'agentstop[langgraph]' langchain-openai
    # any OpenAI-compatible server: Ollama, vLLM, llama.cpp, OpenAI itself
    export OPENAI_BASE_URL=http://127.0.0.1:11434/v1 OPENAI_API_KEY=unused OPENAI_MODEL=qwen2.5:7b
    python examples/langgraph_notes.py "Write a shopping list for pancakes, then file it under 'todo'."

and, in a second terminal, watch it, Stop it, undo what it did:

    agentstop tui --journal langgraph-notes.db --session latest

The agent is `create_agent` with the user's tools as they are, plus one line:
`middleware=[FenceMiddleware(sup, policy={"list_notes": "read_only"})]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

import agentstop
from agentstop import GrantSpec, Journal, Supervisor
from agentstop.adapters import langgraph as fence
from agentstop.report import Report

NOTES = Path(os.environ.get("NOTES_DIR", "notes")).resolve()


# -- the tools: two declared for agentstop, one plain LangChain tool ---------------------------------
# Plain sync functions: agentstop runs them (and their undo) in a worker thread.


@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.name}")
def write_note(name: str, text: str) -> dict[str, Any]:
    """Write a note (a new one, or over an old one).

    Args:
        name: the note's file name, like "shopping.md".
        text: what the note says.
    """
    target = NOTES / Path(name).name
    before = target.read_text() if target.exists() else None
    target.write_text(text)
    return {"name": target.name, "before": before}


@write_note.compensate
def _restore(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
    target = NOTES / receipt["name"]
    if receipt["before"] is None:
        target.unlink(missing_ok=True)
    else:
        target.write_text(receipt["before"])


@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.name}")
def file_note(name: str, folder: str) -> dict[str, Any]:
    """Move a note into a folder of the notes (created if need be).

    Args:
        name: the note's file name.
        folder: the folder, like "todo".
    """
    source = NOTES / Path(name).name
    target = NOTES / Path(folder).name / source.name
    target.parent.mkdir(exist_ok=True)
    source.rename(target)
    return {"from": str(source), "to": str(target)}


@file_note.compensate
def _unfile(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
    Path(receipt["to"]).rename(receipt["from"])


@tool
def list_notes() -> str:
    """List the notes, with their folders."""
    found = sorted(str(p.relative_to(NOTES)) for p in NOTES.rglob("*") if p.is_file())
    return "\n".join(found) or "(no notes yet)"


# -- the agent --------------------------------------------------------------------------------------------


async def main(goal: str, journal_path: str) -> int:
    from langchain_openai import ChatOpenAI  # reads OPENAI_BASE_URL and OPENAI_API_KEY

    NOTES.mkdir(exist_ok=True)
    model = ChatOpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"), streaming=True)
    async with Journal.open(journal_path) as journal:
        # task_path: `agentstop undo` and the TUI import the tools from this file's folder.
        sup = Supervisor(
            journal,
            [],
            GrantSpec(scopes=["notes:*", "list_notes"], ttl=600),
            task_name="langgraph notes",
            goal=goal,
            task_path=__file__,
        )
        agent = create_agent(
            model,
            [write_note, file_note, list_notes],
            system_prompt=f"You keep the user's notes in {NOTES}. Use the tools; say what you did.",
            middleware=[fence.FenceMiddleware(sup, policy={"list_notes": "read_only"})],
            checkpointer=InMemorySaver(),
        )
        config: Any = {"configurable": {"thread_id": "notes"}}
        print(f"session {sup.session_id}: agentstop tui --journal {journal_path} --session latest", file=sys.stderr)

        async with agentstop.bind(sup) as binding:
            with anyio.CancelScope() as run:
                binding.on_stop(run.cancel)  # Stop, from the TUI or `agentstop stop`, cancels the run
                result = await agent.ainvoke({"messages": [HumanMessage(goal)]}, config)
                print(result["messages"][-1].content)
            if run.cancelled_caught:
                print("stopped: the run was cancelled by agentstop's Stop", file=sys.stderr)
                # The checkpoint holds the model's last tool calls unanswered: answer them from the journal,
                # so the thread can go on (`agent.ainvoke(None, config)` after a Resume) with a true history.
                state = await agent.aget_state(config)
                answers = await fence.reconcile_messages(state.values["messages"], sup, thread_id="notes")
                await agent.aupdate_state(config, {"messages": answers}, as_node="tools")
                for answer in answers:
                    print(f"stopped: {answer.name}: {answer.content}", file=sys.stderr)
        report = await Report.from_journal(journal, sup.session_id)
        print(
            f"done {len(report.done)}, interrupted {len(report.interrupted)}, in flight {len(report.in_flight)}, "
            f"undoable {len(report.undoable)}",
            file=sys.stderr,
        )
        await sup.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A LangChain notes agent behind agentstop's fence.")
    parser.add_argument("goal", nargs="?", default="Write a shopping list for pancakes, then file it under 'todo'.")
    parser.add_argument("--journal", default="langgraph-notes.db")
    args = parser.parse_args()
    # Run the tools as this file's module (`langgraph_notes`), not `__main__`: the journal names them
    # `langgraph_notes:write_note.Tool`, which `agentstop undo` and the TUI import in their own processes.
    from langgraph_notes import main as run_main

    sys.exit(asyncio.run(run_main(args.goal, args.journal)))
