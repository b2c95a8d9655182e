"""The run screen: the agent's transcript on the left, the live side-effect panel on the right."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, Static

from agentstop.text import printable

from ..keys import KeyId, bound, key_text
from ..widgets.effects import EffectsTable
from ..widgets.status import StatusLine
from ..widgets.transcript import TranscriptView

__all__ = ["RunPhase", "RunScreen"]


class RunPhase(enum.StrEnum):
    """Where the watched session stands, as far as the run view's Stop button is concerned."""

    RUNNING = "running"
    """The agent works; the big button stops it."""

    STOPPING = "stopping"
    """Stop was pressed (here or elsewhere); pressing it again skips the grace (the hint says so)."""

    ENDED = "ended"
    """Stopped or finished: nothing to stop; the button opens the report."""


HINTS = {
    RunPhase.RUNNING: "{stop} or Ctrl+C stops at once: the grant is revoked first. Esc goes back and never stops.",
    RunPhase.STOPPING: "Stopping: the grant is revoked, nothing new commits. {stop} again skips the grace left.",
    RunPhase.ENDED: (
        "The session has ended: nothing more can commit. {report} shows what was done and what can be undone."
    ),
}
"""What the button does now, the keys named as the keymap has them (`key_text`)."""


class RunScreen(Screen[None]):
    """Watch the agent work; Stop is one key away, and the button says what it does now (`phase`).

    The app hands it what it shows: the phase, the status line's fields (`show_status`), the
    transcript and the journal's events; the screen asks its app for nothing.
    """

    BINDINGS = [
        bound(KeyId.STOP, "app.stop", "Stop"),
        Binding("escape", "app.go_back", "Back", show=False),
        bound(KeyId.SHOW_REPORT, "app.show_report", "Report"),
    ]

    phase: reactive[RunPhase] = reactive(RunPhase.RUNNING)
    """The app sets it; the button and its hint follow."""

    def __init__(self, goal: str, clock: Callable[[], float]) -> None:
        super().__init__()
        self.goal = goal
        self.clock = clock
        self._status: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield StatusLine(self.clock, id="status")
        with Horizontal(id="run-body"):
            with Vertical(id="left"):
                yield Label("Agent", classes="panel-title")
                yield Static(Text(f"Goal: {printable(self.goal, multiline=True)}"), id="goal")
                yield TranscriptView(id="transcript")
            with Vertical(id="right"):
                yield Label("Side effects, as the journal has them", classes="panel-title")
                yield EffectsTable(id="effects")
        with Horizontal(id="run-actions"):
            yield Button(f"■ Stop ({key_text(self, KeyId.STOP)})", id="stop", variant="error", action="app.stop")
            report = f"Report ({key_text(self, KeyId.SHOW_REPORT)})"
            yield Button(report, id="to-report", variant="primary", action="app.show_report")
            yield Static(self._hint(RunPhase.RUNNING), id="stop-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(StatusLine).show(self._status)
        self.watch_phase(self.phase)

    def show_status(self, fields: Mapping[str, object]) -> None:
        """The app hands the status line's fields here (task, times, grant); kept until the screen composes."""
        self._status = dict(fields)
        for line in self.query(StatusLine).results(StatusLine):  # none before the screen composes
            line.show(self._status)

    def watch_phase(self, phase: RunPhase) -> None:
        # Queries that find nothing before the screen is composed; on_mount shows the phase then.
        for stop in self.query("#stop").results(Button):
            stop.display = phase is not RunPhase.ENDED
        for report in self.query("#to-report").results(Button):
            report.display = phase is RunPhase.ENDED
        for hint in self.query("#stop-hint").results(Static):
            hint.update(self._hint(phase))

    def _hint(self, phase: RunPhase) -> str:
        return HINTS[phase].format(stop=key_text(self, KeyId.STOP), report=key_text(self, KeyId.SHOW_REPORT))

    @property
    def effects(self) -> EffectsTable:
        return self.query_one("#effects", EffectsTable)

    @property
    def transcript(self) -> TranscriptView:
        return self.query_one("#transcript", TranscriptView)
