"""A yes/no modal that shows exactly what will happen before it happens."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from agentstop.report import Report

__all__ = ["ConfirmScreen", "undo_confirmation"]


class ConfirmScreen(ModalScreen[bool]):
    """Asks once; Esc means no, and so does Enter (Cancel has the focus)."""

    AUTO_FOCUS = "#no"

    BINDINGS = [Binding("escape", "answer(False)", "Cancel"), Binding("y", "answer(True)", "Yes", show=False)]

    def __init__(self, title: str, lines: list[str], confirm: str, *, danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines
        self.confirm = confirm
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="dialog-title")
            yield Static(Text("\n".join(self.lines)), id="dialog-body")
            with Horizontal(id="dialog-buttons"):
                yield Button(self.confirm, id="yes", variant="error" if self.danger else "primary")
                yield Button("Cancel", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


def undo_confirmation(report: Report, call_ids: list[str], what: str) -> tuple[ConfirmScreen, list[str]]:
    """The confirmation that previews each compensation, and the ids in the order they will run."""
    wanted = set(call_ids)
    # Report.undoable is already latest commit first: the order the undo runs in.
    chosen = [i for i in report.undoable if i.call_id in wanted]
    chosen += [i for i in report.all_calls if i.call_id in wanted and i not in chosen]
    lines = [f"  {i.call_id}  {i.tool}: {i.summary}\n        → {i.undo.detail}" for i in chosen]
    screen = ConfirmScreen(f"About to {what} ({len(chosen)} call(s), latest first):", lines, "Undo", danger=True)
    return screen, [i.call_id for i in chosen]
