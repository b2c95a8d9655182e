"""Small formatting helpers shared by the CLI and the TUI (times and durations)."""

from __future__ import annotations

from datetime import datetime

__all__ = ["STATE_STYLE", "clock", "duration"]

# One colour per call state; failed (red) and cancelled (dim) look different.
STATE_STYLE = {
    "planned": "dim",
    "prepared": "cyan",
    "committing": "bold yellow",
    "committed": "green",
    "failed": "red",
    "unknown": "bold magenta",
    "rejected": "red",
    "discarded": "dim italic",
    "compensating": "bold yellow",
    "compensated": "blue",
    "compensation_failed": "bold red",
    "reapplying": "bold yellow",
    "reapply_failed": "bold red",
}


def clock(at: float | None) -> str:
    """Local wall-clock time with milliseconds, or a dash."""
    if at is None:
        return "-"
    return datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3]


def duration(seconds: float | None) -> str:
    """A short human duration ("4.2 s", "3 m 05 s")."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"
