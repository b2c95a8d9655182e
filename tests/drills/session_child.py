"""A session in its own process, for drills that kill it, starve it or outlive it.

Usage: python -m tests.drills.session_child JOURNAL PLAN_JSON

PLAN_JSON is {"tools": ["module:Class", ...], "calls": [[tool, args], ...], and
optionally "grant": {GrantSpec fields}, "grace": 2.0, "undo_all": false,
"stop_after": seconds, "exit_after_stop": false, "as_nobody": false,
"starve": "before_calls"}. Calls run one after another; with "stop_after" they
all start at once and Stop comes that many seconds later. "as_nobody" drops
root to nobody before the journal is opened; "starve" fills the disk (see
`faulty_tools.starve_file_size`) once the session has started.

The child prints one line per event on stdout: `err journal <Type>: <message>`
when the journal cannot be opened, else `session <id>`; then per call
`ok <tool> <receipt json>` or `err <tool> <Type>: <message>`; `stopped` after
Stop; `finished` at the end.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio

from agentstop import GrantSpec, Journal, Supervisor, Tool
from tests.drills.faulty_tools import starve_file_size


def _tool(spec: str) -> Tool:
    module, _, name = spec.partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls()  # type: ignore[no-any-return]


def _say(line: str) -> None:
    print(line, flush=True)


async def _one(sup: Supervisor, name: str, args: Any) -> None:
    try:
        receipt = await sup.call(name, args)
    except BaseException as exc:  # every outcome is reported, none is hidden
        _say(f"err {name} {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        if not isinstance(exc, Exception):
            raise
    else:
        _say(f"ok {name} {json.dumps(receipt, default=str)}")


async def main(journal_path: str, plan: dict[str, Any]) -> None:
    tools = [_tool(spec) for spec in plan["tools"]]
    try:
        journal = await Journal.connect(journal_path)
    except Exception as exc:
        _say(f"err journal {type(exc).__module__}.{type(exc).__name__}: {exc}")
        return
    try:
        sup = Supervisor(
            journal, tools, GrantSpec(**plan.get("grant", {})), grace=plan.get("grace", 2.0), task_name="drill child"
        )
        try:
            await sup.start()
        except Exception as exc:
            _say(f"err journal {type(exc).__module__}.{type(exc).__name__}: {exc}")
            return
        _say(f"session {sup.session_id}")
        if plan.get("starve") == "before_calls":
            starve_file_size(Path(journal_path))
        if plan.get("stop_after") is None:
            for name, args in plan["calls"]:
                await _one(sup, name, args)
        else:
            async with anyio.create_task_group() as tg:
                for name, args in plan["calls"]:
                    tg.start_soon(_one, sup, name, args)
                await anyio.sleep(plan["stop_after"])
                await sup.stop("the drill pressed Stop")
                _say("stopped")
                if plan.get("exit_after_stop"):
                    # Leave at once, as a CLI does when Stop has returned: abandoned commits die with us.
                    sys.stdout.flush()
                    os._exit(0)
        if plan.get("undo_all"):
            await sup.undo_all()
        await sup.close()
    finally:
        await journal.close()
    _say("finished")


def _drop_privileges() -> None:
    """Become nobody, after importing everything (nobody may not read the site-packages)."""

    async def warm() -> None:
        await anyio.to_thread.run_sync(lambda: None)

    anyio.run(warm)
    importlib.import_module("agentstop.journal.sqlite")  # imported lazily by Journal.open, and it needs aiosqlite
    os.setgid(65534)
    os.setuid(65534)


if __name__ == "__main__":
    plan = json.loads(sys.argv[2])
    if plan.get("as_nobody") and os.geteuid() == 0:
        _drop_privileges()
    anyio.run(main, sys.argv[1], plan)
