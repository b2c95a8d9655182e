"""Secrets never reach the journal or the screen: redaction of arguments and receipts.

Values are redacted by key name (password, token, api_key, ...) and by shape
(bearer tokens, provider keys). The rules are configurable per supervisor.

Some secrets have no telltale key or shape: the model's API key, the values of an
MCP server's `env` and `headers` (from `${env:}` or written literally). Whoever
reads one registers it (`register_secret`); from then on every `Redactor` masks
it, and so does `scrub`, which the journal applies to every row it writes (event
payloads, transcripts, receipts, arguments, reasons): so a model or a server that
echoes the secret back leaves only `***` in the journal, its WAL, the exports
made from it and the lines printed from it.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_KEY_PATTERNS",
    "DEFAULT_VALUE_PATTERNS",
    "MASK",
    "MIN_SECRET_LENGTH",
    "Redactor",
    "register_secret",
    "scrub",
]

MASK = "***"

DEFAULT_KEY_PATTERNS = (
    r"pass(word|wd|phrase)?",
    r"secret",
    r"token",
    r"api[-_]?key",
    r"auth(orization)?",
    r"private[-_]?key",
    r"credentials?",
    r"cookie",
    r"session[-_]?key",
)

DEFAULT_VALUE_PATTERNS = (
    r"(?i)bearer\s+[a-z0-9._~+/=-]{8,}",
    r"\bsk-[A-Za-z0-9_-]{16,}",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\bxox[abpr]-[A-Za-z0-9-]{10,}",
)


#: Shorter registered values are not masked: masking "1" or "on" everywhere would garble the journal.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_literal_re: re.Pattern[str] | None = None
_shape_res = tuple(re.compile(v) for v in DEFAULT_VALUE_PATTERNS)

_SHAPE_STARTS = ("bearer", "sk-", "gh", "AKIA", "xox")
"""What a match of each of `DEFAULT_VALUE_PATTERNS` begins with, in order (checked below); only the
first pattern ignores case."""
assert all(
    re.sub(r"^\(\?i\)|^\\b", "", pattern).startswith(start)
    for pattern, start in zip(DEFAULT_VALUE_PATTERNS, _SHAPE_STARTS, strict=True)
) and [p.startswith("(?i)") for p in DEFAULT_VALUE_PATTERNS] == [True, False, False, False, False], (
    "a value pattern changed: update _SHAPE_STARTS and _may_hold_a_shape"
)


def _may_hold_a_shape(text: str) -> bool:
    """False when no pattern of `DEFAULT_VALUE_PATTERNS` can match `text` (none of their beginnings is in it).

    The journal scrubs every row it writes and almost none holds a secret: a few
    substring tests instead of five regular expressions (`bearer` is looked for
    in the lowered text, as its pattern ignores case).
    """
    return "sk-" in text or "gh" in text or "AKIA" in text or "xox" in text or "bearer" in text.lower()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever agentstop writes or shows text, in this process, from now on.

    Call it when a secret is read (an API key, an MCP server's env or header value).
    """
    global _literal_re
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        # Longest first, so a secret that contains another is masked whole.
        _literal_re = re.compile("|".join(re.escape(f) for f in sorted(_secrets, key=len, reverse=True)))


def scrub(text: str) -> str:
    """`text` (plain, or a JSON document) with registered secrets and secret-shaped values replaced by `***`.

    Only values are touched, never the structure: `***` needs no JSON escaping,
    and a secret's JSON-escaped form is registered alongside the plain one.
    """
    pattern = _literal_re
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if _may_hold_a_shape(text):
        for shape in _shape_res:
            text = shape.sub(MASK, text)
    return text


@dataclass(frozen=True)
class Redactor:
    """Replaces secrets in JSON-like values with `***`.

    Args:
        keys: regular expressions matched (case-insensitively, anywhere) against
            dict keys; a match masks the whole value.
        values: regular expressions whose matches inside strings are masked.
    """

    keys: tuple[str, ...] = DEFAULT_KEY_PATTERNS
    values: tuple[str, ...] = DEFAULT_VALUE_PATTERNS
    _key_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _value_res: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key_re = (
            re.compile("|".join(f"(?:{k})" for k in self.keys), re.IGNORECASE) if self.keys else re.compile(r"(?!)")
        )
        object.__setattr__(self, "_key_re", key_re)
        object.__setattr__(self, "_value_res", tuple(re.compile(v) for v in self.values))

    def __call__(self, value: Any) -> Any:
        """A copy of `value` with secrets masked (dicts, lists and strings, recursively)."""
        if isinstance(value, dict):
            return {
                k: MASK if isinstance(k, str) and self._key_re.search(k) and v not in (None, "") else self(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, str):
            if _literal_re is not None:
                value = _literal_re.sub(MASK, value)
            for pattern in self._value_res:
                value = pattern.sub(MASK, value)
            return value
        return value
