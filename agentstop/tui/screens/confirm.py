"""A yes/no modal that shows exactly what will happen before it happens."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from agentstop.errors import UnknownTool
from agentstop.journal import CallState
from agentstop.report import Report, ReportItem
from agentstop.tools import Tool, ToolRegistry

from ..keys import KeyId, bound, key_text
from ..wording import counted, undo_clock

__all__ = ["PREVIEW_LIMIT", "ConfirmScreen", "UndoQuestion", "force_confirmation", "reapply_confirmation"]

PREVIEW_LIMIT = 200
"""Calls an undo's confirmation previews one by one; beyond, it says how many more."""


class ConfirmScreen(ModalScreen[bool]):
    """Asks once: y says yes; n, Esc and Enter (Cancel has the focus) say no. The buttons show their keys.

    s and Ctrl+C still stop the agent while it asks (the app's Stop, as everywhere).

    Args:
        title: the question.
        body: lines of text, or a renderable (the undo previews are tables).
        confirm: the label of the button that says yes.
        danger: a red yes button.
    """

    AUTO_FOCUS = "#no"

    BINDINGS = [
        Binding("escape", "answer(False)", "Cancel"),
        bound(KeyId.NO, "answer(False)", "No", show=False),
        bound(KeyId.YES, "answer(True)", "Yes", show=False),
        bound(KeyId.STOP, "app.stop", "Stop", show=False),
    ]

    def __init__(self, title: str, body: list[str] | RenderableType, confirm: str, *, danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm = confirm
        self.danger = danger
        self._note = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(_renderable(self.body), id="dialog-body")
            yield Static(Text(""), id="dialog-note")
            with Horizontal(id="dialog-buttons"):
                yes, no = key_text(self, KeyId.YES), key_text(self, KeyId.NO)
                yield Button(f"{self.confirm} ({yes})", id="yes", variant="error" if self.danger else "primary")
                yield Button(f"Cancel ({no}, Esc)", id="no")

    def on_mount(self) -> None:
        self.set_note(self._note)

    def set_body(self, body: list[str] | RenderableType) -> None:
        """Say the question's body anew (a preview kept true while the question is open)."""
        self.body = body
        for shown in self.query("#dialog-body").results(Static):  # none until composed
            shown.update(_renderable(body))

    def set_note(self, text: str) -> None:
        """A live line under the body (what the agent does while the question is open)."""
        self._note = text
        for note in self.query("#dialog-note").results(Static):  # none until composed
            note.update(Text(text, style="bold yellow"))
            note.display = bool(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


def _renderable(body: list[str] | RenderableType) -> RenderableType:
    return Text("\n".join(body)) if isinstance(body, list) else body


def _tool(tools: ToolRegistry | None, name: str) -> Tool | None:
    if tools is None:
        return None
    try:
        return tools.get(name)
    except UnknownTool:
        return None


def _calls_table(rows: list[tuple[ReportItem, list[Text]]]) -> Table:
    """One block per call: its id, what it did, then what its undo will do (wrapped lines stay indented)."""
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(ratio=1)
    for item, lines in rows:
        table.add_row(item.call_id, Text.assemble((f"{item.tool}: ", "bold"), item.summary))
        for line in lines:
            table.add_row("", line)
    return table


def _undo_preview(item: ReportItem, tools: ToolRegistry | None) -> str:
    """What the compensation of `item` will do now: the tool's own summary, the kind of undo, the drift check.

    Or, if its undo can no longer run (its window closed, another terminal undid it), why not.
    """
    undo = item.undo
    if not undo.available:
        return f"no longer undoable: {undo.detail}"
    tool = _tool(tools, item.tool)
    summary = tool.undo_summary(item.receipt) if tool is not None else ""
    parts = [summary, undo.detail] if summary else [undo.detail]
    if tool is not None and tool.can_check():
        parts.append("not if changed since")
    return " · ".join(parts)


class UndoQuestion:
    """The question before an undo, which says what each compensation will do, and keeps saying it truly.

    An undo's kind changes with the clock while a person reads (an email still in the outbox is
    pulled back; once delivered, the undo sends a follow-up), and its window may close: the mode
    hands the question each report it reads and, every second, the clock (`show`). A call whose
    undo has changed since the question opened says "now:" and stands out; its countdown shows.

    Attributes:
        screen: the dialog to push.
        call_ids: the calls it asks about, in the order the undo runs them (latest commit first).
    """

    def __init__(self, report: Report, call_ids: list[str], what: str, tools: ToolRegistry | None, now: float) -> None:
        wanted = set(call_ids)
        # Report.undoable is already latest commit first: the order the undo runs in.
        chosen = [i for i in report.undoable if i.call_id in wanted]
        first = {i.call_id for i in chosen}
        chosen += [i for i in report.all_calls if i.call_id in wanted and i.call_id not in first]
        self.call_ids = [i.call_id for i in chosen]
        self._tools = tools
        self._asked: dict[str, str] = {}
        """Each previewed call's undo as the question first said it."""
        self._said: list[tuple[str, str, str]] = []
        """What the question shows now (`_signature`)."""
        title = f"About to {what} ({counted(len(chosen), 'call')}, latest first):"
        body = self._body(self._lines(chosen[:PREVIEW_LIMIT], now))
        self.screen = ConfirmScreen(title, body, "Undo", danger=True)

    def show(self, item_of: Callable[[str], ReportItem | None], now: float) -> None:
        """Say each undo as the report has it at `now`: `item_of` finds a call's item in it (None if not there).

        Drawn again only when a line changed (a table of 200 calls takes tens of milliseconds to draw,
        and the mode asks at every batch of journal events and every second).
        """
        shown = [item for call_id in self.call_ids[:PREVIEW_LIMIT] if (item := item_of(call_id)) is not None]
        lines = self._lines(shown, now)
        if _signature(lines) != self._said:
            self.screen.set_body(self._body(lines))

    def _lines(self, shown: list[ReportItem], now: float) -> list[tuple[ReportItem, Text]]:
        """Each call and what its undo does now (its countdown after it); "now: ..." if that changed since asked."""
        out = []
        for item in shown:
            words = _undo_preview(item, self._tools)
            asked = self._asked.setdefault(item.call_id, words)
            clock = undo_clock(item.undo, now)
            tail = f" · {clock}" if clock else ""
            line = Text(f"→ {words}{tail}") if words == asked else Text(f"→ now: {words}{tail}", style="bold yellow")
            out.append((item, line))
        return out

    def _body(self, lines: list[tuple[ReportItem, Text]]) -> RenderableType:
        self._said = _signature(lines)
        body: RenderableType = _calls_table([(item, [line]) for item, line in lines])
        more = len(self.call_ids) - PREVIEW_LIMIT
        if more > 0:
            body = Group(
                body,
                Text(f"\n… and {more:,} more, latest first; `agentstop report` lists every call and its undo."),
            )
        return body


def _signature(lines: list[tuple[ReportItem, Text]]) -> list[tuple[str, str, str]]:
    """What lines say, to tell whether they changed: each call, its line's text and style."""
    return [(item.call_id, line.plain, str(line.style)) for item, line in lines]


def force_confirmation(
    report: Report, refusals: Mapping[str, str], tools: ToolRegistry | None = None
) -> tuple[ConfirmScreen, list[str]]:
    """The second question after an undo refused for drift: what changed, and undo it anyway?

    Args:
        report: the current report (the calls still undoable).
        refusals: call id -> what changed, as each tool's check said.
        tools: the session's tools, for each compensation's own summary.

    Returns:
        The screen, and the ids it would force (latest commit first).
    """
    chosen = [i for i in report.undoable if i.call_id in refusals]
    rows: list[tuple[ReportItem, list[Text]]] = []
    for item in chosen:
        tool = _tool(tools, item.tool)
        summary = tool.undo_summary(item.receipt) if tool is not None else ""
        action = f"forcing will {summary}" if summary else f"forcing runs its undo ({item.undo.detail})"
        rows.append(
            (
                item,
                [
                    Text.assemble(("changed: ", "bold yellow"), refusals[item.call_id]),
                    Text(f"→ {action}, and that change is lost"),
                ],
            )
        )
    body = Group(_calls_table(rows), Text("\nForce skips the check; the journal records the undo as forced."))
    title = f"Not undone: {counted(len(chosen), 'call')} changed since the agent acted. Undo anyway?"
    return ConfirmScreen(title, body, "Force undo", danger=True), [i.call_id for i in chosen]


def reapply_confirmation(
    report: Report, call_ids: list[str], tools: ToolRegistry | None = None
) -> tuple[ConfirmScreen, list[str]]:
    """The question before a re-apply: what each call's effect was, and that it will be done again.

    Args:
        report: the report the ids come from.
        call_ids: the calls to re-apply (undone ones; others are left out).
        tools: the session's tools, for each re-apply's own summary (`Tool.reapply_summary`);
            without them the call's own summary shows.

    Returns:
        The screen, and the ids it would re-apply, in the order they would run (earliest commit first).
    """
    wanted = set(call_ids)
    chosen = [i for i in report.reappliable if i.call_id in wanted]
    rows: list[tuple[ReportItem, list[Text]]] = []
    for item in chosen:
        tool = _tool(tools, item.tool)
        summary = tool.reapply_summary(item.receipt) if tool is not None else ""
        again = f"→ {summary}" if summary else "→ done again, as the agent did it"
        retry = " (a retry: the last re-apply failed)" if item.state == CallState.REAPPLY_FAILED else ""
        rows.append((item, [Text(again + retry), Text("  then undoable again", style="dim")]))
    body = Group(
        _calls_table(rows), Text("\nIt was undone; re-apply undoes that undo. The journal records that you did it.")
    )
    title = f"About to re-apply {counted(len(chosen), 'undone call')}, earliest first:"
    return ConfirmScreen(title, body, "Re-apply"), [i.call_id for i in chosen]
