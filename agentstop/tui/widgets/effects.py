"""The live side-effect panel: one row per call, updated in place from journal events."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from agentstop.formatting import clock
from agentstop.journal import Event

from .badges import reversibility_badge, state_text

__all__ = ["EffectsTable"]


class EffectsTable(DataTable[str | Text]):
    """Calls as the journal has them; cells update, rows are never rebuilt."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, key, width in (("time", "time", 8), ("call", "call", 4), ("state", "state", 18),
                                  ("class", "class", 7), ("tool", "tool", 16), ("what", "what", None)):
            self.add_column(label, key=key, width=width)

    def apply(self, events: list[Event], reversibility: dict[str, str]) -> None:
        """Apply journal events in order: a planned call adds a row, later states update it."""
        for event in events:
            if event.call_id is None:
                continue
            key = event.call_id
            if event.kind == "planned":
                if key in self.rows:
                    continue
                data = event.data
                rev = reversibility.get(str(data.get("tool")), "")
                self.add_row(clock(event.at)[:8], key, state_text("planned"), reversibility_badge(rev),
                             str(data.get("tool", "")), str(data.get("summary", "")), key=key)
            elif key in self.rows and event.kind not in ("approval_requested", "approved", "transcript"):
                self.update_cell(key, "state", state_text(event.kind))
                self.update_cell(key, "time", clock(event.at)[:8])
            elif key in self.rows and event.kind == "approval_requested":
                self.update_cell(key, "state", Text("awaiting approval", style="bold reverse yellow"))
