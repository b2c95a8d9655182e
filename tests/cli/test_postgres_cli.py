"""The command line on a shared PostgreSQL journal: run, sessions, report, stop by selector, undo, journal copy.

Every test runs against the real throwaway server the tests start (`postgres` in tests/conftest.py), each
in a database of its own. Stopping is done as the operator would: `agentstop stop` in another process,
against headless runs in processes of their own.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import psycopg
import pytest

from agentstop import GrantSpec, Journal, Report
from agentstop.cli.selectors import tool_names
from agentstop.journal import SessionRecord, SessionStatus
from agentstop.replay import Timeline
from agentstop.session import parse_target, shown
from tests.support.postgres import PostgresServer

from .conftest import TASKS, Invoke, Result, as_process, child_env, command, in_process, names, written

QUICK = TASKS / "quick.yaml"
SLOW = TASKS / "slow.yaml"
LONG = TASKS / "long.yaml"
T = TypeVar("T")


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the test server (its URL holds the server's password)."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url.rsplit("/", 1)[1])


def read(target: str | Path, fn: Callable[[Journal], Awaitable[T]]) -> T:
    """`fn(journal)` on a read-only journal, from sync test code."""

    async def go() -> T:
        async with Journal.open(target, readonly=True) as j:
            return await fn(j)

    return anyio.run(go)


def no_secret(postgres: PostgresServer, *results: Result) -> None:
    for result in results:
        assert postgres.password not in result.stdout + result.stderr, "a password was printed"
        assert "Traceback" not in result.stderr


def ran(*args: str | Path, code: int = 0) -> dict[str, Any]:
    result = in_process("run", *args, "--headless", "--json")
    assert result.code == code, result.stderr
    report: dict[str, Any] = result.json()
    return report


def grantless(value: Any) -> Any:
    """A report with "grant g<id>" made id-free: each journal numbers its own grants."""
    return json.loads(re.sub(r"grant g\d+", "grant g#", json.dumps(value)))


# -- run, sessions, report, undo -------------------------------------------------------------------------


def test_a_run_on_postgres_is_listed_and_reported_like_one_on_sqlite(
    invoke: Invoke, files: Path, pg_url: str, postgres: PostgresServer
) -> None:
    run = in_process("run", QUICK, "--headless", "--json", "--journal", pg_url)
    assert run.code == 0, run.stderr
    sid = run.json()["session"]["id"]

    listed = invoke("sessions", "--journal", pg_url, "--json")
    report = invoke("report", "--journal", pg_url, "--session", "latest", "--json")
    positional = invoke("report", pg_url, "--json")  # the older positional JOURNAL takes a URL too
    text = invoke("sessions", "--journal", pg_url)

    assert listed.code == report.code == positional.code == text.code == 0, listed.stderr + report.stderr
    [row] = listed.json()
    assert row["id"] == sid
    assert {k: row[k] for k in ("status", "host", "pid", "live", "done", "interrupted", "in_flight", "undoable")} == {
        "status": "completed",
        "host": socket.gethostname(),
        "pid": row["pid"],
        "live": False,
        "done": 5,
        "interrupted": 0,
        "in_flight": 0,
        "undoable": 3,
    }
    assert isinstance(row["pid"], int)
    assert report.json() == positional.json() == run.json()
    assert sid in text.stdout
    assert f"{socket.gethostname()} pid {row['pid']}" in text.stdout
    assert f"journal {shown(pg_url)}" in run.stderr
    no_secret(postgres, run, listed, report, positional, text)


def test_agentstop_journal_and_the_task_file_may_name_a_database(
    files: Path, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_task = tmp_path / "in-task.yaml"
    in_task.write_text(f"journal: {pg_url}\n" + SLOW.read_text())
    monkeypatch.setenv("AGENTSTOP_JOURNAL", pg_url)

    from_task = ran(in_task, "--stop-after", "0.4", code=1)["session"]["id"]
    from_env = ran(QUICK)["session"]["id"]

    assert [s.session_id for s in read(pg_url, Journal.sessions)] == [from_task, from_env]
    assert as_process("report", "--session", from_task, "--json").json()["session"]["status"] == "stopped"
    assert not (tmp_path / "default-journal.db").exists()
    assert not list(tmp_path.glob("postgres*")), "a URL must never become a file path"


def test_a_journal_given_twice_must_be_the_same(
    files: Path, tmp_path: Path, pg_url: str, postgres: PostgresServer
) -> None:
    ran(QUICK, "--journal", pg_url)

    same = in_process("report", pg_url, "--journal", pg_url, "--json")
    other = in_process("report", tmp_path / "other.db", "--journal", pg_url)

    assert same.code == 0, same.stderr
    assert other.code == 2
    assert f"two journals given: {tmp_path / 'other.db'} and --journal {shown(pg_url)}; pass one" in " ".join(
        other.stderr.split()
    )
    no_secret(postgres, same, other)


def test_undo_on_postgres_removes_the_files_and_the_report_says_so(invoke: Invoke, files: Path, pg_url: str) -> None:
    ran(QUICK, "--journal", pg_url)
    assert written(files) == {"notes", "summary", "changelog"}

    result = invoke("undo", "--journal", pg_url, "--all")

    assert result.code == 0, result.stderr
    assert len(re.findall(r"undone +c\d+ write_file: undone", result.stdout)) == 3
    assert written(files) == set()
    after = in_process("report", "--journal", pg_url, "--json").json()
    assert after["undoable"] == []
    assert {i["state"] for i in after["done"] if i["tool"] == "write_file"} == {"compensated"}


# -- stop from anywhere, by selector ---------------------------------------------------------------------


class Run:
    """A headless run in its own process, on a PostgreSQL journal, writing into a directory of its own."""

    def __init__(self, url: str, task: Path, files: Path) -> None:
        files.mkdir()
        self.url = url
        self.files = files
        env = child_env()
        env["FIXTURE_FILES_DIR"] = str(files)
        self.proc = subprocess.Popen(
            command("run", task, "--headless", "--json", "--journal", url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def session(self, committed: int = 1, timeout: float = 15.0) -> SessionRecord:
        """This run's session, once it has committed at least `committed` calls."""

        async def mine(j: Journal) -> SessionRecord | None:
            for s in await j.sessions():
                if s.pid == self.proc.pid:
                    calls = await j.calls(s.session_id)
                    return s if sum(c.state == "committed" for c in calls) >= committed else None
            return None

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the run exited ({self.proc.returncode}) early:\n{self.proc.communicate()[1]}")
            try:
                found = read(self.url, mine)
            except Exception:  # the schema may not exist yet: the run creates it
                found = None
            if found is not None:
                return found
            time.sleep(0.05)
        pytest.fail(f"no committed call after {timeout} s")

    def finish(self, timeout: float) -> Result:
        stdout, stderr = self.proc.communicate(timeout=timeout)
        return Result(self.proc.returncode, stdout, stderr)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Callable[[str, Path], Run]]:
    started: list[Run] = []

    def start(url: str, task: Path) -> Run:
        started.append(Run(url, task, tmp_path / f"files-{len(started)}"))
        return started[-1]

    yield start
    for run in started:
        run.close()


