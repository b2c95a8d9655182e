"""A report written as it is read is, byte for byte, the report `json.dumps` wrote of the whole.

`agentstop report --json` and `agentstop replay --export` no longer hold a
session's report: they read each list a window of rows at a time and write it
out (`agentstop.report_stream`). These tests build a session with a call in
every state (undone, re-applied, unknown, rejected, a revoke with a call that
landed after it, a second epoch, an arguments' secret redacted, text in many
scripts and control characters) and hold the streamed text to the text of the
in-memory report: `json.dumps(report.to_json(), indent=2)` as the command
printed it, and `render_export` for each export format; on SQLite and on
PostgreSQL, with windows of 3 rows (so every list spans several) and the
default.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from agentstop import CallState, GrantSpec, Journal, JournalCorrupt, Report, Supervisor, report_stream
from agentstop.journal import SessionStatus
from agentstop.journal.reads import RowOrder
from agentstop.replay import export as export_module
from agentstop.replay.export import export_session, render_export
from agentstop.report import ReportItem
from agentstop.report_buckets import IN_EFFECT, INTERRUPTED, LANDED, Bucket
from agentstop.report_counts import ReportCounts
from agentstop.report_stream import LISTS, StreamedReport, write_report_json
from tests.support.tools import WriteNote

pytestmark = [pytest.mark.anyio, pytest.mark.both_backends]

S = CallState
TEXT = 'naïve “quotes” 日本語 🎉 tab\there \x1b[31mred\x1b[0m line\u2028sep \\ "q"'
"""Text in several scripts, an emoji, control characters and JSON's own escapes."""
SECRET = "sk-test-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
"""An API key in a call's arguments: the journal holds it redacted."""
DAY = 86_400.0


def _ticking() -> Iterator[float]:
    """A clock that moves 1 ms at each reading: fence, revoke and commit times fall in a known order."""
    start = time.time()
    return (start + n / 1000 for n in itertools.count())


async def _plan(journal: Journal, sid: str, grant: int, name: str, **fields: Any) -> str:
    call_id: str = await journal.plan_call(
        sid,
        tool=fields.pop("tool", "mail"),
        summary=f"{name}: {TEXT}",
        resource=f"inbox/{name}",
        args=fields.pop("args", {"to": ["ana@example.com"], "subject": TEXT, "n": 1.5, "flags": [True, None]}),
        reversibility=fields.pop("reversibility", "reversible"),
        on_stop="wait",
        can_compensate=fields.pop("can_compensate", True),
        can_lookup=False,
        undo_hint=fields.pop("undo_hint", ""),
        idempotency_key=f"k-{name}",
        grant_id=grant,
        can_reapply=fields.pop("can_reapply", True),
    )
    return call_id


async def _to(journal: Journal, sid: str, call_id: str, *states: CallState, **fields: Any) -> None:
    for state in states:
        await journal.transition(sid, call_id, state, durable=False, **fields.pop(state.value, {}))


async def _committed(journal: Journal, sid: str, grant: int, name: str, receipt: Any, **fields: Any) -> str:
    call_id = await _plan(journal, sid, grant, name, **fields)
    assert await journal.fence(sid, call_id, grant, "mail", f"inbox/{name}", prepared={"draft": TEXT}) is None
    await journal.transition(sid, call_id, S.COMMITTED, durable=False, receipt=receipt)
    return call_id


