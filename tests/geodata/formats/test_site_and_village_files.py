"""Site CSVs and village GeoJSON: every row is a cell (or village) or a rejection, never a crash.

Property tests (hypothesis) over junk cell values and arbitrary JSON, plus
the accounting: rows in = valid + rejected, each rejection with a field and
a reason, refusal of a whole file only as InvalidInputError.
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.errors import BadJSONError, InvalidInputError
from geodata.formats import read_sites, read_villages
from geodata.sites import OPENCELLID_COLUMNS, SITE_EXTRA_COLUMNS
from geodata.villages import validate_village_features

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = ",".join([*OPENCELLID_COLUMNS, *SITE_EXTRA_COLUMNS])
# Cell values real site files contain, junk included.
CELLS = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "4",
        "452",
        "65534",
        "2147483647",
        "68719476735",
        "1e400",
        "nan",
        "inf",
        "LTE",
        "lte",
        "NR",
        "CDMA",
        "WCDMA",
        "GSM",
        "UMTS",
        "105.49",
        "22.57",
        "-200",
        "95",
        "1700000000",
        "99999999999",
        "2026-01-10",
        "Bản Giòng",
        '"a,b"',
        "\t",
        "x/y",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
PROPERTY_KEYS = st.sampled_from(
    [
        "id",
        "name",
        "commune",
        "district",
        "province",
        "households",
        "population",
        "poverty_rate",
        "centre_lon",
        "centre_lat",
        "commune_id",
    ]
)


@FAST
@given(rows=st.lists(st.lists(CELLS, min_size=21, max_size=21), max_size=6))
def test_any_site_rows_are_cells_or_rejections(rows: list[list[str]]) -> None:
    text = "\r\n".join([HEADER, *(",".join(row) for row in rows)]) + "\r\n"
    # A line of empty (or pandas' "nan") fields is blank: skipped, neither cell nor error.
    lines = [row for row in rows if any(cell not in {"", "nan"} for cell in row)]
    for format in ("native", "opencellid"):
        try:
            sites = read_sites(io.BytesIO(text.encode()), format=format, chunk_rows=2)
        except InvalidInputError:
            continue
        assert all(r.field and r.reason for r in sites.rejected)
        assert len(sites.valid) + len(sites.rejected) == len(lines)
        assert sites.valid["cell_key"].is_unique
        assert sites.valid["radio"].isin(["gsm", "umts", "lte", "nr"]).all()


@FAST
@given(data=st.binary(max_size=200))
def test_any_bytes_are_a_site_file_or_refused(data: bytes) -> None:
    try:
        sites = read_sites(io.BytesIO(data))
    except InvalidInputError:
        return
    assert all(r.field and r.reason for r in sites.rejected)


@FAST
@given(
    features=st.lists(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["Feature", "feature", 1]),
                "properties": st.dictionaries(PROPERTY_KEYS, JSON, max_size=11) | JSON,
                "geometry": JSON,
            },
        )
        | JSON,
        max_size=5,
    )
)
def test_any_features_are_villages_or_rejections(features: list[object]) -> None:
    result = validate_village_features(enumerate(features))

    assert len(result.valid) + len(result.rejected) == len(features)
    assert all(r.field and r.reason for r in result.rejected)


@FAST
@given(value=JSON)
def test_any_json_is_a_collection_or_refused(value: object) -> None:
    source = io.BytesIO(json.dumps({"features": value}).encode())
    if not isinstance(value, list):
        with pytest.raises(BadJSONError, match="villages: the object has no 'features' list"):
            read_villages(source)
        return
    result = read_villages(source)
    # Every item is a village or a rejection, each rejection named once by its position.
    assert len(result.valid) + len(result.rejected) == len(value)
    positions = [*result.valid.index, *(r.index for r in result.rejected)]
    assert sorted(positions) == list(range(1, len(value) + 1))
    assert all(r.field and r.reason for r in result.rejected)


def test_a_valid_feature_with_every_property() -> None:
    feature = {
        "type": "Feature",
        "id": 7,  # the GeoJSON member, used when the properties carry no id
        "properties": {
            "name": " Bản  Giòng ",
            "commune": "Thượng Nông",
            "district": "Na Hang",
            "province": "Tuyên Quang",
            "households": "98",
            "population": 420.0,
            "poverty_rate": 0.6,
            "centre_lon": 105.495,
            "centre_lat": 22.565,
        },
        "geometry": {
            "type": "MultiPolygon",
            "coordinates": [
                [
                    [
                        [105.49, 22.56],
                        [105.5, 22.56],
                        [105.5, 22.57],
                        [105.49, 22.57],
                        [105.49, 22.56],
                    ]
                ]
            ],
        },
    }

    result = validate_village_features([(0, feature)])

    assert result.rejected == []
    village = result.valid.iloc[0]
    assert (village["id"], village["name"], village["households"]) == ("7", "Bản Giòng", 98)
    assert (village["commune_id"], village["centre_lat"]) == ("thuong-nong", 22.565)
    assert result.valid.crs == "EPSG:4326"


def test_a_bow_tie_polygon_is_repaired() -> None:
    bow_tie = {
        "type": "Polygon",
        "coordinates": [
            [[105.49, 22.56], [105.5, 22.57], [105.5, 22.56], [105.49, 22.57], [105.49, 22.56]]
        ],
    }
    feature = {
        "type": "Feature",
        "geometry": bow_tie,
        "properties": {
            "id": "a",
            "name": "A",
            "commune": "C",
            "district": "D",
            "province": "P",
            "households": 1,
        },
    }

    result = validate_village_features([(0, feature)])

    assert result.rejected == []
    assert result.valid.geometry.iloc[0].is_valid
    assert result.valid.geometry.iloc[0].area > 0
