"""`agentstop tui` attached to a headless run, in a real terminal: watch, leave and come back, Stop, undo, quit."""

from __future__ import annotations

import os
import re
import sys

import pexpect
import pytest

from tests.terminal.conftest import REPO, Journey, agentstop, eventually, on_report, on_run_view
from tests.terminal.screen import WAIT, Terminal

pytestmark = pytest.mark.slow


def test_attached_watch_leave_come_back_stop_undo_and_quit(journey: Journey) -> None:
    headless = pexpect.spawn(
        sys.executable,
        agentstop("run", str(journey.task), "--headless", "--journal", str(journey.journal))[1:],
        cwd=str(REPO),
        env={**os.environ, **journey.env},
        encoding="utf-8",
        timeout=WAIT,
    )
    try:
        headless.expect(r"session (\S+) · journal")
        assert isinstance(headless.match, re.Match)
        session = headless.match.group(1)
        headless.expect(r"c2\s+committing")  # held until the test releases it

        with Terminal.spawn(
            agentstop("tui", "--journal", str(journey.journal), "--session", session), cwd=REPO, env=journey.env
        ) as term:
            screen = term.wait_for(f"attached to session {session}", "c2", "committing…", "grant  ACTIVE")
            assert "■ Stop (s)" in screen

            term.press("tab")
            term.wait_until(
                lambda s: on_report(s) and "running: 1 done, 0 interrupted, 1 in flight" in s, "the report, live"
            )
            term.press("escape")
            term.wait_until(on_run_view, "the run view")
            term.press("tab")
            term.wait_until(on_report, "the report again")
            term.press("escape")
            screen = term.wait_until(on_run_view, "the run view again")
            assert "grant  ACTIVE" in screen

            term.press("escape")  # back to the sessions: the session runs on where it runs
            screen = term.wait_for("Sessions (1)", "keeps running")
            assert "running" in screen

            term.press("enter")  # and back to it
            term.wait_until(lambda s: on_run_view(s) and f"attached to session {session}" in s, "attached again")

            term.press("q")  # quitting would leave it running: it asks, and says so
            screen = term.wait_for(
                f"Session {session} is still running",
                "s stops it first",
                "Quit, leave it running (y)",
                "Cancel (n, Esc)",
            )
            term.press("n")
            screen = term.wait_until(lambda s: on_run_view(s) and "is still running" not in s, "the run view")
            assert "grant  ACTIVE" in screen

            term.press("s")
            screen = term.wait_for("REVOKED by you (TUI)", "waiting for 1 call in flight: c2 write_file (committing)")
            assert on_report(screen)

            journey.release("go-summary")  # the headless run waits for its commit in flight, then ends
            term.wait_for("stopped by you (TUI): 2 done, 0 interrupted, 0 in flight, 2 undoable")
            term.wait_for("delete notes.txt · exact")  # each undo says what it does, in its tool's words

            term.press("escape")
            screen = term.wait_until(on_run_view, "the run view after Stop")
            assert "Report (Tab)" in screen and "■ Stop" not in screen and "REVOKED by you (TUI)" in screen

            term.press("tab")
            term.wait_until(on_report, "the report after Stop")
            term.press("u")  # the latest, c2, has the cursor
            term.wait_for("About to undo", "delete summary.txt", "Undo (y)")
            term.press("y")
            term.wait_for("stopped by you (TUI): 2 done, 0 interrupted, 0 in flight, 1 undoable")
            eventually(lambda: journey.written() == {"notes"}, "summary.txt is deleted")

            term.press("q")  # c1 can still be undone: it asks
            screen = term.wait_for("1 call of session", "can still be undone", "Quit anyway (y)")
            term.press("y")
            assert term.wait_exit() == 0
        headless.expect(pexpect.EOF)
    finally:
        headless.close(force=True)
    assert headless.exitstatus == 1  # stopped
    assert re.fullmatch(r"\d{8}T\d{6}-\w+", session)
