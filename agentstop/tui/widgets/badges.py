"""How states and reversibility classes look, in one place."""

from __future__ import annotations

from rich.text import Text

from agentstop.formatting import STATE_STYLE

__all__ = ["REVERSIBILITY", "STATE_STYLE", "reversibility_badge", "state_text"]


REVERSIBILITY = {
    "read_only": ("read", "dim"),
    "reversible": ("undo", "green"),
    "compensable": ("comp", "yellow"),
    "irreversible": ("IRREV", "bold red"),
}


def state_text(state: str) -> Text:
    """A call state in its colour (failed and cancelled look different)."""
    label = {
        "compensation_failed": "undo failed",
        "committing": "committing…",
        "compensating": "undoing…",
        "reapplying": "re-applying…",
        "reapply_failed": "re-apply ✗",
    }.get(state, state)
    return Text(label, style=STATE_STYLE.get(state, ""))


def reversibility_badge(reversibility: str) -> Text:
    """A short badge for a reversibility class."""
    label, style = REVERSIBILITY.get(reversibility, (reversibility, ""))
    return Text(f" {label} ", style=f"{style} reverse" if style else "reverse")
