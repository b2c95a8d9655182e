"""The JSON text written a piece at a time is the text `json.dumps(..., indent=2)` writes of the whole.

`agentstop.json_text.dumps_at` writes a value as it sits some levels deep in a
document, and `agentstop.report.iso_time` the report's times, both faster than
the standard library does: these properties hold them to it over random values.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentstop import json_text
from agentstop.json_text import decoded_encoder, dumps_at, indent_of, orjson_agrees, reindenter
from agentstop.report import iso_time
from tests.support.json_values import decoded_values


class Color(enum.StrEnum):
    RED = "rød"


class Size(enum.IntEnum):
    BIG = 3


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from([Color.RED, Size.BIG, "\x1b[31m", "\u2028", "日本語 🎉", '"\\'])
)
_keys = st.text() | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_values, st.integers(0, 4), st.booleans())
def test_dumps_at_is_what_json_dumps_writes_at_that_depth(value: Any, level: int, ensure_ascii: bool) -> None:
    nested: Any = value
    for depth in range(level):
        nested = [nested] if depth % 2 else {"k": nested}
    whole = json.dumps(nested, indent=2, ensure_ascii=ensure_ascii)
    piece = dumps_at(value, level, ensure_ascii=ensure_ascii)
    # What closes after it: each container around it, innermost first, on a line of its own.
    closing = "".join(f"\n{'  ' * (level - 1 - d)}{']' if d % 2 else '}'}" for d in range(level))
    assert whole.endswith(piece + closing)
    if level == 0:
        assert piece == whole


@pytest.mark.parametrize("refused", [object(), {(1, 2): 3}, [{1, 2}], {"b": b"bytes"}])
def test_dumps_at_refuses_what_json_refuses(refused: Any) -> None:
    with pytest.raises(TypeError) as expected:
        json.dumps(refused, indent=2)
    with pytest.raises(TypeError) as got:
        dumps_at(refused)
    assert str(got.value) == str(expected.value)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.floats(-1e10, 1e11, allow_nan=False),
        st.integers(0, 4_000_000_000).map(lambda s: s + 0.9995),
        st.integers(0, 4_000_000_000).map(lambda s: s + 0.9999995),
        st.integers(0, 4_000_000_000).map(lambda s: s + 0.0000005),
        st.integers(-(10**10), 10**11),
    )
)
def test_iso_time_is_what_datetime_writes(at: float) -> None:
    assert iso_time(at) == datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


_decoded = decoded_values()
"""Values as `json.loads` gives them: str keys only, lists, no subclasses (NaN and big numbers in)."""


@settings(max_examples=600, deadline=None)
@given(_decoded, st.integers(0, 4), st.booleans())
def test_decoded_encoder_writes_what_json_dumps_writes(value: Any, level: int, ensure_ascii: bool) -> None:
    # The value as the journal stores it and a report reads it back.
    decoded = json.loads(json.dumps(value, separators=(",", ":")))
    newline = indent_of(level)
    assert decoded_encoder(ensure_ascii=ensure_ascii)(decoded, newline) == dumps_at(
        decoded, level, ensure_ascii=ensure_ascii
    )


@pytest.mark.parametrize(
    ("value", "orjsons"),
    [
        ({"n": 4, "to": "ana@example.com", "at": 1796605586.6609604, "tags": ["a", "b"]}, True),
        ([{"ok": True, "size": 0.5}], True),
        ({"tiny": 1e-05}, False),
        ({"huge": 1e16}, False),
        ({"big": 2**70}, False),
        ({"nan": float("nan")}, False),
        ({"maybe nan": None}, False),
        ({"text": "日本語"}, False),
    ],
)
def test_decoded_encoder_leaves_to_json_only_what_orjson_would_write_otherwise(
    value: Any, orjsons: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ordinary value is written by orjson (else the property above would hold of `dumps_at` alone); the
    others by `json`'s rules, each because its orjson text shows it may differ."""
    exact_calls: list[Any] = []
    original = json_text._ASCII

    def exact(o: Any, newline: str) -> str:
        exact_calls.append(o)
        return original(o, newline)

    monkeypatch.setattr(json_text, "_ASCII", exact)
    written = decoded_encoder(ensure_ascii=True)(value, "\n")
    assert written == json.dumps(value, indent=2)
    assert bool(exact_calls) is not orjsons
    if not orjsons and value != {"big": 2**70}:  # orjson refuses it: nothing to look at
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
        assert not orjson_agrees(text) or "null" in text or not text.isascii()


@settings(max_examples=600, deadline=None)
@given(_decoded, st.integers(0, 4), st.booleans())
def test_reindented_text_is_what_json_dumps_writes_of_its_value(value: Any, level: int, ensure_ascii: bool) -> None:
    stored = json.dumps(value, separators=(",", ":"))  # as the journal keeps a tool's args
    written = reindenter(ensure_ascii=ensure_ascii)(stored, indent_of(level))
    assert written is None or written == dumps_at(json.loads(stored), level, ensure_ascii=ensure_ascii)


@pytest.mark.parametrize(
    ("value", "vouched"),
    [
        ({"to": "ana@example.com", "n": 4, "cc": None, "at": 1796605586.6609604, "tags": ["a", "b"]}, True),
        ([], True),
        ("just text", True),
        ({"tiny": 1e-05}, False),
        ({"huge": 1e16}, False),
        ({"big": 2**70}, False),
        ({"nan": float("nan")}, False),
        ({"text": "日本語"}, True),
        ({"delete": "\x7f"}, True),
    ],
)
def test_reindenter_vouches_for_ordinary_text_and_leaves_the_rest(value: Any, vouched: bool) -> None:
    """Ordinary text is written again without `json` (else the property above would hold of None alone); a
    null is a null (orjson refuses NaN); under `ensure_ascii`, text `json` escapes is left to `json`."""
    stored = json.dumps(value, separators=(",", ":"))
    assert (reindenter(ensure_ascii=False)(stored, "\n") is not None) is vouched
    ascii_only = reindenter(ensure_ascii=True)(stored, "\n")
    # Under `ensure_ascii`, only text `json` writes alike either way (it escapes DEL too).
    assert (ascii_only is not None) is (vouched and json.dumps(value, ensure_ascii=False) == json.dumps(value))
    assert reindenter()("{not json", "\n") is None
