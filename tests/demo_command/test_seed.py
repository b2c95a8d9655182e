"""The seed story (`agentstop demo --headless`), stopped at several moments: the report matches the world.

The demo's upstreams take realistic times (demo_tools/latency.py): drafting an
email 1.8 s, testing the release branch 3 s, a git push 2.5 s, the migration's
commit 4 s, ... From the session's start: Ada's mail is drafted until ~2.5 s and
lands at ~3.5 s; the team mail and the chat post go out together (the chat at
~4.9 s, the mail drafted until ~6.1 s and landed at ~7 s); the review and the PR
together (booked at ~9.9 s, the PR tested until ~10.9 s and pushed by ~13.4 s);
the migration (dry run until ~16.5 s, committed at ~20.5 s), the charge (~24 s)
and the wire (refused: nobody can approve it headless). The checks depend on the
order and on which phase a moment falls in, with a second of slack either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from demo_tools.world import running_world

from .conftest import DemoRun, DemoRuns, agentstop
from .world_state import BASE_BRANCHES, assert_world_matches, by_tool

pytestmark = pytest.mark.slow

SEED_STEPS = [
    ["send_email"],
    ["post_message", "send_email"],
    ["create_event", "open_draft_pr"],
    ["migrate_database"],
    ["charge"],
    ["wire_transfer"],
]
SEED_TOOLS = [tool for step in SEED_STEPS for tool in step]

# stop after (s): (mail undo window in s, calls done at least)
STOPS = {1.5: (10.0, 0), 5.0: (1.0, 1), 9.5: (10.0, 3), 14.5: (10.0, 5)}


def in_story_order(tools: list[str]) -> bool:
    """The calls so far are the story's steps in order (a parallel step's calls in any order)."""
    rest = list(tools)
    for step in SEED_STEPS:
        taken, rest = rest[: len(step)], rest[len(step) :]
        if not set(taken) <= set(step) or (rest and sorted(taken) != sorted(step)):
            return False
    return not rest


def seed(demo_runs: DemoRuns, stop_after: float | None) -> DemoRun:
    if stop_after is None:
        return demo_runs.get()
    window, _ = STOPS[stop_after]
    return demo_runs.get("--stop-after", f"{stop_after:g}", undo_window=window)


def calls_in_order(report: dict[str, Any]) -> list[dict[str, Any]]:
    items = report["done"] + report["interrupted"] + report["in_flight"]
    return sorted(items, key=lambda i: int(i["call_id"].removeprefix("c")))


def without_undo(report: dict[str, Any]) -> dict[str, Any]:
    """The report minus the undo fields, which change as undo windows close."""
    strip = {
        bucket: [{k: v for k, v in i.items() if k != "undo"} for i in report[bucket]]
        for bucket in ("done", "interrupted", "in_flight", "undoable")
    }
    return {"session": report["session"], **strip}


@pytest.mark.parametrize("stop_after", list(STOPS))
def test_the_seed_stopped_mid_way_leaves_exactly_the_reported_world(demo_runs: DemoRuns, stop_after: float) -> None:
    run = seed(demo_runs, stop_after)

    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    report = run.report
    session = report["session"]
    assert (session["status"], session["stopped_by"], session["stop_reason"]) == (
        "stopped",
        "user",
        f"--stop-after {stop_after:g}",
    )
    # The agent got as far as it got, in the story's order, and nothing after the Stop.
    tools = [i["tool"] for i in calls_in_order(report)]
    assert in_story_order(tools), tools
    assert len(report["done"]) >= STOPS[stop_after][1]
    assert "wire_transfer" not in tools
    assert_world_matches(report, run.world)
    assert f"Replay the report:    agentstop report {run.journal}" in run.stderr


def test_stopped_while_the_first_mail_is_drafted_it_is_discarded_and_the_world_is_untouched(
    demo_runs: DemoRuns,
) -> None:
    run = seed(demo_runs, 1.5)

    report = run.report
    assert report["done"] == report["in_flight"] == []
    [ada] = report["interrupted"]
    assert (ada["tool"], ada["state"], ada["args"]["to"]) == ("send_email", "discarded", "ada@example.com")
    assert ada["reason"].startswith("stopped before the fence")
    world = run.world
    # One list of the stores, each empty: a chain of == would compare stores of different row types.
    assert [world.outbox(), world.maildir(), world.events(), world.prs(), world.chat_queue()] == [[]] * 5
    assert [world.entries(), world.migrations()] == [[], []]


def test_a_short_undo_window_delivers_the_mail_before_the_stop(demo_runs: DemoRuns) -> None:
    run = seed(demo_runs, 5.0)  # AGENTSTOP_DEMO_UNDO_WINDOW=1

    report = run.report
    [ada, *_] = by_tool(report["done"], "send_email")
    assert ada["args"]["to"] == "ada@example.com"
    delivered = run.world.maildir()
    assert {
        "message_id": ada["receipt"]["message_id"],
        "to": "ada@example.com",
        "subject": "Q4 numbers are ready",
    } in delivered
    # Delivered mail can no longer be pulled back: the report offers a correction, not an exact undo.
    assert ada["undo"]["detail"] == "compensation (leaves a trace)"


def test_with_the_default_window_sent_mail_is_still_queued_and_exactly_undoable(demo_runs: DemoRuns) -> None:
    run = seed(demo_runs, 9.5)  # AGENTSTOP_DEMO_UNDO_WINDOW=10

    sends = by_tool(run.report["done"], "send_email")
    assert [i["args"]["to"] for i in sends] == ["ada@example.com", "team@example.com"]
    assert {m["status"] for m in run.world.outbox()} == {"queued"}
    assert run.world.maildir() == []
    assert {i["undo"]["detail"] for i in sends} == {"exact undo"}


def test_the_seed_run_to_the_end_refuses_the_wire_headless(demo_runs: DemoRuns) -> None:
    run = seed(demo_runs, None)

    assert run.code == 1, run.stderr
    report = run.report
    assert report["session"]["status"] == "completed"
    assert sorted(i["tool"] for i in report["done"]) == sorted(SEED_TOOLS[:-1])
    [wire] = report["interrupted"]
    assert (wire["tool"], wire["state"]) == ("wire_transfer", "rejected")
    assert wire["reason"].startswith("needs approval and nobody can approve here (headless)")
    assert_world_matches(report, run.world)
    assert run.world.balances()["ops"] == 1_000_000, "no money left by wire"
    # The chat message (3 s delay) reached the channel before the demo ended, emoji intact.
    assert [m["text"] for m in run.world.channel()] == ["2.0 is shipping today! 🚀"]


def test_the_report_replayed_after_the_demo_equals_the_demo_report(demo_runs: DemoRuns) -> None:
    run = seed(demo_runs, 9.5)

    replay = agentstop("report", run.journal, "--json")

    assert replay.returncode == 0, replay.stderr
    assert replay.stderr == ""
    assert without_undo(run.report) == without_undo(json.loads(replay.stdout))


def test_after_the_demo_exits_agentstop_undo_starts_its_world_again_and_takes_every_effect_back(
    demo_runs: DemoRuns, tmp_path: Path
) -> None:
    run = demo_runs.get("--stop-after", "14.5", undo_window=11.0)  # a world of its own: this test changes it
    undoable = {i["call_id"] for i in run.report["undoable"]}
    assert {"send_email", "create_event", "open_draft_pr"} <= {i["tool"] for i in run.report["undoable"]}
    assert f"Undo later:           agentstop undo --journal {run.journal} --session latest --all" in run.stderr

    # The demo exited, and its world with it. Another demo world runs (and $AGENTSTOP_DEMO_WORLD names it):
    # the undo must start the session's own world, not act on that one.
    with running_world(tmp_path / "another"):
        undo = agentstop("undo", "--journal", run.journal, "--session", "latest", "--all")
        after = agentstop("report", "--journal", run.journal, "--json")

    assert undo.returncode == 0, undo.stderr + undo.stdout
    lines = undo.stdout.splitlines()
    assert len(lines) == len(undoable) and all(line.startswith("undone ") for line in lines), lines
    assert f"starting the demo world of session {run.report['session']['id']} again ({run.dir})" in undo.stderr
    report = json.loads(after.stdout)
    assert report["undoable"] == []
    assert {i["call_id"]: i["state"] for i in report["done"]} == dict.fromkeys(undoable, "compensated")
    world = run.world
    assert world.events() == [] and world.branches() == BASE_BRANCHES, "the review unbooked, the branch gone"
    outbox = {m["key"]: m["status"] for m in world.outbox()}
    for send in by_tool(run.report["undoable"], "send_email"):
        key = send["receipt"]["key"]
        # Pulled back before delivery, or delivered and followed by a correction (which may still be queued).
        assert outbox[key] == "pulled" or (outbox[key] == "delivered" and f"{key}:undo" in outbox), (key, outbox)
