"""The task file's JSON schema: complete enough for editors and the README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentstop.task import task_json_schema

FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks"


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    out = [("TaskModel", name, prop) for name, prop in schema["properties"].items()]
    for model, sub in schema.get("$defs", {}).items():
        out += [(model, name, prop) for name, prop in sub.get("properties", {}).items()]
    return out


def test_schema_declares_its_dialect_and_title() -> None:
    schema = task_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "agentstop task file"
    assert schema["description"]
    assert schema["additionalProperties"] is False
    json.dumps(schema)  # plain JSON


def test_every_field_has_a_title_and_a_description() -> None:
    props = _properties(task_json_schema())
    assert len(props) >= 20
    for model, name, prop in props:
        assert prop.get("title"), f"{model}.{name} has no title"
        assert prop.get("description"), f"{model}.{name} has no description"


def test_required_fields() -> None:
    schema = task_json_schema()
    assert sorted(schema["required"]) == ["grant", "name"]
    assert schema["anyOf"] == [{"required": ["tools"]}, {"required": ["mcp_servers"]}]
    # steps: required for the scripted agent (the default), absent or empty for kind openai
    assert schema["else"]["required"] == ["steps"]
    assert schema["then"]["properties"]["steps"] == {"maxItems": 0}
    assert schema["$defs"]["GrantModel"]["required"] == ["tools"]


def test_durations_accept_numbers_and_strings() -> None:
    ttl = task_json_schema()["$defs"]["GrantModel"]["properties"]["ttl"]
    kinds = {branch.get("type") for branch in ttl["anyOf"]}
    assert kinds == {"number", "string", "null"}


def test_agent_is_a_discriminated_union_on_kind() -> None:
    agent = task_json_schema()["properties"]["agent"]
    assert agent["discriminator"]["propertyName"] == "kind"
    assert "scripted" in agent["discriminator"]["mapping"]


def test_the_valid_fixture_passes_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    data = yaml.safe_load((FIXTURES / "valid.yaml").read_text())
    jsonschema.validate(data, task_json_schema())
    bad = dict(data, grant={"tools": ["a"], "ttl": "-5s"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, task_json_schema())
