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

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentstop.json_text import dumps_at
from agentstop.report import iso_time


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
