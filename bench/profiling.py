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


async def profile_loop(
    work: Callable[[], Awaitable[Any]],
    *,
    interval: float = 0.0002,
    flat: bool = False,
    ours: tuple[str, ...] = ("/agentstop/",),
) -> str:
    """Run `work` under pyinstrument (all of the event-loop thread); its call tree, in % of the total.

    With `flat=True`, the tree is followed by two flat lists: the functions the
    samples landed in (own time, library code included), and the functions of
    files whose path holds one of `ours`, by inclusive time.
    """
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    profiler = Profiler(interval=interval, async_mode="disabled")
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
    out = "\n".join(tree)
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if flat and root is not None and root.time > 0:
        out += "\n\n" + _flat(root, ours)
    return out


def _label(frame: Any) -> str:
    name = f"{frame.class_name}.{frame.function}" if frame.class_name else frame.function
    return f"{name}  {frame.file_path_short}:{frame.line_no}"


def _flat(root: Any, ours: tuple[str, ...]) -> str:
    """Own time by function, and inclusive time of our own functions (each counted once per stack)."""
    own: dict[str, float] = {}
    inclusive: dict[str, float] = {}
    stack: list[tuple[Any, frozenset[str]]] = [(root, frozenset())]
    while stack:
        frame, above = stack.pop()
        if frame.is_synthetic:
            continue  # "[self]" and await leaves: their parent's total_self_time already holds them
        label = _label(frame)
        own[label] = own.get(label, 0.0) + frame.total_self_time
        path = frame.file_path or ""
        if label not in above and any(part in path for part in ours):
            inclusive[label] = inclusive.get(label, 0.0) + frame.time
        below = above | {label}
        stack.extend((child, below) for child in frame.children)
    total = root.time

    def table(values: dict[str, float]) -> list[str]:
        ranked = sorted(values.items(), key=lambda kv: -kv[1])[:_TOP]
        return [f"{v / total:6.1%}  {k}" for k, v in ranked if v / total >= 0.005]

    return "\n".join(
        [
            "own time (where the samples landed), % of the profiled time:",
            *table(own),
            "",
            f"inclusive time of the functions in {', '.join(p.strip('/') for p in ours)}:",
            *table(inclusive),
        ]
    )


class WriterProfile:
    """cProfile inside the journal writer's thread, for the batches run while it is attached."""

    def __init__(self, journal: Journal) -> None:
        writer = journal._writer
        assert writer is not None
        self.profile = cProfile.Profile()
        original = writer._run_batch

        def profiled(batch: list[Any]) -> None:
            self.profile.enable()
            try:
                original(batch)
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
