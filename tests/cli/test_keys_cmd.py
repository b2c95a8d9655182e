"""`agentstop keys`: every rebindable key, its default and the key it has now; a keys.toml's mistake, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentstop.tui.keys import KeyId
from tests.cli.conftest import Invoke


def test_with_no_keys_toml_every_key_is_its_default(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    result = invoke("keys")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0] == f"keys.toml: {tmp_path / 'config' / 'agentstop' / 'keys.toml'} (absent: every key is its default)"
    )
    assert lines[1].split()[:3] == ["stop", "s", "Stop:"]
    assert len([line for line in lines if line.startswith("  ")]) == len(KeyId)
    assert lines[-1] == "Always: Ctrl+C stops; Esc goes back, cancels or denies; Ctrl+Q quits."


def test_moved_keys_show_with_their_default(invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('stop = "x"\n[report]\nundo-all = "ctrl+u"\n')
    monkeypatch.setenv("AGENTSTOP_KEYS", str(keys))
    result = invoke("keys")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"keys.toml: {keys} (2 moved)"
    stop = next(line for line in result.stdout.splitlines() if line.split()[0] == "stop")
    assert stop.split()[1] == "x" and stop.endswith("(default s)")
    rows = {row["id"]: row for row in json.loads(invoke("keys", "--json").stdout)}
    assert rows["report.undo-all"] == {
        "id": "report.undo-all",
        "default": "A",
        "now": "ctrl+u",
        "does": "Undo all",
        "where": ["the report"],
    }
    assert rows["question.yes"]["now"] == rows["question.yes"]["default"] == "y"


def test_a_mistake_is_one_line_and_exit_2(invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('"report.undo-al" = "x"\n')
    monkeypatch.setenv("AGENTSTOP_KEYS", str(keys))
    result = invoke("keys")
    assert result.code == 2
    assert result.stderr.strip() == (
        f"agentstop: {keys}: no key is called 'report.undo-al' (did you mean 'report.undo-all'?)"
    )
    assert result.stdout == ""
