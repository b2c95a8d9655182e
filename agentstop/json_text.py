"""JSON text exactly as `json.dumps(value, indent=2)` writes it, for a value nested at any depth.

A report or an export written piece by piece (`agentstop.report_json`) must be
the same text, byte for byte, that one `json.dumps(..., indent=2)` of the whole
document gave: each piece is a value that sits some levels deep in it. And it
must be quick: with an indent, `json.dumps` runs the encoder written in Python
(the C one takes no indent before Python 3.14), a generator that yields every
token on its own, which took a second for a 20,000-call report. `dumps_at`
builds the same text with one call per value, the strings escaped by the same C
functions `json` uses. Quicker still, orjson writes a whole list or dict in C
where its text is provably `json`'s (`orjson_agrees`; `decoded_encoder` for a
value decoded from JSON, `reindenter` for a journal column's text), and the
Python writer the rest.

What `json.dumps` accepts, this accepts, in the same order of checks (a `str`
subclass is a string, a `tuple` a list, a bool never a number); what it refuses
(another type, a key that is not a str, int, float, bool or None) raises the
same `TypeError`. NaN and the infinities are written as `json` writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

import orjson

from agentstop.journal.json_numbers import exponent_after_digit

__all__ = [
    "INDENT",
    "decoded_encoder",
    "dumps_at",
    "indent_of",
    "orjson_agrees",
    "reindenter",
    "string_encoder",
    "value_encoder",
]

INDENT = 2
"""Spaces per level, as the CLI's `json.dumps(..., indent=2)` writes them."""

_INF = float("inf")


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _encoder(string: Callable[[str], str]) -> Callable[[Any, str], str]:
    """The encoder for one way of escaping strings; its second argument is the newline and indent of its level."""
    step = " " * INDENT

    def key(k: Any) -> str:
        if isinstance(k, str):
            return string(k)
        if isinstance(k, float):
            return string(_float(k))
        if k is True:
            return '"true"'
        if k is False:
            return '"false"'
        if k is None:
            return '"null"'
        if isinstance(k, int):
            return string(int.__repr__(k))
        raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")

    def encode(o: Any, newline: str) -> str:
        # The exact types first (what decoded JSON holds), each tested once; then `json`'s own order of
        # `isinstance` checks, for subclasses (a `StrEnum` is a string, an `IntEnum` a number).
        t = type(o)
        if t is str:
            return string(o)
        if t is dict:
            return obj(o, newline)
        if o is None:
            return "null"
        if o is True:
            return "true"
        if o is False:
            return "false"
        if t is int:
            return int.__repr__(o)
        if t is float:
            return _float(o)
        if t is list:
            return array(o, newline)
        if isinstance(o, str):
            return string(o)
        if isinstance(o, int):
            return int.__repr__(o)
        if isinstance(o, float):
            return _float(o)
        if isinstance(o, list | tuple):
            return array(o, newline)
        if isinstance(o, dict):
            return obj(o, newline)
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    def value(v: Any, inner: str) -> str:
        # `encode`, with the values an item holds most (text, nothing, whole numbers) written in place.
        t = type(v)
        if t is str:
            return string(v)
        if v is None:
            return "null"
        if t is int:
            return int.__repr__(v)
        return encode(v, inner)

    def array(o: list[Any] | tuple[Any, ...], newline: str) -> str:
        if not o:
            return "[]"
        inner = newline + step
        return "[" + inner + ("," + inner).join([value(v, inner) for v in o]) + newline + "]"

    def obj(o: dict[Any, Any], newline: str) -> str:
        if not o:
            return "{}"
        inner = newline + step
        return (
            "{"
            + inner
            + ("," + inner).join(
                [(string(k) if type(k) is str else key(k)) + ": " + value(v, inner) for k, v in o.items()]
            )
            + newline
            + "}"
        )

    return encode


_ASCII = _encoder(encode_basestring_ascii)
_UNICODE = _encoder(encode_basestring)


