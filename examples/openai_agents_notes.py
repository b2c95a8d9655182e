"""An OpenAI Agents SDK agent whose tools go through agentstop's fence.

    pip install 'agentstop[openai-agents]'
    OPENAI_API_KEY=... python examples/openai_agents_notes.py "Write a note on the release, then mail Ada a summary"

Any OpenAI-compatible server works: OPENAI_BASE_URL=http://localhost:11434/v1
OPENAI_MODEL=qwen3 (Ollama), with OPENAI_API_KEY set to anything.

While it runs, `agentstop stop --journal notes.db` (or `agentstop tui` on that
journal) from another terminal stops it: the grant is revoked first, so no
further call reaches the world; the run finishes its turn with refusals and
ends. Afterwards `agentstop report --journal notes.db` says what was done, and
`agentstop undo --journal notes.db --session latest c1` takes a note back.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

from agents import Agent, Model, OpenAIChatCompletionsModel, Runner, function_tool
from openai import AsyncOpenAI
from pydantic import Field

import agentstop
from agentstop.adapters import openai_agents

NOTES = Path(os.environ.get("NOTES_DIR", "notes"))


# Plain (sync) functions: agentstop and the SDK run them in a worker thread.
@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.name}")
def write_note(name: str, text: Annotated[str, Field(description="what the note says")]) -> dict[str, Any]:
    """Write a note to the notes folder (undone by deleting it)."""
    NOTES.mkdir(exist_ok=True)
    (NOTES / f"{name}.md").write_text(text)
    return {"name": name, "chars": len(text)}


@write_note.compensate
def _(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
    (NOTES / f"{receipt['name']}.md").unlink(missing_ok=True)


@function_tool
def send_summary(to: str, summary: str) -> str:
    """Mail a summary to someone (an ordinary SDK tool: agentstop calls it irreversible)."""
    outbox = NOTES / "outbox.txt"
    NOTES.mkdir(exist_ok=True)
    with outbox.open("a") as f:
        f.write(f"to {to}: {summary}\n")
    return f"sent to {to}"


async def main(goal: str, model: Model, journal_path: str = "notes.db") -> list[dict[str, Any]]:
    """Run the agent on `goal` under a fresh session; returns the history to run on with."""
    agent = Agent(
        "notes",
        instructions="You keep the team's notes. Use the tools.",
        model=model,
        tools=[function_tool(write_note), send_summary],
    )
    async with agentstop.Journal.open(journal_path) as journal:
        sup = agentstop.Supervisor(
            journal,
            [],
            agentstop.GrantSpec(scopes=["notes:*", "send_summary"], ttl=600),
            task_name="notes agent",
            goal=goal,
        )
        fenced = openai_agents.fence(agent, sup)
        async with sup, agentstop.bind(sup) as s:
            result = Runner.run_streamed(fenced, goal)
            openai_agents.stop_with(s, result)  # Stop from anywhere ends the run after this turn
            async for event in result.stream_events():
                if event.type == "run_item_stream_event" and event.name == "tool_output":
                    print(f"  {event.item.raw_item['call_id']}: {event.item.output}")
            if result.final_output:
                print(result.final_output)
        print((await sup.report()).summary_line())
        # Whatever way the run ended, this history answers every tool call truthfully.
        return await openai_agents.reconcile_history(result.to_input_list(), sup)


if __name__ == "__main__":
    client = AsyncOpenAI()  # OPENAI_API_KEY, OPENAI_BASE_URL
    chosen = OpenAIChatCompletionsModel(os.environ.get("OPENAI_MODEL", "gpt-4.1-mini"), client)
    asyncio.run(main(" ".join(sys.argv[1:]) or "Write a note called plan saying 'ship it'.", chosen))
