"""Scopes have path semantics: `*` stays within a `/` segment, `**` crosses it, and a resource with a NUL,
a control character or a `..` segment matches nothing and is rejected at the fence (issue 20, item 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentstop import GrantSpec
from agentstop.grant import GrantState, fence_verdict, scope_matches

from ..cli.conftest import in_process


@pytest.mark.parametrize(
    ("resource", "pattern", "matches"),
    [
        ("files:notes", "files:*", True),
        ("files:notes/v1", "files:*", False),  # `*` does not cross `/`
        ("files:notes/v1", "files:**", True),  # `**` does
        ("files:a/b/c", "files:*/*/*", True),
        ("mail:bob@example.com", "mail:*@example.com", True),
        ("mail:bob@evil.com", "mail:*@example.com", False),
        ("files:part-3", "files:part-?", True),
        ("files:part/", "files:part?", False),  # neither does `?`
        ("files:a", "files:[ab]", True),
        ("files:c", "files:[!ab]", True),
        ("files:a[", "files:a[", True),  # an unclosed bracket is a literal, as in fnmatch
        ("anything/at/all", "**", True),
        ("calendar:team", "calendar:team", True),
    ],
)
def test_scope_patterns(resource: str, pattern: str, matches: bool) -> None:
    assert scope_matches(resource, pattern) is matches


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        ("note:../../ESCAPED", "'..' segment"),
        ("files:a/../../etc/passwd", "'..' segment"),
        ("files:a\\..\\b", "'..' segment"),
        ("files:ok\x00/etc/passwd", "NUL byte"),
        ("files:\x1b]0;pwned\x07", "control character"),
    ],
)
def test_a_hostile_resource_is_rejected_at_the_fence_whatever_the_scopes(resource: str, why: str) -> None:
    for scopes in (["**"], ["note:*", "files:*"], ["*"]):
        grant = GrantState(1, GrantSpec(scopes=scopes), 0.0, None, 0, None, None)
        verdict = fence_verdict(grant, "write_file", resource, 1.0)
        assert verdict is not None and verdict[0] == "scope" and why in verdict[1], verdict
        assert "\x00" not in verdict[1] and "\x1b" not in verdict[1]  # the reason itself is inert


def test_the_default_grant_allows_every_well_formed_resource() -> None:
    assert GrantSpec().allows_resource("files:a/b/c")
    assert not GrantSpec().allows_resource("files:a/../b")


TASK = """\
name: Write where it should not
goal: Escape the files directory.
agent: {{kind: scripted, tokens_per_second: 0}}
tools: [tests.fixtures.tasks.fixture_tools:WriteFile]
grant: {{tools: [write_file], scopes: ["files:*"], ttl: 10m}}
steps:
  - {{tool: write_file, args: {{name: {name}, text: "x"}}}}
"""


@pytest.mark.parametrize("name", ['"../../ESCAPED"', '"sub/inner"', '"ok\\0/x"'])
def test_a_task_whose_call_leaves_its_scope_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    files = tmp_path / "a" / "b" / "files"
    files.mkdir(parents=True)
    monkeypatch.setenv("FIXTURE_FILES_DIR", str(files))
    task = tmp_path / "task.yaml"
    task.write_text(TASK.format(name=name))
    result = in_process("run", task, "--headless", "--json", "--journal", tmp_path / "j.db")
    assert result.code == 1, result
    report = json.loads(result.stdout)
    assert [c["state"] for c in report["interrupted"]] == ["rejected"]
    assert not report["done"]
    assert not list(tmp_path.rglob("*.txt")), "the tool wrote outside its scope"
