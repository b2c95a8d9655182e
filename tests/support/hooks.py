"""`hooks(fn)`: a function made a tool by `@agentstop.tool`, typed with its hook decorators.

`@agentstop.tool` returns the function itself with `.Tool` and the hook decorators
(`.prepare`, `.compensate`, `.lookup`, `.check`, `.reapply`) set on it, but its
signature says it returns the function's own type (so calls keep their argument
types), and a type checker cannot see the hooks. `@hooks(write_note).compensate`
reads the same as `@write_note.compensate` and is checked: the hook's own signature
is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from agentstop.tools import ToolFunction


def hooks(fn: Callable[..., Any]) -> ToolFunction:
    """The decorated function `fn`, typed as what `@agentstop.tool` made of it."""
    if not hasattr(fn, "Tool"):
        raise TypeError(f"{fn!r} is not decorated with @agentstop.tool; decorate it first")
    return cast(ToolFunction, fn)
