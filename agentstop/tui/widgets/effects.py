"""The live side-effect panel: one row per call, updated in place from journal events, drawn only on screen."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.widgets.data_table import ColumnKey

from agentstop.formatting import clock
from agentstop.journal import CallState, Event, EventKind
from agentstop.report import IN_FLIGHT

from .badges import reversibility_badge, state_text
from .call_table import fitted
from .virtual_table import VirtualTable

__all__ = ["EffectsTable", "processes_label"]

MAX_PIDS = 3
"""PIDs shown on a row; the rest are counted ("+3")."""

_NOT_STATES = frozenset({EventKind.APPROVAL_REQUESTED, EventKind.APPROVED, EventKind.TRANSCRIPT})


def _pids(note: dict[str, Any]) -> str:
    pids = [str(p) for p in note.get("pids") or []]
    count = note.get("count")
    total = count if isinstance(count, int) and count > len(pids) else len(pids)
    more = f" +{total - MAX_PIDS}" if total > MAX_PIDS else ""
    return " ".join(pids[:MAX_PIDS]) + more


def processes_label(state: str, note: dict[str, Any] | None) -> Text:
    """A row's state cell: the state, with the PIDs of a call in flight ("committing… pid 123 124").

    When the latest note says its processes could not be killed, that is what the row says
    ("could not kill pid 4242"), in red, until the call settles.
    """
    label = state_text(state)
    if note is None or state not in IN_FLIGHT or not note.get("pids"):
        return label
    if note.get("state") == "not_killed":
        return Text(f"could not kill pid {_pids(note)}", style="bold red")
    if note.get("state") == "running":
        label.append(f" pid {_pids(note)}")
    return label


class EffectsTable(VirtualTable[str]):
    """Calls as the journal has them, one row each, drawn only where they are on screen (`VirtualTable`).

    A call event's kind is the call's new state. Session events about a call
    (`processes` notes a tool journals while it runs: `data["call_id"]`, no
    call id of their own) never change its state; they add the PIDs to the row
    of a call in flight, and the state column widens to show them.

    A batch of events costs its events: the rows are call ids in the order the
    calls were planned, their cells are made when drawn.
    """

    zebra_stripes = True

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._states: dict[str, str] = {}
        self._processes: dict[str, dict[str, Any]] = {}
        self._what: dict[str, str] = {}
        self._at: dict[str, str] = {}
        self._rev: dict[str, str] = {}
        self._tool: dict[str, str] = {}
        """Per call: its time, its reversibility class, its tool. Plain strings in dicts of their own: a row's
        cells are made when drawn, and a dict of strings is one the garbage collector never walks (CPython
        stops tracking it). A tuple per call made the dict tracked again at each new call, and every full
        pass of the collector then walked the whole session's entries: ~20 ms a pass at 100,000 calls."""
        self._awaiting: set[str] = set()
        self._what_width = 0

    def on_mount(self) -> None:
        # "call" grows with the ids (c19500 is never cut to c1950); "what" fits the rest, with an ellipsis.
        longest = max((len(k) for k in self._order), default=0)
        self.set_columns(
            [
                ("time", "time", 8),
                ("call", "call", max(4, longest)),
                ("state", "state", 18),
                ("class", "class", 7),
                ("tool", "tool", 16),
                ("what", "what", 20),
            ]
        )
        self._refit()
        self.show_rows(self._order)

    @property
    def rows(self) -> dict[str, int]:
        """Call id -> row."""
        return self._index

    def row_key(self, row: str) -> str:
        return row

    def row_cells(self, row: str, index: int) -> list[str | Text]:
        at, rev, tool = self._at[row], self._rev[row], self._tool[row]
        if row in self._awaiting:
            state = Text("awaiting approval", style="bold reverse yellow")
        else:
            state = processes_label(self._states[row], self._processes.get(row))
        what = fitted(self._what[row], self._what_width or self._fit_what())
        return [at, row, state, reversibility_badge(rev), fitted(tool, 16), what]

    def _fit_what(self) -> int:
        """The room "what" has: the panel's width less the other columns (at least 20)."""
        padding = 2 * self.cell_padding
        others = sum(c.get_render_width(self) for k, c in self.columns.items() if k != ColumnKey("what"))
        return max(20, (self.size.width or self.app.size.width) - others - padding - 2)

    def on_resize(self, event: events.Resize) -> None:
        self._refit()

    def _refit(self) -> None:
        width = self._fit_what()
        if width == self._what_width:
            return
        self._what_width = width
        self.set_width("what", width)

    def apply(self, events: list[Event], reversibility: dict[str, str]) -> None:
        """Apply journal events in order: a planned call adds a row, later states update it.

        Only the lines of rows the batch touched are drawn again, and only where they are
        on screen: a batch about calls off screen costs its events, and the scrollbar.
        """
        before = len(self._order)
        touched: set[str] = set()
        for event in events:
            if event.call_id is None:
                if event.kind == "processes" and isinstance(event.data.get("call_id"), str):
                    self._note_processes(event.data["call_id"], event.data)
                    touched.add(event.data["call_id"])
                continue
            key = event.call_id
            if event.kind == CallState.PLANNED:
                if key in self._index:
                    continue
                data = event.data
                rev = reversibility.get(str(data.get("tool")), "")
                self._states[key] = CallState.PLANNED
                self._what[key] = str(data.get("summary", ""))
                self._at[key] = clock(event.at)[:8]
                self._rev[key] = rev
                self._tool[key] = str(data.get("tool", ""))
                self._index[key] = len(self._order)
                self._order.append(key)
                call = self.columns.get(ColumnKey("call"))
                if call is not None and len(key) > call.width:
                    self.set_width("call", len(key))  # a wider call column leaves "what" less room
                    self.call_after_refresh(self._refit)
            elif key in self._index and event.kind not in _NOT_STATES:
                self._states[key] = event.kind
                self._awaiting.discard(key)
                if event.kind not in IN_FLIGHT:
                    self._processes.pop(key, None)  # settled: its processes are its receipt's business now
                self._show_state(key)
                self._at[key] = clock(event.at)[:8]
                touched.add(key)
            elif key in self._index and event.kind == EventKind.APPROVAL_REQUESTED:
                self._awaiting.add(key)
                touched.add(key)
        if len(self._order) > before:
            self.rows_appended(before)  # the same list, longer: the virtual height follows
        index = self._index
        self.refresh_rows_at(index[key] for key in touched if key in index and index[key] < before)

    def _note_processes(self, call_id: str, note: dict[str, Any]) -> None:
        if self._states.get(call_id) not in IN_FLIGHT:
            return  # not running (any more): a late note changes nothing
        self._processes[call_id] = note
        self._show_state(call_id)

    def _show_state(self, key: str) -> None:
        label = processes_label(self._states[key], self._processes.get(key))
        column = self.columns.get(ColumnKey("state"))
        if column is not None and column.width < label.cell_len:
            self.set_width("state", label.cell_len)  # wider for PIDs, never narrower again (no jitter)
