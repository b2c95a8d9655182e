"""Durations: `500ms`, `2s`, `10m`, `1h`, `1h30m`, or a number of seconds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentstop.task import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (0, 0.0),
        (2, 2.0),
        (2.5, 2.5),
        ("3", 3.0),
        ("0.25", 0.25),
        ("500ms", 0.5),
        ("2s", 2.0),
        ("1.5s", 1.5),
        (".5s", 0.5),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("1h2m3s4ms", 3723.004),
        (" 2s ", 2.0),
        ("0s", 0.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "bad",
    [
        -1,
        -0.5,
        "-5s",
        "",
        " ",
        "s",
        "abc",
        "\u0663s",
        "5 s",
        "5sec",
        "1e3",
        "10s5m",
        "1m1m",
        "1h 30m",
        True,
        None,
        [],
        {},
        math.inf,
        math.nan,
        "inf",
        10**400,
    ],
)
def test_bad_durations_say_what_is_expected(bad: object) -> None:
    with pytest.raises(ValueError, match=r"expected a duration like 30s, 10m or 1h, or a number of seconds \(got "):
        parse_duration(bad)


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_parts_add_up(h: int, m: int, s: int, ms: int) -> None:
    assert parse_duration(f"{h}h{m}m{s}s{ms}ms") == pytest.approx(h * 3600 + m * 60 + s + ms / 1000)


@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert math.isfinite(seconds)
    assert seconds >= 0
