"""`agentstop report`, `sessions`, `undo`, `stop` (of an ended session), `schema` and `--help`.

Each test that takes `invoke` runs twice: through click's CliRunner and as a real process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import TASKS, Invoke, Result, as_process, in_process, names, written

QUICK = TASKS / "quick.yaml"
SLOW = TASKS / "slow.yaml"


def run_quick(journal: Path) -> dict[str, Any]:
    result = in_process("run", QUICK, "--headless", "--json", "--journal", journal)
    assert result.code == 0, result.stderr
    report: dict[str, Any] = result.json()
    return report


def run_stopped(journal: Path) -> dict[str, Any]:
    result = in_process("run", SLOW, "--headless", "--json", "--stop-after", "0.4", "--journal", journal)
    assert result.code == 1, result.stderr
    report: dict[str, Any] = result.json()
    return report


def call_id(report: dict[str, Any], name: str) -> str:
    [item] = [
        i
        for i in report["done"] + report["interrupted"] + report["in_flight"]
        if i["args"].get("name", i["tool"]) == name
    ]
    return str(item["call_id"])


def assert_no_journal_message(result: Result, path: Path) -> None:
    assert result.code == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"agentstop: no journal at {path}. Run a task first (agentstop run TASK.yaml --headless)"
    )
    assert len(result.stderr.strip().splitlines()) == 1


# -- report --------------------------------------------------------------------------------------


def test_report_json_equals_the_report_the_run_printed(invoke: Invoke, files: Path, journal_path: Path) -> None:
    ran = run_stopped(journal_path)

    latest = invoke("report", journal_path, "--session", "latest", "--json")
    by_id = invoke("report", journal_path, "--session", ran["session"]["id"], "--json")

    assert latest.code == by_id.code == 0, latest.stderr
    assert latest.stderr == by_id.stderr == ""
    # WriteFile's undo has no deadline, so not even the undo fields may differ.
    assert latest.json() == by_id.json() == ran


def test_report_on_a_file_that_is_not_a_journal_exits_2_and_leaves_it_alone(invoke: Invoke, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a journal\n" * 100)

    result = invoke("report", notes)

    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"agentstop: journal {notes}: not a usable agentstop journal")
    assert notes.read_text() == "not a journal\n" * 100


def test_report_without_json_prints_the_four_sections(invoke: Invoke, files: Path, journal_path: Path) -> None:
    run_stopped(journal_path)

    result = invoke("report", journal_path)

    assert result.code == 0, result.stderr
    for title in ("Done (1)", "Interrupted (1)", "In flight (0)", "Undoable (latest first) (1)"):
        assert title in result.stdout
    text = " ".join(result.stdout.split())  # the terminal width decides where lines wrap
    assert "Write the release files slowly" in text
    assert "stopped by user: 1 done, 1 interrupted, 0 in flight, 1 undoable" in text
    assert "reason: --stop-after 0.4" in text


def test_report_reads_the_default_journal_when_none_is_given(invoke: Invoke, files: Path, tmp_path: Path) -> None:
    # No --journal and no `journal:` in the task: both use $AGENTSTOP_JOURNAL.
    ran = in_process("run", QUICK, "--headless", "--json")
    assert ran.code == 0, ran.stderr
    assert (tmp_path / "default-journal.db").exists()

    result = invoke("report", "--json")

    assert result.code == 0, result.stderr
    assert result.json()["session"]["id"] == ran.json()["session"]["id"]


def test_report_on_a_missing_journal_says_to_run_a_task_first(invoke: Invoke, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"

    assert_no_journal_message(invoke("report", missing, "--json"), missing)
    assert_no_journal_message(invoke("report"), tmp_path / "default-journal.db")
    assert not missing.exists(), "looking for a journal must not create one"


def test_report_of_an_unknown_session_exits_2_naming_it(invoke: Invoke, files: Path, journal_path: Path) -> None:
    run_quick(journal_path)

    result = invoke("report", journal_path, "--session", "20200101T000000-abcdef")

    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"agentstop: journal {journal_path}: no session '20200101T000000-abcdef'. "
        "List the sessions with `agentstop sessions` and pass one of their ids, "
        "or 'latest'."
    )


# -- sessions ------------------------------------------------------------------------------------


def test_sessions_lists_each_session_with_how_it_ended(
    invoke: Invoke, files: Path, journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_quick(journal_path)["session"]["id"]
    second = run_stopped(journal_path)["session"]["id"]
    monkeypatch.setenv("COLUMNS", "200")

    result = invoke("sessions", journal_path)

    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(r"\d{8}T\d{6}-", line)]
    assert len(heads) == 2
    first_head, second_head = (lines[i] for i in heads)
    assert first in first_head and "completed" in first_head
    assert "Write the release files at once" in lines[heads[0] + 1] and "5 done" in lines[heads[0] + 1]
    assert second in second_head and "stopped by user" in second_head


def test_sessions_shows_whole_ids_in_an_80_column_terminal(
    files: Path, journal_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = run_quick(journal_path)["session"]["id"]
    monkeypatch.setenv("COLUMNS", "80")

    result = in_process("sessions", journal_path)

    assert session_id in result.stdout, "the id is what `--session ID` needs; it must be readable"
    assert "Write the release files at once" in result.stdout


def test_sessions_json_lists_sessions_with_their_bucket_counts(invoke: Invoke, files: Path, journal_path: Path) -> None:
    first = run_quick(journal_path)["session"]
    second = run_stopped(journal_path)["session"]

    result = invoke("sessions", journal_path, "--json")

    assert result.code == 0, result.stderr
    listed = result.json()
    assert [s["id"] for s in listed] == [first["id"], second["id"]]
    assert {k: listed[0][k] for k in ("status", "done", "interrupted", "in_flight", "undoable")} == {
        "status": "completed",
        "done": 5,
        "interrupted": 0,
        "in_flight": 0,
        "undoable": 3,
    }
    assert {k: listed[1][k] for k in ("status", "stopped_by", "done", "interrupted", "in_flight", "undoable")} == {
        "status": "stopped",
        "stopped_by": "user",
        "done": 1,
        "interrupted": 1,
        "in_flight": 0,
        "undoable": 1,
    }


# -- undo ----------------------------------------------------------------------------------------


def test_undo_all_removes_the_files_and_prints_one_line_per_call(
    invoke: Invoke, files: Path, journal_path: Path
) -> None:
    ran = run_quick(journal_path)
    assert written(files) == {"notes", "summary", "changelog"}

    result = invoke("undo", journal_path, "--session", "latest", "--all")

    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    undone = [re.fullmatch(r"undone +(c\d+) write_file: undone", line) for line in lines]
    assert all(undone), lines
    ids = [m.group(1) for m in undone if m]
    assert set(ids) == {call_id(ran, n) for n in ("notes", "summary", "changelog")}
    assert ids[-1] == call_id(ran, "notes"), "latest commit first: the notes were written first"
    assert written(files) == set()
    assert (files / "published.log").exists(), "the irreversible publish is not touched by undo --all"

    after = invoke("report", journal_path, "--json").json()
    assert after["undoable"] == []
    assert {i["args"]["name"]: i["state"] for i in after["done"] if i["tool"] == "write_file"} == {
        "notes": "compensated",
        "summary": "compensated",
        "changelog": "compensated",
    }

    again = invoke("undo", journal_path, "--all")
    assert again.code == 0
    assert again.stdout == ""
    assert again.stderr.strip() == "nothing to undo"


def test_undo_skips_calls_that_cannot_be_undone_and_says_why(invoke: Invoke, files: Path, journal_path: Path) -> None:
    ran = run_quick(journal_path)
    publish, listing, notes = call_id(ran, "publish"), call_id(ran, "list_files"), call_id(ran, "notes")

    result = invoke("undo", journal_path, publish, listing, notes)

    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert re.fullmatch(rf"undone +{notes} write_file: undone", lines[2])
    assert any(
        re.fullmatch(rf"skipped +{publish} publish: irreversible: post a correction by hand", line) for line in lines
    ), lines
    assert any(re.fullmatch(rf"skipped +{listing} list_files: read-only: nothing to undo", line) for line in lines), (
        lines
    )
    assert (files / "published.log").read_text() == "v1.0 is out\n"
    assert written(files) == {"summary", "changelog"}


def test_undo_of_a_call_that_never_landed_is_skipped(invoke: Invoke, files: Path, journal_path: Path) -> None:
    ran = run_stopped(journal_path)
    secret = call_id(ran, "secret")

    result = invoke("undo", journal_path, secret)

    assert result.code == 0, result.stderr
    assert re.fullmatch(rf"skipped +{secret} write_file: never reached the world: nothing to undo\n", result.stdout)
    assert written(files) == names(ran["done"]) == {"release-1"}


@pytest.mark.parametrize("args", [[], ["--all", "c1"]], ids=["neither", "both"])
def test_undo_needs_either_all_or_call_ids(invoke: Invoke, journal_path: Path, args: list[str]) -> None:
    result = invoke("undo", journal_path, *args)

    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert "Usage:" in result.stderr
    assert "pass either --all or one or more CALL_IDs (e.g. c3 c5)" in result.stderr


def test_undo_of_an_unknown_session_or_call_exits_2_with_the_message(
    invoke: Invoke, files: Path, journal_path: Path
) -> None:
    session_id = run_quick(journal_path)["session"]["id"]

    no_session = invoke("undo", journal_path, "--session", "nope", "--all")
    no_call = invoke("undo", journal_path, "c99")

    assert no_session.code == no_call.code == 2
    assert "Traceback" not in no_session.stderr + no_call.stderr
    assert no_session.stderr.startswith(f"agentstop: journal {journal_path}: no session 'nope'. ")
    assert no_call.stderr.startswith(f"agentstop: journal {journal_path}: session {session_id} has no call 'c99'. ")
    assert written(files) == {"notes", "summary", "changelog"}


def test_undo_on_a_missing_journal_says_to_run_a_task_first(invoke: Invoke, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert_no_journal_message(invoke("undo", missing, "--all"), missing)


# -- stop of a session that already ended ------------------------------------------------------


def test_stop_of_an_ended_session_says_there_is_nothing_to_revoke(
    invoke: Invoke, files: Path, journal_path: Path
) -> None:
    session_id = run_quick(journal_path)["session"]["id"]

    result = invoke("stop", journal_path, "--session", session_id)

    assert result.code == 0, result.stderr
    assert result.stderr.strip() == (
        f"session {session_id} (Write the release files at once) already ended (completed); nothing to revoke. "
        "The stop is journaled: a resume of it already starting ends before it commits anything."
    )
    assert invoke("report", journal_path, "--json").json()["session"]["revoked_at"] is None


# -- schema and help -----------------------------------------------------------------------------


def test_schema_prints_the_task_file_json_schema(invoke: Invoke) -> None:
    result = invoke("schema")

    assert result.code == 0, result.stderr
    schema = result.json()
    assert {"name", "steps", "grant", "tools", "agent", "stop", "approve"} <= set(schema["properties"])
    assert {"name", "grant"} <= set(schema["required"])
    assert {"mcp_servers", "mcp_overlay"} <= set(schema["properties"])


COMMANDS = ["run", "demo", "report", "sessions", "undo", "stop", "schema"]


@pytest.mark.parametrize("cmd", [None, *COMMANDS], ids=["agentstop", *COMMANDS])
def test_every_help_exits_0_with_an_example(cmd: str | None) -> None:
    args = ["--help"] if cmd is None else [cmd, "--help"]
    result = in_process(*args)

    assert result.code == 0, result.stderr
    assert "Example" in result.stdout
    assert result.stdout.startswith("Usage: ")


def test_help_works_as_a_process_too() -> None:
    for args in (["--help"], ["run", "-h"], ["undo", "--help"]):
        result = as_process(*args)
        assert result.code == 0, result.stderr
        assert "Example" in result.stdout
