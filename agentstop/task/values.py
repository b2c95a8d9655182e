"""Small helpers for error messages: show a value briefly, suggest a close name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean", "show"]


def show(value: object, limit: int = 40) -> str:
    """A short repr for messages: `'-5s'`, `a mapping`, `a list`, truncated past `limit`."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def closest(word: object, options: Iterable[str]) -> str | None:
    """The option closest to `word`, when one is close enough to be a typo of it."""
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: object, options: Iterable[str]) -> str:
    """`" (did you mean 'tools'?)"` when an option is close to `word`, else ``""``."""
    close = closest(word, options)
    return f" (did you mean {close!r}?)" if close else ""
