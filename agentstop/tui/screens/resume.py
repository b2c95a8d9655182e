"""The resume prompt: run a stopped session on, as a new epoch, with a word for the agent and a narrower grant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, SelectionList, Static
from textual.widgets.selection_list import Selection

from ..widgets.badges import reversibility_badge

__all__ = ["ResumeChoice", "ResumeScreen"]


@dataclass(frozen=True)
class ResumeChoice:
    """What the person chose in the resume prompt.

    Attributes:
        instruction: what to tell the agent ("" for nothing).
        tools: the tool names the new grant allows; None when every tool was left
            checked, so the grant stays as it was (its patterns, not a list of names).
    """

    instruction: str
    tools: list[str] | None


class ResumeScreen(ModalScreen[ResumeChoice | None]):
    """Asks how to resume: an optional instruction, and which of the grant's tools stay allowed.

    Enter in the instruction field resumes; Esc cancels.

    Args:
        session_id: the session to resume.
        epoch: the epoch the Resume starts (2 after the first Stop).
        summary: how the session stands now (the report's one line).
        tools: `(name, reversibility)` of each tool the current grant allows and the fence gates.
        read_only: names of read-only tools (never gated, so not offered).
        scopes: the grant's scope patterns (kept as they are).
    """

    AUTO_FOCUS = "#instruction"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        session_id: str,
        epoch: int,
        summary: str,
        tools: Sequence[tuple[str, str]],
        read_only: Sequence[str] = (),
        scopes: Sequence[str] = ("*",),
    ) -> None:
        super().__init__()
        self.session_id = session_id
        self.epoch = epoch
        self.summary = summary
        self.tools = list(tools)
        self.read_only = list(read_only)
        self.scopes = list(scopes)

    def compose(self) -> ComposeResult:
        body = Text.assemble(
            (self.summary, "bold"),
            "\n",
            "The agent starts again under a new grant and continues from the journal. "
            "What landed is not done again; what is still in flight is not issued twice.",
        )
        notes = [f"scopes unchanged: {', '.join(self.scopes)}"]
        if self.read_only:
            notes.append(f"read-only tools are never gated: {', '.join(self.read_only)}")
        width = max((len(name) for name, _ in self.tools), default=0)
        with Vertical(id="dialog"):
            yield Label(f"Resume session {self.session_id} as epoch {self.epoch}?", id="dialog-title")
            yield Static(body, id="dialog-body")
            yield Label("Instruction for the agent (optional)", classes="field-label")
            yield Input(placeholder="e.g. do not send the announcement; only write the notes", id="instruction")
            if self.tools:
                yield Label(
                    "Tools it may use: uncheck one to take it out of the new grant (Space)", classes="field-label"
                )
            else:
                notes.insert(0, "the grant allows no tool with an effect")
            yield SelectionList[str](
                *(
                    Selection(Text.assemble((name.ljust(width), "bold"), "  ", reversibility_badge(rev)), name, True)
                    for name, rev in self.tools
                ),
                id="resume-tools",
            )
            yield Static(Text(" · ".join(notes), style="dim"), id="resume-notes")
            with Horizontal(id="dialog-buttons"):
                yield Button("▶ Resume (Enter)", id="resume", variant="success")
                yield Button("Cancel (Esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#resume-tools", SelectionList).display = bool(self.tools)

    @property
    def choice(self) -> ResumeChoice:
        """What the prompt would resume with now."""
        checked = list(self.query_one("#resume-tools", SelectionList).selected)
        tools = None if len(checked) == len(self.tools) else sorted(checked)
        return ResumeChoice(self.query_one("#instruction", Input).value.strip(), tools)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "resume":
            self.action_resume()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_resume()

    def action_resume(self) -> None:
        self.dismiss(self.choice)

    def action_cancel(self) -> None:
        self.dismiss(None)
