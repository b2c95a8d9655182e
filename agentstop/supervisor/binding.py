"""`agentstop.bind(sup)`: the supervisor that `@agentstop.tool` functions called here go through.

```python
async with agentstop.bind(sup) as s:
    s.on_stop(run.cancel)          # what Stop must also do to your own agent
    await write_note(path="a.txt", text="hello")
```

While bound, the supervisor watches for a revoke from anywhere (another process,
`agentstop stop`, the TUI attached from elsewhere, a revoke on a shared
PostgreSQL journal: heard within 100 ms, at once on PostgreSQL) and stops; the
callbacks given to `on_stop` then run once, right after the revoke. On exit it
waits for calls whose callers were cancelled mid-commit, so none is left
`committing`.

The binding is a context variable: two supervisors bound in two tasks of one
process do not mix. A worker thread that did not inherit the binder's context
(a framework's own thread pool) gets the process's only bound supervisor, and
none (`NotBound`) while two or more are bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from agentstop.tools.function import binding

from .supervisor import Supervisor

__all__ = ["Binding", "bind"]


class Binding:
    """What `async with agentstop.bind(sup) as s` gives: the supervisor, and Stop's callbacks."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    def on_stop(self, callback: Callable[[], object]) -> None:
        """Have Stop call `callback()` (sync, or async) once, right after the revoke, whoever stopped.

        Use it to cancel your own agent: a framework run's `cancel`, an
        `asyncio.Task.cancel`, an `anyio.Event.set`. See `Supervisor.on_stop`.
        """
        self.sup.on_stop(callback)


@asynccontextmanager
async def bind(sup: Supervisor) -> AsyncIterator[Binding]:
    """Bind `sup` for decorated tools called in this context, watch for Stop, drain on exit.

    Starts the session if it has not started (journals it and its grant).
    """
    await sup.start()
    # The watcher runs in a task of the supervisor's rather than in a task group around the
    # body: a task group would wrap whatever the body raises in an ExceptionGroup.
    watcher = await sup.start_watching()
    try:
        with binding(sup):
            yield Binding(sup)
    finally:
        # Once Stop has begun, the watcher may be the one running it (a revoke heard from elsewhere, the
        # expiry): it returns once Stop has settled, or at its next poll, so it is waited for, not cancelled.
        if not sup.stopping:
            watcher.cancel()
        with anyio.CancelScope(shield=True):
            await watcher.wait()
            await sup.drain()
        failed = watcher.error
    if failed is not None:  # the watcher could not read the journal: Stop from elsewhere was not heard
        raise failed
