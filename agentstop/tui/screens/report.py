"""The report screen: Done, Interrupted, In flight, Undoable, with undo and re-apply."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, Static

from agentstop.errors import AgentstopError
from agentstop.journal import CallState
from agentstop.report import REAPPLIABLE, Bucket, Report, ReportItem, UndoStatus
from agentstop.supervisor import ReapplyOutcome, ReapplyResult, UndoOutcome, UndoResult
from agentstop.tools import ToolRegistry

from ..keys import KeyId, bound, key_text
from ..messages import ForceUndoRequested, ReapplyRequested, ResumeRequested, UndoRequested
from ..widgets.call_detail import CallDetail
from ..widgets.call_table import CallTable
from ..widgets.status import StatusLine
from ..wording import counted, standing
from .confirm import force_confirmation, reapply_confirmation

__all__ = ["SECTIONS", "ItemOf", "ReportScreen", "with_epochs"]

ItemOf = Callable[[str], ReportItem | None]
"""A call's item as the report has it now, by call id (None: no such call)."""

UNDO_KINDS = {"exact undo": "exact", "compensation (leaves a trace)": "leaves a trace"}
"""The report's kinds of undo, said short after the tool's own words for what its undo does."""

# (id, title, detail column) in the order they are shown.
SECTIONS = (
    (Bucket.DONE, "Done", "undo"),
    (Bucket.INTERRUPTED, "Interrupted", "why it never reached the world"),
    (Bucket.IN_FLIGHT, "In flight", "why"),
    (Bucket.UNDOABLE, "Undoable (latest first)", "undo status"),
)


_EPOCH_LISTS = (Bucket.DONE, Bucket.INTERRUPTED, Bucket.IN_FLIGHT)
"""What the line says of each epoch."""


def with_epochs(
    report: Report, line: str | None = None, per_epoch: Sequence[Mapping[Bucket, int]] | None = None
) -> str:
    """`line`, followed after a Resume by what each epoch did ("epoch 1: 1 done, 1 interrupted · epoch 2: ...").

    `per_epoch` gives each epoch's Done, Interrupted and In flight when the report's lists were not
    read (`StreamedReport.epoch_counts`); by default they are counted from its items.
    """
    if line is None:
        line = standing(report)
    if report.epochs < 2:
        return line
    if per_epoch is None:
        counted = [dict.fromkeys(_EPOCH_LISTS, 0) for _ in range(report.epochs)]
        for item in report.all_calls:
            counted[item.epoch - 1][item.bucket] += 1
        per_epoch = counted
    parts = []
    for epoch, counts in enumerate(per_epoch, 1):
        text = f"epoch {epoch}: {counts[Bucket.DONE]} done, {counts[Bucket.INTERRUPTED]} interrupted"
        if counts[Bucket.IN_FLIGHT]:
            text += f", {counts[Bucket.IN_FLIGHT]} in flight"
        parts.append(text)
    return " · ".join([line, *parts])


