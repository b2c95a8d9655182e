"""Profiles for missed targets: pyinstrument on the event-loop thread, cProfile on the writer thread.

pyinstrument samples only the thread it was started on, and the journal's
writer is another thread, so that side is profiled with cProfile switched on
inside the writer's batches (by wrapping `Writer._run_batch`, benchmark only).
"""

from __future__ import annotations

import cProfile
import importlib.util
import io
import pstats
from collections.abc import Awaitable, Callable
from typing import Any

from agentstop import Journal

__all__ = ["WriterProfile", "have_pyinstrument", "profile_loop"]

_TOP = 18
_TREE_LINES = 45


def have_pyinstrument() -> bool:
    return importlib.util.find_spec("pyinstrument") is not None


async def profile_loop(work: Callable[[], Awaitable[Any]]) -> str:
    """Run `work` under pyinstrument (all of the event-loop thread); its call tree, in % of the total."""
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    profiler = Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    try:
        await work()
    finally:
        profiler.stop()
    text = profiler.output(ConsoleRenderer(unicode=True, color=False, time="percent_of_total"))
    lines = text.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("Profile at")), 0)
    tree = [line.rstrip() for line in lines[start:] if line.strip()]
    if len(tree) > _TREE_LINES:
        tree = [*tree[:_TREE_LINES], f"... ({len(tree) - _TREE_LINES} more lines)"]
    return "\n".join(tree)


class WriterProfile:
    """cProfile inside the journal writer's thread, for the batches run while it is attached."""

    def __init__(self, journal: Journal) -> None:
        writer = journal._writer
        assert writer is not None
        self.profile = cProfile.Profile()
        original = writer._run_batch

        def profiled(conn: Any, batch: list[Any]) -> None:
            self.profile.enable()
            try:
                original(conn, batch)
            finally:
                self.profile.disable()

        writer._run_batch = profiled  # type: ignore[method-assign]

    def top(self) -> str:
        out = io.StringIO()
        stats = pstats.Stats(self.profile, stream=out)
        stats.sort_stats("tottime").print_stats(_TOP)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
        return "\n".join(line.rstrip() for line in lines[start:] if line.strip())
