"""geodata.exports: RFC 7946 GeoJSON, CSV with a BOM and no formulas, GeoPackage."""

from __future__ import annotations

import csv
import io
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.errors import InvalidInputError
from geodata.exports import (
    CELL_LIMIT,
    csv_text,
    feature,
    feature_collection,
    neutralise,
    to_csv,
    to_geojson,
    to_geopackage,
    to_xlsx,
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
    assert rows[0]["evidence_viettel"] == "measured" and rows[1]["evidence_viettel"] == ""
    assert "carriers" not in rows[0] and "wkt" not in rows[0]  # geometry as a point
    assert 105 < float(rows[0]["lon"]) < 106
    with_wkt = list(csv.DictReader(io.StringIO(to_csv(frame, wkt=True).decode("utf-8-sig"))))
    assert with_wkt[0]["wkt"].startswith("POLYGON ((105.")
    assert with_wkt[0]["wkt_simplified_m"] == "0.0"


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


@pytest.fixture
def villages() -> gpd.GeoDataFrame:
    """Villages with per-carrier summaries as the analysis writes them, and awkward values."""
    return gpd.GeoDataFrame(
        {
            "id": ["ban-giong", "na-ta", "moc"],
            "name": ["Bản Giòng", "-Nà Tà", "Mốc"],
            "households": [98, 40, 7],
            "households_without_signal": [98, 0, None],
            "carriers": [
                {
                    "Viettel": {
                        "households_without_signal": 98,
                        "centre_p_usable": 0.05,
                        "radio": "lte",
                        "evidence": "predicted",
                    },
                    "VinaPhone": {"households_without_signal": 40, "centre_p_usable": 0.6},
                },
                {"Vietnamobile": {"households_without_signal": 0, "centre_p_usable": 0.97}},
                None,
            ],
            "village_ids": [["a", "b"], [], None],
        },
        geometry=[
            shapely.box(105.490, 22.560, 105.500, 22.570),
            shapely.box(105.470, 22.560, 105.480, 22.570),
            shapely.Point(105.45, 22.55),
        ],
        crs="EPSG:4326",
    )


def test_carriers_are_flattened_into_columns_named_from_the_data(
    villages: gpd.GeoDataFrame,
) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(villages).decode("utf-8-sig"))))

    assert list(rows[0]) == [
        "id",
        "name",
        "households",
        "households_without_signal",
        "hh_without_vietnamobile",
        "hh_without_viettel",
        "hh_without_vinaphone",
        "p_usable_vietnamobile",
        "p_usable_viettel",
        "p_usable_vinaphone",
        "radio_vietnamobile",
        "radio_viettel",
        "radio_vinaphone",
        "evidence_vietnamobile",
        "evidence_viettel",
        "evidence_vinaphone",
        "village_ids",
        "lon",
        "lat",
    ]
    giong, nata, moc = rows
    assert (giong["hh_without_viettel"], giong["hh_without_vinaphone"]) == ("98", "40")
    assert giong["hh_without_vietnamobile"] == ""  # no summary there: no number
    assert (nata["hh_without_vietnamobile"], nata["p_usable_vietnamobile"]) == ("0", "0.97")
    assert moc["hh_without_viettel"] == "" and moc["households_without_signal"] == ""
    assert nata["name"] == "'-Nà Tà"  # formulas stay neutralised
    assert json.loads(giong["village_ids"]) == ["a", "b"]
    assert (float(moc["lon"]), float(moc["lat"])) == (105.45, 22.55)


def test_semicolon_csv_has_decimal_commas(villages: gpd.GeoDataFrame) -> None:
    data = to_csv(villages, delimiter="semicolon")

    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("id;name;households;")
    back = pd.read_csv(io.StringIO(text), sep=";", decimal=",")
    assert back["p_usable_vinaphone"].tolist()[0] == 0.6
    assert back["lon"].tolist() == [105.495, 105.475, 105.45]
    assert back["hh_without_viettel"].tolist()[0] == 98
    assert "0,97" in text and "0.97" not in text
    assert list(csv.reader(io.StringIO(text), delimiter=";"))[1][1] == "Bản Giòng"


def test_xlsx_round_trip(villages: gpd.GeoDataFrame) -> None:
    data = to_xlsx(villages, sheet="villages")

    assert data[:2] == b"PK"  # a zip, as every xlsx
    back = pd.read_excel(io.BytesIO(data), sheet_name="villages", engine="calamine")
    assert back["id"].tolist() == ["ban-giong", "na-ta", "moc"]
    assert back["name"].tolist() == ["Bản Giòng", "'-Nà Tà", "Mốc"]
    assert back["hh_without_viettel"].tolist()[0] == 98
    assert back["p_usable_vietnamobile"].tolist()[1] == 0.97
    assert back["lat"].tolist() == [22.565, 22.565, 22.55]
    assert "carriers" not in back and "wkt" not in back


def test_no_cell_over_the_spreadsheet_limit_on_a_large_polygon() -> None:
    # A ring of 4,000 vertices: ~100,000 characters of WKT.
    angle = np.linspace(0, 2 * np.pi, 4000, endpoint=False)
    wobbly = shapely.Polygon(
        np.c_[
            105.5 + 0.05 * np.cos(angle) * (1 + 0.01 * np.sin(40 * angle)),
            22.5 + 0.05 * np.sin(angle),
        ]
    )
    frame = gpd.GeoDataFrame(
        {"id": ["big", "small"], "note": ["x" * (CELL_LIMIT + 10), "ok"]},
        geometry=[wobbly, shapely.box(105.4, 22.4, 105.41, 22.41)],
        crs="EPSG:4326",
    )
    assert len(wobbly.wkt) > 3 * CELL_LIMIT

    rows = list(csv.DictReader(io.StringIO(to_csv(frame, wkt=True).decode("utf-8-sig"))))
    xlsx = pd.read_excel(io.BytesIO(to_xlsx(frame, sheet="s", wkt=True)), engine="calamine")

    for table in (pd.DataFrame(rows), xlsx):
        longest = table.map(lambda v: len(str(v))).to_numpy().max()
        assert longest <= CELL_LIMIT
    big, small = rows
    assert float(big["wkt_simplified_m"]) > 0 and float(small["wkt_simplified_m"]) == 0
    simplified = shapely.from_wkt(big["wkt"])
    assert simplified.is_valid
    assert abs(simplified.area - wobbly.area) / wobbly.area < 0.01
    assert shapely.from_wkt(small["wkt"]).equals(frame.geometry[1])
    assert big["note"].endswith("…") and len(big["note"]) == CELL_LIMIT
    plain = to_csv(frame).decode("utf-8-sig")
    assert "wkt" not in next(csv.DictReader(io.StringIO(plain)))


def test_geopackage_has_the_flat_columns(villages: gpd.GeoDataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "v.gpkg"
    path.write_bytes(to_geopackage(villages, layer="villages"))

    back = gpd.read_file(path, layer="villages")

    assert "carriers" not in back
    assert back["hh_without_viettel"].tolist()[:1] == [98]
    assert back["radio_viettel"].tolist()[0] == "lte"
    assert back["p_usable_vinaphone"].tolist()[0] == 0.6
