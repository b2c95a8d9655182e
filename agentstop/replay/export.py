"""Write a session's report and timeline for sharing: JSON, Markdown or HTML."""

from __future__ import annotations

import functools
import html
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from agentstop.errors import AgentstopError, JournalCorrupt
from agentstop.formatting import clock
from agentstop.journal import Event, EventKind, Journal, SessionRecord
from agentstop.journal.records import EventRow, gc_paused, loads
from agentstop.json_text import indent_of
from agentstop.read_ahead import read_ahead
from agentstop.replay.timeline_json import entry_writer, timeline_entry, window_text
from agentstop.report import Bucket, Report, ReportItem, summary_line
from agentstop.report_stream import KeptUndoable, StreamedReport, write_report_json
from agentstop.text import printable

__all__ = ["FORMATS", "export_session", "render_export"]

FORMATS = (".json", ".md", ".html")


def _detail(data: dict[str, Any]) -> str:
    """What a timeline line says of an event: its reason, summary, text or who did it (the first there)."""
    return str(data.get("reason") or data.get("summary") or data.get("text") or data.get("by") or "")


def _md_escape(text: str) -> str:
    # Control characters escaped: a Markdown file is read with `cat` too, where ESC sequences would act.
    return printable(text.replace("\n", " ")).replace("|", "\\|")


_escaped = functools.lru_cache(maxsize=1024)(html.escape)
"""`html.escape` of the texts a timeline repeats line after line: event kinds and call ids."""


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
        out += [_md_row(i, detail) for i in items]
        out.append("")
    out += ["## Timeline", "", "| seq | time | call | event | detail |", "|---|---|---|---|---|"]
    out += [_md_event(e.seq, e.at, e.call_id, e.kind, _detail(e.data)) for e in events]
    return "\n".join(out) + "\n"


_HTML_NONE = "<tr><td colspan=5><em>none</em></td></tr>"
_HTML_TIMELINE = (
    "<h2>Timeline</h2><table><tr><th>seq</th><th>time</th><th>call</th><th>event</th>\n<th>detail</th></tr>"
)
_HTML_TAIL = "</table></body></html>\n"


