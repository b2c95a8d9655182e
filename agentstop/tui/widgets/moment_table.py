"""The side-effect panel of a replayed moment: the moment's calls, drawn only where they are on screen."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.widgets.data_table import ColumnKey

from agentstop.formatting import clock
from agentstop.replay import CallView, Moment
from agentstop.replay.timeline import LATE_STATES

from .badges import state_text
from .call_table import fitted
from .virtual_table import VirtualTable

__all__ = ["MomentTable"]


WINDOW = 500
"""At most this many rows: the calls planned last as of the moment (nobody reads more scrubbing; the
report lists every call). Replay's moments carry `agentstop.replay.checkpoints.WINDOW` calls: this is at
most that."""


class MomentTable(VirtualTable[CallView]):
    """Calls as they stood at one moment (`VirtualTable`: a row's cells are made when it is drawn).

    Scrubbing hands it the next moment's calls (`show`): no row is added or
    removed one by one, whatever the moment holds; only the lines on screen are
    drawn again.
    """

    zebra_stripes = True

    hidden = 0
    """How many calls planned earlier are left out of the window at the moment shown."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._revoked_at: float | None = None
        self._what_width = 0

    def on_mount(self) -> None:
        # "call" grows with the ids (c19500 is never cut to c1950); "state" holds "discarded after Stop";
        # "what" fits the rest, with an ellipsis.
        self.set_columns(
            [
                ("time", "time", 12),
                ("call", "call", 4),
                ("state", "state", 20),
                ("tool", "tool", 16),
                ("what", "what", 20),
            ]
        )
        self._refit()

    def row_key(self, row: CallView) -> str:
        return row.call_id

    def row_cells(self, row: CallView, index: int) -> Sequence[str | Text]:
        label = state_text(row.state)
        if self._revoked_at is not None and row.state in LATE_STATES and row.at >= self._revoked_at:
            label = Text(f"{row.state} after Stop", style="bold red")
        return [clock(row.at), row.call_id, label, fitted(row.tool, 16), fitted(row.summary, self._what_width)]

    def show(self, moment: Moment) -> None:
        """Show `moment`'s last `WINDOW` calls, marking those rejected after the Stop.

        A moment may carry only its latest calls already (`Moment.earlier` says how many it left out).
        """
        calls = list(moment.calls.values())
        cut = max(0, len(calls) - WINDOW)
        self.hidden = moment.earlier + cut
        self._revoked_at = moment.revoked_at
        visible = calls[cut:]
        self.set_width("call", max([4, *(len(c.call_id) for c in visible)]))
        self._refit()
        self.show_rows(visible)

    def on_resize(self, event: events.Resize) -> None:
        self._refit()

    def _refit(self) -> None:
        """Give "what" the room the panel has left (at least 20 cells)."""
        padding = 2 * self.cell_padding
        others = sum(c.get_render_width(self) for k, c in self.columns.items() if k != ColumnKey("what"))
        width = max(20, (self.size.width or self.app.size.width) - others - padding - 2)
        self.set_width("what", width)
        self._what_width = width
