"""What a planner is, and what it may ask of the supervisor that runs it.

A planner is the agent's brain: scripted steps or a real model. It runs as one
task under the supervisor, which cancels it on Stop. It acts on the world only
through `Agent.call` / `Agent.call_parallel`, the gated path through the fence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agentstop.tools.base import Tool

__all__ = ["Agent", "Planner", "Resumption", "TranscriptChunk"]


@dataclass(frozen=True)
class TranscriptChunk:
    """A piece of the agent's visible transcript.

    Attributes:
        kind: "thought" (streamed model text), "call" (a tool call was planned),
            or "end" (the end of a thought).
        text: the text to show.
        call_id: for "call", the call it is about.
    """

    kind: str
    text: str
    call_id: str | None = None


@dataclass(frozen=True)
class Resumption:
    """What a resumed session's planner continues from.

    Attributes:
        records: `(kind, data)` in journal order: what the planner recorded with
            `Agent.record` (of the kinds it asked for), and a `session_resumed`
            record for each Resume (`data["instruction"]` is what the user added).
        outcomes: each earlier call's idempotency key -> `(state, receipt)`.
    """

    records: tuple[tuple[str, dict[str, Any]], ...]
    outcomes: Mapping[str, tuple[str, Any]]


class Agent(Protocol):
    """The supervisor as a planner sees it."""

    @property
    def tools(self) -> Sequence[Tool]:
        """The tools the planner may offer the model."""
        ...

    @property
    def session_id(self) -> str:
        """The session the calls are journaled under (stable across Resume)."""
        ...

    async def call(self, tool: str, args: Any, *, key: str | None = None) -> dict[str, Any]:
        """Run one tool call through the fence; returns its receipt.

        Raises `CallCutOff` when it did not go through: `Rejected` (nothing reached
        the world) or `OutcomeUnknown` (it may have landed).
        """
        ...

    async def call_parallel(
        self, calls: Sequence[tuple[str, Any]], keys: Sequence[str | None] | None = None
    ) -> list[dict[str, Any] | BaseException]:
        """Run several calls at once; each result is a receipt or the exception it raised."""
        ...

    async def say(self, text: str) -> None:
        """Stream a piece of the agent's thought to the transcript."""
        ...

    async def end_thought(self) -> None:
        """Close the current thought; it is journaled as one transcript event."""
        ...

    async def record(self, kind: str, data: dict[str, Any]) -> None:
        """Journal something the planner needs to pick up from after a Resume (redacted like arguments)."""
        ...

    async def resumed_from(self, kinds: Sequence[str]) -> Resumption | None:
        """None for a new session; after a Resume, what the planner recorded before, to continue from."""
        ...

    async def step_boundary(self) -> None:
        """Call before starting each new step (a scripted step, a model turn).

        After "Stop after this step" the session stops here: the previous step's
        calls have finished and no new step begins.
        """
        ...


@runtime_checkable
class Planner(Protocol):
    """Anything with `async run(agent)`; cancellation stops it at once."""

    async def run(self, agent: Agent) -> None:
        """Drive the agent until the goal is reached or the planner gives up."""
        ...
