"""Replay reads a past session from its journal: the timeline at any event, and the export."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from agentstop import AgentstopError, GrantSpec, Journal, Supervisor
from agentstop.replay import Timeline, export_session
from tests.support.tools import WriteNote

pytestmark = pytest.mark.anyio


async def _stopped_session(journal: Journal, notes: WriteNote) -> str:
    sup = Supervisor(journal, [notes], GrantSpec(), task_name="replayed")
    await sup.say("writing two notes")
    await sup.end_thought()
    await sup.call("write_note", {"name": "a"})
    await sup.call("write_note", {"name": "b"})
    async with anyio.create_task_group() as tg:

        async def late() -> None:  # a call the agent makes once the Stop's revoke is durable
            with anyio.fail_after(10):
                while not any(g.revoked_at is not None for g in await journal.grants(sup.session_id)):
                    await anyio.sleep(0.001)
            try:
                await sup.call("write_note", {"name": "late"})
            except AgentstopError:
                pass

        tg.start_soon(late)
        await sup.stop("wrong goal")
    await sup.undo(["c2"])
    return sup.session_id


async def test_the_timeline_shows_each_moment_as_it_was(journal: Journal, notes: WriteNote) -> None:
    sid = await _stopped_session(journal, notes)
    timeline = Timeline(await journal.events(sid))
    start = timeline.at(-1)
    assert start.calls == {} and start.transcript == ()
    first_commit = next(i for i, e in enumerate(timeline.events) if e.kind == "committed")
    moment = timeline.at(first_commit)
    assert {c.call_id: c.state for c in moment.calls.values()} == {"c1": "committed"}
    assert moment.transcript == ("writing two notes",)
    end = timeline.at(len(timeline) - 1)
    assert {c.call_id: c.state for c in end.calls.values()} == {
        "c1": "committed",
        "c2": "compensated",
        "c3": "discarded",
    }
    # Scrubbing backwards gives the same moment as going forwards.
    assert timeline.at(first_commit) == moment


async def test_the_stop_is_marked_and_later_rejections_are_visible(journal: Journal, notes: WriteNote) -> None:
    sid = await _stopped_session(journal, notes)
    timeline = Timeline(await journal.events(sid))
    stop = timeline.stop_index
    assert stop is not None and timeline.events[stop].kind == "revoked"
    before = timeline.at(stop - 1)
    assert before.revoked_at is None
    after = timeline.at(len(timeline) - 1)
    assert after.revoked_by == "user"
    assert [c.call_id for c in timeline.rejected_after_stop(after)] == ["c3"]


async def test_checkpoints_make_long_timelines_consistent(journal: Journal, notes: WriteNote) -> None:
    sup = Supervisor(journal, [notes], GrantSpec())
    for i in range(260):  # 260 calls x 4 events > one checkpoint interval
        await sup.call("write_note", {"name": f"n{i}"})
    timeline = Timeline(await journal.events(sup.session_id))
    last = timeline.at(len(timeline) - 1)
    assert len(last.calls) == 260
    assert timeline.at(1500) == Timeline(timeline.events).at(1500)


@pytest.mark.parametrize("suffix", [".json", ".md", ".html"])
async def test_export_writes_the_report_and_timeline(
    journal: Journal, notes: WriteNote, tmp_path: Path, suffix: str
) -> None:
    sid = await _stopped_session(journal, notes)
    path = await export_session(journal, sid, tmp_path / f"incident{suffix}")
    text = path.read_text()
    if suffix == ".json":
        data = json.loads(text)
        assert set(data) == {"report", "timeline"}
        assert [i["call_id"] for i in data["report"]["done"]] == ["c1", "c2"]
        assert any(e["kind"] == "revoked" for e in data["timeline"])
    else:
        for needle in ("replayed", "Done (2)", "Interrupted (1)", "revoked", "wrong goal"):
            assert needle in text, needle
    if suffix == ".html":
        assert text.startswith("<!doctype html>") and "class=stop" in text


async def test_export_to_an_unknown_format_says_which_work(journal: Journal, notes: WriteNote, tmp_path: Path) -> None:
    sid = await _stopped_session(journal, notes)
    with pytest.raises(AgentstopError, match=r"use a file ending in \.html, \.json or \.md"):
        await export_session(journal, sid, tmp_path / "incident.pdf")
