from __future__ import annotations

from agentstop import Redactor


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
