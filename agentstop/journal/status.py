"""How a session ended, or that it has not: the `status` column of a session row."""

from __future__ import annotations

import enum

__all__ = ["SessionStatus"]


class SessionStatus(enum.StrEnum):
    """How a session ended (or that it has not). Stored as its value; a Resume sets it running again."""

    RUNNING = "running"
    """Its process is running it (or was, until it died: recovery then marks it crashed)."""

    COMPLETED = "completed"
    """The agent finished its task."""

    STOPPED = "stopped"
    """A person (or a limit) stopped it: its grant was revoked and it ran down."""

    CRASHED = "crashed"
    """Its process died while running it; recovery found it so and settled its calls."""