async def _every_state(journal: Journal, world: Path) -> str:
    """A stopped session with a call in every state (and then some); returns its id."""
    sup = Supervisor(journal, [WriteNote(world)], GrantSpec(), task_name=f"release {TEXT}", goal=TEXT)
    await sup.start()
    sid = sup.session_id
    # Through the supervisor: its arguments and prepared effect are journaled with the key redacted.
    await sup.call("write_note", {"name": "secret", "text": TEXT, "api_token": SECRET})
    grant = (await journal.grants(sid))[0].grant_id
    now = time.time()
    open_window = {"id": 1, "undo_deadline": now + DAY, "reversible_until": now + DAY / 2}

    await _plan(journal, sid, grant, "planned")
    await _to(journal, sid, await _plan(journal, sid, grant, "prepared"), S.PREPARED)
    await _to(journal, sid, await _plan(journal, sid, grant, "discarded"), S.PREPARED, S.DISCARDED)
    failed = await _plan(journal, sid, grant, "failed")
    assert await journal.fence(sid, failed, grant, "mail", "inbox/failed", prepared={}) is None
    await _to(journal, sid, failed, S.FAILED, failed={"reason": f"refused upstream: {TEXT}"})
    committing = await _plan(journal, sid, grant, "committing")
    assert await journal.fence(sid, committing, grant, "mail", "inbox/committing", prepared={}) is None
    unknown = await _plan(journal, sid, grant, "unknown")
    assert await journal.fence(sid, unknown, grant, "mail", "inbox/unknown", prepared={}) is None
    await _to(journal, sid, unknown, S.UNKNOWN)

    await _committed(journal, sid, grant, "open", open_window)
    await _committed(journal, sid, grant, "expired", {"id": 2, "undo_deadline": now - DAY})
    await _committed(journal, sid, grant, "no-undo", {"no_undo": "the server has no delete"})
    await _committed(journal, sid, grant, "cannot", {"id": 3}, can_compensate=False)
    await _committed(journal, sid, grant, "read", [1, "two", {"3": []}], reversibility="read_only")
    await _committed(journal, sid, grant, "wire", "ok", reversibility="irreversible", undo_hint="call the bank")
    await _committed(journal, sid, grant, "compensable", {"id": 4}, reversibility="compensable")
    undoing = await _committed(journal, sid, grant, "undoing", open_window)
    await _to(journal, sid, undoing, S.COMPENSATING, compensating={"undo_by": "agentstop undo"})
    undone = await _committed(journal, sid, grant, "undone", open_window)
    await _to(journal, sid, undone, S.COMPENSATING, S.COMPENSATED)
    undo_failed = await _committed(journal, sid, grant, "undo-failed", {"id": 5})
    await _to(
        journal, sid, undo_failed, S.COMPENSATING, S.COMPENSATION_FAILED, compensation_failed={"undo_error": TEXT}
    )
    redoing = await _committed(journal, sid, grant, "redoing", {"id": 6})
    await _to(journal, sid, redoing, S.COMPENSATING, S.COMPENSATED, S.REAPPLYING)
    redo_failed = await _committed(journal, sid, grant, "redo-failed", {"id": 7})
    await _to(
        journal,
        sid,
        redo_failed,
        S.COMPENSATING,
        S.COMPENSATED,
        S.REAPPLYING,
        S.REAPPLY_FAILED,
        reapply_failed={"reapply_error": "the calendar said no"},
    )
    redone = await _committed(journal, sid, grant, "redone", {"id": 8})
    await _to(journal, sid, redone, S.COMPENSATING, S.COMPENSATED, S.REAPPLYING)
    await journal.transition(sid, redone, S.COMMITTED, durable=False, receipt={"id": 9, "undo_deadline": now + DAY})

    # The Stop: a call past the fence lands during the grace; one racing it is rejected.
    landing = await _plan(journal, sid, grant, "landing")
    assert await journal.fence(sid, landing, grant, "mail", "inbox/landing", prepared={}) is None
    racing = await _plan(journal, sid, grant, "racing")
    await _to(journal, sid, racing, S.PREPARED)
    assert await journal.revoke(sid, by="user", reason=f"wrong goal: {TEXT}") == [grant]
    await journal.transition(sid, landing, S.COMMITTED, durable=False, receipt=open_window)
    assert await journal.fence(sid, racing, grant, "mail", "inbox/racing") is not None

    # A second epoch (a Resume's grant), whose call is undoable too.
    second = await journal.issue_grant(sid, GrantSpec())
    await _committed(journal, sid, second, "after-resume", open_window, tool="日本")
    await journal.end_session(sid, SessionStatus.STOPPED, stopped_by="user", stop_reason=f"wrong goal: {TEXT}")
    await sup.close()
    return sid


@pytest.fixture
async def session(journal_target: str, world: Path) -> tuple[str, str]:
    """(where the journal is, the session's id): the session of every state, written once."""
    async with Journal.open(journal_target, clock=_ticking().__next__) as journal:
        return journal_target, await _every_state(journal, world)


async def _streamed(journal: Journal, sid: str, now: float, window: int, **options: Any) -> str:
    pieces: list[str] = []
    await write_report_json(await StreamedReport.open(journal, sid, now, window=window), pieces.append, **options)
    return "".join(pieces)


_KEPT = report_stream.UNDOABLE_KEPT


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> list[Bucket]:
    """The lists a streamed report reads the items of (`StreamedReport.windows`), in order."""
    buckets: list[Bucket] = []
    windows = StreamedReport.windows

    def reading(self: StreamedReport, bucket: Bucket) -> AsyncIterator[list[ReportItem]]:
        buckets.append(bucket)
        return windows(self, bucket)

    monkeypatch.setattr(StreamedReport, "windows", reading)
    return buckets


