"""`ScriptedPlanner`: an agent that plays fixed steps, like a real agent loop would.

Each step streams its thought word by word, then issues its call (or calls, at
once) and waits for the outcome before the next step. A call the fence refuses
or a tool that fails is said aloud and the plan goes on; cancellation (Stop)
ends it at once. Steps are plain data, so task files, tests and demos build
them without touching the supervisor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import anyio

from agentstop.errors import CallCutOff, OutcomeUnknown, ToolFailed

from .base import Agent

__all__ = ["ScriptedPlanner", "ScriptedStep", "split_tokens"]

_TOKEN = re.compile(r"\S+\s*")


def split_tokens(text: str) -> list[str]:
    """Words with their trailing whitespace: `"Hi  there\\n"` -> `["Hi  ", "there\\n"]`."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class ScriptedStep:
    """One step of a script.

    Attributes:
        thought: what the agent says before acting ("" for none).
        calls: `(tool, args)` pairs; empty for a thought alone.
        parallel: issue the calls at once (`Agent.call_parallel`) rather than one `Agent.call`.
    """

    thought: str = ""
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    parallel: bool = False

    def __post_init__(self) -> None:
        if not self.parallel and len(self.calls) > 1:
            raise ValueError("a step that is not parallel has at most one call; set parallel=True")


def _failure_line(exc: CallCutOff | ToolFailed) -> str:
    if isinstance(exc, OutcomeUnknown):
        return f"(call cut off, outcome unknown: {exc.reason})"  # it may have landed: not "refused"
    if isinstance(exc, CallCutOff):
        return f"(call refused: {exc.reason})"
    return f"(call failed: {exc.error}; {exc.landed})"


class ScriptedPlanner:
    """Plays `ScriptedStep`s against an `Agent` (the supervisor).

    Args:
        steps: the steps, in order.
        tokens_per_second: how fast thoughts stream; 0 or infinity streams without pausing.

    Example:
        ```python
        planner = ScriptedPlanner([
            ScriptedStep("Let me tell the team.", (("send_email", {"to": "team@example.com", "subject": "Hi"}),)),
        ])
        report = await Supervisor(journal, tools, grant, planner).run()
        ```
    """

    def __init__(self, steps: Iterable[ScriptedStep], tokens_per_second: float = 40.0) -> None:
        if math.isnan(tokens_per_second) or tokens_per_second < 0:
            raise ValueError(f"tokens_per_second must be >= 0, got {tokens_per_second!r}")
        self.steps: tuple[ScriptedStep, ...] = tuple(steps)
        self.tokens_per_second = tokens_per_second

    @property
    def delay(self) -> float:
        """Seconds between two streamed words (0 for no pause)."""
        rate = self.tokens_per_second
        return 0.0 if rate == 0 or math.isinf(rate) else 1.0 / rate

    async def run(self, agent: Agent) -> None:
        """Play every step; returns when the script is done. Cancellation stops it at once.

        Each call's idempotency key is its place in the script (step and call
        number, within the session), so a resumed session runs the script again
        and only the calls that did not land run again: one that landed returns
        its recorded receipt, one still in flight is not issued twice.
        """
        for n, step in enumerate(self.steps, 1):
            await agent.step_boundary()
            await self._think(agent, step.thought)
            if not step.calls:
                continue
            keys = [f"{agent.session_id}-s{n}-{i}" for i in range(1, len(step.calls) + 1)]
            if step.parallel:
                for result in await agent.call_parallel(list(step.calls), keys):
                    if isinstance(result, CallCutOff | ToolFailed):
                        await self._note(agent, result)
                    elif isinstance(result, BaseException):
                        raise result  # e.g. UnknownTool: a broken script, as with a single call
            else:
                tool, args = step.calls[0]
                try:
                    await agent.call(tool, args, key=keys[0])
                except (CallCutOff, ToolFailed) as exc:
                    await self._note(agent, exc)

    async def _think(self, agent: Agent, thought: str) -> None:
        delay = self.delay
        for i, token in enumerate(split_tokens(thought)):
            if i:
                # anyio.sleep(0) is still a checkpoint, so Stop is noticed between words.
                await anyio.sleep(delay)
            await agent.say(token)
        await agent.end_thought()

    async def _note(self, agent: Agent, exc: CallCutOff | ToolFailed) -> None:
        await agent.say(_failure_line(exc))
        await agent.end_thought()
