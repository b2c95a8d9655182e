"""A session that is killed in the middle of a re-apply, for the drills that recover it.

Usage: python -m tests.drills.reapply_child JOURNAL PLAN_JSON

PLAN_JSON is {"tool": "module:Class", "init": [constructor args], "call": [tool, args],
"boundary": "after_reapplying" | "after_reapply_effect"}. The child makes the call,
undoes it, then re-applies it, and SIGKILLs itself at the boundary:

- after_reapplying: `reapplying` is durable in the journal; the tool's reapply has not begun;
- after_reapply_effect: inside the tool's reapply, the effect has landed upstream; nothing
  more is journaled.

It prints `session <id>`, then `receipt <json>` of the call, then `at <boundary>` just
before the kill (the parent reads these lines; the kill is the child's last act).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from typing import Any

import anyio

from agentstop import CallState, GrantSpec, Journal, Supervisor, Tool, ToolContext


def _say(line: str) -> None:
    print(line, flush=True)


def _die(boundary: str) -> None:
    _say(f"at {boundary}")
    os.kill(os.getpid(), signal.SIGKILL)


def _tool(spec: str, init: list[Any]) -> Tool:
    module, _, name = spec.partition(":")
    cls = getattr(importlib.import_module(module), name)

    class Killed(cls):  # type: ignore[valid-type, misc]
        async def reapply(self, receipt: Any, ctx: ToolContext) -> Any:
            result = await super().reapply(receipt, ctx)
            if plan["boundary"] == "after_reapply_effect":
                _die("after_reapply_effect")
            return result

    Killed.__name__ = Killed.__qualname__ = cls.__name__
    return Killed(*init)


async def main(journal_path: str) -> None:
    tool = _tool(plan["tool"], plan.get("init", []))
    async with Journal.open(journal_path) as journal:
        transition = journal.transition

        async def hooked(session_id: str, call_id: str, state: CallState, **kw: Any) -> int:
            seq = await transition(session_id, call_id, state, **kw)
            if state is CallState.REAPPLYING and plan["boundary"] == "after_reapplying":
                _die("after_reapplying")
            return seq

        journal.transition = hooked  # type: ignore[method-assign]
        sup = Supervisor(journal, [tool], GrantSpec(), task_name="re-apply crash drill")
        await sup.start()
        _say(f"session {sup.session_id}")
        name, args = plan["call"]
        receipt = await sup.call(name, args)
        _say(f"receipt {json.dumps(receipt, default=str)}")
        [undone] = await sup.undo(["c1"], by="drill")
        assert undone.status == "compensated", undone
        await sup.reapply(["c1"], by="drill")
    _say("finished (no kill point reached)")


if __name__ == "__main__":
    plan: dict[str, Any] = json.loads(sys.argv[2])
    anyio.run(main, sys.argv[1])
