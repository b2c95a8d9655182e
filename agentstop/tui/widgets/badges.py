"""How states and reversibility classes look, in one place."""

from __future__ import annotations

from rich.text import Text

from agentstop.formatting import STATE_STYLE
from agentstop.journal import CallState, Reversibility

__all__ = ["REVERSIBILITY", "STATE_STYLE", "reversibility_badge", "state_text"]


REVERSIBILITY: dict[str, tuple[str, str]] = {
    Reversibility.READ_ONLY: ("read", "dim"),
    Reversibility.REVERSIBLE: ("undo", "green"),
    Reversibility.COMPENSABLE: ("comp", "yellow"),
    Reversibility.IRREVERSIBLE: ("IRREV", "bold red"),
}


_SHORT: dict[str, str] = {
    CallState.COMPENSATION_FAILED: "undo failed",
    CallState.COMMITTING: "committing…",
    CallState.COMPENSATING: "undoing…",
    CallState.REAPPLYING: "re-applying…",
    CallState.REAPPLY_FAILED: "re-apply ✗",
}
"""States said differently on a row than their value (what a person reads in a narrow column)."""


def state_text(state: str) -> Text:
    """A call state in its colour (failed and cancelled look different)."""
    return Text(_SHORT.get(state, state), style=STATE_STYLE.get(state, ""))


def reversibility_badge(reversibility: str) -> Text:
    """A short badge for a reversibility class."""
    label, style = REVERSIBILITY.get(reversibility, (reversibility, ""))
    return Text(f" {label} ", style=f"{style} reverse" if style else "reverse")
