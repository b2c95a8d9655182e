"""The timeline: scrub through a past session event by event, as the live run showed it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Label, ProgressBar, Static

from agentstop.formatting import clock
from agentstop.replay import TimelineView

from ..keys import KeyId, bound
from ..widgets.moment_table import MomentTable
from ..wording import counted
from ..workers import run_later

__all__ = ["SPEEDS", "TimelineScreen"]

SPEEDS = (1, 4, 16)
MAX_GAP = 2.0  # seconds: long pauses in the original run are shortened when playing


class TimelineScreen(Screen[None]):
    """A scrubber over the session's events, the side-effect panel and the transcript at that moment."""

    BINDINGS = [
        bound(KeyId.NEXT_EVENT, "step(1)", "Next event", priority=True),
        bound(KeyId.PREVIOUS_EVENT, "step(-1)", "Previous", priority=True),
        bound(KeyId.FORWARD_10, "step(10)", "+10", show=False, priority=True),
        bound(KeyId.BACK_10, "step(-10)", "-10", show=False, priority=True),
        bound(KeyId.FIRST_EVENT, "jump(-1)", "Start", show=False, priority=True),
        bound(KeyId.LAST_EVENT, "jump(999999999)", "End", priority=True),
        bound(KeyId.JUMP_TO_STOP, "jump_to_stop", "Jump to Stop"),
        bound(KeyId.PLAY, "play", "Play/Pause"),
        bound(KeyId.SPEED, "speed", "Speed"),
        bound(KeyId.TIMELINE_REPORT, "app.show_report", "Report"),
        Binding("escape", "app.sessions", "Sessions"),
    ]

    def __init__(self, title: str, timeline: TimelineView) -> None:
        super().__init__()
        self.title_text = title
        self.timeline = timeline
        self.index = len(timeline) - 1
        self.speed = SPEEDS[0]
        self._player: Timer | None = None
        self._waiting = False
        """The moment at `index` waits for the timeline's index (shown when it is built)."""
        self._play_waiting = False
        """Playing reached a moment not indexed yet: it goes on when it is."""

    def compose(self) -> ComposeResult:
        yield Label(self.title_text, id="timeline-title", classes="panel-title")
        yield Static(Text(""), id="position")
        yield ProgressBar(total=max(1, len(self.timeline)), show_eta=False, show_percentage=False, id="scrubber")
        with Horizontal(id="run-body"):
            with Vertical(id="left"):
                yield Label("Agent", classes="panel-title")
                yield Static(Text(""), id="replay-transcript")
            with Vertical(id="right"):
                yield Label("Side effects at this moment", classes="panel-title")
                yield MomentTable(id="moment")
        yield Footer()

    def set_title(self, title: str) -> None:
        """Show another title (the session's report, read after a long session's first moment, completes it)."""
        self.title_text = title
        if self.is_mounted:
            self.query_one("#timeline-title", Label).update(title)

    async def on_mount(self) -> None:
        await self.show()
        if self.timeline.indexed < 1.0:
            run_later(self, self._index, name="timeline index", group="timeline-index", exclusive=True)

    async def _index(self) -> None:
        """Build the timeline's index (a long session's checkpoints) while the last moment is on screen."""
        await self.timeline.index(self._indexed)
        self._indexed(1.0)

    def _indexed(self, fraction: float) -> None:
        """The index got further: show the moment that waited for it, or how far it got."""
        if self._play_waiting and self.timeline.ready(self.index + 1):
            self._play_waiting = False
            self.call_later(self._schedule)
        if self._waiting or self.is_mounted:
            self.call_later(self.show)

    async def show(self) -> None:
        """Render the moment after event `index` (read from the timeline's checkpoints: one interval at most).

        Further back than the timeline's index reaches yet, say so; `_indexed` shows it once it does.
        A screen taken down meanwhile (the app quitting, the screen popped while its moment was read)
        draws nothing: its widgets are gone.
        """
        if self._taken_down():
            return
        if not self.timeline.ready(self.index):
            self._waiting = True
            total = len(self.timeline)
            text = Text.assemble(
                (f"event {self.index + 1}/{total}", "bold"),
                (
                    f"  ·  indexing the timeline {self.timeline.indexed:.0%}: this moment shows when it is done",
                    "yellow",
                ),
            )
            self.query_one("#position", Static).update(text)
            self.query_one(ProgressBar).update(progress=self.index + 1)
            return
        self._waiting = False
        moment = await self.timeline.moment(self.index)
        if self._taken_down():
            return
        table = self.query_one(MomentTable)
        table.show(moment)
        total = len(self.timeline)
        stop = self.timeline.stop_of_epoch(max(self.index, 0))
        text = Text.assemble((f"event {self.index + 1}/{total}", "bold"))
        if self.timeline.resume_indices:
            text.append(f"  ·  epoch {moment.epoch} of {len(self.timeline.resume_indices) + 1}", style="bold cyan")
        if moment.event is not None:
            e = moment.event
            text.append(f"  ·  {clock(e.at)}  ·  {e.call_id or 'session'} {e.kind}")
        if stop is not None:
            if self.index == stop:
                text.append(f"  ·  ■ the Stop: grant revoked by {moment.revoked_by}", style="bold red")
            elif self.index > stop:
                text.append(f"  ·  after the Stop (revoked by {moment.revoked_by})", style="bold red")
            else:
                text.append(f"  ·  Stop at event {stop + 1}", style="yellow")
        if moment.late:
            # Rejected at the fence or discarded before it: kept from the world either way (each row says which).
            text.append(f"  ·  {counted(moment.late, 'call')} refused after the Stop", style="bold red")
        if table.hidden:
            text.append(
                f"  ·  the latest {moment.call_count - table.hidden:,} of {moment.call_count:,} calls "
                "(the report lists all)",
                style="dim",
            )
        if self._player is not None or self._play_waiting:
            text.append(f"  ·  playing {self.speed}x", style="green")
        if self.timeline.indexed < 1.0:
            text.append(f"  ·  indexing the timeline {self.timeline.indexed:.0%}", style="dim")
        self.query_one("#position", Static).update(text)
        self.query_one(ProgressBar).update(progress=self.index + 1)
        self.query_one("#replay-transcript", Static).update(Text("\n".join(moment.transcript[-30:])))

    def _taken_down(self) -> bool:
        """No longer part of the app (popped, or the app quitting): nothing of it is drawn any more."""
        return not self.is_attached

    async def action_step(self, delta: int) -> None:
        self.index = max(-1, min(len(self.timeline) - 1, self.index + delta))
        await self.show()

    async def action_jump(self, index: int) -> None:
        self.index = max(-1, min(len(self.timeline) - 1, index))
        await self.show()

    async def action_jump_to_stop(self) -> None:
        """Jump to the next Stop (after a Resume there is one per stopped epoch), then round again."""
        stops = self.timeline.stop_indices
        if not stops:
            self.notify("This session was never stopped.")
            return
        await self.action_jump(next((i for i in stops if i > self.index), stops[0]))

    async def action_speed(self) -> None:
        self.speed = SPEEDS[(SPEEDS.index(self.speed) + 1) % len(SPEEDS)]
        await self.show()

    async def action_play(self) -> None:
        if self._player is not None or self._play_waiting:
            if self._player is not None:
                self._player.stop()
            self._player, self._play_waiting = None, False
            await self.show()
            return
        if self.index >= len(self.timeline) - 1:
            self.index = -1
        await self._schedule()
        await self.show()

    async def _schedule(self) -> None:
        if not self.timeline.ready(self.index + 1):  # goes on when the index reaches it (`_indexed`)
            self._player, self._play_waiting = None, True
            return
        nxt = await self.timeline.event(self.index + 1)
        if nxt is None:
            self._player = None
            await self.show()
            return
        now = await self.timeline.event(self.index)
        gap = nxt.at - now.at if now is not None else 0.0
        self._player = self.set_timer(max(0.0, min(gap, MAX_GAP)) / self.speed, self._advance)

    async def _advance(self) -> None:
        self.index += 1
        await self.show()
        if self._player is not None:
            await self._schedule()
