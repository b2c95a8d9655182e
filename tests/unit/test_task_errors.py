"""Every wrong task file gives a TaskFileError naming the exact line and field.

Texts are written out line by line so each asserted line number can be counted
next to it. Files that need tools are parsed as if they lived next to the
fixture tool module (tests/fixtures/tasks/fixture_tools.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentstop import TaskFileError
from agentstop.task import TaskFile, load_task, parse_task

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"

pytestmark = pytest.mark.usefixtures("isolated_imports")


def fails(tmp_path: Path, *lines: str) -> TaskFileError:
    """load_task on a file made of these lines; returns the error it must raise."""
    p = tmp_path / "task.yaml"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(TaskFileError) as info:
        load_task(p)
    assert info.value.path == str(p)
    return info.value


def with_tools(*lines: str) -> TaskFile:
    """Parse these lines as a task file next to the fixture tool module."""
    return parse_task("\n".join(lines) + "\n", FIXTURES / "inline.yaml", shown_path="task.yaml")


def check_fails(*lines: str) -> TaskFileError:
    task = with_tools(*lines)
    with pytest.raises(TaskFileError) as info:
        task.check_steps(task.load_tools())
    return info.value


HEAD = (
    "name: Write files",  # 1
    "tools:",  # 2
    "  - fixture_tools:WriteFile",  # 3
    "  - fixture_tools:ListFiles",  # 4
    "grant: {tools: ['*'], ttl: 10m}",  # 5
    "steps:",  # 6
)

# -- the file and its YAML -------------------------------------------------------


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError) as info:
        load_task(tmp_path / "nope.yaml")
    assert info.value.line is None
    assert "no such file" in info.value.problem


def test_a_directory_is_not_a_task_file(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="is a directory"):
        load_task(tmp_path)


def test_non_utf8_bytes_give_their_line(tmp_path: Path) -> None:
    p = tmp_path / "task.yaml"
    p.write_bytes(b"name: x\ngoal: caf\xe9\n")
    with pytest.raises(TaskFileError) as info:
        load_task(p)
    assert (info.value.line, info.value.field) == (2, None)
    assert "UTF-8" in info.value.problem


def test_yaml_syntax_error_gives_the_line_of_the_mark(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        "name: x",  # 1
        "grant: {tools: [a]",  # 2 (unclosed)
        "steps: []",
    )  # 3: where the parser notices
    assert err.line == 3
    assert err.field is None
    assert err.problem.startswith("YAML syntax error:")


def test_bad_indentation_is_a_syntax_error_at_its_line(tmp_path: Path) -> None:
    err = fails(tmp_path, "name: x", "  goal: y")
    assert err.line == 2
    assert "mapping values are not allowed" in err.problem


def test_unreadable_value_gives_its_line(tmp_path: Path) -> None:
    err = fails(tmp_path, "name: x", "goal: 2026-13-45")
    assert err.line == 2
    assert "put it in quotes" in err.problem


def test_python_tags_are_refused(tmp_path: Path) -> None:
    err = fails(tmp_path, "name: x", "goal: !!python/object/apply:os.system [ls]")
    assert err.line == 2
    assert "constructor" in err.problem


def test_empty_file(tmp_path: Path) -> None:
    err = fails(tmp_path, "# only a comment")
    assert err.line is None
    assert "empty" in err.problem


def test_top_level_list_is_refused(tmp_path: Path) -> None:
    err = fails(tmp_path, "# a task", "- name: x", "- steps: []")
    assert err.line == 2
    assert err.field is None
    assert "expected a mapping of fields" in err.problem
    assert "got a list" in err.problem


def test_duplicate_key_points_at_the_repeat(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: hi", "name: again")
    assert (err.line, err.field) == (8, "name")
    assert "written twice" in err.problem


# -- fields ------------------------------------------------------------------------


def test_missing_name_and_steps(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        "goal: nothing",  # 1
        "tools: [fixture_tools:WriteFile]",  # 2
        "grant: {tools: ['*']}",
    )  # 3
    assert (err.line, err.field) == (1, "name")
    assert err.problem.startswith("required field missing; add it")
    assert err.problem.endswith("(and 1 more)")


def test_missing_steps_alone(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD[:5])
    assert (err.line, err.field) == (1, "steps")
    assert "(and" not in err.problem


def test_unknown_field_suggests_the_close_one(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        "name: x",  # 1
        "tools: [fixture_tools:WriteFile]",  # 2
        "grant:",  # 3
        "  tols: [write_file]",  # 4
        "steps:",  # 5
        "  - thought: hi",
    )  # 6
    assert (err.line, err.field) == (4, "grant.tols")
    assert "unknown field 'tols' (did you mean 'tools'?)" in err.problem
    # The missing `tools` is the same typo: it is not reported on top of it.
    assert "(and" not in err.problem


def test_unknown_top_level_field(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: hi", "gaol: typo")
    assert (err.line, err.field) == (8, "gaol")
    assert "did you mean 'goal'?" in err.problem


def test_unknown_agent_field_has_no_union_tag_in_its_path(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        *HEAD,
        "  - thought: hi",
        "agent:",  # 8
        "  kind: scripted",  # 9
        "  tokens_per_sec: 10",
    )  # 10
    assert (err.line, err.field) == (10, "agent.tokens_per_sec")
    assert "did you mean 'tokens_per_second'?" in err.problem


def test_unknown_agent_kind(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: hi", "agent:", "  kind: telepathy")
    assert (err.line, err.field) == (9, "agent.kind")
    assert "expected one of 'scripted', 'openai' (got 'telepathy')" in err.problem


def test_agent_without_kind(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: hi", "agent: {tokens_per_second: 5}")
    assert (err.line, err.field) == (8, "agent.kind")


def test_negative_ttl(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        "name: x",  # 1
        "tools: [fixture_tools:WriteFile]",  # 2
        "grant:",  # 3
        "  tools: [write_file]",  # 4
        "  ttl: -5s",  # 5
        "steps: [{thought: hi}]",
    )  # 6
    assert (err.line, err.field) == (5, "grant.ttl")
    assert str(err).endswith(
        ":5: field 'grant.ttl': expected a duration like 30s, 10m or 1h, or a number of seconds (got '-5s')"
    )


@pytest.mark.parametrize("ttl", ["ten minutes", "10 m", "5x", "1e3", "30s1m", "[10m]"])
def test_malformed_ttl(tmp_path: Path, ttl: str) -> None:
    err = fails(tmp_path, "name: x", "tools: [m:C]", f"grant: {{tools: [a], ttl: {ttl}}}", "steps: [{thought: t}]")
    assert (err.line, err.field) == (3, "grant.ttl")
    assert "expected a duration like 30s, 10m or 1h, or a number of seconds" in err.problem


def test_zero_ttl_must_be_positive(tmp_path: Path) -> None:
    err = fails(tmp_path, "name: x", "tools: [m:C]", "grant: {tools: [a], ttl: 0}", "steps: [{thought: t}]")
    assert (err.line, err.field) == (3, "grant.ttl")
    assert "positive duration" in err.problem


def test_malformed_grace(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: hi", "stop:", "  grace: soon")
    assert (err.line, err.field) == (9, "stop.grace")


def test_unbalanced_scope_pattern(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        "name: x",  # 1
        "tools: [m:C]",  # 2
        "grant:",  # 3
        "  tools: [a]",  # 4
        "  scopes:",  # 5
        "    - 'mail:*'",  # 6
        "    - '[abc'",  # 7
        "steps: [{thought: t}]",
    )  # 8
    assert (err.line, err.field) == (7, "grant.scopes[1]")
    assert "no closing ']'" in err.problem


def test_empty_tool_pattern(tmp_path: Path) -> None:
    err = fails(tmp_path, "name: x", "tools: [m:C]", "grant: {tools: ['']}", "steps: [{thought: t}]")
    assert (err.line, err.field) == (3, "grant.tools[0]")


def test_import_path_without_colon(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        "name: x",  # 1
        "tools:",  # 2
        "  - fixture_tools:WriteFile",  # 3
        "  - fixture_tools.ListFiles",  # 4
        "grant: {tools: ['*']}",  # 5
        "steps: [{thought: t}]",
    )  # 6
    assert (err.line, err.field) == (4, "tools[1]")
    assert "package.module:ClassName" in err.problem
    assert "colon" in err.problem


def test_step_with_tool_and_parallel(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        *HEAD,
        "  - thought: both",  # 7
        "    tool: write_file",  # 8
        "    parallel:",  # 9
        "      - {tool: list_files}",
    )  # 10
    assert (err.line, err.field) == (9, "steps[0].parallel")
    assert "either `tool` or `parallel`" in err.problem


def test_args_without_tool(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: hi", "    args: {name: a}")
    assert (err.line, err.field) == (8, "steps[0].args")


def test_empty_parallel(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: ok", "  - parallel: []")
    assert (err.line, err.field) == (8, "steps[1].parallel")
    assert "at least 1 item" in err.problem


def test_wrong_type_gives_the_line_of_the_value(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: 42")
    assert (err.line, err.field) == (7, "steps[0].thought")
    assert "expected text (got 42); put it in quotes" in err.problem


def test_bad_approve(tmp_path: Path) -> None:
    err = fails(tmp_path, *HEAD, "  - thought: hi", "approve: always")
    assert (err.line, err.field) == (8, "approve")
    assert "'irreversible', 'none' or a list of tool names" in err.problem


def test_several_errors_report_the_first_by_line(tmp_path: Path) -> None:
    err = fails(
        tmp_path,
        "name: x",  # 1
        "tools: [m:C]",  # 2
        "steps: [{thought: t}]",  # 3
        "grant: {tools: [a], ttl: nope, max_calls: -1}",  # 4
        "agent: {kind: scripted, tokens_per_second: fast}",
    )  # 5
    assert (err.line, err.field) == (4, "grant.ttl")
    assert err.problem.endswith("(and 2 more)")


# -- tools and steps ----------------------------------------------------------------


def test_module_not_importable() -> None:
    task = with_tools(
        "name: x",  # 1
        "tools:",  # 2
        "  - fixture_tools:WriteFile",  # 3
        "  - no_such_module_q7:Tool",  # 4
        "grant: {tools: ['*']}",  # 5
        "steps: [{thought: t}]",
    )  # 6
    with pytest.raises(TaskFileError) as info:
        task.load_tools()
    err = info.value
    assert (err.path, err.line, err.field) == ("task.yaml", 4, "tools[1]")
    assert "cannot import module 'no_such_module_q7'" in err.problem
    assert "next to the task file" in err.problem


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("fixture_tools:WriteFiles", "has no attribute 'WriteFiles' (did you mean 'WriteFile'?)"),
        ("fixture_tools:NotATool", "not a subclass of agentstop.Tool"),
        ("fixture_tools:not_a_class", "is a function, not a subclass of agentstop.Tool"),
        ("fixture_tools:NeedsConfig", "built with no arguments"),
        ("fixture_tools:Broken", "raised RuntimeError: no credentials configured"),
        ("fixture_tools:WriteFile", "two tools are named 'write_file'"),
    ],
)
def test_unknown_tool_path(entry: str, expected: str) -> None:
    task = with_tools(
        "name: x",
        "tools:",
        "  - fixture_tools:WriteFile",
        f"  - {entry}",
        "grant: {tools: ['*']}",
        "steps: [{thought: t}]",
    )
    with pytest.raises(TaskFileError) as info:
        task.load_tools()
    assert (info.value.line, info.value.field) == (4, "tools[1]")
    assert expected in info.value.problem


def test_unknown_step_tool_lists_the_known_ones() -> None:
    err = check_fails(
        *HEAD,
        "  - thought: hi",  # 7
        "    tool: write_fil",
    )  # 8
    assert (err.line, err.field) == (8, "steps[0].tool")
    assert "no tool named 'write_fil' (did you mean 'write_file'?)" in err.problem
    assert "loaded tools: write_file, list_files" in err.problem


def test_wrong_arg_type_points_at_the_arg() -> None:
    err = check_fails(
        *HEAD,
        "  - thought: hi",  # 7
        "    tool: write_file",  # 8
        "    args:",  # 9
        "      name: notes",  # 10
        "      delay: soon",
    )  # 11
    assert (err.line, err.field) == (11, "steps[0].args.delay")
    assert "expected a number (got 'soon')" in err.problem


def test_missing_arg_without_args_points_at_the_tool() -> None:
    err = check_fails(*HEAD, "  - thought: hi", "    tool: write_file")
    assert (err.line, err.field) == (8, "steps[0].args.name")
    assert "required argument missing" in err.problem


def test_unknown_arg_suggests_the_close_one() -> None:
    err = check_fails(*HEAD, "  - tool: write_file", "    args: {name: a, txt: b}")
    assert (err.line, err.field) == (8, "steps[0].args.txt")
    assert "did you mean 'text'?" in err.problem


def test_parallel_call_args_are_checked() -> None:
    err = check_fails(
        *HEAD,
        "  - parallel:",  # 7
        "      - {tool: list_files}",  # 8
        "      - tool: write_file",  # 9
        "        args: {name: 5}",
    )  # 10
    assert (err.line, err.field) == (10, "steps[0].parallel[1].args.name")


def test_grant_pattern_that_matches_no_tool() -> None:
    err = check_fails(
        "name: x",  # 1
        "tools: [fixture_tools:WriteFile]",  # 2
        "grant:",  # 3
        "  tools:",  # 4
        "    - write_file",  # 5
        "    - send_*",  # 6
        "steps: [{thought: t}]",
    )  # 7
    assert (err.line, err.field) == (6, "grant.tools[1]")
    assert "pattern 'send_*' matches no tool" in err.problem


def test_approve_names_must_be_tools() -> None:
    err = check_fails(*HEAD, "  - thought: hi", "approve: [write_file, wire]")
    assert (err.line, err.field) == (8, "approve[1]")


def test_check_steps_reports_the_first_problem_by_line() -> None:
    err = check_fails(
        *HEAD,
        "  - tool: nope",  # 7
        "  - tool: write_file",  # 8
        "    args: {name: [1]}",
    )  # 9
    assert (err.line, err.field) == (7, "steps[0].tool")
    assert err.problem.endswith("(and 1 more)")
