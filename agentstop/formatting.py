"""Small formatting helpers shared by the CLI and the TUI (times and durations)."""

from __future__ import annotations

import functools
import math
from datetime import datetime

from agentstop.journal.states import CallState

__all__ = ["STATE_STYLE", "clock", "duration", "split_second"]

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
    """Local wall-clock time with milliseconds, or a dash.

    The text of `datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3]`, the whole
    second formatted once (a timeline's events share their seconds; an export writes one a line).
    """
    if at is None:
        return "-"
    second, micro = split_second(at)
    return f"{_local_second(second)}.{micro // 1000:03d}"


@functools.lru_cache(maxsize=1024)
def _local_second(second: int) -> str:
    return datetime.fromtimestamp(second).strftime("%H:%M:%S")


def split_second(at: float) -> tuple[int, int]:
    """`at` as `datetime.fromtimestamp` splits it: its whole second and its microseconds, rounded half to even."""
    frac, whole = math.modf(at)
    micro = round(frac * 1e6)
    second = int(whole)
    if micro >= 1_000_000:
        micro -= 1_000_000
        second += 1
    elif micro < 0:
        micro += 1_000_000
        second -= 1
    return second, micro


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
