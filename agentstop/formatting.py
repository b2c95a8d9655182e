"""Small formatting helpers shared by the CLI and the TUI (times and durations)."""

from __future__ import annotations

from datetime import datetime

from agentstop.journal.states import CallState

__all__ = ["STATE_STYLE", "clock", "duration"]

S = CallState

# One colour per call state; failed (red) and cancelled (dim) look different. Keyed by the members, looked
# up by any text (a `CallState` is its value): a replayed event's kind may be no state at all.
STATE_STYLE: dict[str, str] = {
    S.PLANNED: "dim",
    S.PREPARED: "cyan",
    S.COMMITTING: "bold yellow",
    S.COMMITTED: "green",
    S.FAILED: "red",
    S.UNKNOWN: "bold magenta",
    S.REJECTED: "red",
    S.DISCARDED: "dim italic",
    S.COMPENSATING: "bold yellow",
    S.COMPENSATED: "blue",
    S.COMPENSATION_FAILED: "bold red",
    S.REAPPLYING: "bold yellow",
    S.REAPPLY_FAILED: "bold red",
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