@pytest.mark.parametrize(
    ("window", "kept"),
    [
        (3, _KEPT),
        (2000, _KEPT),
        (3, 1),  # Undoable read again: Done's first undoable item is past the bound
        (3, 4000),  # past the bound half-way through Done
    ],
)
async def test_the_streamed_report_is_what_json_dumps_wrote(
    session: tuple[str, str], window: int, kept: int, monkeypatch: pytest.MonkeyPatch, read: list[Bucket]
) -> None:
    target, sid = session
    now = time.time()
    monkeypatch.setattr(report_stream, "UNDOABLE_KEPT", kept)
    async with Journal.open(target, readonly=True) as journal:
        report = await Report.from_journal(journal, sid, now)
        for ensure_ascii in (True, False):
            expected = json.dumps(report.to_json(), indent=2, ensure_ascii=ensure_ascii)
            assert await _streamed(journal, sid, now, window, ensure_ascii=ensure_ascii) == expected
    # Undoable is written from Done's items while they fit the bound; past it, read again.
    assert (Bucket.UNDOABLE in read) is (kept < _KEPT)
    # The session holds what the test means it to: every state, the landing, the redaction.
    assert {i.state for i in report.all_calls} == set(CallState)
    assert len(report.landed_after_stop) == 1 and report.epochs == 2
    assert [i.call_id for i in report.done if i.reapplies] == [i.call_id for i in report.undoable if i.reapplies]
    assert len(report.undoable) >= 4 and SECRET not in expected and "日本" in expected


async def test_the_counts_read_without_the_calls_are_the_reports(session: tuple[str, str]) -> None:
    """The sessions browser's four numbers (`ReportCounts.read`) are the ones the report shows."""
    target, sid = session
    now = time.time()
    async with Journal.open(target, readonly=True) as journal:
        report = await Report.from_journal(journal, sid, now)
        counts = await ReportCounts.read(journal, sid, now)
        later = await ReportCounts.read(journal, sid, now + 3 * DAY)  # the undo windows have closed
    assert counts == ReportCounts.of(report)
    assert counts.undoable >= 4 and counts.done > 0 and counts.interrupted > 0 and counts.in_flight > 0
    assert later.undoable < counts.undoable and later.done == counts.done


async def test_each_epochs_counts_read_without_the_calls_are_the_reports(session: tuple[str, str]) -> None:
    """What a long past session's title says of each epoch (after a Resume), counted without its items."""
    target, sid = session
    async with Journal.open(target, readonly=True) as journal:
        report = await Report.from_journal(journal, sid)
        streamed = await StreamedReport.open(journal, sid)
    expected = [
        {b: sum(1 for i in report.all_calls if i.epoch == epoch and i.bucket is b) for b in LISTS[:3]}
        for epoch in range(1, report.epochs + 1)
    ]
    assert report.epochs == 2 and streamed.epoch_counts() == expected
    assert sum(e[Bucket.DONE] for e in expected) == len(report.done) and expected[1][Bucket.DONE] == 1


async def test_the_lists_are_read_in_their_order_a_window_at_a_time(session: tuple[str, str]) -> None:
    target, sid = session
    async with Journal.open(target, readonly=True) as journal:
        planned = [r async for rows in journal.report_row_windows(sid, INTERRUPTED, size=2) for r in rows]
        latest = [
            r
            async for rows in journal.report_row_windows(sid, IN_EFFECT, order=RowOrder.LATEST_COMMIT, size=2)
            for r in rows
        ]
        every = await journal.report_rows(sid)
    assert [r[0] for r in planned] == [r[0] for r in every if S(r[7]) in INTERRUPTED]
    in_effect = [r for r in every if S(r[7]) in IN_EFFECT]
    assert [r[0] for r in latest] == [r[0] for r in sorted(in_effect, key=lambda r: r[24], reverse=True)]


@pytest.mark.parametrize("suffix", [".json", ".md", ".html"])
@pytest.mark.parametrize("kept", [_KEPT, 1, 700])
async def test_the_streamed_export_is_what_render_export_wrote(
    session: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    kept: int,
    read: list[Bucket],
) -> None:
    target, sid = session
    monkeypatch.setattr(export_module, "EVENT_WINDOW", 7)  # the timeline in several reads
    monkeypatch.setattr(report_stream, "UNDOABLE_KEPT", kept)  # Undoable from Done's rows; or read again
    async with Journal.open(target, readonly=True) as journal:
        out = tmp_path / "exports"
        out.mkdir()
        path = await export_session(journal, sid, out / f"incident{suffix}")
        expected = render_export(await Report.from_journal(journal, sid), await journal.events(sid), suffix)
    assert path.read_text(encoding="utf-8") == expected
    assert list(out.iterdir()) == [path], "no part file is left behind"
    assert (Bucket.UNDOABLE in read) is (kept < _KEPT)


