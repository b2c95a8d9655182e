"""A session another process runs, watched live from the journal: what it does, Stop, what Stop waits for.

The session may run anywhere the journal reaches: `agentstop mcp-proxy` in
front of Claude Desktop, a headless `agentstop run`, a library's agent loop,
another machine on a shared PostgreSQL journal. Everything shown here is read
from the journal (the same bridge the run view uses), so it shows only what is
durable. Stop revokes the session's grant in the journal, at once and without
asking: from that moment nothing new of the session can commit, wherever it
runs; its process hears of it and stops itself. Pressing Stop again while it
still waits for calls in flight asks it to skip the rest of its grace.

```
attached ─s─► revoking ─► stopping (waiting for c3 memory.create_entities: 1.2 s of 2 s grace)
                              │ s again: escalate (grace skipped, commits cancelled)
                              └─► ended ─► the report, with undo
```
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import anyio

from agentstop.formatting import duration
from agentstop.journal import Event, SessionRecord, escalate_stop, revoke
from agentstop.planners import TranscriptChunk
from agentstop.report import Report

from .screens.run import RunScreen
from .wording import counted

__all__ = ["STOPPED_BY", "Attachment", "where_it_runs"]

STOPPED_BY = "you (TUI)"
"""Who the journal says stopped a session stopped from this app (attached, or from the sessions browser)."""


def where_it_runs(session: SessionRecord) -> str:
    """ "pid 4242 on build-3" (what is known of it)."""
    host = session.host or "an unknown host"
    return f"pid {session.pid} on {host}" if session.pid is not None else host


class Attachment:
    """The live view of one running session of another process, and its Stop.

    The app owns the journal connection and the bridge that feeds `apply`; this
    keeps the run screen and the state of the Stop it asked for.
    """

    def __init__(self, target: Path | str, session: SessionRecord, clock: Callable[[], float]) -> None:
        self.target = target
        self.session = session
        self.clock = clock
        goal = session.goal or session.task_name
        self.run_screen = RunScreen(goal, clock)
        self.revoked_at: float | None = None
        """When the grant was revoked (by anyone), as far as the journal says; None while it is live."""
        self.revoked_by = ""
        self.revoke_journaled = False
        """The revoke (by anyone) has reached this screen from the journal."""
        self.stop_pressed = False
        self.escalated = False
        self.ended = session.status != "running"
        grace = session.meta.get("grace")
        self.grace: float | None = float(grace) if isinstance(grace, int | float) else None
        """The session's Stop grace in seconds, as its process recorded it (None: an older journal)."""
        self._reversibility: dict[str, str] = {}

    @property
    def session_id(self) -> str:
        return self.session.session_id

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
                "s or Ctrl+C stops it: its grant is revoked here, at once, wherever it runs. Esc goes back.",
            )
        )

    def apply(self, events: list[Event], report: Report | None) -> list[str]:
        """Show new journal events; returns what changed for the status line ("revoked", "ended")."""
        if report is not None:
            self._reversibility = {i.tool: i.reversibility for i in report.all_calls}
        changes: list[str] = []
        transcript = self.run_screen.transcript
        for event in events:
            if event.kind == "planned" and event.call_id is not None:
                tool = str(event.data.get("tool", ""))
                self._reversibility.setdefault(tool, str(event.data.get("reversibility", "")))
                transcript.add(
                    TranscriptChunk("call", f"→ {event.call_id} {tool}: {event.data.get('summary', '')}", event.call_id)
                )
            elif event.kind == "transcript" and event.call_id is None:
                transcript.add(TranscriptChunk("thought", str(event.data.get("text", ""))))
                transcript.add(TranscriptChunk("end", ""))
            elif event.kind == "revoked":
                self.revoked_at = event.at  # the journal's time replaces this screen's guess
                self.revoked_by = str(event.data.get("by", ""))
                self.revoke_journaled = True
                changes.append("revoked")
            elif event.kind == "session_ended":
                self.ended = True
                changes.append("ended")
        self.run_screen.effects.apply(events, self._reversibility)
        return changes

    async def stop(self) -> str:
        """Stop pressed: revoke the grant (first time) or ask the session to skip its grace (again).

        Returns one line for the person, saying what was done.

        Raises:
            AgentstopError: the journal could not be written (unreachable, busy).
        """
        if self.ended:
            return "The session has ended; there is nothing to stop."
        if not self.stop_pressed:
            self.stop_pressed = True
            revoked = await anyio.to_thread.run_sync(
                functools.partial(
                    revoke, self.target, self.session_id, by=STOPPED_BY, reason="stopped from agentstop tui"
                )
            )
            if self.revoked_at is None:
                self.revoked_at = self.clock()
                self.revoked_by = STOPPED_BY
            if revoked:
                return (
                    f"Grant revoked: nothing new of session {self.session_id} can commit. "
                    f"Its process ({where_it_runs(self.session)}) stops itself within a second."
                )
            return f"Session {self.session_id} had no live grant left; it is ending by itself."
        if self.escalated:
            return "Already asked to skip the grace; waiting for its process to settle the calls in flight."
        self.escalated = True
        await anyio.to_thread.run_sync(functools.partial(escalate_stop, self.target, self.session_id, by=STOPPED_BY))
        return (
            "Stop pressed again: the session skips the rest of its grace and cancels its commits in flight; "
            "their outcome is checked with the upstream."
        )

    def stopping_summary(self, report: Report | None) -> str | None:
        """While revoked and not ended: what the session still waits for, and how much grace is left."""
        if self.ended or self.revoked_at is None or report is None:
            return None
        flights = report.in_flight
        if not flights:
            return f"Stopping… grant revoked; waiting for {where_it_runs(self.session)} to end the session"
        names = ", ".join(f"{i.call_id} {i.tool} ({i.state})" for i in flights)
        text = f"Stopping… grant revoked; waiting for {counted(len(flights), 'call')} in flight: {names}"
        if self.escalated:
            return text + " · grace skipped: being cancelled"
        if self.grace is not None:
            left = max(0.0, self.grace - (self.clock() - self.revoked_at))
            return text + f" · {duration(left)} of {duration(self.grace)} grace left"
        return text
