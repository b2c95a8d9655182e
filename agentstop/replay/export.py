"""Write a session's report and timeline for sharing: JSON, Markdown or HTML."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from agentstop.errors import AgentstopError
from agentstop.formatting import clock
from agentstop.journal import Event, EventKind, Journal
from agentstop.report import Report, ReportItem
from agentstop.text import printable

__all__ = ["FORMATS", "export_session", "render_export"]

FORMATS = (".json", ".md", ".html")


def _event_line(e: Event) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": clock(e.at),
        "call_id": e.call_id,
        "kind": e.kind,
        "detail": e.data.get("reason") or e.data.get("summary") or e.data.get("text") or e.data.get("by") or "",
    }


def _md_escape(text: str) -> str:
    # Control characters escaped: a Markdown file is read with `cat` too, where ESC sequences would act.
    return printable(text.replace("\n", " ")).replace("|", "\\|")


def _h(text: str) -> str:
    """Text for HTML: control characters escaped visibly, then HTML-escaped."""
    return html.escape(printable(text, multiline=True))


def _markdown(report: Report, events: list[Event]) -> str:
    s = report.session
    out = [f"# {_md_escape(s.task_name)}", "", f"Session `{s.session_id}` · {_md_escape(report.summary_line())}", ""]
    if s.goal:
        out += [f"Goal: {printable(s.goal.strip(), multiline=True)}", ""]
    if s.stop_reason:
        out += [f"Stop reason: {_md_escape(s.stop_reason)}", ""]
    for title, items, detail in (
        ("Done", report.done, "undo"),
        ("Interrupted", report.interrupted, "why"),
        ("In flight", report.in_flight, "why"),
        ("Undoable", report.undoable, "undo"),
    ):
        out += [f"## {title} ({len(items)})", ""]
        if not items:
            out += ["None.", ""]
            continue
        out += [f"| call | tool | what | state | {detail} |", "|---|---|---|---|---|"]
        for i in items:
            text = i.undo.detail if detail == "undo" else (i.reason or "")
            out.append(
                f"| {i.call_id} | {_md_escape(i.tool)} | {_md_escape(i.summary)} | {i.state} | {_md_escape(text)} |"
            )
        out.append("")
    out += ["## Timeline", "", "| seq | time | call | event | detail |", "|---|---|---|---|---|"]
    for e in events:
        line = _event_line(e)
        marker = " **(Stop)**" if e.kind == EventKind.REVOKED else ""
        out.append(
            f"| {line['seq']} | {line['at']} | {line['call_id'] or ''} | {line['kind']}{marker} | "
            f"{_md_escape(str(line['detail']))} |"
        )
    return "\n".join(out) + "\n"


def _html_rows(items: tuple[ReportItem, ...], detail: str) -> str:
    rows = []
    for i in items:
        text = i.undo.detail if detail == "undo" else (i.reason or "")
        cells = (i.call_id, i.tool, i.summary, i.state, text)
        rows.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in cells) + "</tr>")
    return "\n".join(rows) or "<tr><td colspan=5><em>none</em></td></tr>"


def _html(report: Report, events: list[Event]) -> str:
    s = report.session
    sections = []
    for title, items, detail in (
        ("Done", report.done, "undo"),
        ("Interrupted", report.interrupted, "why"),
        ("In flight", report.in_flight, "why"),
        ("Undoable", report.undoable, "undo"),
    ):
        sections.append(
            f"<h2>{title} ({len(items)})</h2><table><tr><th>call</th><th>tool</th><th>what</th>"
            f"<th>state</th><th>{detail}</th></tr>{_html_rows(items, detail)}</table>"
        )
    timeline = "\n".join(
        f"<tr{' class=stop' if e.kind == EventKind.REVOKED else ''}><td>{e.seq}</td><td>{clock(e.at)}</td>"
        f"<td>{html.escape(e.call_id or '')}</td><td>{html.escape(e.kind)}</td>"
        f"<td>{_h(str(_event_line(e)['detail']))}</td></tr>"
        for e in events
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{_h(s.task_name)}: agentstop session {s.session_id}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left}}tr.stop{{background:#fdd}}</style></head>
<body><h1>{_h(s.task_name)}</h1><p>Session <code>{_h(s.session_id)}</code> ·
{_h(report.summary_line())}</p><p>{_h(s.goal)}</p>
{"".join(sections)}<h2>Timeline</h2><table><tr><th>seq</th><th>time</th><th>call</th><th>event</th>
<th>detail</th></tr>{timeline}</table></body></html>
"""


def render_export(report: Report, events: list[Event], suffix: str) -> str:
    """The export text for a file suffix (".json", ".md" or ".html")."""
    if suffix == ".json":
        return json.dumps(
            {
                "report": report.to_json(),
                "timeline": [
                    {"seq": e.seq, "at": e.at, "call_id": e.call_id, "kind": e.kind, "data": e.data} for e in events
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
    if suffix == ".md":
        return _markdown(report, events)
    if suffix == ".html":
        return _html(report, events)
    raise AgentstopError(f"cannot export to {suffix!r}: use a file ending in .html, .json or .md")


async def export_session(journal: Journal, session_id: str, path: Path) -> Path:
    """Write the session's report and timeline to `path` (format by suffix); returns the path."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AgentstopError(f"cannot export to {path.name!r}: use a file ending in .html, .json or .md")
    report = await Report.from_journal(journal, session_id)
    events = await journal.events(session_id)
    path.write_text(render_export(report, events, suffix), encoding="utf-8")  # noqa: ASYNC240 - small file
    return path
