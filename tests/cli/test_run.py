"""`agentstop run TASK --headless`: the exit code, the JSON report alone on stdout, progress on stderr.

Each test runs twice: in-process through click's CliRunner and as a real
`python -m agentstop` process.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import FIXTURE_TASKS, REPORT_KEYS, TASKS, Invoke, names, written

QUICK = TASKS / "quick.yaml"
SLOW = TASKS / "slow.yaml"


def test_a_clean_run_exits_0_and_prints_only_the_json_report(invoke: Invoke, files: Path, journal_path: Path) -> None:
    result = invoke("run", QUICK, "--headless", "--json", "--journal", journal_path)

    assert result.code == 0, result.stderr
    report = result.json()
    assert set(report) == REPORT_KEYS
    assert report["session"]["status"] == "completed"
    assert report["session"]["task_name"] == "Write the release files at once"
    assert names(report["done"]) == written(files) == {"notes", "summary", "changelog"}
    assert [i["tool"] for i in report["done"]] == ["write_file"] * 3 + ["publish", "list_files"]
    assert report["interrupted"] == report["in_flight"] == []
    # Latest commit first; the irreversible publish and the read-only listing are not undoable.
    assert [i["args"]["name"] for i in report["undoable"]][-1] == "notes"
    assert {i["tool"] for i in report["undoable"]} == {"write_file"}
    assert (files / "published.log").read_text() == "v1.0 is out\n"


def test_progress_goes_to_stderr_and_nothing_to_stdout_without_json(
    invoke: Invoke, files: Path, journal_path: Path
) -> None:
    result = invoke("run", QUICK, "--headless", "--journal", journal_path)

    assert result.code == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert re.fullmatch(rf"session \S+ · journal {re.escape(str(journal_path))}", lines[0])
    assert any(line.endswith("agent: First the notes.") for line in lines)
    assert any(re.search(r"\bc1  committed +write_file name=\"notes\"", line) for line in lines)
    assert any(line.endswith("── session completed") for line in lines)
    assert lines[-1] == "completed: 5 done, 0 interrupted, 0 in flight, 3 undoable"


def test_a_refused_call_makes_the_run_exit_1(invoke: Invoke, files: Path, journal_path: Path) -> None:
    # The fixture task needs approval for write_file, and nobody can approve in a headless run.
    result = invoke("run", FIXTURE_TASKS / "valid.yaml", "--headless", "--json", "--journal", journal_path)

    assert result.code == 1, result.stderr
    report = result.json()
    assert set(report) == REPORT_KEYS
    assert report["session"]["status"] == "completed"
    assert names(report["interrupted"]) == {"notes", "summary", "changelog"}
    for item in report["interrupted"]:
        assert item["state"] == "rejected"
        assert "needs approval and nobody can approve here (headless)" in item["reason"]
    assert written(files) == set()
    assert [i["tool"] for i in report["done"]] == ["list_files"]
    assert report["done"][0]["receipt"] == {"files": []}


def test_stop_after_lands_mid_run_and_the_report_matches_the_files(
    invoke: Invoke, files: Path, journal_path: Path
) -> None:
    result = invoke("run", SLOW, "--headless", "--json", "--stop-after", "0.4", "--journal", journal_path)

    assert result.code == 1, result.stderr
    report = result.json()
    session = report["session"]
    assert (session["status"], session["stopped_by"], session["stop_reason"]) == ("stopped", "user", "--stop-after 0.4")
    assert session["revoked_by"] == "user" and session["revoked_at"] is not None
    # What is on disk is exactly what the report calls done; nothing interrupted landed.
    assert names(report["done"]) == written(files)
    assert not names(report["interrupted"]) & written(files)
    assert report["in_flight"] == []
    # release-1 was committing when Stop came (0.6 s to write) and finished within the grace;
    # "secret" was refused by the grant's scopes; release-2 and -3 were never even planned.
    assert written(files) == {"release-1"}
    assert [(i["args"]["name"], i["state"]) for i in report["interrupted"]] == [("secret", "rejected")]
    assert "outside grant" in report["interrupted"][0]["reason"]
    [landed] = report["done"]
    assert landed["fence_at"] < session["revoked_at"] < landed["committed_at"]
    assert "grant revoked by user: --stop-after 0.4" in result.stderr
    assert result.stderr.splitlines()[-1] == "stopped by user: 1 done, 1 interrupted, 0 in flight, 1 undoable"


BAD_TASK = """\
name: Bad task
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {tools: [write_file], scopes: ["files:*"], ttl: 10m}
steps:
  - tool: write_file
    args: {name: a}
"""

BAD_INPUTS = {
    # case: (what to replace, with what, the line the message names, a fragment of the message)
    "yaml_syntax_error": ("grant:", "  grant:", 3, "YAML syntax error"),
    "unknown_tool_class": (
        "fixture_tools:WriteFile",
        "fixture_tools:WriteFiel",
        2,
        "has no attribute 'WriteFiel' (did you mean 'WriteFile'?)",
    ),
    "unknown_tool_module": (
        "tests.fixtures.tasks.fixture_tools",
        "no_such_tools",
        2,
        "cannot import module 'no_such_tools'",
    ),
    "unknown_tool_in_a_step": (
        "- tool: write_file",
        "- tool: write_fil",
        5,
        "no tool named 'write_fil' (did you mean 'write_file'?)",
    ),
    "wrong_arg_type": ("{name: a}", "{name: 5}", 6, "field 'steps[0].args.name': expected text (got 5)"),
    "unknown_arg": ("{name: a}", "{name: a, colour: red}", 6, "unknown argument 'colour'"),
    "bad_scope_pattern": ('"files:*"', '"files:[abc"', 3, "has a '[' with no closing ']'"),
    "negative_ttl": ("ttl: 10m", "ttl: -5m", 3, "field 'grant.ttl'"),
    "zero_ttl": ("ttl: 10m", "ttl: 0", 3, "expected a positive duration"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_naming_file_and_line(
    invoke: Invoke, case: str, files: Path, journal_path: Path, tmp_path: Path
) -> None:
    old, new, line, fragment = BAD_INPUTS[case]
    assert old in BAD_TASK
    (tmp_path / "bad.yaml").write_text(BAD_TASK.replace(old, new, 1))

    result = invoke("run", "bad.yaml", "--headless", "--json", "--journal", journal_path)

    assert result.code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [message] = result.stderr.splitlines()
    assert message.startswith(f"agentstop: bad.yaml:{line}: "), message
    assert fragment in message
    assert not journal_path.exists(), "a task file with a mistake must not start a session"


def test_a_missing_task_file_exits_2_saying_so(invoke: Invoke, journal_path: Path) -> None:
    result = invoke("run", "nowhere.yaml", "--headless", "--journal", journal_path)

    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "agentstop: nowhere.yaml: no such file; check the path (a relative path starts from the current directory)"
    )
