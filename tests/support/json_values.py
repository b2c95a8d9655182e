"""Hypothesis strategies for values as `json.loads` gives them back, with the numbers and texts JSON writers differ on.

For the properties that hold a faster JSON writer (orjson, `agentstop.json_text`) to `json.dumps`:
NaN and the infinities, integers past 64 bits, floats tiny and huge, DEL, line separators,
lone surrogates, and text that looks like a number or a null.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["decoded_scalars", "decoded_values"]

decoded_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 3, max_value=2**64 + 3)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e-5, 1e16, 1e15, 0.0001, -0.0, 123456789012345678.0, 1796605586.6609604])
    | st.text()
    | st.sampled_from(["\x1b[31m", "\x7f", "\u2028", "日本語 🎉", '"\\', "null", "1e5", "0.00001", "\ud800"])
)
"""One JSON scalar."""


def decoded_values(size: int = 4, leaves: int = 20) -> st.SearchStrategy[object]:
    """Lists and objects (str keys only, no subclasses) of `decoded_scalars`, up to `size` wide."""
    return st.recursive(
        decoded_scalars,
        lambda inner: st.lists(inner, max_size=size) | st.dictionaries(st.text(max_size=8), inner, max_size=size),
        max_leaves=leaves,
    )
