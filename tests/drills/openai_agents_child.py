"""An OpenAI Agents SDK agent behind the fence in its own process, for the drill that kills it and runs it again.

Usage: python -m tests.drills.openai_agents_child JOURNAL SESSIONS LEDGER BASE_URL

The agent is what a person writes from docs/adapters/openai-agents.md: an
`Agent` with `function_tool(ledger_entry)` (tests/drills/ledger_tool.py),
`openai_agents.fence(agent, sup, group_id=...)`, run by `Runner.run` with the
SDK's own `SQLiteSession` (SESSIONS) keeping the conversation, against the
Chat Completions server at BASE_URL (tests/drills/ledger_model.py).

Run again on the same files, it does what that page says to do after a crash:
resume the agentstop session (which settles what the dead process left in
flight), rewrite the conversation with `reconcile_history` (which answers a
call the conversation left unanswered, and brings back the calls of a turn the
crash kept out of it), then run on. It prints `finished` at the end.
"""

from __future__ import annotations

import os
import sys

import anyio
from agents import Agent, OpenAIChatCompletionsModel, Runner, SQLiteSession, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

import agentstop
from agentstop import GrantSpec, Journal, Supervisor
from agentstop.adapters import openai_agents
from tests.drills.ledger_tool import LEDGER_ENV, SESSION, ledger_entry

GROUP = "ledger-conversation"
"""The conversation's `group_id`: the keys of its calls, and what `reconcile_history` restores from."""

set_tracing_disabled(True)  # nothing leaves the machine


async def main(journal_path: str, sessions: str, base_url: str) -> None:
    async with Journal.open(journal_path) as journal:
        resume = SESSION in {s.session_id for s in await journal.sessions()}
        sup = Supervisor(journal, [], GrantSpec(), session_id=SESSION, resume=resume)
        conversation = SQLiteSession("ledger", sessions)
        async with AsyncOpenAI(base_url=base_url, api_key="drill", max_retries=0, timeout=30) as client:
            agent = Agent(
                "ledger",
                instructions="Write the ledger entries you are asked for, one at a time.",
                model=OpenAIChatCompletionsModel("fake-model", client),
                tools=[function_tool(ledger_entry)],
            )
            fenced = openai_agents.fence(agent, sup, group_id=GROUP)
            async with sup, agentstop.bind(sup):
                if resume:  # after a crash: a true, valid conversation first
                    history = await openai_agents.reconcile_history(await conversation.get_items(), sup, group_id=GROUP)
                    await conversation.clear_session()
                    await conversation.add_items(history)  # type: ignore[arg-type]
                ask = "Go on with the ledger." if resume else "Write ledger entries e1 to e8."
                await Runner.run(fenced, ask, session=conversation, max_turns=1000)
    print("finished", flush=True)


if __name__ == "__main__":
    os.environ.setdefault(LEDGER_ENV, sys.argv[3])
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[4])
