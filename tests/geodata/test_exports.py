"""geodata.exports: RFC 7946 GeoJSON, CSV with a BOM and no formulas, GeoPackage."""

from __future__ import annotations

import csv
import io
import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geodata.errors import InvalidInputError
from geodata.exports import (
    csv_text,
    feature,
    feature_collection,
    neutralise,
    to_csv,
    to_geojson,
    to_geopackage,
    write_geojson,
)


@pytest.fixture
def frame() -> gpd.GeoDataFrame:
    # A clockwise ring in UTM 48N: RFC 7946 wants it counter-clockwise in EPSG:4326.
    square = shapely.Polygon([(0, 0), (0, 500), (500, 500), (500, 0)])
    return gpd.GeoDataFrame(
        {
            "id": ["a", "b"],
            "name": ["Bản Giòng", '=HYPERLINK("http://x")'],
            "households": [98, 40],
            "carriers": [{"Viettel": {"evidence": "measured"}}, None],
        },
        geometry=[
            shapely.affinity.translate(square, 550_000, 2_495_000),
            shapely.affinity.translate(square, 552_000, 2_495_000),
        ],
        crs="EPSG:32648",
    )


def test_geojson_is_rfc_7946(frame: gpd.GeoDataFrame) -> None:
    body = json.loads(to_geojson(frame))

    assert body["type"] == "FeatureCollection" and "crs" not in body
    feature = body["features"][0]
    assert feature["properties"]["name"] == "Bản Giòng"
    assert feature["properties"]["carriers"] == {"Viettel": {"evidence": "measured"}}
    ring = shapely.LinearRing(feature["geometry"]["coordinates"][0])
    assert ring.is_ccw
    lon, lat = feature["geometry"]["coordinates"][0][0]
    assert 105 < lon < 106 and 22 < lat < 23


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("Nà Tà", "Nà Tà"),
        ("a=b", "a=b"),
        (-95.0, -95.0),
        (None, None),
    ],
)
def test_neutralise(value: object, expected: object) -> None:
    assert neutralise(value) == expected


def test_csv_has_a_bom_and_no_live_formula(frame: gpd.GeoDataFrame) -> None:
    data = to_csv(frame)

    assert data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0]["name"] == "Bản Giòng"
    assert rows[1]["name"] == '\'=HYPERLINK("http://x")'
    assert json.loads(rows[0]["carriers"]) == {"Viettel": {"evidence": "measured"}}
    assert rows[0]["wkt"].startswith("POLYGON ((105.")
    assert 105 < float(rows[0]["lon"]) < 106


def test_geopackage_round_trip(frame: gpd.GeoDataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "v.gpkg"
    path.write_bytes(to_geopackage(frame, layer="villages"))

    back = gpd.read_file(path, layer="villages")

    assert back.crs.to_epsg() == 4326
    assert back["name"].tolist() == frame["name"].tolist()
    expected = frame.to_crs("EPSG:4326").geometry
    assert all(a.equals_exact(b, 1e-9) for a, b in zip(back.geometry, expected, strict=True))


def test_writers_refuse_a_frame_without_crs(frame: gpd.GeoDataFrame) -> None:
    bare = frame.set_crs(None, allow_override=True)
    for writer in (to_geojson, to_csv):
        with pytest.raises(InvalidInputError, match="no CRS"):
            writer(bare)


def test_one_encoder_for_dicts_bytes_and_files(frame: gpd.GeoDataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "villages.geojson"
    write_geojson(frame, path)

    assert path.read_bytes() == to_geojson(frame)
    assert feature_collection(frame) == json.loads(to_geojson(frame))
    assert feature(frame) == feature_collection(frame)["features"][0]
    assert "Bản Giòng" in path.read_text(encoding="utf-8")  # not \\u-escaped


def test_coordinates_keep_six_decimals_and_extra_members_follow_features() -> None:
    frame = gpd.GeoDataFrame(
        {"id": ["a"], "share": [float("nan")]},
        geometry=[shapely.Point(105.123456789, 22.987654321)],
        crs="EPSG:4326",
    )

    body = json.loads(to_geojson(frame, numberMatched=7))

    assert body["features"][0]["geometry"]["coordinates"] == [105.123457, 22.987654]
    assert body["features"][0]["properties"] == {"id": "a", "share": None}
    assert list(body) == ["type", "features", "numberMatched"]


def test_row_batches_are_neutralised_like_whole_exports() -> None:
    formula = '=HYPERLINK("http://evil.example","x")'
    batch = pd.DataFrame(
        {
            "time": pd.to_datetime(["2026-01-05T03:00:00Z", "2026-01-05T03:01:00Z"]),
            "signal_dbm": [-95.0, None],
            "radio": pd.array(["lte", "-gsm"], dtype="string"),
            "source": [formula, None],
        }
    )

    rows = list(csv.DictReader(io.StringIO(csv_text(batch))))

    assert [r["source"] for r in rows] == [neutralise(formula), ""]
    assert [r["radio"] for r in rows] == ["lte", "'-gsm"]
    assert [r["signal_dbm"] for r in rows] == ["-95.0", ""]
    assert rows[0]["time"] == "2026-01-05 03:00:00+00:00"
    assert csv_text(batch, header=False).count("\n") == 2
    assert batch["source"].iloc[0] == formula  # the caller's frame is untouched
