"""An export's timeline in JSON: each event as `json.dumps(..., indent=2, ensure_ascii=False)` writes it.

A long session's timeline is most of its `.json` export: 80,000 events for
20,000 calls. Each event's data is kept in the journal as the JSON text
`json.dumps` wrote (compact, ASCII only). Decoding it and writing it again with
an indent is what `json` does in Python before 3.14 (its C encoder takes no
indent), a few microseconds an event. orjson does both in C, and writes the same
bytes as `json` for every value but a few numbers, all of which show in its
text (`orjson_agrees`). A window holding one of those, or a value orjson
refuses, is written by the Python encoder instead (`entry_writer`), so the
export's bytes never depend on which way a window went; a row that does not
decode raises `ValueError` (the export says `JournalCorrupt`), as a read of its
`Event` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from agentstop.journal.records import EventRow, loads
from agentstop.json_text import indent_of, orjson_agrees, string_encoder, value_encoder

__all__ = ["entry_writer", "timeline_entry", "window_text"]


def timeline_entry(seq: int, at: float, call_id: str | None, kind: str, data: Any) -> dict[str, Any]:
    """One event of an export's timeline, as `render_export` writes it."""
    return {"seq": seq, "at": at, "call_id": call_id, "kind": kind, "data": data}


def entry_writer(level: int) -> Callable[[EventRow], str]:
    """Writes a row's `timeline_entry` as `json.dumps(..., indent=2, ensure_ascii=False)` does `level` levels deep.

    The exact way, for any row: its data decoded by `json` and spelled out key by key
    (`item_writer`'s way). tests/unit/test_timeline_json.py holds it equal to `json.dumps`.

    Raises:
        ValueError: the row's data is not JSON.
    """
    enc, string = value_encoder(ensure_ascii=False), string_encoder(ensure_ascii=False)
    at = indent_of(level + 1)
    seq, when, call, kind, data = ("," + at + string(k) + ": " for k in ("seq", "at", "call_id", "kind", "data"))
    seq, close, as_int = "{" + seq[1:], indent_of(level) + "}", int.__repr__

    def write(row: EventRow) -> str:
        n, call_id, k, moment, text = row
        return "".join(
            (
                seq,
                as_int(n),
                when,
                enc(moment, at),
                call,
                "null" if call_id is None else string(call_id),
                kind,
                string(k),
                data,
                enc(loads(text), at),
                close,
            )
        )

    return write


def window_text(rows: Sequence[EventRow], level: int, exact: Callable[[EventRow], str]) -> str:
    """The rows' entries `level` levels deep, each after its newline and indent, joined by commas.

    `exact` is `entry_writer(level)`: the way a window orjson might write otherwise goes.

    Raises:
        ValueError: a row's data is not JSON.
    """
    if not rows:
        return ""
    fast = _orjson_text(rows, level)
    if fast is not None:
        return fast
    at = indent_of(level)
    return at + ("," + at).join([exact(row) for row in rows])


def _orjson_text(rows: Sequence[EventRow], level: int) -> str | None:
    """`window_text` by orjson, or None when a row holds what orjson would write otherwise than `json`.

    `orjson.loads` refuses NaN and the infinities, so orjson's text of the window says
    whether `json` would have written the same (`orjson_agrees`).
    """
    decode = orjson.loads
    try:
        entries = [timeline_entry(seq, at, call_id, kind, decode(data)) for seq, call_id, kind, at, data in rows]
        text = orjson.dumps(entries, option=orjson.OPT_INDENT_2).decode()
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None  # NaN, a lone surrogate, not JSON at all: the exact way writes it or says what is wrong
    if not orjson_agrees(text):
        return None
    # A list at level 0, its entries one level in: shifted to `level` (no string holds a raw newline),
    # without its brackets and the newline before its "]".
    shift = indent_of(level - 1)
    shifted = text.replace("\n", shift) if level > 1 else text
    return shifted[1 : -len(shift) - 1]
