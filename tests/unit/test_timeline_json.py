"""An export's timeline written a window at a time is what `json.dumps(..., indent=2, ensure_ascii=False)` writes.

`agentstop.replay.timeline_json.window_text` writes a window of events by
orjson when its text agrees with `json`'s, else by `json`'s rules in Python:
these hold both ways to the whole document's `json.dumps` over random events,
stored as the journal stores them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentstop.journal.records import EventRow
from agentstop.replay import timeline_json
from agentstop.replay.timeline_json import entry_writer, timeline_entry, window_text
from tests.support.json_values import decoded_scalars, decoded_values

_scalars = decoded_scalars
_data = decoded_values(size=3, leaves=12)
_rows = st.lists(
    st.tuples(
        st.integers(1, 2**40),
        st.none() | st.text(max_size=6),
        st.sampled_from(["planned", "committed", "revoked", "my_planner_note"]) | st.text(max_size=6),
        st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1796601986.6609604, 0.0, 1e-7, 3e16]),
        st.dictionaries(st.text(max_size=8), _data, max_size=3) | _data,
    ),
    min_size=1,
    max_size=6,
)


def _stored(value: Any) -> str:
    """The data as the journal writes it (`agentstop.journal.ops._json`)."""
    return json.dumps(value, default=str, separators=(",", ":"))


def _expected(rows: Sequence[EventRow], level: int) -> str:
    entries = [timeline_entry(seq, at, call_id, kind, json.loads(data)) for seq, call_id, kind, at, data in rows]
    nested: Any = entries
    for _ in range(level - 1):
        nested = {"timeline": nested}
    return json.dumps(nested, indent=2, ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(_rows, st.integers(1, 3))
def test_a_window_is_what_json_dumps_writes_of_the_whole(raw: list[tuple[Any, ...]], level: int) -> None:
    rows = [(seq, call_id, kind, at, _stored(data)) for seq, call_id, kind, at, data in raw]
    whole = _expected(rows, level)
    # The list sits `level - 1` objects deep: its "[" ends the line that opens it, and its "]" is closed on one of
    # its own, then each object around it.
    closing = "\n" + "  " * (level - 1) + "]" + "".join("\n" + "  " * d + "}" for d in reversed(range(level - 1)))
    assert whole.endswith("[" + window_text(rows, level, entry_writer(level)) + closing)


def _row(data: Any, *, at: float = 1796601986.6609604, kind: str = "committed") -> tuple[int, str, str, float, str]:
    return (7, "c3", kind, at, _stored(data))


_ORDINARY = [
    _row({"tool": "send_email", "args": {"to": "ana@example.com", "n": 4}, "ok": True}),
    _row({"receipt": {"id": 4, "undo_deadline": 1796605586.6609604}, "note": None}),
    _row({}),
    _row({"text": "日本語 🎉 \u2028 \x1b[31m"}),
]


@pytest.mark.parametrize(
    ("rows", "by_orjson"),
    [
        (_ORDINARY, True),
        ([*_ORDINARY, _row({"tiny": 1e-05})], False),
        ([*_ORDINARY, _row({"huge": 1e16})], False),
        ([*_ORDINARY, _row({"big": 2**70})], False),
        ([*_ORDINARY, _row({"nan": math.nan})], False),
        ([*_ORDINARY, _row({}, at=1e-7)], False),
        ([*_ORDINARY, _row({}, kind="\ud800")], False),
    ],
)
def test_orjson_writes_an_ordinary_window_and_json_the_rest(
    rows: list[tuple[int, str, str, float, str]], by_orjson: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick way is taken for ordinary events (else the property above would hold of `json`'s rules alone)."""
    exact_rows: list[Any] = []
    exact = entry_writer(2)

    def counted(row: Any) -> str:
        exact_rows.append(row)
        return exact(row)

    assert window_text(rows, 2, counted) == _expected(rows, 2)[len('{\n  "timeline": [') : -len("\n  ]\n}")]
    assert bool(exact_rows) is not by_orjson
    assert (timeline_json._orjson_text(rows, 2) is not None) is by_orjson


def test_data_that_is_not_json_raises_value_error() -> None:
    with pytest.raises(ValueError, match="Expecting property name"):
        window_text([(1, None, "session_started", 1.5, "{not json")], 2, entry_writer(2))
