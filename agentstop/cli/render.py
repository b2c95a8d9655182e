"""Rich renderings of reports and session lists for the terminal."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agentstop.formatting import STATE_STYLE, clock, duration
from agentstop.journal import SessionRecord, SessionStatus
from agentstop.journal.liveness import is_alive
from agentstop.report import Bucket, Report, ReportItem
from agentstop.text import printable

__all__ = ["STATE_STYLE", "clock", "duration", "liveness", "render_report", "render_sessions", "session_json"]


def _safe(text: str, style: str = "") -> Text:
    """Agent, tool or upstream text as a cell: control characters escaped, and never read as Rich markup."""
    return Text(printable(text), style=style)


def _state(item: ReportItem) -> Text:
    return Text(item.state, style=STATE_STYLE.get(item.state, ""))


def _section(title: str, items: tuple[ReportItem, ...], detail: str) -> RenderableType:
    table = Table(
        title=f"{title} ({len(items)})", title_justify="left", expand=True, show_edge=False, title_style="bold"
    )
    table.add_column("call", no_wrap=True)
    table.add_column("tool", no_wrap=True)
    table.add_column("what")
    table.add_column("state", no_wrap=True)
    table.add_column(detail)
    for item in items:
        if detail == "undo":
            text = item.undo.detail
            if item.undo.deadline is not None:
                left = item.undo.deadline - time.time()
                text += f" (deadline in {duration(left)})" if left > 0 else " (deadline passed)"
            if item.reappliable:
                text += " · re-appliable (agentstop undo --reapply)"
            elif item.reapplies:
                text += f" (re-applied {item.reapplies} time(s))"
        else:
            text = item.reason or ""
        table.add_row(_safe(item.call_id), _safe(item.tool), _safe(item.summary), _state(item), _safe(text))
    if not items:
        table.add_row("", "", Text("none", style="dim"), "", "")
    return table


def render_report(report: Report) -> RenderableType:
    """The four-way report as four tables under a one-line summary."""
    s = report.session
    head = Text.assemble(
        (printable(s.task_name), "bold"),
        f"  session {printable(s.session_id)}  ",
        (printable(report.summary_line()), "bold yellow" if s.status != SessionStatus.COMPLETED else "bold green"),
    )
    if s.stop_reason:
        head.append(f"\nreason: {printable(s.stop_reason)}", style="dim")
    return Group(
        head,
        _section("Done", report.done, "undo"),
        _section("Interrupted", report.interrupted, "why it never reached the world"),
        _section("In flight", report.in_flight, "why"),
        _section("Undoable (latest first)", report.undoable, "undo"),
    )


def liveness(session: SessionRecord, now: float | None = None) -> str | None:
    """For a running session: "live" or "not live", with its heartbeat's age; None once it ended."""
    if session.status != SessionStatus.RUNNING:
        return None
    at = time.time() if now is None else now
    beat = session.heartbeat_at or session.started_at
    return f"{'live' if is_alive(session, at) else 'not live'}, heartbeat {duration(max(0.0, at - beat))} ago"


def _where(session: SessionRecord) -> str:
    pid = f" pid {session.pid}" if session.pid is not None else ""
    return f"{session.host or '?'}{pid}"


def session_json(session: SessionRecord, report: Report, now: float | None = None) -> dict[str, Any]:
    """One session for `agentstop sessions --json`: the report's session, where it runs, and its counts."""
    at = time.time() if now is None else now
    head: dict[str, Any] = report.to_json()["session"]
    return head | {
        "host": session.host,
        "pid": session.pid,
        "live": session.status == SessionStatus.RUNNING and is_alive(session, at),
        "heartbeat_at": _iso(session.heartbeat_at),
        Bucket.DONE.value: len(report.done),
        Bucket.INTERRUPTED.value: len(report.interrupted),
        Bucket.IN_FLIGHT.value: len(report.in_flight),
        Bucket.UNDOABLE.value: len(report.undoable),
    }


def _iso(at: float | None) -> str | None:
    # The same form as Report.to_json's times.
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def render_sessions(rows: list[tuple[SessionRecord, Report]]) -> RenderableType:
    """Two lines per session (readable at any width).

    First: id, how it ended (or whether it is live), start, duration, host and pid.
    Second: the task and its bucket counts.
    """
    now = time.time()
    out = Text()
    for session, report in rows:
        end = session.ended_at or now
        status: str = session.status
        if session.stopped_by and status == SessionStatus.STOPPED:
            status = f"stopped by {printable(session.stopped_by)}"
        live = liveness(session, now)
        if live is not None:
            status = f"{status} ({live})"
        started = datetime.fromtimestamp(session.started_at).strftime("%Y-%m-%d %H:%M:%S")
        style = {SessionStatus.COMPLETED: "green", SessionStatus.RUNNING: "yellow"}.get(session.status, "red")
        out.append(printable(session.session_id), style="bold")
        out.append("  ")
        out.append(status, style=style)
        out.append(f"  {started}  {duration(end - session.started_at)}  ")
        out.append(printable(_where(session)), style="dim")
        out.append("\n")
        out.append(f"  {printable(session.task_name)}", style="italic")
        out.append(
            f" · {len(report.done)} done, {len(report.interrupted)} interrupted, "
            f"{len(report.in_flight)} in flight, {len(report.undoable)} undoable\n"
        )
    return out
