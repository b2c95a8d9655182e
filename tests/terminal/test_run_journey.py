"""`agentstop run` in a real terminal: what a person sees after every key, from the first call to quitting.

The task's calls wait for files the test creates, so the test decides where the agent stands
when it presses a key; every assertion reads the screen pyte drew from the app's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.terminal.conftest import REPO, Journey, agentstop, eventually, on_report, on_run_view
from tests.terminal.screen import Terminal

pytestmark = pytest.mark.slow


def test_a_run_from_first_call_to_quit_reads_true_after_every_key(journey: Journey) -> None:
    with Terminal.spawn(
        agentstop("run", str(journey.task), "--journal", str(journey.journal)), cwd=REPO, env=journey.env
    ) as term:
        # -- while it runs: c2 is held mid-commit -------------------------------------------------
        screen = term.wait_for("c2", "committing…", "write summary.txt")
        assert "grant  ACTIVE" in screen and "■ Stop (s)" in screen and "Report (Tab)" not in screen

        term.press("escape")  # Esc is "back": on the run view it says so, and never stops
        screen = term.wait_for("Esc goes back; the agent keeps running.")  # a toast
        assert on_run_view(screen) and "grant  ACTIVE" in screen

        term.press("tab")
        screen = term.wait_until(on_report, "the report")
        term.wait_for("running: 1 done, 0 interrupted, 1 in flight, 1 undoable")

        term.press("escape")
        screen = term.wait_until(on_run_view, "the run view again")
        assert "grant  ACTIVE" in screen

        term.press("tab")  # the report shown a second time is alive: it follows what happens now
        term.wait_until(on_report, "the report again")
        journey.release("go-summary")
        term.wait_for("Undoable (latest first) (2)", "c2    committed")

        # -- the approval: c3 (irreversible) waits over the report ------------------------------
        screen = term.wait_for(
            "Approve this call?",
            "pay the printer $2,500",
            "Approve once (a)",
            "Allow pay_invoice for this session (l)",
            "Deny (d, Esc)",
        )
        assert "s or Ctrl+C stops the agent" in screen

        term.press("tab")  # Tab moves between the dialog's buttons; the dialog stays, the agent waits
        screen = term.wait_for("Approve this call?")
        assert "grant  ACTIVE" in screen
        assert "payments.log" not in {p.name for p in journey.files.iterdir()}

        term.press("escape")  # Esc in a dialog means no: the call is denied, nothing is paid
        screen = term.wait_until(
            lambda s: "Approve this call?" not in s and "denied by the user; nothing was sent" in s, "the denial"
        )
        assert on_report(screen)

        term.press("escape")
        screen = term.wait_until(lambda s: on_run_view(s) and "c4" in s, "the run view with c4")
        assert "rejected" in screen and "(call refused: denied by the user; nothing was sent)" in screen

        # -- Stop, while c4 is held mid-commit ------------------------------------------------
        term.wait_for("c4", "committing…")
        term.press("s")
        screen = term.wait_for(
            "REVOKED by you (TUI)", "Stopping… grant revoked; waiting for 1 call in flight: c4 write_file (committing)"
        )
        assert on_report(screen)

        term.press("escape")  # while it stops: the run view says so, and that Stop again skips the grace
        screen = term.wait_until(on_run_view, "the run view while stopping")
        screen = term.wait_for("■ Stop (s)", "Stopping: the grant is revoked, nothing new commits. s again skips")
        assert "REVOKED by you (TUI)" in screen

        term.press("tab")
        term.wait_until(lambda s: on_report(s) and "waiting for 1 call in flight" in s, "the report while stopping")

        journey.release("go-changelog")  # Stop waits for a commit in flight (grace, then the tool's policy)
        term.wait_for("stopped by you (TUI): 3 done, 1 interrupted, 0 in flight, 3 undoable")

        # -- after Stop ---------------------------------------------------------------------
        term.press("escape")
        screen = term.wait_until(on_run_view, "the run view after Stop")
        assert "Report (Tab)" in screen and "■ Stop" not in screen
        assert "The session has ended: nothing more can commit." in screen

        term.press("tab")
        screen = term.wait_until(on_report, "the report after Stop")
        assert "stopped by you (TUI): 3 done, 1 interrupted, 0 in flight, 3 undoable" in screen

        # -- undo one row (c4, the latest, has the cursor), with a round trip in its confirmation --
        term.press("u")
        screen = term.wait_for(
            "About to undo", "1 call, latest first", "delete changelog.txt", "Undo (y)", "Cancel (n, Esc)"
        )

        term.press("tab")  # focus moves to the other button; the question stays
        screen = term.wait_for("About to undo")
        assert journey.written() == {"notes", "summary", "changelog"}

        term.press("escape")  # no
        screen = term.wait_until(lambda s: "About to undo" not in s and on_report(s), "the report, nothing undone")
        assert journey.written() == {"notes", "summary", "changelog"}

        term.press("u")
        term.wait_for("About to undo", "delete changelog.txt")
        term.press("y")
        term.wait_for("stopped by you (TUI): 3 done, 1 interrupted, 0 in flight, 2 undoable")
        eventually(lambda: journey.written() == {"notes", "summary"}, "changelog.txt is deleted")

        # -- undo all -------------------------------------------------------------------------
        term.press("A")
        screen = term.wait_for(
            "About to undo everything", "2 calls, latest first", "delete summary.txt", "delete notes.txt"
        )
        term.press("y")
        term.wait_for("stopped by you (TUI): 3 done, 1 interrupted, 0 in flight, 0 undoable")
        eventually(lambda: journey.written() == set(), "every file the agent wrote is deleted")

        # -- quit: nothing left to undo, so it does not ask; a stopped run exits 1 ---------------
        term.press("q")
        assert term.wait_exit() == 1


def test_quit_while_the_agent_runs_asks_and_says_it_keeps_running(journey: Journey) -> None:
    with Terminal.spawn(
        agentstop("run", str(journey.task), "--journal", str(journey.journal)), cwd=REPO, env=journey.env
    ) as term:
        term.wait_for("c2", "committing…")

        term.press("q")
        screen = term.wait_for(
            "The agent is still running: it goes on working while this question is open.",
            "Stop and quit (y)",
            "Cancel (n, Esc)",
            "Meanwhile, live: 1 done, 1 in flight",
        )

        journey.release("go-summary")  # the agent goes on while the question is open
        term.wait_for("Approve this call?", "pay the printer $2,500")  # an approval comes over the question

        term.press("d")  # deny it: the question is back, and says what happened meanwhile
        screen = term.wait_for(
            "The agent is still running: it goes on working",
            "Meanwhile, live: 2 done, 1 in flight · latest: c4 write_file committing",
        )
        assert "Approve this call?" not in screen

        term.press("n")  # keep it running
        screen = term.wait_until(
            lambda s: "The agent is still running: it goes" not in s and "grant  ACTIVE" in s,
            "the run view, the agent still running",
        )
        assert on_run_view(screen)

        term.press("q")
        term.wait_for("The agent is still running: it goes on working")
        term.press("y")  # stop and quit: c4's commit is waited for (it is released), then the app exits
        journey.release("go-changelog")
        assert term.wait_exit() == 1
    assert journey.written() == {"notes", "summary", "changelog"}  # c4 had passed the fence before the Stop
    assert not (journey.files / "payments.log").exists()


def test_keys_moved_in_keys_toml_are_the_ones_the_screen_names_and_the_ones_that_act(
    journey: Journey, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('stop = "x"\n"report.undo-all" = "ctrl+u"\n[question]\nyes = "o"\n')
    env = {**journey.env, "AGENTSTOP_KEYS": str(keys)}
    run = agentstop("run", str(journey.task), "--journal", str(journey.journal))
    with Terminal.spawn(run, cwd=REPO, env=env) as term:
        screen = term.wait_for("c2", "committing…", "■ Stop (x)", "x or Ctrl+C stops at once")
        assert "■ Stop (s)" not in screen

        term.press("s")  # the key Stop had: it no longer stops
        term.press("tab")  # keys are read in order: once the report shows, s has been handled
        term.wait_until(on_report, "the report")
        screen = term.wait_for("running: 1 done, 0 interrupted, 1 in flight, 1 undoable")
        assert "grant  ACTIVE" in screen

        term.press("x")
        term.wait_for("REVOKED by you (TUI)")
        journey.release("go-summary")  # Stop waits for the commit in flight
        term.wait_for("stopped by you (TUI): 2 done, 0 interrupted, 0 in flight, 2 undoable")

        term.press("ctrl+u")
        term.wait_for("About to undo everything", "2 calls, latest first", "Undo (o)", "Cancel (n, Esc)")
        term.press("o")
        term.wait_for("stopped by you (TUI): 2 done, 0 interrupted, 0 in flight, 0 undoable")
        eventually(lambda: journey.written() == set(), "every file the agent wrote is deleted")

        term.press("q")
        assert term.wait_exit() == 1


def test_a_mistake_in_keys_toml_is_said_before_anything_runs(journey: Journey, tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('stop = "S"\n')
    env = {**journey.env, "AGENTSTOP_KEYS": str(keys)}
    run = agentstop("run", str(journey.task), "--journal", str(journey.journal))
    with Terminal.spawn(run, cwd=REPO, env=env) as term:
        term.wait_for(f"agentstop: {keys}: stop = 'S': 'S' is stop-after-step's key in the run screen")
        assert term.wait_exit() == 2
    assert not journey.journal.exists()  # no session was started
    assert journey.written() == set()
