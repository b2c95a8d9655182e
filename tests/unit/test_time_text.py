"""The times every screen and export writes, and the text they make inert, as the standard library would make them.

`clock` and `iso_text` format the whole second once and add the milliseconds
themselves; `printable` returns a text with nothing to escape as it is. Each must
give exactly what the plain way gives, the rounding of `datetime.fromtimestamp`
included (half to even at the microsecond, a carry into the next second).
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st

from agentstop.formatting import clock
from agentstop.report import iso_text
from agentstop.text import _CONTROL, _CONTROL_ONE_LINE, printable

# From 1970 to 2100, with the fractions a float can hold there.
TIMES = st.floats(min_value=0.0, max_value=4.1e9, allow_nan=False, allow_infinity=False)
# Fractions at the rounding's edges: half a microsecond, and a hair under the next second.
EDGES = [1796601986.0000005, 1796601986.9999995, 1796601986.9999999, 1796601986.0005, 0.0, 1.5e-7]


@given(TIMES)
@example(EDGES[0])
@example(EDGES[1])
@example(EDGES[2])
@example(EDGES[3])
@example(EDGES[4])
@example(EDGES[5])
def test_clock_is_what_strftime_writes(at: float) -> None:
    assert clock(at) == datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3]


@given(TIMES)
@example(EDGES[0])
@example(EDGES[1])
@example(EDGES[2])
def test_iso_text_is_what_isoformat_writes(at: float) -> None:
    assert iso_text(at) == datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def test_no_character_printable_escapes_is_printable() -> None:
    """So a text of printable characters only has nothing to escape, and is returned as it is."""
    escaped_yet_printable = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if chr(code).isprintable() and (_CONTROL.match(chr(code)) or _CONTROL_ONE_LINE.match(chr(code)))
    ]
    assert escaped_yet_printable == []


@given(st.text())
@example("plain text, nothing to escape")
@example("line one\nline two\tand a tab")
@example("\x1b]0;owned\x07 \u202eevil")
def test_printable_escapes_what_the_patterns_match(text: str) -> None:
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    for multiline, pattern in ((True, _CONTROL), (False, _CONTROL_ONE_LINE)):
        assert printable(text, multiline=multiline) == pattern.sub(escape, text)
