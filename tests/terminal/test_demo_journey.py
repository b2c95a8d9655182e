"""`agentstop demo` in a real terminal: the story, Stop, the report with live undo windows, undo all, quit.

The demo's own world runs (SMTP relay with an outbox, calendar, chat, git, database) on
127.0.0.1; what is asserted is what the screen says after each key, and that the world agrees.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.terminal.conftest import REPO, REPORT, agentstop, on_report, on_run_view
from tests.terminal.screen import Terminal

pytestmark = pytest.mark.slow

WINDOW = r"exact for (?:(\d+) m )?(\d+(?:\.\d)?) s"
"""How the report says how long an email can still be pulled back ("exact for 1 m 05 s", "exact for 9.5 s")."""


def window_left(text: str) -> float:
    m = re.fullmatch(WINDOW, text)
    assert m is not None, text
    return int(m.group(1) or 0) * 60 + float(m.group(2))


def test_the_demo_with_stop_then_undo_all_then_quit(tmp_path: Path) -> None:
    # A long undo window: the emails stay in the outbox, exactly undoable, while the test reads the countdown.
    with Terminal.spawn(
        agentstop("demo", "--dir", str(tmp_path / "world")), cwd=REPO, env={"AGENTSTOP_DEMO_UNDO_WINDOW": "120"}
    ) as term:
        screen = term.wait_for("Hold the 2.0 release", "grant  ACTIVE", "■ Stop (s)")
        term.wait_match(r"c1\s+committed\s+comp\s+send_email")  # the first email lands
        # The story runs on until its wire transfer asks for a person (the tests run the demo without its
        # upstreams' latencies): the agent waits there, so what follows races nothing. (Round trips between
        # the views while an agent works are the run journey's, whose agent the test holds.)
        before = term.wait_for("Approve this call?", "wire $2,500.00", "Deny (d, Esc)")
        clock = re.search(r"·  (\d\d:\d\d)  ·", before)
        assert clock is not None
        term.wait_until(lambda s: f"·  {clock.group(1)}  ·" not in s.splitlines()[0], "the clock moves on")

        term.press("s")  # Stop, in the question: the wire transfer is denied, what landed stays listed
        screen = term.wait_for("REVOKED by you (TUI)", "stopped by you (TUI):")
        assert REPORT in screen and "c1" in screen

        # The email's undo says what it will do, and its exact-undo window counts down, live.
        screen = term.wait_for("pull it back from the outbox")
        first = window_left(term.wait_match(WINDOW).group(0))
        term.wait_until(
            lambda s: (m := re.search(WINDOW, s)) is not None and window_left(m.group(0)) < first,
            "the undo window counts down",
        )

        term.press("escape")
        screen = term.wait_until(on_run_view, "the run view after Stop")
        assert "Report (Tab)" in screen and "■ Stop" not in screen

        term.press("tab")
        term.wait_until(on_report, "the report after Stop")

        term.press("A")
        screen = term.wait_for(
            "About to undo everything",
            "Undo (y)",
            "Cancel (n, Esc)",
            "pull it back from the outbox (not delivered yet)",
        )
        term.press("y")
        ended = term.wait_match(r"stopped by you \(TUI\): (\d+) done, \d+ interrupted, 0 in flight, 0 undoable")
        assert int(ended.group(1)) >= 1

        term.press("q")  # nothing left to undo: it quits without asking
        assert term.wait_exit() == 1