@pytest.mark.slow
def test_stop_by_task_then_all_running_stops_each_remote_session_within_a_second(
    tmp_path: Path, pg_url: str, postgres: PostgresServer, runs: Callable[[str, Path], Run]
) -> None:
    other_task = tmp_path / "other.yaml"
    other_task.write_text(LONG.read_text().replace("name: Write a long report", "name: Write another report"))
    first = runs(pg_url, LONG)
    one = first.session()  # before the second starts, so the first has grant g1
    second = runs(pg_url, other_task)
    two = second.session()

    fleet = as_process("sessions", "--journal", pg_url, "--json").json()
    nothing = as_process("stop", "--journal", pg_url, "--tool", "publish")
    by_task = as_process(
        "stop", "--journal", pg_url, "--tool", "WriteFile", "--task", "Write another report", "--reason", "incident 42"
    )
    stopped = time.monotonic()
    second_result = second.finish(timeout=5)
    took_second = time.monotonic() - stopped
    still = read(pg_url, lambda j: j.session(one.session_id))
    everyone = as_process("stop", "--journal", pg_url, "--all-running", "--reason", "incident 42")
    stopped = time.monotonic()
    first_result = first.finish(timeout=5)
    took_first = time.monotonic() - stopped
    again = as_process("stop", "--journal", pg_url, "--all-running")

    host = socket.gethostname()
    assert {(s["id"], s["host"], s["pid"], s["live"]) for s in fleet} == {
        (one.session_id, host, first.proc.pid, True),
        (two.session_id, host, second.proc.pid, True),
    }
    assert nothing.code == 1
    assert nothing.stderr.startswith(
        f"agentstop: no running session matches --tool publish in {shown(pg_url)}; 2 running: "
    )
    assert by_task.code == 0, by_task.stderr
    assert by_task.stderr.splitlines()[0] == (
        f"revoked g2 of session {two.session_id} (Write another report) on {host} pid {second.proc.pid}"
    )
    assert still.status == "running", "--task selected only the other task's session"
    assert everyone.code == 0, everyone.stderr
    assert everyone.stderr.splitlines()[0] == (
        f"revoked g1 of session {one.session_id} (Write a long report) on {host} pid {first.proc.pid}"
    )
    assert "1 session(s) revoked" in everyone.stderr
    assert took_second < 1.0 and took_first < 1.0, (took_second, took_first)
    for run, result in ((first, first_result), (second, second_result)):
        assert result.code == 1, result.stderr
        report = result.json()
        assert (report["session"]["status"], report["session"]["stopped_by"], report["session"]["stop_reason"]) == (
            "stopped",
            "agentstop stop",
            "incident 42",
        )
        assert names(report["done"]) == written(run.files)
        assert 1 <= len(report["done"]) < 30
        assert report["in_flight"] == []
    assert again.code == 1
    assert again.stderr.strip() == f"agentstop: no session is running in {shown(pg_url)}; nothing to stop."
    no_secret(postgres, nothing, by_task, everyone, again, first_result, second_result)


