"""Starting the TUI's background work: every `run_worker` of the app goes through `run_later`.

Textual takes a worker's work as a coroutine or as a coroutine function. A
coroutine made at the call (`run_worker(self._open(sid))`) exists before its
worker starts; when the worker is cancelled first (an exclusive worker replaced
at once, the app quitting a moment after it asked), the coroutine is never
awaited and Python warns about it on the way out. A coroutine function is
called by the worker itself, when it starts: a worker that never starts leaves
nothing behind.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from textual.dom import DOMNode
from textual.worker import Worker

__all__ = ["run_later"]

T = TypeVar("T")


def run_later(
    node: DOMNode,
    fn: Callable[..., Coroutine[Any, Any, T]],
    *args: Any,
    group: str,
    name: str = "",
    exclusive: bool = False,
) -> Worker[T]:
    """Run `fn(*args)` in a worker of `node` (see `DOMNode.run_worker`); the coroutine is made when it starts."""
    work = cast("Callable[[], Coroutine[None, None, T]]", functools.partial(fn, *args))
    return node.run_worker(work, name=name, group=group, exclusive=exclusive)
