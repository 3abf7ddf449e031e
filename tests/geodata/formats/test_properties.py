"""Property tests: any input is parsed (each row validated or rejected) or refused whole.

Never another exception: a parser either yields chunks whose every reading
either validates or is rejected with a field and reason, or raises
InvalidInputError for the source as a whole.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.errors import InvalidInputError
from geodata.formats import FORMATS, ParsedChunk, parse_geosubmit, read_readings
from geodata.readings import READING_COLUMNS, validate_readings
from tests.geodata.formats.helpers import NOW
from tests.geodata.formats.test_gnettrack import HEADER as GNETTRACK_HEADER
from tests.geodata.formats.test_opencellid import HEADER as OPENCELLID_HEADER

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Cell values real files contain, sentinels and junk included.
CELLS = st.sampled_from(
    [
        "",
        "-",
        "0",
        "-1",
        "31",
        "99",
        "255",
        "-101",
        "-200",
        "-205",
        "2147483647",
        "9223372036854775807",
        "1e400",
        "nan",
        "true",
        "false",
        "maybe",
        "LTE",
        "5G",
        "HSPA+",
        "EDGE",
        "NO SERVICE",
        "nr",
        "wcdma",
        "22.57",
        "105.49",
        "452",
        "04",
        "9CBA",
        "0",
        "2026-01-10T03:04:05Z",
        "2026.01.10_10.00.00",
        "1768014245000",
        '"a,b"',
        "é",
        "\t",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
# The CSV properties read, map and validate up to four chunks per example: fewer examples.
CSV_FAST = settings(FAST, max_examples=50)
KEYS = st.sampled_from([*READING_COLUMNS, "x"])


def check(run: Callable[[], Iterable[ParsedChunk]]) -> None:
    try:
        chunks = list(run())
    except InvalidInputError:
        return
    for chunk in chunks:
        assert all(r.field and r.reason for r in chunk.rejected)
        assert list(chunk.readings.columns) == list(READING_COLUMNS)
        result = validate_readings(chunk.readings, now=NOW)
        assert len(result.valid) + len(result.rejected) == len(chunk.readings)
        assert all(r.field and r.reason for r in result.rejected)


def read(data: bytes, format: str) -> Callable[[], Iterable[ParsedChunk]]:
    return lambda: read_readings(
        io.BytesIO(data), format=format, tz="Asia/Ho_Chi_Minh", mcc=452, mnc=4, chunk_rows=2
    )


@FAST
@given(data=st.binary(max_size=300), format=st.sampled_from(FORMATS))
def test_any_bytes(data: bytes, format: str) -> None:
    check(read(data, format))


def csv_text(header: str) -> st.SearchStrategy[str]:
    width = header.count(",") + 1
    line = st.lists(CELLS, min_size=0, max_size=width + 1).map(",".join)
    return st.lists(line, max_size=6).map(lambda lines: header + "\n".join(lines))


@CSV_FAST
@given(text=csv_text(",".join(READING_COLUMNS) + "\n"))
def test_native_csv_rows(text: str) -> None:
    check(read(text.encode(), "csv"))


@CSV_FAST
@given(text=csv_text(GNETTRACK_HEADER))
def test_gnettrack_rows(text: str) -> None:
    check(read(text.encode(), "gnettrack"))


@CSV_FAST
@given(text=csv_text(OPENCELLID_HEADER))
def test_opencellid_rows(text: str) -> None:
    check(read(text.encode(), "opencellid"))


@FAST
@given(items=st.lists(JSON | st.dictionaries(KEYS, JSON | CELLS, max_size=8), max_size=5))
def test_native_json_items(items: list[object]) -> None:
    check(read(json.dumps(items).encode(), "json"))


TOWER = st.dictionaries(
    st.sampled_from(
        [
            "radioType",
            "mobileCountryCode",
            "mobileNetworkCode",
            "locationAreaCode",
            "cellId",
            "primaryScramblingCode",
            "asu",
            "signalStrength",
            "age",
            "noService",
            "serving",
        ]
    ),
    JSON | CELLS | st.integers(),
)
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": st.integers() | JSON,
        "position": st.fixed_dictionaries(
            {}, optional={"latitude": JSON, "longitude": JSON, "accuracy": JSON}
        )
        | JSON,
        "cellTowers": st.lists(TOWER | JSON, max_size=3) | JSON,
        "radioType": JSON | CELLS,
    },
)


@FAST
@given(payload=JSON | st.fixed_dictionaries({"items": st.lists(ITEM | JSON, max_size=4)}))
def test_geosubmit_bodies(payload: object) -> None:
    check(lambda: [parse_geosubmit(payload)])
