"""Drill: SIGKILL an agent running under the LangGraph adapter, run it again: every effect lands once.

The agent (tests/drills/langgraph_child.py) is what a person writes from
docs/adapters/langgraph.md: a `StateGraph` whose `ToolNode` is fenced,
checkpointed durably (`AsyncSqliteSaver`, `durability="sync"`). Run again after
the kill, as that page says: its session resumed (agentstop settles what the
dead process left first) and its thread invoked again from the checkpoint,
whose tool calls keep their ids. What is killed when and what must hold:
tests/drills/framework_crash.py. On SQLite and PostgreSQL, and on the page's sync
route too (`stream()` in a worker thread, `wrap_tool_call`, `Supervisor.call_sync`).

CI drills 2 seeds per backend; AGENTSTOP_DRILL_FULL=1 drills 20; AGENTSTOP_DRILL_SEEDS=3,7 replays seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("langgraph.checkpoint.sqlite")

from tests.drills.framework_crash import ENTRIES, drill_all


def _child(target: str, tmp: Path, route: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.drills.langgraph_child",
        target,
        str(tmp / "checkpoints.db"),
        str(tmp / "ledger"),
        str(ENTRIES),
        route,
    ]


ROUTES = {"async": "LangGraph", "sync": "LangGraph (sync route)"}
"""The page's two routes (`astream` with `awrap_tool_call`; `stream()` in a worker thread with `wrap_tool_call`)."""


@pytest.mark.both_backends
@pytest.mark.timeout(600)
@pytest.mark.parametrize("route", ROUTES)
def test_a_langgraph_agent_killed_and_run_again_lands_every_entry_once_and_the_report_agrees(
    route: str, journal_backend: str, request: pytest.FixtureRequest, scratch: Path
) -> None:
    drill_all(ROUTES[route], lambda target, tmp: _child(target, tmp, route), journal_backend, request, scratch)
