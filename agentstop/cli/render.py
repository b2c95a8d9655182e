"""Rich renderings of reports and session lists for the terminal."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agentstop.formatting import STATE_STYLE, clock, duration
from agentstop.journal import SessionRecord
from agentstop.report import Report, ReportItem

__all__ = ["STATE_STYLE", "clock", "duration", "render_report", "render_sessions"]



def _state(item: ReportItem) -> Text:
    return Text(item.state, style=STATE_STYLE.get(item.state, ""))


def _section(title: str, items: tuple[ReportItem, ...], detail: str) -> RenderableType:
    table = Table(title=f"{title} ({len(items)})", title_justify="left", expand=True, show_edge=False,
                  title_style="bold")
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
        else:
            text = item.reason or ""
        table.add_row(item.call_id, item.tool, item.summary, _state(item), text)
    if not items:
        table.add_row("", "", Text("none", style="dim"), "", "")
    return table


def render_report(report: Report) -> RenderableType:
    """The four-way report as four tables under a one-line summary."""
    s = report.session
    head = Text.assemble((f"{s.task_name}", "bold"), f"  session {s.session_id}  ",
                         (report.summary_line(), "bold yellow" if s.status != "completed" else "bold green"))
    if s.stop_reason:
        head.append(f"\nreason: {s.stop_reason}", style="dim")
    return Group(
        head,
        _section("Done", report.done, "undo"),
        _section("Interrupted", report.interrupted, "why it never reached the world"),
        _section("In flight", report.in_flight, "why"),
        _section("Undoable (latest first)", report.undoable, "undo"),
    )


def render_sessions(rows: list[tuple[SessionRecord, Report]]) -> RenderableType:
    """One row per session: id, task, start, duration, how it ended, bucket counts."""
    table = Table(expand=True, show_edge=False)
    for column in ("session", "task", "started", "duration", "status", "done", "interrupted", "in flight",
                   "undoable"):
        table.add_column(column, no_wrap=column != "task")
    for session, report in rows:
        end = session.ended_at or time.time()
        status = session.status
        if session.stopped_by and status == "stopped":
            status = f"stopped by {session.stopped_by}"
        started = datetime.fromtimestamp(session.started_at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(session.session_id, session.task_name, started, duration(end - session.started_at),
                      status, str(len(report.done)), str(len(report.interrupted)), str(len(report.in_flight)),
                      str(len(report.undoable)))
    return table
