from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agentstop import Redactor
from agentstop.redact import DEFAULT_VALUE_PATTERNS, _may_hold_a_shape, scrub


def test_keys_and_shapes_are_masked_recursively() -> None:
    r = Redactor()
    data = {
        "password": "p",
        "nested": [{"API_KEY": "k", "ok": "fine"}],
        "note": "use sk-abcdefghijklmnopqrstu now",
        "token": None,
    }
    assert r(data) == {
        "password": "***",
        "nested": [{"API_KEY": "***", "ok": "fine"}],
        "note": "use *** now",
        "token": None,
    }


def test_rules_are_configurable() -> None:
    r = Redactor(keys=("pin",), values=(r"\d{16}",))
    assert r({"pin": "1234", "password": "kept", "card": "4111111111111111"}) == {
        "pin": "***",
        "password": "kept",
        "card": "***",
    }


@given(data=st.data(), which=st.sampled_from(DEFAULT_VALUE_PATTERNS))
@settings(max_examples=300, deadline=None)
def test_scrub_masks_every_secret_shape_its_quick_test_lets_through(data: st.DataObject, which: str) -> None:
    """`scrub` skips its five shape patterns for text holding none of their beginnings: never one they match."""
    text = data.draw(st.from_regex(which))  # text holding at least one match of the pattern, anywhere
    assert _may_hold_a_shape(text)
    assert re.search(which, scrub(text)) is None


def test_scrub_masks_shapes_whatever_the_case_of_bearer() -> None:
    assert scrub('{"h":"BeArEr abcdefgh1234","k":"AKIAABCDEFGHIJKLMNOP"}') == '{"h":"***","k":"***"}'
    assert scrub('{"tool":"noop","args":{"n":1}}') == '{"tool":"noop","args":{"n":1}}'
