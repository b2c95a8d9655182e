"""The parallel story (`agentstop demo --task parallel --headless`): several calls race the fence at once.

At 20 words a second the first batch (three mails, a chat post, an event) is
issued at ~0.7 s and lands within ~30 ms; the second (a charge, a post, a mail
outside the grant) at ~1.2 s.
"""

from __future__ import annotations

import pytest

from .conftest import DemoRuns
from .world_state import assert_world_matches

pytestmark = pytest.mark.slow

FIRST_BATCH = {"send_email", "post_message", "create_event"}


@pytest.mark.parametrize("stop_after", [0.5, 1.0, None], ids=["stop_0.5", "stop_1.0", "to_the_end"])
def test_the_parallel_story_partitions_every_call_and_matches_the_world(
    demo_runs: DemoRuns, stop_after: float | None
) -> None:
    args = ["--task", "parallel"] + ([] if stop_after is None else ["--stop-after", f"{stop_after:g}"])
    run = demo_runs.get(*args)

    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    report = run.report
    assert report["session"]["task_name"] == "Announce the offsite everywhere at once"
    assert_world_matches(report, run.world)
    calls = report["done"] + report["interrupted"] + report["in_flight"]
    if stop_after == 0.5:
        # Stopped while the agent was still thinking: nothing was issued, nothing exists.
        assert calls == []
        assert [run.world.outbox(), run.world.chat_queue(), run.world.events()] == [[], [], []]
    elif stop_after == 1.0:
        # Between the batches: the first one landed whole, the second was never issued.
        assert report["session"]["status"] == "stopped"
        assert {i["tool"] for i in calls} <= FIRST_BATCH
        assert len(report["done"]) == 5
        assert len(report["undoable"]) == 5
    else:
        assert report["session"]["status"] == "completed"
        assert len(report["done"]) == 7
        [outsider] = report["interrupted"]
        assert outsider["args"]["to"] == "outsider@elsewhere.org"
        assert outsider["state"] == "rejected"
        assert "outside grant" in outsider["reason"]
        assert run.world.balances()["ops"] == 1_000_000 - 40_000