@pytest.mark.parametrize(
    "args",
    [
        ["--session", "latest", "--all-running"],
        ["--all-running", "--tool", "x"],
        ["--session", "latest", "--task", "x"],
    ],
    ids=["session+all", "all+tool", "session+task"],
)
def test_stop_selectors_do_not_mix_with_each_other(tmp_path: Path, args: list[str]) -> None:
    result = in_process("stop", tmp_path / "journal.db", *args)

    assert result.code == 2
    assert "Usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_tool_is_known_by_its_name_class_or_import_path() -> None:
    names_ = tool_names(["demo_tools.mail:SendEmail", "pkg.mod:HTTPGet"])

    assert {"send_email", "SendEmail", "demo_tools.mail:SendEmail", "http_get", "HTTPGet"} <= names_
    assert "mail" not in names_


# -- journal copy ----------------------------------------------------------------------------------------


async def _start_running_session(j: Journal) -> str:
    await j.create_session(
        "20300101T000000-abcdef", task_name="Still going", tools=["tests.fixtures.tasks.fixture_tools:WriteFile"]
    )
    await j.issue_grant("20300101T000000-abcdef", GrantSpec(tools=["write_file"]))
    return "20300101T000000-abcdef"


def running_session(target: str | Path) -> str:
    async def go() -> str:
        async with Journal.open(target) as j:
            return await _start_running_session(j)

    return anyio.run(go)


def reports(target: str | Path, sids: list[str], now: float) -> dict[str, Any]:
    """Per session: its report (grant ids left out) and its events' (call, kind) in order."""

    async def go(j: Journal) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for sid in sids:
            events = await j.events(sid)
            out[sid] = (
                grantless((await Report.from_journal(j, sid, now=now)).to_json()),
                [(e.call_id, e.kind) for e in events],
                len(Timeline(events)),
            )
        return out

    return read(target, go)


def test_journal_copy_sqlite_to_postgres_and_back_keeps_every_report(
    files: Path, tmp_path: Path, pg_url: str, postgres: PostgresServer
) -> None:
    lite, back = tmp_path / "lite.db", tmp_path / "back.db"
    quick = ran(QUICK, "--journal", lite)["session"]["id"]
    stopped = ran(SLOW, "--stop-after", "0.4", "--journal", lite, code=1)["session"]["id"]
    still = running_session(lite)
    # The database has a session of its own first, so it numbers the copies' grants and events differently.
    native = ran(QUICK, "--journal", pg_url)["session"]["id"]

    there = in_process("journal", "copy", lite, pg_url, "--json")
    twice = as_process("journal", "copy", lite, pg_url, "--json")
    home = in_process("journal", "copy", pg_url, back, "--json")
    home_twice = as_process("journal", "copy", pg_url, back, "--json")

    for result in (there, twice, home, home_twice):
        assert result.code == 0, result.stderr
    assert {k: there.json()[k] for k in ("copied", "skipped", "running")} == {
        "copied": [quick, stopped, still],
        "skipped": [],
        "running": [still],
    }
    assert f"copied 3 session(s) from {lite} to {shown(pg_url)}" in there.stderr
    assert f"were still running in {lite}: {still}" in " ".join(there.stderr.split())
    assert {k: twice.json()[k] for k in ("copied", "skipped")} == {"copied": [], "skipped": [quick, stopped, still]}
    assert f"skipped 3 already in {shown(pg_url)}: {quick}, {stopped}, {still}" in twice.stderr
    assert home.json()["copied"] == [quick, stopped, still, native]
    assert home_twice.json()["copied"] == []
    now = time.time()
    assert reports(lite, [quick, stopped, still], now) == reports(pg_url, [quick, stopped, still], now)
    assert reports(pg_url, [quick, stopped, still, native], now) == reports(back, [quick, stopped, still, native], now)
    no_secret(postgres, there, twice, home, home_twice)


