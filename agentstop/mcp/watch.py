"""Who waits on one commit's upstream call besides the journal: the MCP proxy, answering its host.

A receipt keeps a bounded copy of a tool's result (long texts cut, binary data
dropped), so the proxy cannot answer its host from it. Instead, for the one
host request it runs, it sets a `CommitWatch` in the task's context before the
call goes through the supervisor; `McpTool.commit`, in that same task, hands
the watch the upstream's progress as it comes, the upstream's own result, and
the moment Stop cuts the call off. Captures, probes and undos never look.

```python
with watching(CommitWatch(progress=forward, on_result=keep, on_cut_off=answer_stopped)):
    await supervisor.call("memory.create_entities", args)
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import mcp_types as types
from mcp.shared.dispatcher import ProgressFnT

__all__ = ["CommitWatch", "ProgressFn", "current_watch", "watching"]

ProgressFn = ProgressFnT
"""Receives the upstream's progress notifications for the call: `async (progress, total, message)`."""


@dataclass(frozen=True)
class CommitWatch:
    """What to tell whoever waits on the commit's upstream call.

    Attributes:
        progress: forwards the upstream's progress (None: the call asks for none).
        on_result: receives the upstream's own result, error results included, as it returns.
        on_cut_off: called when the call is cancelled while out (Stop, after the grace),
            before the cancellation goes on.
    """

    progress: ProgressFn | None = None
    on_result: Callable[[types.CallToolResult], None] | None = None
    on_cut_off: Callable[[], None] | None = None


_WATCH: ContextVar[CommitWatch | None] = ContextVar("agentstop_mcp_commit_watch", default=None)


def current_watch() -> CommitWatch | None:
    """The watch of the commit running in this task, if anyone set one."""
    return _WATCH.get()


@contextmanager
def watching(watch: CommitWatch) -> Iterator[None]:
    """Set `watch` for the commits made in this task (and the tasks it starts) inside the block."""
    token = _WATCH.set(watch)
    try:
        yield
    finally:
        _WATCH.reset(token)
