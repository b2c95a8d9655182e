"""The demo tools under the real supervisor: journaled, undone in reverse, the world agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import GrantSpec, Journal, Supervisor
from demo_tools.calendar_tool import CreateEvent, ListEvents
from demo_tools.chat import CHAT_DELAY_ENV, PostMessage
from demo_tools.mail import UNDO_WINDOW_ENV, SendEmail
from tests.demo_services.probe import Demo

pytestmark = pytest.mark.anyio


async def test_undo_all_takes_every_effect_back(demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "30")
    monkeypatch.setenv(CHAT_DELAY_ENV, "30")
    tools = [SendEmail, CreateEvent, ListEvents, PostMessage]
    async with Journal.open(tmp_path / "journal.db") as journal, Supervisor(journal, tools, GrantSpec()) as sup:
        event = await sup.call("create_event", {"title": "Launch", "start": "2025-03-14T10:00:00+00:00"})
        mail = await sup.call("send_email", {"to": "ada@example.com", "subject": "Launch at 10"})
        chat = await sup.call("post_message", {"channel": "general", "text": "Launch at 10"})
        listed = await sup.call("list_events", {"calendar": "team"})
        assert event["uid"] in [e["uid"] for e in listed["events"]]

        report = await sup.report()
        assert sorted(item.tool for item in report.undoable) == ["create_event", "post_message", "send_email"]

        results = await sup.undo_all()
        assert [r.status for r in results] == ["compensated"] * 3
        assert event["uid"] not in demo.events()
        assert (await SendEmail().lookup(demo.ctx(SendEmail(), None, mail["key"])) or {})["status"] == "pulled"
        assert (await PostMessage().lookup(demo.ctx(PostMessage(), None, chat["key"])) or {})["status"] == "pulled"
        assert {item.state for item in (await sup.report()).done if item.tool != "list_events"} == {"compensated"}
