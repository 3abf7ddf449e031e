"""The JSON depth bound: counted on the bytes, equal to the decoded value's depth."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodata.errors import BadJSONError
from geodata.formats.jsonstream import MAX_JSON_DEPTH, iter_json_list, nesting_depth


def decoded_depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(decoded_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(decoded_depth, value), default=0)
    return 0


# Text full of what could fool a byte counter: brackets, quotes and backslashes.
TRICKY_TEXT = st.text(alphabet='[]{}"\\ ab\u00e0\ud7ff', max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY_TEXT, inner, max_size=4),
    max_leaves=30,
)


@given(JSON_VALUES, st.booleans())
def test_depth_on_the_bytes_is_the_decoded_depth(value: object, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode()

    assert nesting_depth(data) == decoded_depth(value)


@pytest.mark.parametrize(
    ("data", "depth"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 100_000),
        (b'{"a": "[[[[", "b": [{"c": "\\"]]"}]}', 3),
        (b'["unterminated [[[', 1),
        (b"", 0),
    ],
)
def test_depth_of_hostile_and_broken_text(data: bytes, depth: int) -> None:
    assert nesting_depth(data) == depth


def test_a_streamed_item_nested_too_deeply_is_refused_where_it_starts() -> None:
    text = '[{"a": 1}, {"b": ' + "[" * 40 + "]" * 40 + "}]"
    items = iter_json_list(io.StringIO(text), key="readings", what="json")

    assert next(items) == (1, {"a": 1})
    with pytest.raises(BadJSONError) as refused:
        next(items)
    assert str(refused.value) == (
        f"json: not valid JSON at character 11: nested 41 levels deep; "
        f"at most {MAX_JSON_DEPTH} are read"
    )
