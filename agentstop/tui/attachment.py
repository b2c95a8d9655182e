"""A session another process runs, watched live from the journal: its run screen and what Stop waits for.

Everything shown here is read from the journal (the same bridge the run view
uses), so it shows only what is durable. What a person does to the session
(Stop, Stop again, undo) and where it is (its phase) belong to its
`AttachedSession`; this is the display: the transcript lines, the side-effect
panel, and the summary of what Stop still waits for.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from agentstop.formatting import duration
from agentstop.journal import CallState, Event, EventKind, SessionRecord
from agentstop.planners import TranscriptChunk
from agentstop.report import Report
from agentstop.session import AttachedSession, SessionPhase, where_it_runs

from .keys import KeyId, key_text
from .screens.run import RunScreen
from .wording import counted

__all__ = ["Attachment", "Change"]


class Change(enum.StrEnum):
    """What a batch of journal events changed for the status line of a session watched live."""

    REVOKED = "revoked"
    """Its grant was revoked (by anyone): Stop has begun."""

    ENDED = "ended"
    """The session has ended."""


class Attachment:
    """The live view of one running session of another process.

    The app owns the bridge that feeds `apply`; the session's control owns the
    journal connection and the phase.
    """

    def __init__(self, control: AttachedSession, clock: Callable[[], float]) -> None:
        self.control = control
        self.clock = clock
        session = control.session
        self.run_screen = RunScreen(session.goal or session.task_name, clock)
        self._reversibility: dict[str, str] = {}

    @property
    def session(self) -> SessionRecord:
        return self.control.session

    @property
    def session_id(self) -> str:
        return self.control.session_id

    def introduce(self) -> None:
        """The transcript's first line: whose session this is and where it runs."""
        s = self.session
        self.run_screen.transcript.mark(
            f" attached to session {s.session_id} ({s.task_name}), run by {where_it_runs(s)} "
        )
        self.run_screen.transcript.add(
            TranscriptChunk(
                "call",
                "What it does is read from the journal as it is written: only what is durable shows. "
                f"{key_text(self.run_screen, KeyId.STOP)} or Ctrl+C stops it: its grant is revoked here, at once, "
                "wherever it runs. Esc goes back.",
            )
        )

    def apply(self, events: list[Event], report: Report | None) -> list[Change]:
        """Show new journal events; returns what changed for the status line."""
        if report is not None and not self._reversibility:  # once: later calls' planned events say theirs
            self._reversibility = {i.tool: i.reversibility for i in report.all_calls}
        changes: list[Change] = []
        transcript = self.run_screen.transcript
        for event in events:
            if event.kind == CallState.PLANNED and event.call_id is not None:
                tool = str(event.data.get("tool", ""))
                self._reversibility.setdefault(tool, str(event.data.get("reversibility", "")))
                transcript.add(
                    TranscriptChunk("call", f"→ {event.call_id} {tool}: {event.data.get('summary', '')}", event.call_id)
                )
            elif event.kind == EventKind.TRANSCRIPT and event.call_id is None:
                transcript.add(TranscriptChunk("thought", str(event.data.get("text", ""))))
                transcript.add(TranscriptChunk("end", ""))
            elif event.kind == EventKind.REVOKED:
                changes.append(Change.REVOKED)
            elif event.kind == EventKind.SESSION_ENDED:
                changes.append(Change.ENDED)
        self.run_screen.effects.apply(events, self._reversibility)
        return changes

    def stopping_summary(self, report: Report | None) -> str | None:
        """While revoked and not ended: what the session still waits for, and how much grace is left."""
        control = self.control
        revoked_at = control.revoked_at
        if control.phase is SessionPhase.ENDED or revoked_at is None or report is None:
            return None
        flights = report.in_flight
        if not flights:
            return f"Stopping… grant revoked; waiting for {where_it_runs(self.session)} to end the session"
        names = ", ".join(f"{i.call_id} {i.tool} ({i.state})" for i in flights)
        text = f"Stopping… grant revoked; waiting for {counted(len(flights), 'call')} in flight: {names}"
        if control.phase is SessionPhase.ESCALATED:
            return text + " · grace skipped: being cancelled"
        if control.grace is not None:
            left = max(0.0, control.grace - (self.clock() - revoked_at))
            return text + f" · {duration(left)} of {duration(control.grace)} grace left"
        return text
