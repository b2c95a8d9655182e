"""Knobs the demo tools read from the environment at call time (so tests can turn them)."""

from __future__ import annotations

import math
import os

__all__ = ["CHAT_DELAY_ENV", "UNDO_WINDOW_ENV", "env_seconds"]

UNDO_WINDOW_ENV = "AGENTSTOP_DEMO_UNDO_WINDOW"
"""Seconds a sent email waits in the outbox, pullable, before delivery (default 10)."""

CHAT_DELAY_ENV = "AGENTSTOP_DEMO_CHAT_DELAY"
"""Seconds a chat message waits before it reaches the channel (default 3)."""


def env_seconds(name: str, default: float) -> float:
    """A non-negative number of seconds from the environment variable `name`.

    Raises:
        ValueError: the variable is set to something else; the message names it.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}={raw!r} is not a number of seconds; set it to e.g. 10, or unset it")
    return value
