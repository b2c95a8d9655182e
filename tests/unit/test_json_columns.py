"""A JSON column is written as `json.dumps` writes it, and decodes to exactly what `json.loads` gives.

`agentstop.journal.ops` writes a column through json's C encoder directly: the
first property holds it to `json.dumps` with the journal's settings, odd values
included (what `default=str` writes, keys that are not strings, cycles refused).

`agentstop.journal.records.loads` hands a column to orjson when orjson decodes it
as `json` does, and to `json` otherwise: these hold the two to the same values,
types included (an integer stays an integer, NaN stays NaN), and to the same
refusal of text that is not JSON.
"""

from __future__ import annotations

import enum
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentstop.journal import ops, records
from agentstop.journal.records import loads
from tests.support.json_values import decoded_values


class _Plain(enum.Enum):
    A = "a"


class _Word(enum.StrEnum):
    W = "wörd"


_odd = st.sampled_from(
    [_Plain.A, _Word.W, datetime(2026, 12, 7, tzinfo=UTC), (1, "two"), {1: "int key", 2.5: None, False: []}, b"\x00"]
)


@settings(max_examples=500, deadline=None)
@given(decoded_values() | _odd | st.dictionaries(st.text(max_size=4), _odd | decoded_values(2, 4), max_size=4))
def test_a_column_is_written_as_json_dumps_writes_it(value: Any) -> None:
    assert ops._encode(value) == json.dumps(value, default=str, separators=(",", ":"))


def test_a_value_that_holds_itself_is_refused_as_json_refuses_it() -> None:
    looped: list[Any] = []
    looped.append({"again": looped})
    with pytest.raises(ValueError, match="Circular reference detected"):
        ops._encode(looped)


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (NaN equal to NaN, 1 not equal to 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@settings(max_examples=800, deadline=None)
@given(decoded_values(), st.booleans())
def test_a_column_decodes_to_what_json_loads_gives(value: Any, ensure_ascii: bool) -> None:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=ensure_ascii)  # as the journal writes a column
    assert _same(loads(text), json.loads(text))


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet='{}[]":,0123456789.eE+-tfnulrsaIiNy \\\u00e9', max_size=30))
def test_text_that_is_not_json_is_refused_as_json_refuses_it(text: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):  # noqa: PT011 (json's own error, whichever its message)
            loads(text)
    else:
        assert _same(loads(text), expected)


@pytest.mark.parametrize(
    ("text", "by_orjson"),
    [
        ('{"id":4,"undo_deadline":1796605586.6609604,"to":"ana@example.com"}', True),
        ('{"big":18446744073709551616}', False),  # past 64 bits: orjson would make it a float
        ('{"x":NaN}', False),
        ('"\\ud800"', False),
    ],
)
def test_orjson_decodes_an_ordinary_column(text: str, by_orjson: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick way is taken for an ordinary column (else the properties above would hold of `json` alone)."""
    taken: list[str] = []
    quick = records._orjson_loads

    def counted(t: str) -> Any:
        value = quick(t)
        taken.append(t)
        return value

    monkeypatch.setattr(records, "_orjson_loads", counted)
    assert _same(loads(text), json.loads(text))
    assert (taken == [text]) is by_orjson
