"""Control characters an agent chose reach no terminal raw: headless progress, `report`, `sessions`, error
lines and the Markdown/HTML exports show them escaped (issue 20, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop.text import printable

from .conftest import as_process

TITLE = "\x1b]0;PWNED\x07"
FORGE = "\x1b[2K\r10:00:00.000    c1  rejected"

TASK = r"""
name: "Inert \e[31mred\e[0m"
goal: "Show hostile bytes."
agent: {kind: scripted, tokens_per_second: 0}
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {tools: [write_file], scopes: ["files:*"], ttl: 10m}
steps:
  - thought: "Agent says \e]0;PWNED\a and \e[2K\rforged"
    tool: write_file
    args: {name: ok, text: "\e]0;PWNED\a\e[2K\r10:00:00.000    c1  rejected"}
  - tool: write_file
    args: {name: "bad\e[2K\rname", text: "x"}
"""

RAW = ("\x1b", "\x07", "\r", "\x9b")


def _inert(where: str, text: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{raw!r} reached {where} raw"


def test_agent_text_is_escaped_wherever_a_terminal_or_an_export_shows_it(files: Path, tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(TASK)
    journal = tmp_path / "j.db"
    run = as_process("run", task, "--headless", "--journal", journal)
    assert run.code == 1, run  # the hostile name is rejected at the fence
    _inert("run --headless progress", run.stdout + run.stderr)
    assert "\\x1b]0;PWNED\\x07" in run.stderr, "the bytes are shown, escaped, not dropped"
    for args in (("report",), ("sessions",), ("undo", "--all")):
        result = as_process(*args, "--journal", journal)
        _inert(" ".join(args), result.stdout + result.stderr)
    assert "\\x1b" in as_process("report", "--journal", journal).stdout
    for suffix in (".md", ".html"):
        out = tmp_path / f"export{suffix}"
        assert as_process("replay", "--journal", journal, "--session", "latest", "--export", out).code == 0
        _inert(f"the {suffix} export", out.read_text())


@pytest.mark.parametrize("text", [TITLE, FORGE, "a\x9b2Kb", "\u202eevil", "nul\x00byte"])
def test_printable_escapes_every_control_character(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable()
    assert printable(shown) == shown  # idempotent on what it made


def test_printable_keeps_plain_text_and_newlines_when_asked() -> None:
    assert printable("Tuesday 10:00 — café ✓") == "Tuesday 10:00 — café ✓"
    assert printable("a\nb", multiline=True) == "a\nb"
    assert printable("a\nb") == "a\\x0ab"
