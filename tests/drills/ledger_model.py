"""A Chat Completions server on 127.0.0.1 whose model writes ledger entries, deciding from the transcript.

For the crash drills of agents that reach their model over HTTP (the OpenAI
Agents SDK): `FakeChatServer` with `strict_transcript` (a call left unanswered
or answered twice gets the real API's 400), whose turns are not scripted but
read off the conversation it is sent, as a model reads it: an entry counts as
written when a tool message answering a call for it carries a receipt
(`ledger_line`, also inside the `done: ...` that `reconcile_history` writes); a
refusal, "not executed" or "outcome unknown" does not count. Each turn asks
for the first entry not written, with a fresh call id; once all are written
it says so. It outlives the agent's process, as a model's API does.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.llm.fake_server import Fail, FakeChatServer, Received, Stream, call_start, finish, text, transcript_error

__all__ = ["LedgerModelServer", "next_entry", "written"]

WRITTEN_MARK = "ledger_line"
"""What a tool output holds when its entry was written: the receipt's key (tests/drills/ledger_tool.py)."""


def next_entry(written: set[str], entries: int) -> str | None:
    """The first of e1..e`entries` not written yet (None: all are), which the model asks for next."""
    return next((f"e{i}" for i in range(1, entries + 1) if f"e{i}" not in written), None)


def written(messages: list[dict[str, Any]]) -> set[str]:
    """The entries the conversation says were written."""
    asked: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            asked[call["id"]] = json.loads(call["function"]["arguments"] or "{}").get("entry", "")
    return {
        asked[m["tool_call_id"]]
        for m in messages
        if m.get("role") == "tool" and m.get("tool_call_id") in asked and WRITTEN_MARK in str(m.get("content"))
    }


class LedgerModelServer(FakeChatServer):
    """The model of the drills' agents: asks for e1..e`entries` in turn until the transcript has them all."""

    def __init__(self, entries: int) -> None:
        super().__init__(strict_transcript=True)
        self.entries = entries

    def _next(self, received: Received) -> Stream | Fail:
        with self._lock:
            self.received.append(received)
            invalid = transcript_error(received.messages)
            if invalid is not None:
                self.rejected.append(received)
                return Fail(400, invalid, "invalid_request_error")
            return self._turn(received.messages)

    def _turn(self, messages: list[dict[str, Any]]) -> Stream:
        entry = next_entry(written(messages), self.entries)
        if entry is None:
            return Stream([*text(f"all {self.entries} entries are written"), finish()])
        call_id = f"call_{uuid.uuid4().hex[:16]}"
        return Stream([call_start(0, call_id, "ledger_entry", json.dumps({"entry": entry})), finish("tool_calls")])
