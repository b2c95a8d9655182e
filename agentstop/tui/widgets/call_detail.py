"""The expanded view of one call: arguments, prepared effect, receipt, why, and its undo."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widgets import Static

from agentstop.formatting import clock, duration
from agentstop.report import ReportItem
from agentstop.text import printable

from ..keys import KeyId, key_text
from ..wording import counted

__all__ = ["CallDetail"]


def _json(value: Any) -> str:
    return (
        printable(json.dumps(value, indent=1, ensure_ascii=False, default=str), multiline=True)
        if value is not None
        else "-"
    )


class CallDetail(Static):
    """Shows one report item in full; empty when nothing is expanded."""

    def __init__(self, clock_fn: Callable[[], float] = time.time, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.clock = clock_fn
        self.item: ReportItem | None = None
        self.epochs = 1
        """The report's epoch count; after a Resume the expanded call says which epoch it belongs to."""

    def show(self, item: ReportItem | None) -> None:
        """Expand `item` (None collapses)."""
        self.item = item
        self.display = item is not None
        self.update(self._render_item(item) if item is not None else "")

    def _render_item(self, item: ReportItem) -> RenderableType:
        undo = item.undo
        state = Text.assemble(
            ("state ", "dim"),
            item.state,
            ("   class ", "dim"),
            item.reversibility,
            ("   resource ", "dim"),
            printable(item.resource),
        )
        if self.epochs > 1:
            state.append_text(Text.assemble(("   epoch ", "dim"), f"{item.epoch} of {self.epochs}"))
        lines: list[RenderableType] = [
            Text.assemble((f"{item.call_id} · {item.tool}", "bold"), f"  {printable(item.summary)}"),
            state,
            Text.assemble(
                ("planned ", "dim"),
                clock(item.planned_at),
                ("   fence ", "dim"),
                clock(item.fence_at),
                ("   committed ", "dim"),
                clock(item.committed_at),
            ),
        ]
        if item.reason:
            lines.append(Text.assemble(("why ", "bold"), printable(item.reason)))
        lines.append(Text.assemble(("arguments (secrets redacted) ", "dim"), _json(item.args)))
        lines.append(Text.assemble(("prepared effect ", "dim"), _json(item.prepared)))
        lines.append(Text.assemble(("receipt ", "dim"), _json(item.receipt)))
        undo_line = Text.assemble(("undo ", "bold"), f"{undo.status}: {undo.detail}")
        if undo.deadline is not None:
            left = undo.deadline - self.clock()
            undo_line.append(f"  (deadline in {duration(left)})" if left > 0 else "  (deadline passed)")
        lines.append(undo_line)
        if item.reappliable or item.reapplies:
            again = f"available ({key_text(self, KeyId.REAPPLY)})" if item.reappliable else "not now"
            times = f"; re-applied {counted(item.reapplies, 'time')} so far" if item.reapplies else ""
            lines.append(Text.assemble(("re-apply ", "bold"), f"{again}{times}"))
        return Group(*lines)
