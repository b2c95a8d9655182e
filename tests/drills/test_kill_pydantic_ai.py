"""Drill: SIGKILL an agent running under the PydanticAI adapter, run it again: every effect lands once.

The agent (tests/drills/pydantic_ai_child.py) is what a person writes from
docs/adapters/pydantic-ai.md: an `Agent` with the `Fence` capability, run with
`agent.iter`, its history saved after every node, its model a loopback Chat
Completions server (tests/drills/ledger_model.py) that refuses an invalid
transcript with the real API's 400 and decides its next call from the
conversation it is sent. Run again after the kill, as that page says: the
agentstop session resumed (it settles what the dead process left first), the
saved history answered from the journal by `reconcile_history`, then the run
goes on. What is killed when and what must hold: tests/drills/framework_crash.py.
On SQLite and PostgreSQL.

CI drills 2 seeds per backend; AGENTSTOP_DRILL_FULL=1 drills 20; AGENTSTOP_DRILL_SEEDS=3,7 replays seeds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pydantic_ai")

from tests.drills.framework_crash import drill_over_http


@pytest.mark.both_backends
@pytest.mark.timeout(600)
def test_a_pydantic_ai_agent_killed_and_run_again_lands_every_entry_once_and_the_report_agrees(
    journal_backend: str, request: pytest.FixtureRequest, scratch: Path
) -> None:
    drill_over_http("PydanticAI", "tests.drills.pydantic_ai_child", "history.json", journal_backend, request, scratch)