def test_journal_copy_remaps_grant_ids_and_commit_seqs_to_the_destinations(
    files: Path, tmp_path: Path, pg_url: str
) -> None:
    lite = tmp_path / "lite.db"
    ran(QUICK, "--journal", pg_url)  # takes grant g1 and the first events in the database
    stopped = ran(SLOW, "--stop-after", "0.4", "--journal", lite, code=1)["session"]["id"]

    assert in_process("journal", "copy", lite, pg_url).code == 0

    async def rows(j: Journal) -> tuple[Any, ...]:
        return await j.grants(stopped), await j.calls(stopped), await j.events(stopped)

    src_grants, src_calls, src_events = read(lite, rows)
    grants, calls, events = read(pg_url, rows)
    [grant] = grants
    assert [g.grant_id for g in src_grants] == [1] and grant.grant_id == 2
    assert {c.grant_id for c in calls} == {2}
    by_kind = {e.kind: e for e in events}
    assert by_kind["grant_issued"].data["grant_id"] == 2
    assert by_kind["committing"].data["grant_id"] == 2
    assert by_kind["revoked"].data["grant_ids"] == [2]
    [secret] = [c for c in calls if c.state == "rejected"]
    assert "grant g2" in (secret.reason or "") and "grant g1" not in (secret.reason or "")
    assert [e.data["reason"] for e in events if e.kind == "rejected"] == [secret.reason]
    seqs = {(e.call_id, e.kind): e.seq for e in events}
    for call in calls:
        if call.commit_seq is not None:
            assert call.commit_seq == seqs[(call.call_id, "committed")]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert [(e.call_id, e.kind, e.at) for e in events] == [(e.call_id, e.kind, e.at) for e in src_events]
    assert [c.state for c in calls] == [c.state for c in src_calls]


def test_journal_copy_of_many_sessions_shows_progress(tmp_path: Path, pg_url: str) -> None:
    lite = tmp_path / "many.db"

    async def fill() -> None:
        async with Journal.open(lite) as j:
            for i in range(25):
                sid = f"20260101T000000-{i:06x}"
                await j.create_session(sid, task_name=f"task {i}")
                await j.end_session(sid, SessionStatus.COMPLETED)

    anyio.run(fill)

    result = in_process("journal", "copy", lite, pg_url)

    assert result.code == 0, result.stderr
    assert "copied 25/25 sessions" in result.stderr.splitlines()
    assert len(read(pg_url, Journal.sessions)) == 25


# -- bad input -------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(params=["unreachable", "wrong_password", "newer_schema", "other_tables"])
def bad(request: pytest.FixtureRequest, postgres: PostgresServer, pg_url: str) -> tuple[str, str]:
    """A URL that cannot be used as a journal, and what the error must say."""
    name = pg_url.rsplit("/", 1)[1]
    if request.param == "unreachable":
        closed = f"postgresql://agentstop:{postgres.password}@127.0.0.1:{_closed_port()}/{name}"
        return closed, "cannot reach the server"
    if request.param == "wrong_password":
        return postgres.url_for(name, password="wrong"), "the server refused these credentials"
    if request.param == "newer_schema":
        anyio.run(_create_schema, pg_url)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE agentstop_schema SET version = 99")
        return pg_url, "schema version 99 is newer than this agentstop supports"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE sessions (x int)")
    return pg_url, "not a usable agentstop journal (tables of another program are in the way (sessions))"


