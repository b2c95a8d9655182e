"""Agent-chosen text made inert before a terminal, a Markdown or an HTML page shows it.

An agent chooses its tool arguments, and upstreams choose their replies: either
may hold `ESC]0;...BEL` (sets the terminal's title), `ESC[2K\\r` (erases the line,
so a forged row can follow) or a bidi override that reorders what a person reads.
`printable` escapes every such character as visible text (`\\x1b`, `\\u202e`), so
what is shown is what was journaled, byte for byte readable, and nothing acts.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls (tab and newline are judged by the caller), DEL, C1 controls (0x9b is a one-byte CSI),
# and the Unicode controls that reorder or hide text: bidi embeddings, overrides and isolates,
# the line and paragraph separators, zero-width joiners and the BOM.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, multiline: bool = False) -> str:
    """`text` with every control character escaped as visible text.

    Args:
        text: what an agent, a tool or an upstream wrote.
        multiline: keep newlines and tabs (a transcript, a Markdown block);
            by default they are escaped too, so one value stays one line (a table
            cell, a progress line, an error message).
    """
    if text.isprintable():
        return text  # every character escaped here is a control, a format character or a separator: unprintable
    pattern = _CONTROL if multiline else _CONTROL_ONE_LINE
    return pattern.sub(_escape, text)
