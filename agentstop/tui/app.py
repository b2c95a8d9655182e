"""The agentstop app: composition, bindings, and where each message and key goes.

One app, two ways in, each a mode (`agentstop.tui.modes`): running a session
in this process (`RunMode`: `agentstop run`, `agentstop demo`) or viewing a
journal (`JournalMode`: `agentstop replay`, `agentstop tui`: the sessions
browser, a past session's timeline, a running session attached live). What
both do over the `SessionControl` of the session shown (the status line, the
summary tick, the report over the session's view, undo, re-apply, the quit
question) is written once, in `Mode`; each mode adds its own.

The screens never call into the app: they post what the person asked for
(`agentstop.tui.messages`) and bind keys to the app's actions; the app hands
both to its mode. The one thing it does itself is `refresh_report`: the
report brought up to the journal, in one method. A session followed live is
read once as a `LiveReport`, which its journal events then keep up to date
(`Mode.take_in`), so a batch of events costs the calls it touches, and a
refresh (Stop, an undo, the session's end) catches it up (`Mode.catch_up`).

Textual's own `App.MODES` (named screen stacks to switch between) do not fit:
the two ways in never switch into each other, and what differs between them
is behaviour over a session, not a stack of screens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from agentstop.live_report import LiveReport
from agentstop.report import Report

from . import heap
from .bridge import JournalBridge
from .keys import KeyId, bound
from .messages import (
    ForceUndoRequested,
    JournalEvents,
    OpenSessionRequested,
    ReapplyRequested,
    ResumeRequested,
    SessionEnded,
    StopSessionRequested,
    Transcript,
    UndoRequested,
)
from .modes.base import Host, Mode
from .screens.report import ReportScreen

__all__ = ["AgentstopApp"]

M = TypeVar("M", bound=Mode)


class AgentstopApp(Host, Generic[M]):
    """Supervise agent sessions: watch one, Stop it, see the report, undo, re-apply, resume.

    Args:
        mode: the way in (`RunMode` or `JournalMode`); the factories `make_app`
            and `make_journal_app` make it.
        keymap: keys moved from their defaults (`agentstop.tui.keys`), as read from
            keys.toml and checked (`agentstop.tui.keymap_file`).
    """

    CSS_PATH = "app.tcss"
    TITLE = "agentstop"
    BINDINGS = [
        # Ctrl+C stops in either mode. The run mode shows it in the footer; the journal viewer, where it stops
        # only a session watched live (whose screen shows s), keeps it out of sight: one binding for each,
        # and `check_action` lets only the mode's own one act.
        Binding("ctrl+c", "stop_shown", "Stop", priority=True),
        Binding("ctrl+c", "stop", "Stop", priority=True, show=False),
        bound(KeyId.STOP_AFTER_STEP, "stop_after_step", "Stop after step"),
        bound(KeyId.QUIT, "quit_app", "Quit"),
        Binding("ctrl+q", "quit_app", "Quit", priority=True, show=False),
    ]

    def __init__(self, mode: M, keymap: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.mode = mode
        """The way in: what is particular to running a session here, or to viewing a journal."""
        self.keymap: dict[str, str] = dict(keymap or {})
        """The keys a person moved (a `KeyId` -> its keys, "x" or "x,y"), as keys.toml says: every hint follows it."""
        if self.keymap:
            self.set_keymap(self.keymap)
        mode.bind(self)
        self.title = mode.title

    # What every mode shows, read from the mode (the tests and the benchmarks read them here).

    @property
    def report(self) -> Report | None:
        """The shown session's report, as last read; None before there is one."""
        return self.mode.report

    @property
    def report_screen(self) -> ReportScreen:
        """The shown session's report screen."""
        return self.mode.report_screen

    @property
    def bridge(self) -> JournalBridge | None:
        """The `JournalBridge` feeding this app the shown session's events; None while none is watched live."""
        return self.mode.bridge

    # -- lifecycle -----------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.screen_change_signal.subscribe(self, self.mode.screen_changed)
        self.set_interval(self.mode.TICK, self.mode.tick, name="tick")
        self.mode.mount()

    async def on_unmount(self) -> None:
        try:
            await self.mode.unmount()
        finally:
            heap.release()  # the objects the modes froze out of the collector's way go back to it

    async def refresh_report(self) -> None:
        """Bring the shown session's report up to what the journal holds now and hand it to the mode.

        A session followed live is read in full once, as a `LiveReport` its events keep up to
        date; from then on this catches it up on what changed (`Mode.catch_up`): a Stop or an
        undo on a session of 100,000 calls costs the calls they touched, not the session.
        Any other session's report is read in full.
        """
        mode = self.mode
        control = mode.control
        if control is None:
            return
        journal = mode.live_journal()
        if journal is None:
            mode.report_read(await control.report())
            return
        if await mode.catch_up():
            return
        live = await LiveReport.load(journal, control.session_id, now=mode.clock())
        if mode.control is control:  # still the session shown
            mode.live_read(live)

    # -- keys ------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_shown":
            return self.mode.check_action("stop") if self.mode.SHOWS_STOP_KEY else False
        return self.mode.check_action(action)

    def action_stop(self) -> None:
        """Stop the session shown (s, Ctrl+C, the button); pressed again, skip the grace left."""
        self.mode.stop()

    def action_stop_shown(self) -> None:
        """Ctrl+C where the footer shows it (the run mode): the same Stop."""
        self.mode.stop()

    def action_stop_after_step(self) -> None:
        self.mode.stop_after_step()

    def action_quit_app(self) -> None:
        self.mode.quit()

    def action_show_report(self) -> None:
        self.mode.show_report()

    def action_show_run(self) -> None:
        self.mode.show_run()

    def action_go_back(self) -> None:
        """Esc: from the report back to the session's view, and on from there. It never stops anything."""
        self.mode.go_back()

    def action_sessions(self) -> None:
        self.mode.sessions()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        commands = self.mode.system_commands()
        if commands is None:
            yield from super().get_system_commands(screen)
        else:
            yield from commands

    # -- messages ----------------------------------------------------------------------------------
    # From the journal bridge and the session worker, and from the screens: what the person asked for.
    # The screens never call into the app; the mode hands them what they show.

    async def on_journal_events(self, message: JournalEvents) -> None:
        await self.mode.journal_events(message.events)

    def on_transcript(self, message: Transcript) -> None:
        self.mode.transcript(message.chunk)

    def on_session_ended(self, message: SessionEnded) -> None:
        self.mode.session_ended(message.status)

    def on_undo_requested(self, message: UndoRequested) -> None:
        self.mode.request_undo(message.call_ids, message.what)

    def on_force_undo_requested(self, message: ForceUndoRequested) -> None:
        self.mode.force_undo(message.call_ids)

    def on_reapply_requested(self, message: ReapplyRequested) -> None:
        self.mode.reapply(message.call_ids)

    def on_resume_requested(self, message: ResumeRequested) -> None:
        self.mode.request_resume()

    def on_open_session_requested(self, message: OpenSessionRequested) -> None:
        self.mode.open_session(message.session_id)

    def on_stop_session_requested(self, message: StopSessionRequested) -> None:
        self.mode.request_stop(message.session_id)
