"""The quick scans of JSON text find exactly what the regexes they replaced found.

`long_digit_run` decides whether `records.loads` may hand a column to orjson (an integer
past 64 bits would come back a float); `exponent_after_digit` whether orjson's text of a
value is `json`'s (`json_text.orjson_agrees`). A scan that missed a case would let a
number through changed, so each is held to its regex over text made of what matters:
ASCII digits, "e" and "E", the characters around numbers, digits that are not ASCII
("²", "٣"), a character UTF-8 writes in several bytes, and a lone surrogate.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agentstop.journal.json_numbers import exponent_after_digit, long_digit_run
from agentstop.journal.records import loads

_TEXT = st.text(alphabet=st.sampled_from(list('0123456789eE.-+ "{}[],:a\u00b2\u0663\u00e9\ud800\u20ac')), max_size=60)
_DIGITS_19 = re.compile(r"[0-9]{19}")
_EXPONENT = re.compile(r"[eE](?<=[0-9][eE])")


@settings(max_examples=2000, deadline=None)
@given(_TEXT)
def test_a_run_of_nineteen_digits_is_found_where_the_regex_finds_it(text: str) -> None:
    assert long_digit_run(text) is (_DIGITS_19.search(text) is not None)


@settings(max_examples=2000, deadline=None)
@given(_TEXT)
def test_an_exponent_after_a_digit_is_found_where_the_regex_finds_it(text: str) -> None:
    assert exponent_after_digit(text) is (_EXPONENT.search(text) is not None)


def test_the_edges_of_each_scan() -> None:
    assert long_digit_run("x" + "1" * 19) and not long_digit_run("x" + "1" * 18 + "x")
    assert not long_digit_run("1" * 18 + "²" + "1")  # a digit that is not ASCII breaks the run
    assert not long_digit_run("٣" * 30)
    assert exponent_after_digit("[1e16]") and exponent_after_digit("1E-5")
    assert not exponent_after_digit('{"kind":"true","e":"²e"}')
    assert not long_digit_run("\ud800" * 20) and not exponent_after_digit("1\ud800e")


def test_an_integer_past_64_bits_in_a_column_stays_an_integer() -> None:
    big = 2**64 + 1
    assert loads(f'{{"id":{big}}}') == {"id": big}
    assert type(loads(f"[{big}]")[0]) is int