async def test_report_json_prints_what_it_printed(session: tuple[str, str]) -> None:
    """The command itself, in a process of its own: stdout is `json.dumps(..., indent=2)` and a newline."""
    target, sid = session
    where = ["--journal", target] if target.startswith("postgresql:") else [target]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "agentstop", "report", *where, "--session", sid, "--json"], check=False, env=env
        )
    assert done.returncode == 0, done.stderr.decode()
    async with Journal.open(target, readonly=True) as journal:
        report = await Report.from_journal(journal, sid)
    assert done.stdout.decode("ascii") == json.dumps(report.to_json(), indent=2) + "\n"


async def _one_call_then(journal_target: str, world: Path, damage: Callable[[str], str]) -> str:
    """A session of one landed call, then `damage(session_id)`'s SQL run on its journal behind agentstop's back."""
    async with Journal.open(journal_target) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.start()
        await sup.call("write_note", {"name": "a"})
        await sup.close()
    sql = damage(sup.session_id)
    if journal_target.startswith("postgresql:"):
        with psycopg.connect(journal_target, autocommit=True) as pg:
            pg.execute(sql)
    else:
        with closing(sqlite3.connect(journal_target)) as raw, raw:
            raw.execute(sql)
    return sup.session_id


async def test_a_state_it_cannot_read_is_said_before_anything_is_written(journal_target: str, world: Path) -> None:
    session_id = await _one_call_then(journal_target, world, lambda session_id: "UPDATE calls SET state = 'teleported'")
    pieces: list[str] = []
    async with Journal.open(journal_target, readonly=True) as journal:
        with pytest.raises(JournalCorrupt, match="unknown call state 'teleported'"):
            await write_report_json(await StreamedReport.open(journal, session_id), pieces.append)
    assert pieces == []


@pytest.mark.parametrize("damage", ["events SET data = '{not json'", "calls SET receipt = '{not json'"])
@pytest.mark.parametrize("suffix", [".json", ".md", ".html"])
async def test_damage_found_half_way_through_an_export_is_said_as_itself(
    journal_target: str, world: Path, tmp_path: Path, damage: str, suffix: str
) -> None:
    """Read a window ahead in a task of its own, a damaged row still raises `JournalCorrupt` to the library's caller,
    not an `ExceptionGroup` around it; and no export file is left."""
    table, _, change = damage.partition(" SET ")
    session_id = await _one_call_then(
        journal_target, world, lambda session_id: f"UPDATE {table} SET {change} WHERE session_id = '{session_id}'"
    )
    out = tmp_path / "exports"
    out.mkdir()
    async with Journal.open(journal_target, readonly=True) as journal:
        with pytest.raises(JournalCorrupt, match="does not decode"):
            await export_session(journal, session_id, out / f"incident{suffix}")
    assert list(out.iterdir()) == []


_NOT_FOR_A_REPORT = (
    "textual",
    "rich",
    "mcp",
    "yaml",
    "pydantic",
    "agentstop.tui",
    "agentstop.mcp",
    "agentstop.task",
    "agentstop.supervisor",
    "agentstop.tools",
)
"""What `report --json` of a session with nothing to recover has no use for: the TUI, terminal rendering,
the MCP SDK, task files, the supervisor and the tools (pydantic): ~100 ms of a CLI's start."""


async def _loaded_by_report(where: list[str], sid: str) -> tuple[list[str], dict[str, Any]]:
    """`agentstop report ... --json` in a process of its own: (what of `_NOT_FOR_A_REPORT` it imported, the report)."""
    program = (
        "import contextlib, io, json, runpy, sys\n"
        f"sys.argv = ['agentstop', 'report', *{where!r}, '--session', {sid!r}, '--json']\n"
        "out = io.StringIO()\n"
        "try:\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        runpy.run_module('agentstop', run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        f"loaded = sorted(m for m in sys.modules for p in {_NOT_FOR_A_REPORT!r} if m == p or m.startswith(p + '.'))\n"
        "print(json.dumps({'loaded': loaded, 'report': json.loads(out.getvalue())}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-c", program], check=False, env=env)
    assert done.returncode == 0, done.stderr.decode()
    answer = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return answer["loaded"], answer["report"]


async def test_report_json_does_not_import_what_it_does_not_need(session: tuple[str, str]) -> None:
    target, sid = session
    loaded, _ = await _loaded_by_report(["--journal", target] if target.startswith("postgresql:") else [target], sid)
    assert loaded == []


