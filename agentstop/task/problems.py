"""Collecting what is wrong with a task file and raising the first of it, by line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentstop.errors import TaskFileError

__all__ = ["Problem", "raise_first"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a task file.

    Attributes:
        line: 1-based line in the file, or None when it is about the whole file.
        field: the field's path (`grant.ttl`, `steps[2].args.to`), or None.
        text: what is wrong and what was expected.
    """

    line: int | None
    field: str | None
    text: str


def raise_first(shown_path: str, problems: Sequence[Problem]) -> None:
    """Raise `TaskFileError` for the earliest problem, noting how many more there are.

    Does nothing when `problems` is empty.
    """
    if not problems:
        return
    ordered = sorted(problems, key=lambda p: 0 if p.line is None else p.line)  # stable: same line keeps order
    first = ordered[0]
    more = f" (and {len(ordered) - 1} more)" if len(ordered) > 1 else ""
    raise TaskFileError(shown_path, first.line, first.field, first.text + more)
