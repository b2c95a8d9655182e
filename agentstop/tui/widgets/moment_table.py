"""The side-effect panel of a replayed moment: rows follow the timeline forwards and backwards."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from agentstop.formatting import clock
from agentstop.journal import CallState
from agentstop.replay import Moment
from agentstop.text import printable

from .badges import state_text

__all__ = ["MomentTable"]


WINDOW = 500
"""At most this many rows: the calls planned last as of the moment (a DataTable of 20,000 rows takes
Textual seconds to lay out, and nobody reads them scrubbing; the report lists every call). Replay's
moments carry `agentstop.replay.checkpoints.WINDOW` calls: this is at most that."""


class MomentTable(DataTable[str | Text]):
    """Calls as they stood at one moment; only changed cells are touched when scrubbing."""

    hidden = 0
    """How many calls planned earlier are left out of the window at the moment shown."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, key, width in (
            ("time", "time", 12),
            ("call", "call", None),
            ("state", "state", 18),
            ("tool", "tool", 16),
            ("what", "what", None),
        ):
            self.add_column(label, key=key, width=width)
        self._shown: dict[str, tuple[str, float]] = {}

    def show(self, moment: Moment) -> None:
        """Make the rows match `moment` (its last `WINDOW` calls), marking calls rejected after the Stop.

        A moment may carry only its latest calls already (`Moment.earlier` says how many it left out).
        """
        calls = list(moment.calls.values())
        cut = max(0, len(calls) - WINDOW)
        self.hidden = moment.earlier + cut
        visible = calls[cut:]
        keys = {c.call_id for c in visible}
        kept = [k for k in self._shown if k in keys]
        new = [c.call_id for c in visible if c.call_id not in self._shown]
        if kept and new and [c.call_id for c in visible][: len(kept)] != kept:
            # A call enters the window ahead of rows already shown (scrubbing back): rows are
            # appended, so lay the window out again to keep the planning order.
            self.clear()
            self._shown.clear()
        for key in [k for k in self._shown if k not in keys]:
            self.remove_row(key)
            del self._shown[key]
        for call in visible:
            label = state_text(call.state)
            if (
                moment.revoked_at is not None
                and call.state in (CallState.REJECTED, CallState.DISCARDED)
                and call.at >= moment.revoked_at
            ):
                label = Text(f"{call.state} after Stop", style="bold red")
            if call.call_id not in self._shown:
                self.add_row(clock(call.at), call.call_id, label, call.tool, printable(call.summary), key=call.call_id)
            elif self._shown[call.call_id] != (call.state, call.at):
                self.update_cell(call.call_id, "state", label)
                self.update_cell(call.call_id, "time", clock(call.at))
            self._shown[call.call_id] = (call.state, call.at)