_ENDED_WITH_AN_UNKNOWN_CALL = """
import sys, anyio
from agentstop import CallState, GrantSpec, Journal
from agentstop.journal import SessionStatus

async def main(path: str, can_lookup: bool) -> None:
    async with Journal.open(path) as journal:
        sid = "ended-unknown"
        await journal.create_session(sid, task_name="t", goal="g", tools=[])
        grant = await journal.issue_grant(sid, GrantSpec())
        call = await journal.plan_call(
            sid, tool="mail", summary="send", resource="inbox", args={}, reversibility="irreversible",
            on_stop="wait", can_compensate=False, can_lookup=can_lookup, undo_hint="", idempotency_key="k",
            grant_id=grant,
        )
        assert await journal.fence(sid, call, grant, "mail", "inbox", prepared={}) is None
        await journal.transition(sid, call, CallState.UNKNOWN, durable=True, reason="cut off")
        await journal.end_session(sid, SessionStatus.STOPPED, stopped_by="user", stop_reason="enough")
        print(sid)

anyio.run(main, sys.argv[1], sys.argv[2] == "lookup")
"""
"""A process that ends its session with one call `unknown` (planned with or without a lookup), then exits."""


@pytest.mark.parametrize("lookup", [False, True])
async def test_an_ended_sessions_unknown_call_with_no_lookup_is_not_recovered_again(
    tmp_path: Path, lookup: bool
) -> None:
    # Its process gone, the session would be recovered on every read; a call planned with no lookup stays
    # unknown whatever recovery does, so `report` loads no tool for it (and imports no supervisor).
    path = tmp_path / "journal.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    argv = [sys.executable, "-c", _ENDED_WITH_AN_UNKNOWN_CALL, str(path), "lookup" if lookup else "none"]
    with anyio.fail_after(60):
        made = await anyio.run_process(argv, check=False, env=env)
    assert made.returncode == 0, made.stderr.decode()
    loaded, report = await _loaded_by_report([str(path)], made.stdout.decode().strip())
    assert [i["state"] for i in report["in_flight"]] == ["unknown"]
    if lookup:
        # A lookup may settle it: recovery is attempted (its tool cannot load here, so it stays unknown).
        assert "agentstop.supervisor" in loaded
    else:
        assert loaded == []


async def test_inside_a_read_snapshot_every_list_is_of_one_moment(journal_target: str, world: Path) -> None:
    """A call that lands between the read of Done and the read of Interrupted shows in exactly one of them."""
    async with Journal.open(journal_target) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.start()
        sid = sup.session_id
        grant = (await journal.grants(sid))[0].grant_id
        call = await _plan(journal, sid, grant, "moving")
        await _to(journal, sid, call, S.PREPARED)
        async with Journal.open(journal_target, readonly=True) as reader:
            async with reader.read_snapshot():
                done = [r[0] async for rows in reader.report_row_windows(sid, LANDED) for r in rows]
                # Meanwhile the call passes the fence and lands (another connection writes it).
                assert await journal.fence(sid, call, grant, "mail", "inbox/moving") is None
                await journal.transition(sid, call, S.COMMITTED, durable=True, receipt={"id": 1})
                interrupted = [r[0] async for rows in reader.report_row_windows(sid, INTERRUPTED) for r in rows]
                assert (await StreamedReport.open(reader, sid)).counts == {S.PREPARED: 1}
            assert (done, interrupted) == ([], [call]), "the moment the snapshot began"
            after = [r[0] async for rows in reader.report_row_windows(sid, LANDED) for r in rows]
            assert after == [call], "after the block, reads see the journal as it is"
        await sup.close()


@pytest.mark.parametrize("calls", [0, 1])
async def test_empty_lists_are_written_as_the_whole_document_writes_them(
    journal_target: str, world: Path, tmp_path: Path, calls: int
) -> None:
    """No calls at all, or one done call: `[]` lists, Markdown's "None.", HTML's "none" row."""
    async with Journal.open(journal_target) as journal:
        sup = Supervisor(journal, [WriteNote(world)], GrantSpec())
        await sup.start()
        for n in range(calls):
            await sup.call("write_note", {"name": f"n{n}"})
        await sup.close()
        sid, now = sup.session_id, time.time()
        report = await Report.from_journal(journal, sid, now)
        assert await _streamed(journal, sid, now, 2000) == json.dumps(report.to_json(), indent=2)
        for suffix in (".json", ".md", ".html"):
            path = await export_session(journal, sid, tmp_path / f"empty{suffix}")
            assert path.read_text(encoding="utf-8") == render_export(report, await journal.events(sid), suffix)
    assert len(report.done) == calls and not report.interrupted and not report.in_flight
