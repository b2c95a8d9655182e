"""Fixtures for the demo tools whose upstreams are services (mail, calendar, chat): one real world on
127.0.0.1, and probes into it. The local-store tools are tested in tests/demo_stores, the `agentstop demo`
command end to end in tests/demo_command.

The world is started once per session (about 0.8 s each time): every test uses its
own idempotency keys, calendars and channels, so tests never see each other's effects.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from demo_tools.world import running_world
from demo_tools.world_config import WorldConfig
from tests.demo_services.probe import Demo


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorldConfig]:
    with running_world(tmp_path_factory.mktemp("world")) as config:
        yield config


@pytest.fixture
def demo(world: WorldConfig) -> Demo:
    return Demo(world)
