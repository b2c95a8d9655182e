"""Work the TUI starts and then drops (an exclusive worker replaced, the app quitting) leaves nothing behind."""

from __future__ import annotations

import gc
import warnings

import pytest
from textual.app import App
from textual.worker import WorkerState

from agentstop.tui.workers import run_later

pytestmark = pytest.mark.anyio


async def test_a_worker_replaced_before_it_starts_never_made_its_coroutine() -> None:
    started: list[str] = []

    async def load(what: str) -> str:
        started.append(what)
        return what

    app: App[None] = App()
    async with app.run_test() as pilot:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # The second replaces the first in the same moment (exclusive): the first never starts.
            first = run_later(app, load, "first", group="open", exclusive=True)
            second = run_later(app, load, "second", group="open", exclusive=True)
            await second.wait()
            await pilot.pause()
            del first
            gc.collect()
        assert started == ["second"]
        assert second.state is WorkerState.SUCCESS and second.result == "second"
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
