"""A small PydanticAI agent that keeps notes on disk, behind agentstop's fence.

Run it against any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, LM Studio):

    export OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_API_KEY=unused MODEL=llama3.1
    python examples/pydantic_ai_notes.py "Write three short notes about the week ahead, then list them."

or without a model (PydanticAI's TestModel calls each tool once):

    python examples/pydantic_ai_notes.py --offline

Watch it, and stop it, from a second terminal:

    PYTHONPATH=examples agentstop tui --journal notes-agent.db --session latest
    agentstop stop --journal notes-agent.db --session latest      # or this: the run is cancelled

(`PYTHONPATH=examples` lets the TUI rebuild `write_note` to undo it.) What agentstop adds
to the agent below is three lines: `capabilities=[Fence(sup, ...)]`, `async with
agentstop.bind(sup)`, and `reconcile_history` after a Stop.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import anyio
from pydantic_ai import Agent
from pydantic_ai.exceptions import RunCancelled
from pydantic_ai.messages import ModelMessage, ToolReturnPart
from pydantic_ai.models import Model

import agentstop
from agentstop.adapters import pydantic_ai as fence

NOTES = Path(os.environ.get("NOTES_DIR", "notes"))
JOURNAL = os.environ.get("AGENTSTOP_JOURNAL", "notes-agent.db")


# An agentstop tool: PydanticAI takes it as it takes the plain function; agentstop keeps its declaration
# (sync functions run in a worker thread).
@agentstop.tool(reversibility="reversible", resource=lambda a: f"notes:{a.name}")
def write_note(name: str, text: str) -> dict[str, Any]:
    """Write a note (replacing one of the same name).

    Args:
        name: the note's file name, e.g. "monday.md".
        text: what the note says.
    """
    NOTES.mkdir(exist_ok=True)
    (NOTES / name).write_text(text)
    return {"name": name, "chars": len(text)}


@write_note.compensate
def _unwrite(receipt: dict[str, Any], ctx: agentstop.ToolContext) -> None:
    (NOTES / receipt["name"]).unlink(missing_ok=True)


@write_note.lookup
def _written(ctx: agentstop.ToolContext) -> dict[str, Any] | None:
    name = ctx.args["name"] if isinstance(ctx.args, dict) else ctx.args.name
    return {"name": name} if (NOTES / name).exists() else None


# Plain PydanticAI tools: agentstop builds a tool of each; the policy says what they are.
def list_notes() -> list[str]:
    """The names of the notes written so far."""
    return sorted(p.name for p in NOTES.glob("*")) if NOTES.exists() else []


def read_note(name: str) -> str:
    """What a note says.

    Args:
        name: the note's file name.
    """
    return (NOTES / name).read_text()


def the_model(offline: bool) -> Model:
    if offline:
        from pydantic_ai.models.test import TestModel

        return TestModel()
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    provider = OpenAIProvider(base_url=os.environ.get("OPENAI_BASE_URL"), api_key=os.environ.get("OPENAI_API_KEY"))
    return OpenAIChatModel(os.environ.get("MODEL", "gpt-4o-mini"), provider=provider)


async def run(goal: str, offline: bool) -> None:
    async with agentstop.Journal.open(JOURNAL) as journal:
        sup = agentstop.Supervisor(
            journal,
            [],
            agentstop.GrantSpec(scopes=["notes:*", "list_notes", "read_note"]),
            task_name="notes agent (PydanticAI)",
            goal=goal,
        )
        agent = Agent(
            the_model(offline),
            instructions="You keep the user's notes. Use the tools; be brief.",
            tools=[write_note, list_notes, read_note],
            capabilities=[fence.Fence(sup, policy={"list_notes": "read_only", "read_note": "read_only"})],
        )
        print(
            f"session {sup.session_id}: watch it with "
            f"`PYTHONPATH=examples agentstop tui --journal {JOURNAL} --session latest`"
        )
        history: list[ModelMessage]
        async with agentstop.bind(sup):
            try:
                result = await agent.run(goal)
                print(result.output)
                history = result.all_messages()
            except RunCancelled as cancelled:
                print("stopped: the run was cancelled")
                history = await fence.reconcile_history(cancelled.all_messages(), sup)
        for part in (p for m in history for p in m.parts if isinstance(p, ToolReturnPart)):
            print(f"  {part.tool_name}: {part.content}")
        await sup.close()
        print((await sup.report()).summary_line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("goal", nargs="?", default="Write a note called today.md saying hello, then list the notes.")
    parser.add_argument("--offline", action="store_true", help="use PydanticAI's TestModel, no endpoint needed")
    args = parser.parse_args()
    anyio.run(run, args.goal, args.offline)


if __name__ == "__main__":
    # Import the tools under an importable name (not __main__), so `agentstop undo` and the TUI in
    # another process can rebuild `pydantic_ai_notes:write_note.Tool` from the journal.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pydantic_ai_notes

    pydantic_ai_notes.main()
