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
    """Two lines per session (readable at any width): id, how it ended, start, duration; task and counts."""
    out = Text()
    for session, report in rows:
        end = session.ended_at or time.time()
        status = session.status
        if session.stopped_by and status == "stopped":
            status = f"stopped by {session.stopped_by}"
        started = datetime.fromtimestamp(session.started_at).strftime("%Y-%m-%d %H:%M:%S")
        style = {"completed": "green", "running": "yellow"}.get(session.status, "red")
        out.append(session.session_id, style="bold")
        out.append("  ")
        out.append(status, style=style)
        out.append(f"  {started}  {duration(end - session.started_at)}\n")
        out.append(f"  {session.task_name}", style="italic")
        out.append(f" · {len(report.done)} done, {len(report.interrupted)} interrupted, "
                   f"{len(report.in_flight)} in flight, {len(report.undoable)} undoable\n")
    return out
