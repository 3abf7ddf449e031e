"""Contract of app.api.bodies.decode_json: what the standard library accepted, and its errors."""

from __future__ import annotations

import math

import pytest

from app.api.bodies import decode_json
from app.core.errors import BadRequestError


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