class ReportScreen(Screen[None]):
    """What the agent did, what it did not, what is still running, and what can be undone.

    The screen never calls into its app. What the person asks for it posts
    as a message (`agentstop.tui.messages`), which bubbles up to the app; what
    it shows, the app hands to it: the report (`show_report`), the status
    line (`show_status`), whether Resume and re-apply can be offered
    (`resumable`, `can_reapply`), and the outcome of an undo or a re-apply.

    Undo posts `UndoRequested`: the app previews, asks first and runs it,
    then hands the results back to `undo_finished`. An undo a tool refused
    because its effect changed since (drift) stays in Undoable with the
    reason, and this screen offers to force it, asking a second time with
    what changed, then posts `ForceUndoRequested`.

    Resume (R, and its button) is offered while `resumable` (the app says
    when it can run the session on; the replay app never can) and posts
    `ResumeRequested`. After a Resume each list shows the epoch its calls
    belong to.

    Re-apply (e, on an undone row in Done whose tool can do its effect
    again) is offered where the app `can_reapply`. It asks first, like undo,
    then posts `ReapplyRequested`; the app hands the results to
    `reapply_finished`, and the row shows the outcome (done again and back
    in Undoable, or "re-apply ✗" with why).
    """

    AUTO_FOCUS = "#table-undoable"
    BINDINGS = [
        bound(KeyId.STOP, "app.stop", "Stop", show=False),
        bound(KeyId.EXPAND, "expand", "Expand"),
        bound(KeyId.SELECT, "toggle_row", "Select"),
        bound(KeyId.UNDO_ROW, "undo_row", "Undo row"),
        bound(KeyId.UNDO_SELECTED, "undo_selected", "Undo selected"),
        bound(KeyId.UNDO_ALL, "undo_all", "Undo all"),
        bound(KeyId.RETRY, "retry", "Retry failed"),
        bound(KeyId.FORCE_UNDO, "force_undo", "Force undo", show=False),
        bound(KeyId.REAPPLY, "reapply_row", "Re-apply"),
        bound(KeyId.RESUME, "resume", "Resume"),
        Binding("tab", "focus_next", "Next list", show=False),
        Binding("escape", "app.go_back", "Back"),
    ]

    resumable: reactive[bool] = reactive(False)
    """The app sets it: True while it can resume the session now (it has stopped or ended, nothing else runs)."""

    can_reapply: reactive[bool] = reactive(False)
    """The app sets it: True when it runs a confirmed `ReapplyRequested` (else the screen offers no re-apply)."""

    def __init__(self, clock: Callable[[], float], tools: ToolRegistry | None = None) -> None:
        super().__init__()
        self.clock = clock
        self.tools = tools
        """The session's tools, for the compensations' own summaries (None: not loaded)."""
        self.report: Report | None = None
        self.refusals: dict[str, str] = {}
        """Calls whose last undo was refused for drift -> what changed (until undone or gone)."""
        self._summary = ""
        self._status: dict[str, object] = {}
        self._offers_reapply = False
        self._lists: Mapping[Bucket, Sequence[ReportItem]] = {}
        self._item_of: ItemOf | None = None
        self._failed: set[str] = set()
        """Undoable calls whose last undo failed (Retry shows while there are some)."""

    def compose(self) -> ComposeResult:
        yield StatusLine(self.clock, id="status")
        yield Static(Text(""), id="summary")
        with VerticalScroll(id="sections"):
            for key, title, detail in SECTIONS:
                yield Label(title, id=f"title-{key}", classes="section-title")
                table = CallTable(
                    detail, checkable=key == Bucket.UNDOABLE, clock=self.clock, id=f"table-{key}", classes="section"
                )
                table.present = self._with_refusal
                yield table
        yield CallDetail(self.clock, id="detail")
        with Horizontal(id="report-actions"):
            yield Button("Undo selected", id="undo-selected", variant="warning")
            yield Button("Undo all", id="undo-all", variant="error")
            yield Button("Retry failed", id="retry")
            yield Button("▶ Resume", id="resume", variant="success")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(CallDetail).show(None)
        self.query_one("#resume", Button).display = self.resumable
        self.query_one(StatusLine).show(self._status)
        self.query_one("#table-undoable", CallTable).focus()
        if self.report is not None:  # a report handed over while the screen was still composing
            self.show_report(self.report, self._summary, self._lists or None, item_of=self._item_of)

    def on_screen_suspend(self) -> None:
        """Put away (Tab back to the run): its tables' drawn cells go; they are drawn again when it shows."""
        for table in self.query(CallTable):
            table.forget_drawn_cells()

    def show_status(self, fields: Mapping[str, object]) -> None:
        """The app hands the status line's fields here (task, times, grant); kept until the screen composes."""
        self._status = dict(fields)
        for line in self.query(StatusLine).results(StatusLine):  # none before the screen composes
            line.show(self._status)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Resume and Retry show in the Footer only while they can be done.
        if action == "resume":
            return self.resumable
        if action == "retry":
            return self._failed_undos
        if action == "reapply_row":
            return self._can_reapply()
        return True

    @property
    def _failed_undos(self) -> bool:
        return bool(self._failed)

    def watch_resumable(self, resumable: bool) -> None:
        for button in self.query("#resume").results(Button):  # none while the screen composes
            button.display = resumable
        if self.is_mounted:
            self.refresh_bindings()

    def watch_can_reapply(self) -> None:
        if self.is_mounted:
            self.refresh_bindings()

    def table(self, key: str) -> CallTable:
        """The table of one section ("done", "interrupted", "in_flight", "undoable")."""
        return self.query_one(f"#table-{key}", CallTable)

    def show_report(
        self,
        report: Report,
        summary: str,
        lists: Mapping[Bucket, Sequence[ReportItem]] | None = None,
        *,
        item_of: ItemOf | None = None,
        changed: frozenset[str] | None = None,
    ) -> None:
        """Show `report`: each section's list, drawn only where it is on screen; rows move as calls resolve.

        Args:
            report: the report (its session, grants and epochs; its lists when `lists` is None).
            summary: the line above the lists.
            lists: the four lists as shown (a live report's views, read as drawn, never copied).
            item_of: a call's item by id (a live report's `item`); else looked up in the report.
            changed: only these calls changed since the report last shown (a live report's
                batch): what is worked out over every call (failed undos, refusals) is
                updated for them alone. None: all of it, from the lists.

        Before the screen has composed its tables it only keeps the report: `on_mount` shows it.
        """
        self.report = report
        self._summary = summary
        if lists is None:
            lists = {key: getattr(report, key) for key, _, _ in SECTIONS}
        self._lists = lists
        self._item_of = item_of
        if not self.query("#table-done"):
            return
        undoable = lists[Bucket.UNDOABLE]
        if changed is None:
            self._failed = {i.call_id for i in undoable if i.undo.status == UndoStatus.FAILED}
            if self.refusals:  # a refusal is kept while its call is undoable
                self.refusals = {i.call_id: self.refusals[i.call_id] for i in undoable if i.call_id in self.refusals}
        else:
            for cid in changed:
                item = self._item(cid)
                if item is not None and item.undo.available and item.undo.status == UndoStatus.FAILED:
                    self._failed.add(cid)
                else:
                    self._failed.discard(cid)
                if item is None or not item.undo.available:
                    self.refusals.pop(cid, None)
        for key, title, _ in SECTIONS:
            every = lists[key]
            table = self.table(key)
            table.sync(every, epochs=report.epochs)
            if table.checked and changed is not None:
                table.forget_checked(lambda cid: cid not in changed or self._in_undoable(cid))
            elif table.checked:
                table.forget_checked(table.rows.__contains__)
            self.query_one(f"#title-{key}", Label).update(f"{title} ({len(every):,})")
        self.query_one("#summary", Static).update(Text(summary))
        detail = self.query_one(CallDetail)
        detail.epochs = report.epochs
        if detail.item is not None and (changed is None or detail.item.call_id in changed):
            current = self._item(detail.item.call_id)
            detail.show(self._with_refusal(current) if current is not None else None)
        retry = self.query_one("#retry", Button)
        if retry.display != self._failed_undos:
            retry.display = self._failed_undos
            self.refresh_bindings()
        if self._offers_reapply != self._can_reapply():
            self._offers_reapply = not self._offers_reapply
            self.refresh_bindings()
        self.query_one("#undo-all", Button).disabled = not undoable
        self.query_one("#undo-selected", Button).disabled = not undoable

    def _item(self, call_id: str) -> ReportItem | None:
        """A call's item as the report has it now (by the live report, else by reading the report's lists)."""
        if self._item_of is not None:
            return self._item_of(call_id)
        if self.report is None:
            return None
        return next((i for i in self.report.all_calls if i.call_id == call_id), None)

    def _in_undoable(self, call_id: str) -> bool:
        item = self._item(call_id)
        return item is not None and item.undo.available

    def redraw_rows(self) -> None:
        """Draw the rows on screen again (undo windows count down with the clock, not with events)."""
        for key, _, _ in SECTIONS:
            for table in self.query(f"#table-{key}").results(CallTable):  # none before the screen composes
                table.refresh_rows()

    def show_summary(self, summary: str) -> None:
        """The app hands the line above the lists here as it changes (what Stop waits for counts down)."""
        self._summary = summary
        for widget in self.query("#summary").results(Static):  # none before the screen composes
            widget.update(Text(summary))

    def _with_refusal(self, item: ReportItem) -> ReportItem:
        """The item as shown: an undo refused for drift says so, and what changed, in its undo status.

        The expanded view shows it as the row's "why" too, near its top, where a long receipt cannot push
        it out of sight.
        """
        why = self.refusals.get(item.call_id)
        if why is None or not item.undo.available:
            return self._with_undo_words(item)
        force = key_text(self, KeyId.FORCE_UNDO)
        undo = replace(item.undo, status=UndoStatus.REFUSED, detail=f"not undone: {why} · {force}: force")
        return replace(item, undo=undo, reason=item.reason or f"undo refused: {why} ({force}: force)")

    def _with_undo_words(self, item: ReportItem) -> ReportItem:
        """The item as shown: an undo that can run says what it will do, in the tool's own words
        (`Tool.undo_summary`: "send ada@example.com a “Please disregard …” follow-up"), then its kind."""
        if item.undo.status != UndoStatus.AVAILABLE or self.tools is None:
            return item
        try:
            tool = self.tools.get(item.tool)
        except AgentstopError:  # a tool this session no longer has: its kind alone
            return item
        words = tool.undo_summary(item.receipt)
        if not words:
            return item
        kind = UNDO_KINDS.get(item.undo.detail, item.undo.detail)
        return replace(item, undo=replace(item.undo, detail=f"{words} · {kind}"))

    def undo_finished(self, results: Sequence[UndoResult]) -> None:
        """Show what an undo did; for calls refused because they changed since, offer to force it.

        The app calls this once the undo an `UndoRequested` or `ForceUndoRequested` asked for has run.
        """
        for r in results:
            if r.status == UndoOutcome.REFUSED:
                self.refusals[r.call_id] = r.drift
            else:
                self.refusals.pop(r.call_id, None)
        if self.report is not None and self.is_mounted:
            self.show_report(self.report, self._summary, self._lists or None, item_of=self._item_of)
        failed = [r for r in results if r.status == UndoOutcome.FAILED]
        refused = [r.call_id for r in results if r.status == UndoOutcome.REFUSED]
        done = [r.call_id for r in results if r.status == UndoOutcome.COMPENSATED]
        if failed:
            self.notify(
                f"{counted(len(failed), 'undo')} failed: {failed[0].detail}. "
                f"Press {key_text(self, KeyId.RETRY)} to retry.",
                severity="error",
            )
        elif done or not refused:
            self.notify(f"Undone: {', '.join(done) or 'nothing'}")
        if refused:
            self.offer_force(refused)

    def offer_force(self, call_ids: list[str]) -> None:
        """Ask, saying what changed, whether to undo these refused calls anyway."""
        refusals = {cid: self.refusals[cid] for cid in call_ids if cid in self.refusals}
        if self.report is None or not refusals:
            return
        screen, ids = force_confirmation(self.report, refusals, self.tools)
        if ids:
            self.app.push_screen(screen, lambda yes: self._force_if(yes, ids))

    def _force_if(self, yes: bool | None, call_ids: list[str]) -> None:
        if yes:
            self.post_message(ForceUndoRequested(call_ids))
        else:
            self.notify(f"Left as it is. Press {key_text(self, KeyId.FORCE_UNDO)} on the row to undo it anyway later.")

    def _focused_table(self) -> CallTable | None:
        focused = self.focused
        return focused if isinstance(focused, CallTable) else None

    def action_expand(self) -> None:
        table = self._focused_table()
        detail = self.query_one(CallDetail)
        item = table.highlighted() if table else None
        detail.show(None if item is None or (detail.item and detail.item.call_id == item.call_id) else item)

    def on_virtual_table_row_selected(self, event: CallTable.RowSelected) -> None:
        # Enter on a table selects its row: that is "expand" here.
        self.action_expand()

    def on_virtual_table_row_highlighted(self, event: CallTable.RowHighlighted) -> None:
        detail = self.query_one(CallDetail)
        if detail.item is not None and isinstance(event.table, CallTable):
            detail.show(event.table.highlighted())

    def action_toggle_row(self) -> None:
        table = self._focused_table()
        if table is not None:
            table.toggle_highlighted()

    def _request_undo(self, call_ids: list[str], what: str) -> None:
        if not call_ids:
            select = key_text(self, KeyId.SELECT)
            self.notify(f"Nothing to undo here: select rows in Undoable with {select} first.", severity="warning")
            return
        self.post_message(UndoRequested(call_ids, what))

    def action_undo_row(self) -> None:
        table = self._focused_table()
        item = table.highlighted() if table else None
        if item is None or not item.undo.available:
            detail = item.undo.detail if item else "no row selected"
            self.notify(f"Cannot undo this row: {detail}", severity="warning")
            return
        self._request_undo([item.call_id], f"undo {item.call_id}")

    def action_undo_selected(self) -> None:
        self._request_undo(sorted(self.table(Bucket.UNDOABLE).checked), "undo the selected calls")

    def action_undo_all(self) -> None:
        ids = [i.call_id for i in self.report.undoable] if self.report else []
        self._request_undo(ids, "undo everything that can be undone")

    def action_force_undo(self) -> None:
        table = self._focused_table()
        item = table.highlighted() if table else None
        if item is None or item.call_id not in self.refusals:
            self.notify(
                f"{key_text(self, KeyId.FORCE_UNDO)} forces an undo that was refused because the effect changed "
                f"since; this row has none. Press {key_text(self, KeyId.UNDO_ROW)} to undo it.",
                severity="warning",
            )
            return
        self.offer_force([item.call_id])

    def action_retry(self) -> None:
        ids = [i.call_id for i in self.report.undoable if i.undo.status == UndoStatus.FAILED] if self.report else []
        self._request_undo(ids, "retry the failed undos")

    # -- re-apply ---------------------------------------------------------------------

    def _can_reapply(self) -> bool:
        """True while some undone call can be re-applied and the app can do it."""
        return self.report is not None and bool(self.report.reappliable) and self.can_reapply

    def action_reapply_row(self) -> None:
        """Re-apply the highlighted undone call (do its effect again), after asking."""
        table = self._focused_table()
        item = table.highlighted() if table else None
        if item is None or self.report is None or not item.reappliable:
            self.notify(f"Cannot re-apply this row: {_why_not_reappliable(item)}", severity="warning")
            return
        if not self.can_reapply:
            self.notify("Re-apply is not available here.", severity="warning")
            return
        screen, ids = reapply_confirmation(self.report, [item.call_id], self.tools)
        self.app.push_screen(screen, lambda yes: self._reapply_if(yes, ids))

    def _reapply_if(self, yes: bool | None, call_ids: list[str]) -> None:
        if yes and call_ids:
            self.post_message(ReapplyRequested(call_ids))

    def reapply_finished(self, results: Sequence[ReapplyResult]) -> None:
        """Say what a re-apply did (the rows show it too: back in Undoable, or "re-apply ✗" with why).

        The app calls this once the re-apply a `ReapplyRequested` asked for has run and the report shows it.
        """
        done = [r.call_id for r in results if r.status == ReapplyOutcome.REAPPLIED]
        failed = [r for r in results if r.status == ReapplyOutcome.FAILED]
        skipped = [r for r in results if r.status == ReapplyOutcome.SKIPPED]
        if failed:
            self.notify(
                f"Re-apply of {failed[0].call_id} failed: {failed[0].detail}. It stays undone; "
                f"press {key_text(self, KeyId.REAPPLY)} to retry.",
                severity="error",
            )
        if done:
            self.notify(f"Re-applied: {', '.join(done)}: done again, and undoable again.")
        for r in skipped:
            self.notify(f"{r.call_id} not re-applied: {r.detail}", severity="warning")

    def action_resume(self) -> None:
        """Ask how to resume (a new epoch of the session, under a new grant)."""
        if self.resumable:
            self.post_message(ResumeRequested())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {
            "undo-selected": self.action_undo_selected,
            "undo-all": self.action_undo_all,
            "retry": self.action_retry,
            "resume": self.action_resume,
        }
        if event.button.id in actions:
            actions[event.button.id]()


def _why_not_reappliable(item: ReportItem | None) -> str:
    if item is None:
        return "no row selected"
    if item.state in REAPPLIABLE:
        return f"its tool ({item.tool}) cannot do its effect again"
    if item.state == CallState.REAPPLYING:
        return "a re-apply of it is running"
    return f"only an undone call can be re-applied; this one is {item.state}"
