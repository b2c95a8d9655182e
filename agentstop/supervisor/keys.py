"""Idempotency keys for calls made without one: 128 random bits each, drawn from the OS in batches.

A key is what keeps a retried or recovered commit from repeating its effect, so
it must never repeat: it is 16 bytes from `os.urandom`, written as 32 hex digits
(the form `uuid.uuid4().hex` had). Drawing them one call at a time costs a
system call per call, and a system call lets the journal writer's thread take
the GIL from the event loop, which then waits to get it back: with many callers
that wait was the largest single cost on the loop. So the bytes are drawn for
`BATCH` keys at once. A forked child starts with none (the parent's are the
parent's), so no two processes hand out the same key.
"""

from __future__ import annotations

import os

__all__ = ["BATCH", "new_key"]

BATCH = 256
"""Keys drawn from the OS at once."""

_unused: list[str] = []


def new_key() -> str:
    """A fresh idempotency key (32 hex digits), never handed out before in this process or any other."""
    while True:
        try:
            return _unused.pop()
        except IndexError:
            raw = os.urandom(16 * BATCH).hex()
            _unused.extend(raw[i : i + 32] for i in range(0, len(raw), 32))


os.register_at_fork(after_in_child=_unused.clear)
