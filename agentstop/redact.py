"""Secrets never reach the journal or the screen: redaction of arguments and receipts.

Values are redacted by key name (password, token, api_key, ...) and by shape
(bearer tokens, provider keys). The rules are configurable per supervisor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_KEY_PATTERNS", "DEFAULT_VALUE_PATTERNS", "MASK", "Redactor"]

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
        key_re = re.compile("|".join(f"(?:{k})" for k in self.keys), re.IGNORECASE) if self.keys else re.compile(
            r"(?!)")
        object.__setattr__(self, "_key_re", key_re)
        object.__setattr__(self, "_value_res", tuple(re.compile(v) for v in self.values))

    def __call__(self, value: Any) -> Any:
        """A copy of `value` with secrets masked (dicts, lists and strings, recursively)."""
        if isinstance(value, dict):
            return {k: MASK if isinstance(k, str) and self._key_re.search(k) and v not in (None, "")
                    else self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, str):
            for pattern in self._value_res:
                value = pattern.sub(MASK, value)
            return value
        return value
