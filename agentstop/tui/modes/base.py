"""What the app does the same way whichever way it was entered, over the `SessionControl` of the session it shows.

The app has two ways in, each a `Mode` (`RunMode`: a session run in this
process; `JournalMode`: the sessions browser, a past session's timeline, a
running session attached live). Whatever the mode, the app shows one session
at a time through its control, and this module holds what that takes, written
once: the status line handed to the screens, the summary line and the undo
windows counting down, the report put over the session's view without burying
a dialog, Esc and Tab between them, undo with its confirmation, force undo,
re-apply, and the quit question.

A mode fills in only what differs (`is_session_view`, `live_screens`,
`stopping_summary`, `ready_tools` / `load_tools`, `stop`, `running_question`,
`exit_code`, ...). It talks to the app through Textual's `App` and the one
method the app adds, `refresh_report` (`Host`); the app calls the mode's
declared methods. Neither probes the other's attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.screen import Screen

from agentstop.errors import AgentstopError
from agentstop.journal import Event, Journal
from agentstop.live_report import LiveChange, LiveReport
from agentstop.planners import TranscriptChunk
from agentstop.report import Bucket, Report, ReportItem
from agentstop.session import SessionControl, SessionPhase
from agentstop.tools import ToolRegistry

from .. import heap
from ..bridge import JournalBridge
from ..screens.confirm import ConfirmScreen, UndoQuestion
from ..screens.report import ReportScreen, with_epochs
from ..screens.run import RunScreen
from ..wording import counted, standing
from ..workers import run_later

__all__ = ["Host", "Mode", "QuitQuestion"]

QuitQuestion = tuple[ConfirmScreen, Callable[[bool | None], None]]
"""A question before quitting, and what to do with its answer."""


class Host(App[int]):
    """The app as its modes see it: Textual's `App`, plus the report's one full read.

    `AgentstopApp` is the only one. The modes never import it (an import-linter
    contract holds it); this declares what they may ask of it beyond Textual.
    """

    async def refresh_report(self) -> None:
        """Read the shown session's report from the journal, in full, and hand it to the mode.

        Where the mode follows the session live (`Mode.live_journal`) it reads a `LiveReport`
        (`Mode.live_read`), which the session's events then keep up to date (`Mode.take_in`);
        else the report (`Mode.report_read`).
        """
        raise NotImplementedError


class Mode:
    """One way into the app; what both ways share is written here, over `control`.

    Args:
        clock: the wall clock (tests freeze it).
        report_screen: the report screen of the session shown first (a mode may
            replace it when it shows another session).
    """

    TITLE: ClassVar[str] = "agentstop"
    """The header's title."""

    SHOWS_STOP_KEY: ClassVar[bool] = False
    """True when the footer shows Ctrl+C for Stop (the run mode); else the key stops unseen."""

    TICK: ClassVar[float] = 0.1
    """Seconds between two looks at the summary line (what Stop waits for counts down) and the undo windows."""

    BACKLOG: ClassVar[int] = 1000
    """Journal events that make a backlog, in one batch or over many since the heap was last settled: once
    taken in, the heap is settled (`heap.settle`)."""

    def __init__(self, clock: Callable[[], float], report_screen: ReportScreen) -> None:
        self.clock = clock
        self.title = self.TITLE
        """The header's title."""
        self.report_screen = report_screen
        self._screen: Screen[Any] | None = None
        """The app's screen when it last changed (`screen_changed`)."""
        """The shown session's report screen (installed by the mode: popping it must not destroy it)."""
        self.control: SessionControl | None = None
        """The session shown: Stop, undo and re-apply go through it (None until there is one)."""
        self.report: Report | None = None
        """The shown session's report, as last read (`refresh_report`) or kept up to date (`take_in`)."""
        self.live: LiveReport | None = None
        """The shown session's report, kept up to date from its journal events (None: read in full each time)."""
        self.bridge: JournalBridge | None = None
        """Feeds the app the shown session's journal events while it is watched live."""
        self.quit_question: ConfirmScreen | None = None
        """The question before quitting, while it is open."""
        self._status: dict[str, Any] = {}
        self._last_summary = ""
        self._last_countdown = 0.0
        self._timed: Report | None = None
        """The report read in full whose next clock change `_next_change` holds (`tick`)."""
        self._next_change: float | None = None
        self._report_after_dialog = False
        """View state: the report should go over the session's view as soon as the dialog open over it closes."""
        self._exiting = False
        """View state: the app is exiting; no screen is pushed any more (it would mount while the app closes)."""
        self._host: Host | None = None
        self._unsettled = 0
        """Journal events taken in since the heap was last settled (`take_in`)."""
        self._undo_question: UndoQuestion | None = None
        """The question before an undo, while it is open: kept true as the report changes (`_keep_question_true`)."""
        self._items_of: tuple[Report | None, dict[str, ReportItem]] = (None, {})
        """A report read in full and its items by call id (`_item_of`)."""

    @property
    def app(self) -> Host:
        """The app this mode runs in (given by `bind`)."""
        if self._host is None:
            raise RuntimeError("the mode is not bound to an app yet; AgentstopApp(mode) binds it")
        return self._host

    def bind(self, app: Host) -> None:
        """Run in `app` (the app calls this once, when it is made)."""
        self._host = app

    @property
    def finished(self) -> bool:
        """True once the shown session (its epoch) has ended, and while a Resume starts the next."""
        return self.control is not None and self.control.phase in (SessionPhase.ENDED, SessionPhase.RESUMING)

    # -- what each mode fills in -------------------------------------------------------------

    def mount(self) -> None:
        """The app is mounted: install and push the first screens, start what runs."""

    async def unmount(self) -> None:
        """The app is closing: stop what runs, close what is open."""

    def is_session_view(self, screen: Screen[Any]) -> bool:
        """True for the screen the report goes over (the run view, a timeline)."""
        return False

    def live_screens(self) -> Sequence[RunScreen]:
        """The run views showing the session now, to hand the status line to."""
        return ()

    def stopping_summary(self) -> str | None:
        """While Stop waits: what for, and the grace left (the summary line then); else None."""
        return None

    def ready_tools(self) -> ToolRegistry | None:
        """The session's tools for an undo's preview, when they are at hand without loading (else None)."""
        return None

    async def load_tools(self) -> ToolRegistry | None:
        """Load the session's tools for an undo or a re-apply; None after saying why they cannot be."""
        return self.ready_tools()

    def check_action(self, action: str) -> bool | None:
        """Whether the app's `action` can run now (True), shows dimmed (None) or is hidden (False)."""
        return True

    def stop(self) -> None:
        """Stop pressed (s, Ctrl+C, the button)."""

    def stop_after_step(self) -> None:
        """Stop after this step pressed (only the run mode can)."""

    def back_from_view(self) -> None:
        """Esc on the session's view (the report pops by itself)."""

    def sessions(self) -> None:
        """Back to the sessions browser (only the journal viewer has one)."""

    def running_question(self) -> QuitQuestion | None:
        """The question before quitting while the shown session runs, or None."""
        return None

    def undoable_question(self, undoable: int) -> str:
        """The title of the question before quitting while calls can still be undone."""
        return f"{counted(undoable, 'call')} can still be undone."

    def exit_code(self) -> int | None:
        """What the app returns when it exits."""
        return None

    def report_changed(self) -> None:
        """The report was read again (`report_read`); a mode may say so where it shows it."""

    async def journal_events(self, events: list[Event]) -> None:
        """New durable events of the session watched live."""

    def live_journal(self) -> Journal | None:
        """The journal to keep the shown session's report up to date from (None: none is open to follow)."""
        return None

    def transcript(self, chunk: TranscriptChunk) -> None:
        """A piece of the agent's transcript (only the run mode runs an agent)."""

    def session_ended(self, status: str) -> None:
        """The agent run here has finished or was stopped (only the run mode runs one)."""

    def request_resume(self) -> None:
        """Resume asked for (only the run mode can: the report screen offers it only there)."""

    def open_session(self, session_id: str) -> None:
        """A session picked in the sessions browser (only the journal viewer has one)."""

    def request_stop(self, session_id: str) -> None:
        """Stop asked for from the sessions browser (only the journal viewer has one)."""

    def system_commands(self) -> Iterable[SystemCommand] | None:
        """The command palette's commands; None for Textual's own."""
        return None

    # -- what the screens show, handed to them ------------------------------------------------

    def status(self, **fields: Any) -> None:
        """Update the status line's fields and hand them to the screens (shown where composed, else on mount)."""
        self._status.update(fields)
        self.report_screen.show_status(self._status)  # kept until it composes, if it has not yet
        for screen in self.live_screens():
            screen.show_status(self._status)
        if self.report is not None and self.report_shown():
            self._show_report()

    def reset_status(self, **fields: Any) -> None:
        """Another session's status line: these fields only, none of the last session's (handed over by `status`)."""
        self._status = dict(fields)

    def status_field(self, name: str) -> Any:
        """One field of the status line as last handed over (None: never set)."""
        return self._status.get(name)

    def summary(self) -> str:
        """The line above the report's lists: what Stop waits for while it does, else how the session stands."""
        if self.report is None:
            return ""
        stopping = self.stopping_summary()
        if stopping is not None:
            return stopping
        counts = self.live.counts() if self.live is not None else None
        return with_epochs(self.report, standing(self.report, counts))

    def lists(self) -> dict[Bucket, Sequence[ReportItem]]:
        """The report's four lists as the report screen shows them: the live report's views (never copied)."""
        if self.live is not None:
            return dict(self.live.views())
        report = self.report
        assert report is not None
        return {
            Bucket.DONE: report.done,
            Bucket.INTERRUPTED: report.interrupted,
            Bucket.IN_FLIGHT: report.in_flight,
            Bucket.UNDOABLE: report.undoable,
        }

    def _show_report(self, changed: frozenset[str] | None = None) -> None:
        """Hand the report to its screen: in full, or only the rows of the calls `changed`."""
        assert self.report is not None
        item_of = self.live.item if self.live is not None else None
        self.report_screen.show_report(self.report, self.summary(), self.lists(), item_of=item_of, changed=changed)

    def report_read(self, report: Report) -> None:
        """The report as `refresh_report` has just read it: keep it, and show it where the report shows."""
        self.live = None
        self.report = report
        if self.report_shown():
            self._show_report()
        self.report_changed()
        self._keep_question_true()

    def live_read(self, live: LiveReport) -> None:
        """A live report `refresh_report` has just read in full: keep it up to date from now on, and show it."""
        self.live = live
        self.report = live.report()
        if self.report_shown():
            self._show_report()
        self.report_changed()
        self._keep_question_true()
        self._settle(reclaim=True)  # the session, read in full, is long-lived: out of the collector's way

    async def take_in(self, events: Sequence[Event]) -> None:
        """The shown session's new journal events: the live report takes them in, and the rows they change show.

        A batch of N events costs N (the calls they touch), not the session. Without a live
        report yet (the first batch), the report is read in full once (`refresh_report`).
        """
        live = self.live
        if live is None or self.control is None or live.session_id != self.control.session_id:
            await self.app.refresh_report()
            return
        change = await live.apply(events, now=self.clock())
        if self.live is live:  # not replaced by a full read meanwhile
            self._changed(live, change)
        # What a backlog added stays as long as the session shows. A steady stream of small batches adds up to
        # one: unsettled, the collector's full passes walk all it added since, longer each time (at 1,000 calls
        # a second, ~30 ms a pass after a few seconds, on the loop the keys share); settled as it comes, a pass
        # walks at most one backlog's objects.
        self._unsettled += len(events)
        if self._unsettled >= self.BACKLOG:
            self._settle(reclaim=False)

    def _settle(self, *, reclaim: bool) -> None:
        """`heap.settle`, and count the events taken in from here."""
        heap.settle(reclaim=reclaim)
        self._unsettled = 0

    async def catch_up(self) -> bool:
        """Bring the live report up to what the journal holds now, without reading it in full.

        The events after the last the bridge delivered are read and taken in (the bridge still
        delivers them to the panel: a batch taken in twice is harmless), and the session row and
        grants read again. False when there is nothing to bring up (no live report of the shown
        session, or no bridge to say how far it got): then the report is read in full.
        """
        live, bridge, control = self.live, self.bridge, self.control
        if live is None or bridge is None or control is None or live.session_id != control.session_id:
            return False
        events = await control.events(after=bridge.after)
        change = await live.catch_up(events, now=self.clock())
        if self.live is live:  # not replaced by a full read meanwhile
            self._changed(live, change)
        return True

    def _changed(self, live: LiveReport, change: LiveChange) -> None:
        self.report = live.report()
        if self.report_shown():
            self._show_report(None if change.reloaded else change.calls)
        self.report_changed()
        self._keep_question_true()

    def report_shown(self) -> bool:
        """On the stack, composed or not: a report handed over before it composes waits there for its on_mount."""
        return self.report_screen in self.app.screen_stack

    def tick(self) -> None:
        """Redraw the summary line on change (so the app can go idle); every second, recount the undo windows."""
        report = self.report
        if report is None or not self.report_shown():
            return
        summary = self.summary()
        if summary != self._last_summary:
            self._last_summary = summary
            self.report_screen.show_summary(summary)
        now = self.clock()
        live = self.live
        if live is not None:
            # Undo windows close with time, not with journal events: the items whose window opened or
            # closed are rebuilt when it does, and the countdowns on screen are redrawn every second.
            due = live.next_change_at()
            if due is not None and due <= now:
                self._changed(live, live.tick(now))
            elif now - self._last_countdown >= 1.0 and due is not None:
                self._last_countdown = now
                self.report_screen.redraw_rows()
                self._keep_question_true()
        elif now - self._last_countdown >= 1.0:
            # A report read in full: read again when a window closes (or an exact undo ends), not every
            # second (a long past session's read is a second of its own); until then the countdowns redraw.
            if self._timed is not report:  # its windows as of when it was read: one may have closed since
                self._timed, self._next_change = report, report.next_change_at(report.generated_at)
            due = self._next_change
            if due is None:
                return
            self._last_countdown = now
            if due <= now:
                self._next_change = None  # asked once; the report read says when next
                self.app.call_later(self.app.refresh_report)
            else:
                self.report_screen.redraw_rows()
                self._keep_question_true()

    # -- the report over the session's view ---------------------------------------------------

    def show_report(self) -> None:
        """Put the report over the session's view; with a dialog open over that view, as soon as it closes."""
        if self.control is None or self._exiting or self.report_shown():
            return
        if not self.is_session_view(self.app.screen):
            self._report_after_dialog = True  # never bury a dialog (an approval, a question) under the report
            return
        self._report_after_dialog = False
        self.app.push_screen(self.report_screen)
        self.status()  # it was hidden: bring its status line and lists up to date
        if self.live is None:
            self.app.call_later(self.app.refresh_report)

    def forget_report_wanted(self) -> None:
        """The session's view is being left: a report waiting for a dialog to close is no longer wanted."""
        self._report_after_dialog = False

    def screen_changed(self, screen: Screen[Any]) -> None:
        """The app's screen changed: the report waited for a dialog that has now closed; or it was put away.

        A report put away (back to the session's view; a dialog over it is not that) keeps what it
        drew (its tables' lines, the items it shows) until it shows again: long-lived, so the heap
        is settled (`heap.settle`) as it goes. Else every full pass of the collector walks it, on
        the loop the keys share, while calls land (at 100,000 calls a pass of ~35 ms, ~20 ms with
        it settled).
        """
        put_away = self._screen is self.report_screen and self.is_session_view(screen)  # not a dialog over it
        self._screen = screen
        if put_away:
            self._settle(reclaim=False)
        if self._report_after_dialog and self.is_session_view(screen):
            self.app.call_later(self.show_report)

    def show_run(self) -> None:
        """Tab back from the report to the session's view."""
        if self.app.screen is self.report_screen:
            self.app.pop_screen()

    def go_back(self) -> None:
        """Esc: from the report back to the session's view; on that view, whatever the mode does. Never a Stop."""
        if self.app.screen is self.report_screen:
            self.app.pop_screen()
        else:
            self.back_from_view()

    def new_report_screen(self, screen: ReportScreen) -> None:
        """Show another session's report on `screen` from now on (its summary starts afresh)."""
        self.report_screen = screen
        self._last_summary = ""

    # -- undo, force undo, re-apply -------------------------------------------------------------

    def request_undo(self, call_ids: list[str], what: str) -> None:
        """Preview the compensations, ask once, then run them (latest commit first)."""
        control = self.control
        if self.report is None or control is None:
            return
        tools = self.ready_tools()
        if tools is not None:
            self._confirm_undo(control, tools, call_ids, what)
        else:
            run_later(self.app, self._load_then_confirm, control, call_ids, what, group="undo", exclusive=True)

    async def _load_then_confirm(self, control: SessionControl, call_ids: list[str], what: str) -> None:
        tools = await self.load_tools()
        if tools is not None:
            self._confirm_undo(control, tools, call_ids, what)

    def _confirm_undo(self, control: SessionControl, tools: ToolRegistry, call_ids: list[str], what: str) -> None:
        if self.report is None:
            return
        question = UndoQuestion(self.report, call_ids, what, tools, self.clock())
        self._undo_question = question

        def undo_if(yes: bool | None) -> None:
            if self._undo_question is question:
                self._undo_question = None
                self._items_of = (None, {})  # the index `_item_of` made for it: no report held past the question
            if yes:
                self.run_undo(control, question.call_ids)

        self.app.push_screen(question.screen, undo_if)

    def _keep_question_true(self) -> None:
        """The open undo question says each undo as the report now has it (its kind, its countdown)."""
        question = self._undo_question
        if question is not None and self.report is not None:
            question.show(self._item_of(), self.clock())

    def _item_of(self) -> Callable[[str], ReportItem | None]:
        """Finds a call's item in the report as it stands (a live report's own index; else one made once)."""
        if self.live is not None:
            return self.live.item
        report, items = self._items_of
        if report is not self.report:
            report = self.report
            lists = () if report is None else (report.done, report.interrupted, report.in_flight)
            items = {item.call_id: item for items in lists for item in items}
            self._items_of = (report, items)
        return items.get

    def force_undo(self, call_ids: list[str]) -> None:
        """Undo calls refused for drift anyway (the report screen has asked)."""
        control = self.control
        if self.report is None or control is None:
            return
        if self.ready_tools() is not None:
            self.run_undo(control, call_ids, force=True)
        else:
            run_later(self.app, self._load_then_force, control, call_ids, group="undo", exclusive=True)

    async def _load_then_force(self, control: SessionControl, call_ids: list[str]) -> None:
        if await self.load_tools() is not None:
            self.run_undo(control, call_ids, force=True)

    def run_undo(self, control: SessionControl, call_ids: list[str], *, force: bool = False) -> None:
        """Run the undo (asked and answered), then show the report and what happened."""
        run_later(self.app, self._undo, control, call_ids, force, group="run-undo", exclusive=True)

    async def _undo(self, control: SessionControl, call_ids: list[str], force: bool) -> None:
        results = await control.undo(call_ids, force=force)
        await self.app.refresh_report()
        self.report_screen.undo_finished(results)

    def reapply(self, call_ids: list[str]) -> None:
        """Re-apply (the report screen has asked), then show the report as the journal has it, and what happened."""
        run_later(self.app, self._reapply, call_ids, group="reapply", exclusive=True)

    async def _reapply(self, call_ids: list[str]) -> None:
        control = self.control
        if control is None or self.report is None:
            return
        if self.ready_tools() is None and await self.load_tools() is None:
            return
        try:
            results = await control.reapply(call_ids)
        except AgentstopError as exc:  # e.g. another terminal re-applied or undid it meanwhile
            self.app.notify(f"Could not re-apply: {exc}", severity="error", timeout=15)
            return
        await self.app.refresh_report()  # the bridge would too, a moment later; the outcome shows at once
        self.report_screen.reapply_finished(results)

    # -- quitting -----------------------------------------------------------------------------

    def undoable_now(self) -> int:
        """How many calls can still be undone, as the report last read says (the quit question asks about them)."""
        if self.live is not None:
            return self.live.counts()[Bucket.UNDOABLE]
        return len(self.report.undoable) if self.report is not None else 0

    def quit(self) -> None:
        """Quit; asks first while the shown session runs on, or while something can still be undone."""
        if self.quit_question is not None and self.quit_question in self.app.screen_stack:
            return  # already asking
        asked = self.running_question()
        undoable = self.undoable_now()
        if asked is None and undoable:
            question = ConfirmScreen(
                self.undoable_question(undoable),
                ["They stay in the journal: `agentstop undo` can undo them later while the tools allow."],
                "Quit anyway",
            )
            asked = (question, self._quit_if)
        if asked is None:
            self.exit()
            return
        self.quit_question, answered = asked
        self.app.push_screen(self.quit_question, answered)

    def _quit_if(self, yes: bool | None) -> None:
        self.quit_question = None
        if yes:
            self.exit()

    def dismiss_quit_question(self) -> None:
        """Stop pressed while the question is on top: "quit while it runs?" is moot now; answered no."""
        if self.quit_question is not None and self.app.screen is self.quit_question:
            self.quit_question.dismiss(False)

    def exit(self) -> None:
        """Exit the app with the mode's code."""
        self._exiting = True
        self.app.exit(self.exit_code())
