"""The pure rules of the MCP client: classes from overlay and claims, templates, names, pins."""

from __future__ import annotations

import mcp_types as types
import pytest

from agentstop import Reversibility
from agentstop.mcp import ToolOverlay, classify, definition_digest, model_name_for
from agentstop.mcp.templates import render, truthy

R = Reversibility
UNDO = {"compensate": {"tool": "delete"}}


def hints(**kw: bool) -> types.ToolAnnotations:
    return types.ToolAnnotations.model_validate(kw)


@pytest.mark.parametrize(
    ("entry", "annotations", "trust", "expected"),
    [
        # Not in the overlay: irreversible unless the server is trusted.
        (None, None, False, R.IRREVERSIBLE),
        (None, hints(read_only_hint=True), False, R.IRREVERSIBLE),
        (None, hints(read_only_hint=True), True, R.READ_ONLY),
        (None, hints(read_only_hint=True, destructive_hint=True), True, R.IRREVERSIBLE),
        (None, hints(read_only_hint=False, destructive_hint=False), True, R.IRREVERSIBLE),  # a claim is no undo
        # A compensate without a class: compensable; reversible only on a trusted "not destructive".
        (UNDO, None, False, R.COMPENSABLE),
        (UNDO, hints(destructive_hint=False), False, R.COMPENSABLE),
        (UNDO, hints(destructive_hint=False), True, R.REVERSIBLE),
        (UNDO, hints(destructive_hint=True), True, R.COMPENSABLE),
        # The overlay's class, which a hint may only make more cautious.
        ({"class": "read_only"}, None, False, R.READ_ONLY),
        ({"class": "read_only"}, hints(read_only_hint=True), True, R.READ_ONLY),
        ({"class": "read_only"}, hints(read_only_hint=False), False, R.IRREVERSIBLE),
        ({"class": "read_only"}, hints(destructive_hint=True), True, R.IRREVERSIBLE),
        ({"class": "reversible", **UNDO}, hints(destructive_hint=True), False, R.COMPENSABLE),
        ({"class": "reversible", **UNDO}, hints(destructive_hint=False, read_only_hint=True), True, R.REVERSIBLE),
        ({"class": "compensable", **UNDO}, hints(read_only_hint=True), True, R.COMPENSABLE),
        ({"class": "irreversible"}, hints(read_only_hint=True), True, R.IRREVERSIBLE),
    ],
)
def test_a_hint_never_makes_a_tool_less_cautious(
    entry: dict[str, object] | None, annotations: types.ToolAnnotations | None, trust: bool, expected: Reversibility
) -> None:
    overlay = ToolOverlay.model_validate(entry) if entry is not None else None
    assert classify(overlay, annotations, trust).reversibility is expected


def test_the_classification_says_why_and_what_the_server_claims() -> None:
    found = classify(ToolOverlay.model_validate({"class": "read_only"}), hints(read_only_hint=False), False)
    assert found.why == (
        "overlay: read_only, raised to reversible because the server claims it is writes; "
        "the overlay gives no compensate, so irreversible"
    )
    assert classify(None, hints(read_only_hint=True, idempotent_hint=True, open_world_hint=False), False).claims == (
        "read-only",
        "idempotent",
        "closed world",
    )


def test_templates_fill_holes_anywhere_and_report_nulls() -> None:
    template = {"ids": {"jmes": "result.items[].id"}, "mode": "hard", "nested": [{"jmes": "capture.before"}]}
    missing: list[str] = []
    context = {"result": {"items": [{"id": 1}, {"id": 2}]}, "capture": {}}
    assert render(template, context, missing) == {"ids": [1, 2], "mode": "hard", "nested": [None]}
    assert missing == ["nested[0]"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (0, True),
        ("x", True),
        ([0], True),
        (True, True),
    ],
)
def test_done_if_uses_jmespath_truth(value: object, expected: bool) -> None:
    assert truthy(value) is expected


def test_model_names_are_function_names_models_accept() -> None:
    taken: set[str] = set()
    assert model_name_for("memory", "create_entities", taken) == "memory__create_entities"
    odd = model_name_for("fs", "read.file/v2", taken)
    assert odd == "fs__read_file_v2"
    taken.add(odd)
    again = model_name_for("fs", "read_file.v2", taken)  # sanitises to the same name: made unique
    assert again != odd and again.startswith("fs__read_file_v2_")
    long = model_name_for("server", "x" * 100, set())
    assert len(long) == 64


def test_a_pin_covers_what_the_model_and_the_overlay_rely_on() -> None:
    tool = types.Tool(name="t", description="d", input_schema={"type": "object"})
    same = types.Tool(name="t", description="d", input_schema={"type": "object"}, _meta={"etag": "v9"})
    assert definition_digest(tool) == definition_digest(same)  # _meta is the server's bookkeeping
    for changed in (
        tool.model_copy(update={"description": "d2"}),
        tool.model_copy(update={"input_schema": {"type": "object", "required": ["x"]}}),
        tool.model_copy(update={"annotations": hints(read_only_hint=True)}),
    ):
        assert definition_digest(changed) != definition_digest(tool)