async def _create_schema(url: str) -> None:
    async with Journal.open(url):
        pass


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--json", "--journal"],
        ["sessions", "--journal"],
        ["stop", "--all-running", "--journal"],
        ["undo", "--all", "--journal"],
        ["run", str(QUICK), "--headless", "--journal"],
        ["replay", "--journal"],
        ["journal", "copy"],
    ],
    ids=["report", "sessions", "stop", "undo", "run", "replay", "copy_from"],
)
def test_a_database_that_cannot_be_a_journal_is_one_line_and_exit_2(
    bad: tuple[str, str], args: list[str], files: Path, tmp_path: Path, postgres: PostgresServer
) -> None:
    url, problem = bad
    dst = tmp_path / "copy.db"

    result = in_process(*args, url, *([dst] if args[0] == "journal" else []))

    assert result.code == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"agentstop: journal {shown(url)}: {problem}")
    no_secret(postgres, result)
    assert not dst.exists(), "a source that cannot be read must not create the destination"


def test_copying_into_a_database_that_cannot_be_a_journal_is_one_line_and_exit_2(
    bad: tuple[str, str], files: Path, tmp_path: Path, postgres: PostgresServer
) -> None:
    url, problem = bad
    lite = tmp_path / "lite.db"
    ran(QUICK, "--journal", lite)

    result = as_process("journal", "copy", lite, url)

    assert result.code == 2, result.stderr
    assert result.stderr.strip().startswith(f"agentstop: journal {shown(url)}: {problem}")
    assert len(result.stderr.strip().splitlines()) == 1
    no_secret(postgres, result)


def test_journal_copy_refuses_to_copy_a_journal_onto_itself(
    files: Path, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran(QUICK, "--journal", tmp_path / "lite.db")
    monkeypatch.chdir(tmp_path)

    to_itself = in_process("journal", "copy", pg_url, pg_url)
    same_file = in_process("journal", "copy", "lite.db", tmp_path / "lite.db")

    assert to_itself.code == same_file.code == 2
    assert to_itself.stderr.strip() == (
        f"agentstop: journal copy: SRC and DST are the same journal "
        f"({shown(pg_url)}); nothing to copy. Pass another file or database as DST."
    )
    assert same_file.stderr.startswith("agentstop: journal copy: SRC and DST are the same journal (lite.db)")


def test_journal_copy_of_a_file_that_does_not_exist_says_so_and_creates_nothing(tmp_path: Path, pg_url: str) -> None:
    missing = tmp_path / "missing.db"

    result = in_process("journal", "copy", missing, tmp_path / "dst.db")
    into_db = in_process("journal", "copy", missing, pg_url)

    assert result.code == into_db.code == 2
    assert result.stderr.strip() == (
        f"agentstop: journal {missing}: does not exist. Check the path, or run a session first."
    )
    assert into_db.stderr == result.stderr
    assert not missing.exists() and not (tmp_path / "dst.db").exists()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('sessions')").fetchone() == (None,), "DST was left untouched"


def test_a_malformed_url_is_a_usage_error(tmp_path: Path) -> None:
    result = in_process("sessions", "--journal", "postgresql://agentstop:pw@127.0.0.1:port/db")

    assert result.code == 2
    assert "'postgresql://agentstop:***@127.0.0.1:port/db' is not a valid postgresql:// URL" in result.stderr
    assert "pw@" not in result.stderr
    assert "Traceback" not in result.stderr


def test_task_file_journal_must_be_a_file_or_a_postgresql_url(files: Path, tmp_path: Path) -> None:
    task = tmp_path / "t.yaml"
    task.write_text("journal: mysql://db/agents\n" + QUICK.read_text())

    result = in_process("run", task, "--headless")

    assert result.code == 2
    assert "field 'journal': a journal is a file or a postgresql:// URL; 'mysql://' is not supported" in result.stderr


def test_messages_never_show_a_password() -> None:
    assert shown("postgresql://me:s3cret@db:5432/agents") == "postgresql://me:***@db:5432/agents"
    assert shown("postgresql://db/agents?sslmode=require&password=s3cret") == (
        "postgresql://db/agents?sslmode=require&password=***"
    )
    assert shown("postgresql://me@db/agents") == "postgresql://me@db/agents"
    assert shown(Path("/tmp/j.db")) == "/tmp/j.db"
    assert parse_target("postgresql://db/agents") == "postgresql://db/agents"
    assert parse_target("~/j.db") == Path("~/j.db").expanduser()


@pytest.mark.parametrize(
    "args",
    [["journal"], ["journal", "copy"], ["stop"], ["sessions"]],
    ids=["journal", "journal_copy", "stop", "sessions"],
)
def test_the_new_commands_and_options_have_help_with_examples(args: list[str]) -> None:
    result = in_process(*args, "--help")

    assert result.code == 0, result.stderr
    assert "Example" in result.stdout
    assert "postgresql://" in result.stdout
