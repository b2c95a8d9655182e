"""What a real chat API checks of a LangChain transcript, for the fake models the LangGraph tests run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

__all__ = ["InvalidTranscript", "StrictChatModel", "transcript_problems"]


class InvalidTranscript(Exception):
    """What a real API answers (400) to a tool call left unanswered or answered twice."""


def transcript_problems(messages: Sequence[BaseMessage]) -> list[str]:
    """Every tool call answered exactly once, right after the AIMessage that made it."""
    problems: list[str] = []
    expected: dict[str, int] = {}
    for message in messages:
        if isinstance(message, ToolMessage):
            if message.tool_call_id not in expected:
                problems.append(f"a ToolMessage answers no pending call: {message.tool_call_id}")
            else:
                expected[message.tool_call_id] += 1
            continue
        problems += [
            f"No tool output found for function call {i}" if n == 0 else f"{i} answered {n} times"
            for i, n in expected.items()
            if n != 1
        ]
        expected = {str(c["id"]): 0 for c in message.tool_calls} if isinstance(message, AIMessage) else {}
    problems += [
        f"No tool output found for function call {i}" if n == 0 else f"{i} answered {n} times"
        for i, n in expected.items()
        if n != 1
    ]
    return problems


class StrictChatModel(GenericFakeChatModel):
    """LangChain's fake chat model with `bind_tools` (create_agent binds them), refusing what a real API refuses."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Self:
        return self

    def refuse_invalid(self, messages: Sequence[BaseMessage]) -> None:
        """Raise the real API's 400 for a transcript with a tool call unanswered, or answered twice."""
        problems = transcript_problems(messages)
        if problems:
            raise InvalidTranscript(f"400 {problems}")
