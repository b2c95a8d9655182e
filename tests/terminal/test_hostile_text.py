"""Agent-chosen text reaches the operator's terminal inert: escape sequences are shown, never acted on.

The task's agent writes a file whose name and text carry `ESC]0;…BEL` (would set the terminal's
title) and `ESC[2K\\r` (would erase the line and let a forged row follow). pyte, the terminal
emulator reading the app's output, keeps the title it is told and draws what a person would see.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.terminal.conftest import REPO, TASKS, agentstop
from tests.terminal.screen import Terminal

pytestmark = pytest.mark.slow

TASK = """\
name: Hostile bytes
goal: Write one file.
agent: {kind: scripted, tokens_per_second: 0}
tools: [journey_tools:WriteFile]
grant: {tools: ["*"], scopes: ["files:*"], ttl: 10m}
steps:
  - thought: "Writing \\e]0;PWNED\\a now."
    tool: write_file
    args: {name: "evil", text: "\\e]0;PWNED\\a\\e[2K\\rc9 rejected", hold: go}
  - thought: "And one whose name is hostile too."
    tool: write_file
    args: {name: "worse\\e]0;PWNED\\a"}
"""


def test_escape_sequences_in_calls_and_thoughts_are_shown_not_acted_on(tmp_path: Path) -> None:
    shutil.copy(TASKS / "journey_tools.py", tmp_path / "journey_tools.py")
    task = tmp_path / "hostile.yaml"
    task.write_text(TASK)
    files = tmp_path / "files"
    files.mkdir()
    with Terminal.spawn(
        agentstop("run", str(task), "--journal", str(tmp_path / "journal.db")),
        cwd=REPO,
        env={"JOURNEY_DIR": str(files)},
    ) as term:
        screen = term.wait_for("c1", "committing")
        assert "PWNED" not in (term.screen.title or ""), "an agent's text set the terminal's title"
        assert "\\x1b]0;PWNED" in screen, "the escape sequence is shown as text"
        assert "c9 rejected" not in screen or "\\x1b[2K" in screen
        (files / "go").touch()
        screen = term.wait_for("c2", "rejected")
        assert "PWNED" not in (term.screen.title or "")
        term.press("tab")
        screen = term.wait_for("Interrupted (1)", "Done (1)")
        assert "\\x1b]0;PWNED" in screen and "PWNED" not in (term.screen.title or "")
        assert "worse\\x1b]0;PWNED\\x07.txt" in screen  # the refused call's name, shown whole and inert
