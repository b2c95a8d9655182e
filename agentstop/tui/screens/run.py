"""The run screen: the agent's transcript on the left, the live side-effect panel on the right."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, Static

from ..widgets.effects import EffectsTable
from ..widgets.status import StatusLine
from ..widgets.transcript import TranscriptView

__all__ = ["RunScreen"]


class RunScreen(Screen[None]):
    """Watch the agent work; Stop is one key away."""

    BINDINGS = [
        Binding("s", "app.stop", "Stop"),
        Binding("escape", "app.stop", "Stop", show=False),
        Binding("tab", "app.show_report", "Report"),
    ]

    def __init__(self, goal: str, clock: Callable[[], float]) -> None:
        super().__init__()
        self.goal = goal
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield StatusLine(self.clock, id="status")
        with Horizontal(id="run-body"):
            with Vertical(id="left"):
                yield Label("Agent", classes="panel-title")
                yield Static(Text(f"Goal: {self.goal}"), id="goal")
                yield TranscriptView(id="transcript")
            with Vertical(id="right"):
                yield Label("Side effects, as the journal has them", classes="panel-title")
                yield EffectsTable(id="effects")
        with Horizontal(id="run-actions"):
            yield Button("■ Stop", id="stop", variant="error")
            yield Static("s / Esc / Ctrl+C stop at once: the grant is revoked first.", id="stop-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.app.status()  # type: ignore[attr-defined]

    @property
    def effects(self) -> EffectsTable:
        return self.query_one("#effects", EffectsTable)

    @property
    def transcript(self) -> TranscriptView:
        return self.query_one("#transcript", TranscriptView)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "stop":
            self.app.action_stop()  # type: ignore[attr-defined]
