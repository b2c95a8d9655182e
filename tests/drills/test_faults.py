"""Drill 3: faults. Commits that time out, lose their reply or hang past Stop; undos that fail;
a journal that is locked, full or read-only. Each time: what the journal says agrees with the world.

The tools are real demo tools with one fault built in (tests/drills/faulty_tools.py);
the world is one running demo world for the module, read from its own files.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentstop import (
    AgentstopError,
    GrantSpec,
    Interrupted,
    Journal,
    Rejected,
    StopPolicy,
    Supervisor,
    ToolFailed,
    ToolRegistry,
    recover,
)
from demo_tools.calendar_tool import CreateEvent
from demo_tools.world_config import WorldConfig
from tests.drills.faulty_tools import (
    STARVE_AT_ENV,
    STARVE_JOURNAL_ENV,
    UNDO_BROKEN_ENV,
    BrokenUndoEvent,
    FlakyUndoEvent,
    HangingEvent,
    LockingMigration,
    SwallowedEvent,
)
from tests.drills.stats import record
from tests.drills.world_probe import ABSENT, GONE, LANDED, Snapshot

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
GRACE = 0.2
EVENT = {"title": "fault drill", "start": "2032-02-02T10:00:00+00:00", "calendar": "faults"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in extra and k != UNDO_BROKEN_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**env, **{k: v for k, v in extra.items() if v}}


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentstop", *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _child(journal: Path, plan: dict[str, Any], **env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.drills.session_child", str(journal), json.dumps(plan)],
        capture_output=True,
        text=True,
        env=_env(**env),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    return done.stdout.splitlines()


def _event_state(world: WorldConfig, key: str) -> str:
    return Snapshot.take(world, ["create_event"]).effect("create_event", key)


async def _kinds(journal: Journal, session_id: str, call_id: str) -> list[str]:
    return [e.kind for e in await journal.events(session_id) if e.call_id == call_id]


async def _wait_for_state(journal: Journal, session_id: str, call_id: str, state: str) -> None:
    with anyio.fail_after(10):
        while (call_id, state) not in {(c.call_id, c.state) for c in await journal.calls(session_id)}:
            await anyio.sleep(0.005)


# -- a server that never answers ----------------------------------------------------------


class Swallow:
    """Takes HTTP requests and never answers them; with `forward_to` it first passes each one on.

    So the demo client's own timeout ends the commit: without forwarding nothing
    landed, with it the upstream applied the request and only the reply was lost.
    """

    def __init__(self, forward_to: str | None = None) -> None:
        self.forward_to = forward_to
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.forwarded = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
        )
        while len(body) < length:
            body += conn.recv(65536)
        if self.forward_to is not None:
            host, port = self.forward_to.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port))) as upstream:
                upstream.sendall(head + b"\r\n\r\n" + body)
                while upstream.recv(65536):
                    pass  # the upstream's answer, which the caller never gets
            self.forwarded += 1

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def swallow() -> Iterator[Swallow]:
    s = Swallow()
    yield s
    s.close()


@pytest.fixture
def lose_reply(world: WorldConfig) -> Iterator[Swallow]:
    s = Swallow(forward_to=world.calendar_api)
    yield s
    s.close()


# -- commits that time out or lose their reply ------------------------------------------


async def test_a_commit_that_times_out_before_landing_is_settled_failed_by_lookup(
    scratch: Path, world: WorldConfig, swallow: Swallow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SwallowedEvent, "via", swallow.url)
    async with Journal.open(scratch / "timeout.db") as journal:
        sup = Supervisor(journal, [SwallowedEvent()], GrantSpec())
        with pytest.raises(ToolFailed, match=r"ServiceUnavailable: .*timed out.*lookup found no effect"):
            await sup.call("create_event", EVENT)
        [item] = (await sup.report()).interrupted
        assert await _kinds(journal, sup.session_id, "c1") == ["planned", "prepared", "committing", "unknown", "failed"]
        key = (await journal.call(sup.session_id, "c1")).idempotency_key
    assert item.state == "failed" and "lookup found no effect" in (item.reason or "")
    assert _event_state(world, key) == GONE
    record("faults", "commit timed out before it landed (upstream never answered)", 1)


async def test_a_commit_whose_reply_is_lost_after_it_landed_is_settled_committed_by_lookup(
    scratch: Path, world: WorldConfig, lose_reply: Swallow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SwallowedEvent, "via", lose_reply.url)
    async with Journal.open(scratch / "lost-reply.db") as journal:
        sup = Supervisor(journal, [SwallowedEvent()], GrantSpec())
        receipt = await sup.call("create_event", EVENT)
        assert lose_reply.forwarded == 1
        [item] = (await sup.report()).done
        assert await _kinds(journal, sup.session_id, "c1") == [
            "planned",
            "prepared",
            "committing",
            "unknown",
            "committed",
        ]
        events = [e for e in await journal.events(sup.session_id) if e.call_id == "c1"]
    assert events[-1].data["reconciled"] is True and "timed out" in events[-2].data["reason"]
    assert item.state == "committed" and receipt["uid"] == item.receipt["uid"]
    assert _event_state(world, receipt["uid"]) == LANDED
    record("faults", "commit raised after the effect landed (reply lost), settled by lookup", 1)


async def test_a_lost_reply_without_lookup_stays_in_flight_as_unknown(
    scratch: Path, world: WorldConfig, lose_reply: Swallow, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Blind(SwallowedEvent):
        lookup: Any = None  # declared as Tool declares it: None means the tool has no lookup

    monkeypatch.setattr(SwallowedEvent, "via", lose_reply.url)
    async with Journal.open(scratch / "blind.db") as journal:
        sup = Supervisor(journal, [Blind()], GrantSpec())
        with pytest.raises(ToolFailed, match=r"outcome unknown \(the tool has no lookup\)"):
            await sup.call("create_event", EVENT)
        report = await sup.report()
        key = (await journal.call(sup.session_id, "c1")).idempotency_key
    [item] = report.in_flight
    assert item.state == "unknown" and report.done == report.interrupted == ()
    assert _event_state(world, key) == LANDED  # it did land: In flight, not Interrupted, is the honest bucket


# -- commits that hang past the Stop grace -------------------------------------------------


async def _hang_then_stop(
    journal: Journal, policy: StopPolicy, args: dict[str, Any]
) -> tuple[Supervisor, Any, float, Any]:
    """Start one hanging call, Stop once it is committing; returns (sup, outcome, stop seconds, stop report)."""
    sup = Supervisor(journal, [HangingEvent(policy)], GrantSpec(), grace=GRACE)
    outcome: list[Any] = []

    async def call() -> None:
        try:
            outcome.append(await sup.call("create_event", {**EVENT, **args}))
        except AgentstopError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await sup.start()
        await _wait_for_state(journal, sup.session_id, "c1", "committing")
        began = time.monotonic()
        report = await sup.stop("drill")
        took = time.monotonic() - began
    return sup, outcome[0], took, report


async def test_wait_lets_a_hanging_commit_finish_and_stop_waits_for_it(scratch: Path, world: WorldConfig) -> None:
    async with Journal.open(scratch / "wait.db") as journal:
        _, outcome, took, report = await _hang_then_stop(journal, StopPolicy.WAIT, {"hang_s": 1.0})
    assert took >= 0.8, "WAIT: Stop returns only once the commit has finished"
    assert isinstance(outcome, dict) and [i.state for i in report.done] == ["committed"]
    assert _event_state(world, outcome["uid"]) == LANDED
    record("faults", "commit hung past the stop grace: WAIT", 1)


async def test_try_cancel_cancels_a_hanging_commit_and_lookup_finds_nothing(scratch: Path, world: WorldConfig) -> None:
    async with Journal.open(scratch / "cancel.db") as journal:
        sup, outcome, took, report = await _hang_then_stop(journal, StopPolicy.TRY_CANCEL, {"hang_s": 30.0})
        key = (await journal.call(sup.session_id, "c1")).idempotency_key
        kinds = await _kinds(journal, sup.session_id, "c1")
    assert took < GRACE + 1.0
    assert isinstance(outcome, Interrupted) and "lookup found no effect" in outcome.reason
    assert kinds[-2:] == ["unknown", "failed"] and [i.state for i in report.interrupted] == ["failed"]
    await anyio.sleep(0.3)
    assert _event_state(world, key) == GONE  # and it never lands later: the cancelled commit is gone
    record("faults", "commit hung past the stop grace: TRY_CANCEL (nothing landed yet)", 1)


async def test_try_cancel_after_the_effect_landed_is_reconciled_to_committed(scratch: Path, world: WorldConfig) -> None:
    async with Journal.open(scratch / "cancel-late.db") as journal:
        sup, outcome, took, report = await _hang_then_stop(
            journal, StopPolicy.TRY_CANCEL, {"hang_s": 30.0, "hang_after_effect": True}
        )
        kinds = await _kinds(journal, sup.session_id, "c1")
    assert took < GRACE + 1.0
    assert isinstance(outcome, dict) and kinds[-2:] == ["unknown", "committed"]
    assert [i.state for i in report.done] == ["committed"]
    assert _event_state(world, outcome["uid"]) == LANDED
    record("faults", "commit hung past the stop grace: TRY_CANCEL (already landed)", 1)


async def test_abandon_stops_waiting_reports_in_flight_and_journals_the_late_outcome(
    scratch: Path, world: WorldConfig
) -> None:
    async with Journal.open(scratch / "abandon.db") as journal:
        sup = Supervisor(journal, [HangingEvent(StopPolicy.ABANDON)], GrantSpec(), grace=GRACE)
        outcome: list[Any] = []
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                outcome.append(await sup.call("create_event", {**EVENT, "hang_s": 1.0}))

            tg.start_soon(call)
            await sup.start()
            await _wait_for_state(journal, sup.session_id, "c1", "committing")
            began = time.monotonic()
            report = await sup.stop("drill")
            took = time.monotonic() - began
            assert took < GRACE + 0.5, "ABANDON: Stop does not wait for the commit"
            assert [(i.call_id, i.state) for i in report.in_flight] == [("c1", "committing")]
            assert report.session.status == "stopped"
        # The abandoned commit kept running in its caller's task and its outcome was journaled.
        after = await sup.report()
    assert [i.state for i in after.done] == ["committed"]
    assert _event_state(world, outcome[0]["uid"]) == LANDED
    record("faults", "commit hung past the stop grace: ABANDON", 1)


async def test_an_abandoned_commit_whose_process_exited_is_settled_by_the_next_report(
    scratch: Path, world: WorldConfig
) -> None:
    journal_path = scratch / "abandon-exit.db"
    # Stop comes while the commit hangs; ABANDON lets Stop return at once, and the process leaves.
    lines = _child(
        journal_path,
        {
            "tools": ["tests.drills.test_faults:AbandoningEvent"],
            "grace": GRACE,
            "stop_after": 0.3,
            "exit_after_stop": True,
            "calls": [["create_event", {**EVENT, "hang_s": 2.0}]],
        },
    )
    assert "stopped" in lines, lines
    report = json.loads(_cli("report", str(journal_path), "--json").stdout)
    assert report["in_flight"] == [], "the owner is gone and lookup can settle it; the report keeps it in flight"


class AbandoningEvent(HangingEvent):
    """HangingEvent with on_stop=ABANDON when built with no arguments (as a child process builds it)."""

    def __init__(self) -> None:
        super().__init__(StopPolicy.ABANDON)


# -- undos that fail ---------------------------------------------------------------------


async def test_a_compensation_that_fails_twice_then_succeeds_is_retried_to_the_end(
    scratch: Path, world: WorldConfig
) -> None:
    async with Journal.open(scratch / "flaky-undo.db") as journal:
        sup = Supervisor(journal, [FlakyUndoEvent()], GrantSpec())
        receipt = await sup.call("create_event", EVENT)
        assert _event_state(world, receipt["uid"]) == LANDED
        [result] = await sup.undo_all()
        events = [e for e in await journal.events(sup.session_id) if e.call_id == "c1"]
    assert (result.status, result.attempts) == ("compensated", 3)
    assert [e.kind for e in events][-2:] == ["compensating", "compensated"] and events[-1].data["attempts"] == 3
    assert _event_state(world, receipt["uid"]) == GONE
    record("faults", "compensation failed twice, then succeeded", 1)


async def test_a_compensation_that_fails_for_good_stays_visible_and_a_fresh_process_retries_it(
    scratch: Path, world: WorldConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_path = scratch / "broken-undo.db"
    monkeypatch.setenv(UNDO_BROKEN_ENV, "1")
    async with Journal.open(journal_path) as journal:
        sup = Supervisor(journal, [BrokenUndoEvent()], GrantSpec())
        receipt = await sup.call("create_event", EVENT)
        [result] = await sup.undo_all()
        await sup.close()
        session_id = sup.session_id
    assert result.status == "failed" and "down for maintenance" in result.detail
    assert _event_state(world, receipt["uid"]) == LANDED  # nothing was undone, and the report says so

    shown = _cli("report", str(journal_path), "--session", session_id, "--json")
    [item] = json.loads(shown.stdout)["done"]
    assert item["state"] == "compensation_failed" and item["undo"]["status"] == "failed"
    assert "down for maintenance" in item["undo"]["detail"] and item["undo"]["available"]

    retried = _cli("undo", str(journal_path), "--session", session_id, "c1")  # the service is back up
    assert retried.returncode == 0, retried.stderr
    assert "undone" in retried.stdout
    assert _event_state(world, receipt["uid"]) == GONE
    async with Journal.open(journal_path, readonly=True) as journal:
        assert (await journal.call(session_id, "c1")).state == "compensated"
    record("faults", "compensation failed for good, retried later from a fresh process", 1)


# -- the journal locked, full, read-only -------------------------------------------------------


async def test_a_journal_locked_by_another_writer_makes_the_fence_wait_a_bounded_time_and_fail_closed(
    scratch: Path, world: WorldConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_path = scratch / "locked.db"
    other = sqlite3.connect(journal_path, isolation_level=None, check_same_thread=False)
    monkeypatch.setattr(LockingMigration, "on_prepared", staticmethod(lambda: other.execute("BEGIN IMMEDIATE")))
    args = {
        "description": "locked drill",
        "statements": ["INSERT INTO customers (name, email) VALUES ('Locked', 'locked-drill@example.com')"],
    }
    async with Journal.open(journal_path, busy_timeout=0.3) as journal:
        sup = Supervisor(journal, [LockingMigration()], GrantSpec())
        await sup.start()
        began = time.monotonic()
        try:
            with pytest.raises(Rejected, match=r"locked by another writer .*nothing was sent"):
                await sup.call("migrate_database", args)
            waited = time.monotonic() - began
        finally:
            if other.in_transaction:
                other.execute("ROLLBACK")
        monkeypatch.setattr(LockingMigration, "on_prepared", None)
        kinds = await _kinds(journal, sup.session_id, "c1")
        key = (await journal.call(sup.session_id, "c1")).idempotency_key
        # The lock gone, the same supervisor carries on.
        receipt = await sup.call(
            "migrate_database",
            {
                **args,
                "statements": ["INSERT INTO customers (name, email) VALUES ('Unlocked', 'unlocked-drill@example.com')"],
            },
        )
    other.close()
    assert 0.3 <= waited < 3.0, f"the fence waited {waited:.2f} s for a 0.3 s bound"
    assert "committing" not in kinds
    assert Snapshot.take(world, ["migrate_database"]).effect("migrate_database", key) == ABSENT
    with closing(sqlite3.connect(world.database, timeout=0)) as db:
        db.execute("BEGIN IMMEDIATE")  # the prepared migration was rolled back: its write lock is free
        db.execute("ROLLBACK")
        assert db.execute("SELECT count(*) FROM customers WHERE email = 'locked-drill@example.com'").fetchone() == (0,)
    assert receipt["rows_changed"] == 1
    record("faults", "journal locked by another writer at the fence", 1)


@pytest.mark.parametrize("moment", ["before_calls", "fence", "outcome"])
async def test_a_full_disk_stops_the_run_before_any_effect_it_cannot_journal(
    scratch: Path, world: WorldConfig, moment: str
) -> None:
    """The disk fills (RLIMIT_FSIZE: chmod does not stop root, this does) before planning, at the fence,
    or between the effect and its receipt. Nothing is issued that the journal does not hold; after the
    process is gone, recovery and the world agree."""
    journal_path = scratch / f"full-{moment}.db"
    title = f"full disk drill {moment}"
    plan: dict[str, Any] = {
        "tools": ["tests.drills.faulty_tools:StarvingEvent"],
        "calls": [["create_event", {**EVENT, "title": title}]],
    }
    env = {STARVE_JOURNAL_ENV: str(journal_path)}
    if moment == "before_calls":
        plan["starve"] = "before_calls"
    else:
        env[STARVE_AT_ENV] = moment
    lines = _child(journal_path, plan, **env)
    session_id = lines[0].split()[1]
    [outcome] = [line for line in lines if line.startswith(("ok ", "err create_event"))]
    expected = {
        "before_calls": "JournalError: journal",
        "fence": "Rejected: call c1 (create_event) rejected: the journal could not record the fence",
        "outcome": "JournalError: journal",
    }[moment]
    assert outcome.startswith(f"err create_event {expected}") and "nothing was" in outcome, outcome

    async with Journal.open(journal_path) as journal:
        before = await journal.calls(session_id)
        result = await recover(journal, ToolRegistry([CreateEvent()]), session_id)
    by_id = {c.call_id: c for c in before}
    if moment == "before_calls":
        assert by_id == {}  # not even planned: nothing could be issued
    elif moment == "fence":
        assert by_id["c1"].state in ("planned", "prepared")  # never passed the fence
        assert [i.state for i in result.report.interrupted] == ["discarded"]
    else:
        assert by_id["c1"].state == "committing"  # the intent was durable; the receipt could not be written
        assert [i.state for i in result.report.done] == ["committed"]  # recovery's lookup found it
    landed = [c for c in before if _event_state(world, c.idempotency_key) == LANDED]
    assert len(landed) == (1 if moment == "outcome" else 0)
    assert title not in Path(world.dir, "calendar.ics").read_text() or moment == "outcome"
    record("faults", f"disk full ({moment.replace('_', ' ')})", 1)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory nobody (uid 65534) can reach, for the read-only drills run as root."""
    path = Path(tempfile.mkdtemp(prefix="agentstop-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in (path, *path.iterdir()):
            p.chmod(0o755)
        shutil.rmtree(path, ignore_errors=True)


async def _read_only_journal(base: Path, dir_writable: bool) -> tuple[Path, bytes]:
    journal_path = base / "ro" / "journal.db"
    async with Journal.open(journal_path) as journal:
        await journal.create_session("earlier", task_name="an earlier run")
    journal_path.chmod(0o444)
    journal_path.parent.chmod(0o777 if dir_writable else 0o555)
    return journal_path, journal_path.read_bytes()


@pytest.mark.parametrize("dir_writable", [True, False], ids=["file-read-only", "dir-read-only"])
async def test_a_read_only_journal_stops_the_run_before_any_effect(
    open_dir: Path, world: WorldConfig, dir_writable: bool
) -> None:
    """Root ignores chmod, so the session runs as nobody (uid 65534) against a journal it may only read."""
    journal_path, before = await _read_only_journal(open_dir, dir_writable)
    title = f"read-only drill {dir_writable}"
    lines = _child(
        journal_path,
        {
            "tools": ["demo_tools.calendar_tool:CreateEvent"],
            "as_nobody": True,
            "calls": [["create_event", {**EVENT, "title": title}]],
        },
    )
    assert lines and lines[0].startswith("err journal "), lines  # it never started a session
    assert not any(line.startswith("ok ") for line in lines)
    assert title not in Path(world.dir, "calendar.ics").read_text()
    assert journal_path.read_bytes() == before
    record("faults", f"read-only journal ({'file' if dir_writable else 'file and directory'})", 1)


@pytest.mark.parametrize(
    "dir_writable",
    [
        pytest.param(True, id="file-read-only"),
        pytest.param(False, id="dir-read-only"),
    ],
)
async def test_a_read_only_journal_is_reported_as_read_only(open_dir: Path, dir_writable: bool) -> None:
    journal_path, _ = await _read_only_journal(open_dir, dir_writable)
    lines = _child(journal_path, {"tools": ["demo_tools.calendar_tool:CreateEvent"], "as_nobody": True, "calls": []})
    kind = lines[0].split()[2].rstrip(":")
    assert kind.startswith("agentstop.errors.Journal") and kind != "agentstop.errors.JournalCorrupt", lines[0]
    assert "writable" in lines[0] and "not a usable" not in lines[0]
