"""A headless run in its own process, stopped from outside: `agentstop stop`, Ctrl+C, SIGTERM, kill -9.

The tests watch the child's journal (bounded polls, no fixed sleeps) to act at a
known moment, then check what the child printed and what its tools wrote.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentstop.journal import CallRecord, SessionRecord

from .conftest import TASKS, Child, Invoke, as_process, in_process, names, read_latest, written

LONG = TASKS / "long.yaml"
CRASH = TASKS / "crash.yaml"


def committed(session: SessionRecord, calls: list[CallRecord]) -> bool:
    return any(c.state == "committed" for c in calls)


def test_agentstop_stop_from_another_process_ends_the_run_within_a_second(
    start: Callable[..., Child], files: Path, journal_path: Path
) -> None:
    child = start(LONG)
    session, _ = child.wait_until("committed call", committed)

    stopper = as_process("stop", journal_path, "--session", session.session_id, "--reason", "wrong release")
    revoked = time.monotonic()
    result = child.finish(timeout=5)
    took = time.monotonic() - revoked

    assert stopper.code == 0, stopper.stderr
    assert stopper.stderr.startswith(
        f"revoked grant(s) g1 of session {session.session_id} (Write a long report); nothing new can commit."
    )
    assert took < 1.0, f"the run took {took:.2f} s to end after `agentstop stop` returned"
    assert result.code == 1, result.stderr
    report = result.json()
    s = report["session"]
    assert (s["status"], s["stopped_by"], s["stop_reason"]) == ("stopped", "agentstop stop", "wrong release")
    assert s["revoked_by"] == "agentstop stop"
    assert names(report["done"]) == written(files)
    assert 1 <= len(report["done"]) < 30, "stopped mid-way: some parts written, not all"
    assert report["in_flight"] == []
    assert "grant revoked by agentstop stop: wrong release" in result.stderr
    ended = read_latest(journal_path)
    assert ended is not None and ended[0].status == "stopped"


@pytest.mark.parametrize(
    ("signum", "name"), [(signal.SIGINT, "Ctrl+C"), (signal.SIGTERM, "SIGTERM")], ids=["ctrl_c", "sigterm"]
)
def test_ctrl_c_or_sigterm_is_stop_not_a_traceback(
    start: Callable[..., Child], files: Path, signum: int, name: str
) -> None:
    child = start(LONG)
    child.wait_until("committed call", committed)

    child.signal(signum)
    result = child.finish(timeout=5)

    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr
    assert f"{name}: stopping (revoking the grant first; press Ctrl+C again to quit at once)" in result.stderr
    report = result.json()
    s = report["session"]
    assert (s["status"], s["stopped_by"], s["stop_reason"]) == ("stopped", "user", f"{name} in the terminal")
    assert s["revoked_by"] == "user" and s["revoked_at"] <= s["ended_at"]
    assert names(report["done"]) == written(files)
    assert 1 <= len(report["done"]) < 30
    assert result.stderr.splitlines()[-1].startswith("stopped by user: ")


def test_a_killed_run_is_reported_crashed_with_its_calls_reconciled(
    start: Callable[..., Child], files: Path, journal_path: Path, invoke: Invoke
) -> None:
    child = start(CRASH)
    session, _ = child.wait_until(
        "slow write committing",
        lambda s, calls: any(c.args.get("name") == "slow" and c.state == "committing" for c in calls),
    )

    child.signal(signal.SIGKILL)
    killed = child.finish()
    assert killed.code == -signal.SIGKILL
    assert killed.stdout == "", "a killed run prints no report"

    result = invoke("report", journal_path, "--json")

    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"session {session.session_id} had crashed (process {child.pid} is gone); reconciled 1 call(s)"
    ]
    report = result.json()
    s = report["session"]
    assert (s["status"], s["stopped_by"]) == ("crashed", "crash")
    assert s["stop_reason"] == f"process {child.pid} on {socket.gethostname()} died"
    assert names(report["done"]) == written(files) == {"quick"}
    # The slow write was mid-commit: WriteFile has no lookup, so its outcome stays unknown, in flight.
    [slow] = report["in_flight"]
    assert (slow["args"]["name"], slow["state"]) == ("slow", "unknown")
    assert slow["reason"] == "the process died mid-commit and the tool has no lookup; outcome unknown"
    assert slow["undo"]["status"] == "pending"

    again = invoke("report", journal_path, "--json")
    assert again.code == 0
    assert again.stderr == "", "recovery happens once"
    assert again.json()["in_flight"] == report["in_flight"]
    assert again.json()["session"] == report["session"]


def test_a_second_ctrl_c_quits_at_once_and_report_reconciles_later(
    start: Callable[..., Child], files: Path, journal_path: Path
) -> None:
    child = start(CRASH)
    child.wait_until(
        "slow write committing",
        lambda s, calls: any(c.args.get("name") == "slow" and c.state == "committing" for c in calls),
    )
    child.signal(signal.SIGINT)
    # Stop waits for the 60 s write (its on_stop is WAIT); the grant is already revoked.
    child.wait_until("stop request", lambda s, calls: s.stopped_by == "user")

    child.signal(signal.SIGINT)
    result = child.finish(timeout=2)

    assert result.code == 130
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.rstrip().endswith(
        "quitting now; the journal is consistent and `agentstop report` reconciles what was in flight"
    )

    report = in_process("report", journal_path, "--json")
    assert report.code == 0
    assert "had crashed" in report.stderr
    s = report.json()["session"]
    assert (s["status"], s["revoked_by"]) == ("crashed", "user")
    assert [(i["args"]["name"], i["state"]) for i in report.json()["in_flight"]] == [("slow", "unknown")]
    assert written(files) == {"quick"}
