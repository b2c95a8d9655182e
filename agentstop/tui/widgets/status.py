"""The status line: task, elapsed time, and whether the grant is still live."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from agentstop.text import printable

__all__ = ["GrantShown", "StatusLine"]


class GrantShown(enum.StrEnum):
    """What the status line says of the session's grant."""

    STARTING = "starting"
    """The session is being opened; no grant yet."""

    ACTIVE = "active"
    """The grant is live: the agent may commit."""

    REVOKING = "revoking"
    """Stop was pressed here; the revoke is being written."""

    REVOKED = "revoked"
    """The grant is revoked (by `revoked_by`): nothing new commits."""

    ENDED = "ended"
    """The session has ended without a Stop (completed, failed): its grant no longer lets anything commit."""


class StatusLine(Static):
    """Task name · elapsed · epoch (after a Resume) · grant state (active / revoked by whom)."""

    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; }
    """

    task_name: reactive[str] = reactive("")
    grant: reactive[str] = reactive(GrantShown.STARTING)
    revoked_by: reactive[str] = reactive("")
    started_at: reactive[float | None] = reactive(None)
    ended_at: reactive[float | None] = reactive(None)
    note: reactive[str] = reactive("")
    epoch: reactive[int] = reactive(1)
    """Which stretch of the session runs: 1, then one more per Resume (shown from 2 on)."""

    def __init__(self, clock: Callable[[], float], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clock = clock

    def show(self, fields: Mapping[str, object]) -> None:
        """Set the fields named in `fields` (a screen passes on what its app handed it: `task_name`, `grant`, ...)."""
        for name, value in fields.items():
            setattr(self, name, value)

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    def render(self) -> Text:
        text = Text.assemble((printable(self.task_name), "bold"))
        if self.started_at is not None:
            end = self.ended_at if self.ended_at is not None else self.clock()
            seconds = max(0, int(end - self.started_at))
            text.append(f"  ·  {seconds // 60:02d}:{seconds % 60:02d}")
        if self.epoch > 1:
            text.append("  ·  ")
            text.append(f"epoch {self.epoch}", style="bold")
        text.append("  ·  grant ")
        if self.grant == GrantShown.ACTIVE:
            text.append(" ACTIVE ", style="bold black on green")
        elif self.grant == GrantShown.REVOKING:
            text.append(" REVOKING… ", style="bold black on yellow")
        elif self.grant == GrantShown.REVOKED:
            text.append(f" REVOKED by {self.revoked_by} ", style="bold white on red")
        elif self.grant == GrantShown.ENDED:
            text.append(" CLOSED: the session has ended ", style="reverse")
        else:
            text.append(f" {self.grant} ", style="reverse")
        if self.note:
            text.append(f"  ·  {self.note}", style="italic")
        return text
