"""A PydanticAI agent behind the fence in its own process, for the drill that kills it and runs it again.

Usage: python -m tests.drills.pydantic_ai_child JOURNAL HISTORY LEDGER BASE_URL

The agent is what a person writes from docs/adapters/pydantic-ai.md: an `Agent`
with `ledger_entry` (tests/drills/ledger_tool.py) and the `Fence` capability,
against the Chat Completions server at BASE_URL (tests/drills/ledger_model.py),
run with `agent.iter` so that its history is saved to HISTORY after every node
(written whole, then renamed over the last one), as an agent that must survive
a crash keeps it.

Run again on the same files, it does what that page says to do after a crash:
resume the agentstop session (which settles what the dead process left in
flight), answer the saved history's calls from the journal
(`reconcile_history`), and run on from it. It prints `finished` at the end.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

import agentstop
from agentstop import GrantSpec, Journal, Supervisor
from agentstop.adapters import pydantic_ai as fence
from tests.drills.ledger_tool import LEDGER_ENV, SESSION, ledger_entry


def _load(path: Path) -> list[ModelMessage]:
    return list(ModelMessagesTypeAdapter.validate_json(path.read_bytes())) if path.exists() else []


def _save(path: Path, messages: list[ModelMessage]) -> None:
    part = path.with_suffix(".part")
    part.write_bytes(ModelMessagesTypeAdapter.dump_json(messages))
    os.replace(part, path)  # a kill leaves the last history whole, never half of the next


async def main(journal_path: str, history_path: str, base_url: str) -> None:
    saved = Path(history_path)
    async with Journal.open(journal_path) as journal:
        resume = SESSION in {s.session_id for s in await journal.sessions()}
        sup = Supervisor(journal, [], GrantSpec(), session_id=SESSION, resume=resume)
        model = OpenAIChatModel("fake-model", provider=OpenAIProvider(base_url=base_url, api_key="drill"))
        agent = Agent(model, tools=[ledger_entry], capabilities=[fence.Fence(sup)])
        async with sup, agentstop.bind(sup):
            history = await fence.reconcile_history(_load(saved), sup) if resume else []
            ask = "Go on with the ledger." if resume else "Write ledger entries e1 to e8."
            async with agent.iter(ask, message_history=history) as run:
                async for _node in run:
                    _save(saved, run.all_messages())
            _save(saved, run.all_messages())
    print("finished", flush=True)


if __name__ == "__main__":
    os.environ.setdefault(LEDGER_ENV, sys.argv[3])
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[4])