def _html_head(s: SessionRecord, summary: str) -> str:
    """The page up to the first list: title, style, the session and its summary line."""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{_h(s.task_name)}: agentstop session {s.session_id}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left}}tr.stop{{background:#fdd}}</style></head>
<body><h1>{_h(s.task_name)}</h1><p>Session <code>{_h(s.session_id)}</code> ·
{_h(summary)}</p><p>{_h(s.goal)}</p>
"""


def _html_section_head(title: str, detail: str) -> str:
    return f"<h2>{title}</h2><table><tr><th>call</th><th>tool</th><th>what</th><th>state</th><th>{detail}</th></tr>"


def _html_rows(items: tuple[ReportItem, ...], detail: str) -> str:
    return "\n".join(_html_row(i, detail) for i in items) or _HTML_NONE


def _html(report: Report, events: list[Event]) -> str:
    sections = [
        _html_section_head(f"{title} ({len(items)})", detail) + _html_rows(items, detail) + "</table>"
        for title, items, detail in (
            ("Done", report.done, "undo"),
            ("Interrupted", report.interrupted, "why"),
            ("In flight", report.in_flight, "why"),
            ("Undoable", report.undoable, "undo"),
        )
    ]
    timeline = "\n".join(_html_event(e.seq, e.at, e.call_id, e.kind, _detail(e.data)) for e in events)
    return (
        _html_head(report.session, report.summary_line()) + "".join(sections) + _HTML_TIMELINE + timeline + _HTML_TAIL
    )


def render_export(report: Report, events: list[Event], suffix: str) -> str:
    """The export text for a file suffix (".json", ".md" or ".html")."""
    if suffix == ".json":
        return json.dumps(
            {
                "report": report.to_json(),
                "timeline": [timeline_entry(e.seq, e.at, e.call_id, e.kind, e.data) for e in events],
            },
            indent=2,
            ensure_ascii=False,
        )
    if suffix == ".md":
        return _markdown(report, events)
    if suffix == ".html":
        return _html(report, events)
    raise AgentstopError(f"cannot export to {suffix!r}: use a file ending in .html, .json or .md")


EVENT_WINDOW = 5000
"""Events per read of a streamed export's timeline."""

_SECTIONS = (
    (Bucket.DONE, "Done", "undo"),
    (Bucket.INTERRUPTED, "Interrupted", "why"),
    (Bucket.IN_FLIGHT, "In flight", "why"),
    (Bucket.UNDOABLE, "Undoable", "undo"),
)
"""Each list of an export: its bucket, its title, and what its last column shows."""


async def export_session(journal: Journal, session_id: str, path: Path) -> Path:
    """Write the session's report and timeline to `path` (format by suffix); returns the path.

    Written as it is read, a window of calls or events at a time, so a session of any
    length takes the same memory: the same text `render_export` makes of the whole
    report and timeline, all of one moment (`Journal.read_snapshot`). It goes to a
    file beside `path` first, which replaces `path` once complete: a failure half-way
    leaves no half-written export behind.
    """
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AgentstopError(f"cannot export to {path.name!r}: use a file ending in .html, .json or .md")
    part = path.with_name(f".{path.name}.part")
    try:
        # A local file written a window at a time: each write is short, as the one of the whole text was.
        # Every list and the timeline of one moment, though read one after another.
        with part.open("w", encoding="utf-8") as out:
            async with journal.read_snapshot():
                report = await StreamedReport.open(journal, session_id)
                write = {".json": _stream_json, ".md": _stream_markdown, ".html": _stream_html}[suffix]
                # What is read and written holds no cycles and goes once written (reference counting frees
                # it): the cyclic collector's passes over each window were a tenth of the time, so it waits.
                with gc_paused():
                    await write(journal, report, out.write)
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path


async def _stream_json(journal: Journal, report: StreamedReport, write: Callable[[str], Any]) -> None:
    write('{\n  "report": ')
    await write_report_json(report, write, level=1, ensure_ascii=False)
    write(',\n  "timeline": ')
    exact = entry_writer(2)
    first = True

    def window(rows: list[EventRow]) -> None:
        nonlocal first
        write(("[" if first else ",") + window_text(rows, 2, exact))
        first = False

    await _each_event_window(journal, report.session.session_id, window)
    write("[]" if first else indent_of(1) + "]")
    write("\n}")


async def _each_event_window(journal: Journal, session_id: str, handle: Callable[[list[EventRow]], None]) -> None:
    """`handle` each window of the session's events as `Journal.event_rows` reads them, in journal order.

    The next window is read (in the journal's reader thread) while one is handled.

    Raises:
        JournalCorrupt: an event's data does not decode.
    """
    async with read_ahead(_event_row_windows(journal, session_id)) as windows:
        async for rows in windows:
            try:
                handle(rows)
            except ValueError as exc:
                raise JournalCorrupt(journal.location, f"an event's data does not decode: {exc}") from exc


async def _event_row_windows(journal: Journal, session_id: str) -> AsyncGenerator[list[EventRow], None]:
    """The session's events as `Journal.event_rows` reads them, `EVENT_WINDOW` at a time."""
    after = 0
    while True:
        rows = await journal.event_rows(session_id, after, EVENT_WINDOW)
        if rows:
            yield rows
        if len(rows) < EVENT_WINDOW:
            return
        after = rows[-1][0]


def _lists(
    report: StreamedReport, row: Callable[[ReportItem, str], str]
) -> Iterator[tuple[Bucket, str, str, AsyncIterator[list[str]]]]:
    """Each list (bucket, title, what its last column shows) and its rows as `row` writes them, a window at a time.

    Read each list's windows before the next list's. Undoable's rows are Done's (both show
    the undo), kept as written (`KeptUndoable`).
    """
    kept = KeptUndoable(report)

    async def rows(bucket: Bucket, detail: str) -> AsyncIterator[list[str]]:
        async for items in report.windows(bucket):
            lines = [row(i, detail) for i in items]
            if bucket is Bucket.DONE:
                for i, line in zip(items, lines, strict=True):
                    kept.keep(i, line)
            yield lines

    for bucket, title, detail in _SECTIONS:
        if bucket is Bucket.UNDOABLE:
            yield bucket, title, detail, kept.windows(lambda items: [row(i, "undo") for i in items])
        else:
            yield bucket, title, detail, rows(bucket, detail)


def _md_row(i: ReportItem, detail: str) -> str:
    text = i.undo.detail if detail == "undo" else (i.reason or "")
    return f"| {i.call_id} | {_md_escape(i.tool)} | {_md_escape(i.summary)} | {i.state} | {_md_escape(text)} |"


def _md_event(seq: int, at: float, call_id: str | None, kind: str, detail: str) -> str:
    marker = " **(Stop)**" if kind == EventKind.REVOKED else ""
    return f"| {seq} | {clock(at)} | {call_id or ''} | {kind}{marker} | {_md_escape(detail)} |"


def _summary(report: StreamedReport, counts: dict[Bucket, int]) -> str:
    return summary_line(
        report.session,
        counts[Bucket.DONE],
        counts[Bucket.INTERRUPTED],
        counts[Bucket.IN_FLIGHT],
        counts[Bucket.UNDOABLE],
    )


async def _stream_markdown(journal: Journal, report: StreamedReport, write: Callable[[str], Any]) -> None:
    """`_markdown`, a line at a time (each line ends with a newline, the last one too)."""
    s = report.session
    counts = await report.list_counts()
    head = [
        f"# {_md_escape(s.task_name)}",
        "",
        f"Session `{s.session_id}` · {_md_escape(_summary(report, counts))}",
        "",
    ]
    if s.goal:
        head += [f"Goal: {printable(s.goal.strip(), multiline=True)}", ""]
    if s.stop_reason:
        head += [f"Stop reason: {_md_escape(s.stop_reason)}", ""]
    write("\n".join(head) + "\n")
    for bucket, title, detail, windows in _lists(report, _md_row):
        write(f"## {title} ({counts[bucket]})\n\n")
        first = True
        async for lines in windows:
            if first:
                write(f"| call | tool | what | state | {detail} |\n|---|---|---|---|---|\n")
                first = False
            write("".join(line + "\n" for line in lines))
        write("None.\n\n" if first else "\n")
    write("## Timeline\n\n| seq | time | call | event | detail |\n|---|---|---|---|---|\n")

    def window(rows: list[EventRow]) -> None:
        write("".join(_md_event(n, at, call, kind, _detail(loads(data))) + "\n" for n, call, kind, at, data in rows))

    await _each_event_window(journal, s.session_id, window)


def _html_row(i: ReportItem, detail: str) -> str:
    text = i.undo.detail if detail == "undo" else (i.reason or "")
    cells = (i.call_id, i.tool, i.summary, i.state, text)
    return "<tr>" + "".join(f"<td>{_h(c)}</td>" for c in cells) + "</tr>"


def _html_event(seq: int, at: float, call_id: str | None, kind: str, detail: str) -> str:
    return (
        f"<tr{' class=stop' if kind == EventKind.REVOKED else ''}><td>{seq}</td><td>{clock(at)}</td>"
        f"<td>{_escaped(call_id or '')}</td><td>{_escaped(kind)}</td>"
        f"<td>{_h(detail)}</td></tr>"
    )


async def _stream_html(journal: Journal, report: StreamedReport, write: Callable[[str], Any]) -> None:
    """`_html`, a table row at a time."""
    s = report.session
    counts = await report.list_counts()
    write(_html_head(s, _summary(report, counts)))
    for bucket, title, detail, windows in _lists(report, _html_row):
        write(_html_section_head(f"{title} ({counts[bucket]})", detail))
        first = True
        async for lines in windows:
            write(("" if first else "\n") + "\n".join(lines))
            first = False
        write(f"{_HTML_NONE if first else ''}</table>")
    write(_HTML_TIMELINE)
    first = True

    def window(rows: list[EventRow]) -> None:
        nonlocal first
        lines = "\n".join(_html_event(n, at, call, kind, _detail(loads(data))) for n, call, kind, at, data in rows)
        write(("" if first else "\n") + lines)
        first = False

    await _each_event_window(journal, s.session_id, window)
    write(_HTML_TAIL)