_ORJSON_OPTIONS = (
    orjson.OPT_INDENT_2
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
"""orjson's indent of 2, refusing what `json` writes otherwise or refuses (subclasses, dates, dataclasses)."""


def orjson_agrees(text: str) -> bool:
    """Whether orjson's `text` of a value decoded from JSON is `json.dumps`'s text of it too (the indent aside).

    They write the same but for numbers: an integer beyond 64 bits (orjson reads it as a
    float), a float under 1e-4 (`json` writes an exponent, orjson four zeros or more after
    the point) or of 1e16 or more, and NaN and the infinities (orjson writes null). Each
    shows in orjson's text as an exponent or "0.0000", but NaN: a value from `orjson.loads`
    holds none (it refuses them); one from `json` may, so check its nulls too (`decoded_encoder`).
    Between those, both write a float's shortest digits the same way.
    """
    return "0.0000" not in text and not exponent_after_digit(text)


def _ascii_as_json_writes_it(text: str) -> bool:
    """Whether orjson's `text` is what `json.dumps(..., ensure_ascii=True)` writes: ASCII, and no DEL in it.

    `json` escapes every character outside space to "~" (DEL too, `\\u007f`); orjson escapes
    those below space itself, so with none above "~" its text is `json`'s.
    """
    return text.isascii() and "\x7f" not in text


def _vouched(text: str, newline: str, ensure_ascii: bool) -> str | None:
    """orjson's `text` (indent 2, at level 0) where `newline` starts its level, if it is `json`'s; else None."""
    if not orjson_agrees(text) or (ensure_ascii and not _ascii_as_json_writes_it(text)):
        return None
    return text.replace("\n", newline) if newline != "\n" else text


def decoded_encoder(*, ensure_ascii: bool = True) -> Callable[[Any, str], str]:
    """`value_encoder`, quicker for a value decoded from JSON (dicts, lists, strings, numbers, true, false, null).

    Its lists and dicts are written by orjson, in C, when `orjson_agrees` with what `json` writes
    (and, under `ensure_ascii`, it is ASCII with no DEL; with a null in it, it may have been NaN: either way
    `value_encoder` writes it). Only for such values: orjson writes an `Enum` or a `UUID`
    where `json` refuses them.
    """
    exact = _ASCII if ensure_ascii else _UNICODE
    dumps, refused = orjson.dumps, orjson.JSONEncodeError

    def encode(o: Any, newline: str) -> str:
        t = type(o)
        if (t is not dict and t is not list) or not o:
            return exact(o, newline)
        try:
            text: str = dumps(o, option=_ORJSON_OPTIONS).decode()
        except refused:
            return exact(o, newline)
        vouched = None if "null" in text else _vouched(text, newline, ensure_ascii)
        return exact(o, newline) if vouched is None else vouched

    return encode


def reindenter(*, ensure_ascii: bool = True) -> Callable[[str, str], str | None]:
    """A function that writes JSON text again as `json.dumps(json.loads(text), indent=2)` writes it at a level.

    Its arguments are the text (as a journal column holds it) and `indent_of` the value's
    level; it answers None when it cannot vouch for the text (orjson's text might not be
    `json`'s, or is not ASCII under `ensure_ascii`, or the text is not JSON): the caller
    decodes the text and writes it the exact way (`decoded_encoder`), which also says
    what is wrong with it. Decoded by orjson, the value holds no NaN (it refuses them),
    so a null in its text is a null.
    """
    loads, dumps = orjson.loads, orjson.dumps

    def reindent(text: str, newline: str) -> str | None:
        try:
            out: str = dumps(loads(text), option=_ORJSON_OPTIONS).decode()
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            return None
        return _vouched(out, newline, ensure_ascii)

    return reindent


def value_encoder(*, ensure_ascii: bool = True) -> Callable[[Any, str], str]:
    """The function `dumps_at` calls: (value, `indent_of` its level) to its text.

    For a writer that spells out a known shape itself and encodes only its values.
    """
    return _ASCII if ensure_ascii else _UNICODE


def string_encoder(*, ensure_ascii: bool = True) -> Callable[[str], str]:
    """The function that writes a `str` (or a `StrEnum` member) as `json.dumps` does: `json`'s own C escaper.

    For a writer whose field is known to hold a string: no type dispatch per value.
    """
    return encode_basestring_ascii if ensure_ascii else encode_basestring


def indent_of(level: int) -> str:
    """The newline and indent that start a line `level` levels deep."""
    return "\n" + " " * (INDENT * level)


def dumps_at(value: Any, level: int = 0, *, ensure_ascii: bool = True) -> str:
    """`value` as `json.dumps(value, indent=2, ensure_ascii=...)` writes it where it sits `level` levels deep.

    At level 0 it is `json.dumps(value, indent=2, ensure_ascii=ensure_ascii)` itself.
    Deeper, it is the text that whole-document `json.dumps` writes for this value
    when the value sits inside `level` lists or objects.

    Raises:
        TypeError: `value` holds something `json.dumps` would refuse.
    """
    return (_ASCII if ensure_ascii else _UNICODE)(value, indent_of(level))
