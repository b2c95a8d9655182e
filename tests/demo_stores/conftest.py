"""Fixtures for the demo tools whose upstreams are local stores (database, git, payments ledger, shell): a
fresh world directory per test, no service running. The service-backed tools are in tests/demo_services."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from agentstop import Tool, ToolContext
from demo_tools.local_stores import init_local_stores
from demo_tools.world_config import ENV_VAR, WorldConfig

MakeCtx = Callable[..., ToolContext]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorldConfig:
    """The local stores under tmp_path, published through AGENTSTOP_DEMO_WORLD."""
    stores = init_local_stores(tmp_path)
    config = WorldConfig(
        dir=str(tmp_path),
        mail_api="http://127.0.0.1:9",
        smtp_port=9,
        mailbox=str(tmp_path / "mailbox"),
        calendar_api="http://127.0.0.1:9",
        chat_api="http://127.0.0.1:9",
        pid=os.getpid(),
        **stores,
    )
    path = tmp_path / "world.json"
    config.save(path)
    monkeypatch.setenv(ENV_VAR, str(path))
    return config


@pytest.fixture
def make_ctx() -> MakeCtx:
    """Build a ToolContext for a tool and its args, with a fresh idempotency key unless given."""

    def make(tool: Tool, args: Any, key: str | None = None, call_id: str = "c1") -> ToolContext:
        return ToolContext(
            session_id="s",
            call_id=call_id,
            tool=tool.name,
            idempotency_key=key or uuid4().hex,
            args=args,
        )

    return make


def undo_ctx(ctx: ToolContext, attempt: int = 1) -> ToolContext:
    """The context agentstop's undo hands to compensate: the call's key with ':undo' appended."""
    return replace(ctx, idempotency_key=f"{ctx.idempotency_key}:undo", attempt=attempt)
