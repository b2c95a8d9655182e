"""The world process: it says where it is once ready, survives a restart, and goes away."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from demo_tools.mail import UNDO_WINDOW_ENV, SendEmail
from demo_tools.world import WorldStartFailed, running_world
from demo_tools.world_config import ENV_VAR, WorldConfig
from tests.demo_services.probe import Demo


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_world_json_appears_once_ready_and_the_process_is_gone_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, "before")
    with running_world(tmp_path) as config:
        assert WorldConfig.read(tmp_path / "world.json") == config
        assert os.environ[ENV_VAR] == str(tmp_path / "world.json")
        assert WorldConfig.load() == config
        ports = [config.smtp_port] + [
            urlsplit(url).port or 0 for url in (config.mail_api, config.calendar_api, config.chat_api)
        ]
        assert all(listening(port) for port in ports)
        for store in ("git_remote", "prs", "database", "ledger", "mailbox"):
            assert Path(getattr(config, store)).exists()
        os.kill(config.pid, 0)
    assert os.environ[ENV_VAR] == "before"
    assert not (tmp_path / "world.json").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(config.pid, 0)
    assert "world stopped" in (tmp_path / "world.log").read_text()


def test_a_world_that_cannot_start_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "before")
    (tmp_path / "outbox.sqlite").mkdir()  # the outbox database cannot be opened
    failed = pytest.raises(WorldStartFailed, match=r"(?s)exited with code 1.*unable to open database")
    with failed, running_world(tmp_path):
        pass
    assert os.environ[ENV_VAR] == "before"


@pytest.mark.anyio
async def test_queued_mail_survives_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UNDO_WINDOW_ENV, "1.0")
    tool = SendEmail()
    args = SendEmail.Args(to="ada@example.com", subject="Survives", body="")
    ctx = Demo.ctx(tool, args)
    with running_world(tmp_path):
        receipt = await tool.commit(await tool.prepare(args, ctx), ctx)
    with running_world(tmp_path) as config:
        assert await tool.lookup(ctx) in ({**receipt, "status": "delivered"}, receipt)
        [mail] = await Demo(config).eventually(
            lambda: Demo(config).mails(receipt["message_id"]), "the message queued before the restart"
        )
        assert mail["Subject"] == "Survives"
