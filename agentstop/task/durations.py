"""Durations as people write them in a task file: `500ms`, `2s`, `10m`, `1h30m`, or seconds."""

from __future__ import annotations

import math
import re

from .values import show

__all__ = ["DURATION_HINT", "DURATION_PATTERN", "parse_duration"]

DURATION_HINT = "a duration like 30s, 10m or 1h, or a number of seconds"
"""What every duration error says was expected."""

# Units from largest to smallest; a string lists each unit at most once, in this order.
_UNITS: dict[str, float] = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_PART = re.compile(rf"({_NUMBER})(ms|h|m|s)")

DURATION_PATTERN = rf"^\s*(?:{_NUMBER}(?:ms|h|m|s))+\s*$|^\s*{_NUMBER}\s*$"
"""A regular expression for the string forms (used in the JSON schema)."""


def _from_string(text: str) -> float | None:
    s = text.strip()
    if re.fullmatch(_NUMBER, s):
        return float(s)
    pos, total, last_rank = 0, 0.0, -1
    ranks = list(_UNITS)
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None:
            return None
        rank = ranks.index(m.group(2))
        if rank <= last_rank:  # "10s5m" or "1m1m": ambiguous, refuse it
            return None
        last_rank = rank
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if s else None


def parse_duration(value: object) -> float:
    """Seconds from a duration as a task file writes it.

    Args:
        value: a non-negative number of seconds, or a string such as `500ms`,
            `2s`, `1.5s`, `10m`, `1h` or `1h30m` (units largest first, each once).

    Returns:
        The duration in seconds.

    Raises:
        ValueError: anything else (negative, malformed, not finite); the message
            says what was expected.

    Example:
        ```python
        parse_duration("1h30m")  # 5400.0
        parse_duration(2)        # 2.0
        ```
    """
    seconds: float | None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = None
    elif isinstance(value, str):
        seconds = _from_string(value)
    else:
        seconds = None
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected {DURATION_HINT} (got {show(value)})")
    return seconds
