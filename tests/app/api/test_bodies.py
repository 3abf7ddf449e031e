"""Contract of app.api.bodies.decode_json: what the standard library accepted, and its errors."""

from __future__ import annotations

import json
import math

import pytest

from app.api.bodies import decode_json
from app.core.errors import BadRequestError
from geodata.formats.jsonstream import MAX_JSON_DEPTH


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'[{"lat": 22.5, "device": "m\xc3\xa1y 1"}]', [{"lat": 22.5, "device": "máy 1"}]),
        (b'\xef\xbb\xbf{"items": []}', {"items": []}),  # a UTF-8 byte order mark
        (b"[18446744073709551616]", [18446744073709551616]),  # beyond 64 bits
        (b'["\\ud800"]', ["\ud800"]),  # a lone surrogate escape
    ],
)
def test_json_the_standard_library_accepts_is_accepted(body: bytes, expected: object) -> None:
    assert decode_json(body) == expected


def test_nan_literals_are_read_as_before() -> None:
    value = decode_json(b'[{"signal_dbm": NaN}]')
    assert math.isnan(value[0]["signal_dbm"])


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "request body is empty; a list"),
        (b"[1,", "request body is not valid JSON: Expecting value: line 1 column 4 (char 3)"),
        (b'["\xff"]', "request body is not UTF-8: 'utf-8' codec can't decode byte 0xff"),
    ],
)
def test_bad_bodies_are_refused_in_the_standard_librarys_words(body: bytes, detail: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        decode_json(body, expected="a list")
    assert str(caught.value).startswith(detail)


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"[" * 1_000 + b"]" * 1_000, 1_000),  # the standard library would recurse out
        (b"[" * 1_025 + b"]" * 1_025, 1_025),  # orjson's own limit is 1,024
        (b'[{"lat": NaN, "x": ' + b"[" * 33 + b"]" * 33 + b"}]", 35),  # the stdlib path
    ],
)
def test_deep_bodies_are_refused_before_decoding(body: bytes, depth: int) -> None:
    with pytest.raises(BadRequestError) as refused:
        decode_json(body)
    assert str(refused.value) == (
        f"request body is not valid JSON: nested {depth} levels deep; "
        f"at most {MAX_JSON_DEPTH} are read"
    )


def test_nesting_up_to_the_bound_is_read() -> None:
    body = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert decode_json(body) == json.loads(body)
