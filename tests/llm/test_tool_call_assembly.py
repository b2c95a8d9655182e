"""ToolCallAssembler: whole calls from streamed fragments, whatever the server's habits.

Pure data in and out: no HTTP, no SDK.
"""

from __future__ import annotations

from agentstop.planners.tool_call_assembly import AssembledCall, Fragment, ToolCallAssembler


def assemble(*fragments: Fragment) -> list[AssembledCall]:
    assembler = ToolCallAssembler()
    for fragment in fragments:
        assembler.feed(fragment)
    return assembler.calls()


def test_openai_style_arguments_in_pieces_make_one_call() -> None:
    assert assemble(
        Fragment(0, "call_1", "write_file", ""),
        Fragment(0, None, None, '{"na'),
        Fragment(0, None, None, 'me": "no'),
        Fragment(0, None, None, 'tes"}'),
    ) == [AssembledCall("call_1", "write_file", '{"name": "notes"}')]


def test_openai_style_parallel_calls_keep_their_index_even_interleaved() -> None:
    calls = assemble(
        Fragment(0, "call_1", "write_file"),
        Fragment(1, "call_2", "list_files"),
        Fragment(0, arguments='{"name": '),
        Fragment(1, arguments="{}"),
        Fragment(0, arguments='"a"}'),
    )
    assert calls == [
        AssembledCall("call_1", "write_file", '{"name": "a"}'),
        AssembledCall("call_2", "list_files", "{}"),
    ]


def test_ollama_style_whole_calls_at_one_index_are_split_by_id() -> None:
    calls = assemble(
        Fragment(0, "call_x", "write_file", '{"name": "a"}'),
        Fragment(0, "call_y", "write_file", '{"name": "b"}'),
        Fragment(0, "call_z", "list_files", "{}"),
    )
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_x", "write_file", '{"name": "a"}'),
        ("call_y", "write_file", '{"name": "b"}'),
        ("call_z", "list_files", "{}"),
    ]


def test_an_id_repeated_on_every_fragment_is_one_call() -> None:
    calls = assemble(
        Fragment(0, "call_1", "write_file", '{"name"'),
        Fragment(0, "call_1", "write_file", ': "a"}'),
    )
    assert calls == [AssembledCall("call_1", "write_file", '{"name": "a"}')]


def test_a_name_in_pieces_is_joined() -> None:
    assert assemble(Fragment(0, "c", "write_"), Fragment(0, None, "file", "{}"))[0].name == "write_file"


def test_missing_ids_are_made_up_and_unique() -> None:
    calls = assemble(
        Fragment(0, None, "write_file", "{}"),
        Fragment(1, None, "list_files", "{}"),
        Fragment(2, "call_0", "list_files", "{}"),  # the server's own id clashes with a made-up one
    )
    ids = [c.id for c in calls]
    assert ids[:2] == ["call_0", "call_1"]
    assert len(set(ids)) == 3


def test_the_same_id_at_two_indexes_stays_two_calls_with_distinct_ids() -> None:
    calls = assemble(Fragment(0, "dup", "a", "{}"), Fragment(1, "dup", "b", "{}"))
    assert [c.name for c in calls] == ["a", "b"]
    assert calls[0].id == "dup"
    assert calls[1].id != "dup"


def test_fragments_without_an_index_continue_the_latest_call_until_a_new_id() -> None:
    calls = assemble(
        Fragment(None, "call_1", "write_file", '{"name":'),
        Fragment(None, None, None, ' "a"}'),
        Fragment(None, "call_2", "list_files", "{}"),
    )
    assert calls == [
        AssembledCall("call_1", "write_file", '{"name": "a"}'),
        AssembledCall("call_2", "list_files", "{}"),
    ]


def test_nothing_fed_is_no_calls() -> None:
    assembler = ToolCallAssembler()
    assert assembler.calls() == []
    assert len(assembler) == 0


def test_parse_arguments() -> None:
    assert AssembledCall("c", "t", '{"a": 1}').parse() == ({"a": 1}, None)
    assert AssembledCall("c", "t", "").parse() == ({}, None)  # no arguments at all
    assert AssembledCall("c", "t", "[1, 2]").parse() == ([1, 2], None)  # JSON, but the tool's Args will refuse it
    value, why = AssembledCall("c", "t", '{"a": ').parse()
    assert value is None
    assert why is not None and why.startswith("the arguments are not valid JSON (Expecting value")
