"""Village files: any CRS in, EPSG:4326 out, NFC names, clear errors."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geodata.errors import BadJSONError, InvalidInputError
from geodata.formats import read_villages as read_village_stream
from geodata.villages import commune_id, read_villages


def village_frame(**overrides: object) -> gpd.GeoDataFrame:
    data: dict[str, object] = {
        "id": ["v1", "v2"],
        "name": [unicodedata.normalize("NFD", "Bản Giòng"), "Nà Tà"],
        "commune": ["Thượng Nông"] * 2,
        "district": ["Na Hang"] * 2,
        "province": ["Tuyên Quang"] * 2,
        "households": [98, 60],
    }
    data.update(overrides)
    return gpd.GeoDataFrame(
        data,
        geometry=[
            shapely.box(105.49, 22.56, 105.50, 22.57),
            shapely.box(105.50, 22.56, 105.51, 22.57),
        ],
        crs="EPSG:4326",
    )


@pytest.mark.parametrize("suffix", ["geojson", "gpkg"])
def test_round_trip_from_a_projected_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"villages.{suffix}"
    village_frame().to_crs("EPSG:32648").to_file(path)
    villages = read_villages(path)
    assert villages.crs == "EPSG:4326"
    assert villages["name"].iloc[0] == "Bản Giòng"  # stored NFC
    assert villages["commune_id"].tolist() == ["thuong-nong", "thuong-nong"]
    assert villages["households"].tolist() == [98, 60]
    centre = shapely.Point(villages["centre_lon"].iloc[0], villages["centre_lat"].iloc[0])
    assert villages.geometry.iloc[0].contains(centre)


def test_missing_field_is_named_when_nothing_valid_is_left(tmp_path: Path) -> None:
    path = tmp_path / "v.geojson"
    village_frame().drop(columns=["households"]).to_file(path)
    with pytest.raises(
        InvalidInputError,
        match=r"no valid villages \(2 refused: households: required field is missing ×2\)",
    ):
        read_villages(path)


@pytest.mark.parametrize("suffix", ["geojson", "gpkg", "fgb", "shp"])
def test_bad_rows_are_refused_and_the_rest_kept(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"villages.{suffix}"
    frame = pd.concat([village_frame(), village_frame(id=["v1", "v3"], households=[5, -3])])
    # FlatGeobuf's spatial index would reorder the features.
    frame.to_file(path, **({"SPATIAL_INDEX": "NO"} if suffix == "fgb" else {}))
    result = read_village_stream(path)
    assert result.valid["id"].tolist() == ["v1", "v2"]
    assert result.valid["name"].tolist() == ["Bản Giòng", "Nà Tà"]
    assert [(r.index, r.field, r.reason) for r in result.rejected] == [
        (3, "id", "the same id as an earlier feature"),
        (4, "households", "outside 0..1e+07"),
    ]
    assert result.rejected_by_reason == {
        "id: the same id as an earlier feature": 1,
        "households: outside 0..1e+07": 1,
    }
    assert read_villages(path)["id"].tolist() == ["v1", "v2"]  # the thin wrapper


def test_a_geojson_stream_and_a_geopackage_give_the_same_villages(tmp_path: Path) -> None:
    path = tmp_path / "villages.gpkg"
    village_frame().to_crs("EPSG:32648").to_file(path)
    from_gpkg = read_village_stream(path).valid
    from_geojson = read_village_stream(io.BytesIO(village_frame().to_json().encode())).valid
    assert from_gpkg["id"].tolist() == from_geojson["id"].tolist() == ["v1", "v2"]
    assert from_gpkg.crs == from_geojson.crs == "EPSG:4326"
    assert from_gpkg.geom_equals_exact(from_geojson, tolerance=1e-7).all()


def test_a_flatgeobuf_stream_is_read_through_gdal(tmp_path: Path) -> None:
    path = tmp_path / "villages.fgb"
    village_frame().to_crs("EPSG:32648").to_file(path, SPATIAL_INDEX="NO")
    result = read_village_stream(io.BytesIO(path.read_bytes()))
    assert result.valid["id"].tolist() == ["v1", "v2"] and result.rejected == []
    assert result.valid.crs == "EPSG:4326"


def test_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "v.geojson"
    path.write_text("not json")
    with pytest.raises(BadJSONError, match="expected a JSON list or an object with a 'features'"):
        read_villages(path)
    other = tmp_path / "v.gpkg"
    other.write_text("not a geopackage")
    with pytest.raises(InvalidInputError, match="not a readable vector file"):
        read_villages(other)


def test_a_vector_file_without_crs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        village_frame().set_crs(None, allow_override=True).to_file(path)
    with pytest.raises(InvalidInputError, match="the file declares no CRS"):
        read_villages(path)


def test_commune_id_folds_vietnamese() -> None:
    assert commune_id("Linh Phú") == "linh-phu"
    assert commune_id("Đống Đa") == "dong-da"


# --- issue 12: numbers, field maps, points, communes, overlap --------------------
from geodata.villages import (  # noqa: E402
    FieldMap,
    check_overlap,
    parse_number,
    read_commune_file,
    read_village_file,
    unit_type,
    validate_village_features,
    voronoi_cells,
)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1.234", 1234.0),
        ("1.234,5", 1234.5),
        ("12.345.678", 12345678.0),
        ("1,5", 1.5),
        ("0,25", 0.25),
        ("12.5", 12.5),
        ("0.250", 0.25),
        ("1,234,567", 1234567.0),
        ("1,234.5", 1234.5),
        (" 98 ", 98.0),
        ("1\u00a0234", 1234.0),
        (98, 98.0),
    ],
)
def test_numbers_in_vietnamese_and_plain_notation(text: object, number: float) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,234", "'1,234' is ambiguous: 1234 (English) or 1.234 (Vietnamese)"),
        ("12 hộ", "'12hộ' is not a number (1234, 1.234 or 1.234,5)"),
        ("1.23.4", "'1.23.4' is not a number"),
        (True, "True is not a number"),
        ("nan", "'nan' is not a number"),
    ],
)
def test_numbers_that_cannot_be_read_are_refused_with_the_value(text: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + __import__("re").escape(message)):
        parse_number(text)


def feature(geometry: dict[str, object], **props: object) -> dict[str, object]:
    base = {"id": "a", "name": "Bản A", "commune": "Thượng Nông", "province": "Tuyên Quang"}
    return {"type": "Feature", "properties": {**base, **props}, "geometry": geometry}


SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[105.49, 22.56], [105.5, 22.56], [105.5, 22.57], [105.49, 22.57], [105.49, 22.56]]
    ],
}


def test_households_in_vietnamese_notation_are_read_not_misread() -> None:
    result = validate_village_features(
        [
            (0, feature(SQUARE, households="1.234")),
            (1, feature(SQUARE, id="b", households="1,234")),
            (2, feature(SQUARE, id="c", households="1.234,5")),
        ]
    )
    assert result.valid["households"].tolist() == [1234]
    assert [(r.index, r.field, r.reason) for r in result.rejected] == [
        (
            1,
            "households",
            "'1,234' is ambiguous: 1234 (English) or 1.234 (Vietnamese); write 1234 or 1,2340",
        ),
        (2, "households", "'1.234,5' is not an integer"),
    ]


def test_district_is_optional() -> None:
    result = validate_village_features([(0, feature(SQUARE, households=5))])
    assert result.rejected == []
    assert result.valid["district"].tolist() == [None]
    assert result.valid["boundary"].tolist() == ["polygon"]


def test_a_point_without_communes_is_refused_with_the_way_out() -> None:
    point = {"type": "Point", "coordinates": [105.495, 22.565]}
    result = validate_village_features([(0, feature(point, households=5))])
    assert result.valid.empty
    assert result.rejected_by_reason == {
        "geometry: a Point: a village point needs the communes (lomsong region load"
        " --communes) to draw its Voronoi cell": 1
    }


def two_communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["thuong-nong", "yen-hoa"],
            "name": ["Thượng Nông", "Yên Hoa"],
            "district": [None, None],
            "province": ["Tuyên Quang"] * 2,
            "unit_type": ["xã", "xã"],
            "aliases": [["Thượng Giáp"], []],
        },
        geometry=[
            shapely.box(105.40, 22.50, 105.50, 22.60),
            shapely.box(105.50, 22.50, 105.60, 22.60),
        ],
        crs="EPSG:4326",
    )


def test_points_become_voronoi_cells_clipped_to_their_commune() -> None:
    points = [
        (0, feature({"type": "Point", "coordinates": [105.42, 22.55]}, id="p1", households=10)),
        (
            1,
            feature({"type": "Point", "coordinates": [105.48, 22.55]}, id="p2", households="1.200"),
        ),
        # By its former name: Thượng Giáp is now part of Thượng Nông.
        (
            2,
            feature(
                {"type": "Point", "coordinates": [105.45, 22.59]},
                id="p3",
                households=3,
                commune="Thuong Giap",
            ),
        ),
        # No commune named: placed by where it lies.
        (
            3,
            feature(
                {"type": "Point", "coordinates": [105.55, 22.55]},
                id="p4",
                households=4,
                commune=None,
                province=None,
            ),
        ),
        (4, feature({"type": "Point", "coordinates": [105.70, 22.55]}, id="p5", households=4)),
        (5, feature({"type": "Point", "coordinates": [105.42, 22.55]}, id="p6", households=1)),
    ]
    result = validate_village_features(points, communes=two_communes())
    valid = result.valid.set_index("id")
    assert list(valid.index) == ["p1", "p2", "p3", "p4"]
    assert set(valid["boundary"]) == {"voronoi"}
    assert valid["commune_id"].tolist() == ["thuong-nong"] * 3 + ["yen-hoa"]
    assert valid.loc["p4", "province"] == "Tuyên Quang"
    assert valid.loc["p2", "households"] == 1200
    # The three cells of Thượng Nông tile it exactly, each around its point.
    tn = valid.loc[valid["commune_id"] == "thuong-nong"]
    union = shapely.union_all(tn.geometry.values)
    box = shapely.box(105.40, 22.50, 105.50, 22.60)
    assert union.symmetric_difference(box).area < 1e-6 * box.area
    assert sum(g.area for g in tn.geometry) == pytest.approx(box.area, rel=1e-4)
    for village in tn.itertuples():
        assert village.geometry.contains(shapely.Point(village.centre_lon, village.centre_lat))
    # A lone point of its commune gets the whole commune.
    assert (
        valid.loc["p4", "geometry"]
        .symmetric_difference(shapely.box(105.50, 22.50, 105.60, 22.60))
        .area
        < 1e-6
    )
    assert [(r.index, r.field, r.reason) for r in result.rejected] == [
        (4, "geometry", "the point lies outside commune 'thuong-nong'"),
        (5, "geometry", "the same place as an earlier village"),
    ]


def test_voronoi_cells_follow_the_points_order() -> None:
    points = [shapely.Point(3, 1), shapely.Point(1, 1), shapely.Point(1, 3)]
    cells = voronoi_cells(points, shapely.box(0, 0, 4, 4))
    assert [cell.contains(point) for cell, point in zip(cells, points, strict=True)] == [True] * 3
    assert sum(c.area for c in cells) == pytest.approx(16.0)


def test_a_semicolon_csv_of_points_with_a_field_map(tmp_path: Path) -> None:
    path = tmp_path / "thon.csv"
    path.write_text(
        "MA_THON;TEN_THON;SO_HO;KINH_DO;VI_DO\n"
        "t1;Thôn Một;1.234;105,42;22,55\n"
        "t2;Thôn Hai;87;105.48;22.55\n"
        "t3;Thôn Ba;5;abc;22.55\n",
        encoding="utf-8",
    )
    fields = FieldMap.parse({"id": "MA_THON", "name": "TEN_THON", "households": "SO_HO"})
    result = read_village_file(path, communes=two_communes(), fields=fields)
    assert result.valid[["id", "name", "households", "commune_id"]].values.tolist() == [
        ["t1", "Thôn Một", 1234, "thuong-nong"],
        ["t2", "Thôn Hai", 87, "thuong-nong"],
    ]
    assert result.rejected_by_reason == {
        "geometry: KINH_DO/VI_DO: 'abc' is not a number (1234, 1.234 or 1.234,5)": 1
    }


def test_a_spreadsheet_of_points_reads_as_its_csv_does(tmp_path: Path) -> None:
    from tests.geodata.formats.spreadsheets import xlsx_bytes

    rows = [
        ["MA_THON", "TEN_THON", "SO_HO", "KINH_DO", "VI_DO"],
        ["t1", "Thôn Một", "1.234", 105.42, 22.55],
        ["t2", "Thôn Hai", 87, 105.48, 22.55],
        ["t3", "Thôn Ba", 5, "abc", 22.55],
    ]
    path = tmp_path / "thon.xlsx"
    path.write_bytes(xlsx_bytes(rows))
    fields = FieldMap.parse({"id": "MA_THON", "name": "TEN_THON", "households": "SO_HO"})
    result = read_village_file(path, communes=two_communes(), fields=fields)
    assert result.valid[["id", "name", "households", "commune_id"]].values.tolist() == [
        ["t1", "Thôn Một", 1234, "thuong-nong"],
        ["t2", "Thôn Hai", 87, "thuong-nong"],
    ]
    assert result.rejected_by_reason == {
        "geometry: KINH_DO/VI_DO: 'abc' is not a number (1234, 1.234 or 1.234,5)": 1
    }


def test_a_file_that_misses_the_communes_names_swapped_axes(tmp_path: Path) -> None:
    path = tmp_path / "swapped.csv"
    path.write_text("id,name,households,lon,lat\na,A,1,22.55,105.42\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="lon and lat look swapped"):
        read_village_file(path, communes=two_communes())


def test_a_file_in_a_wrong_crs_is_refused_with_the_likely_cause(tmp_path: Path) -> None:
    # UTM metres written into a file that claims (or defaults to) degrees.
    frame = gpd.GeoDataFrame(
        {"id": ["a"], "name": ["A"], "households": [1]},
        geometry=[shapely.Point(500_000.0, 2_494_000.0)],
        crs="EPSG:3857",
    )
    frame.to_file(tmp_path / "wrong.gpkg")
    with pytest.raises(InvalidInputError) as caught:
        read_village_file(tmp_path / "wrong.gpkg", communes=two_communes())
    message = str(caught.value)
    assert "do not overlap the communes (lon 105.4..105.6, lat 22.5..22.6)" in message
    assert "a wrong CRS (it declares EPSG:3857)" in message


def test_check_overlap_on_coordinates_that_are_not_degrees() -> None:
    with pytest.raises(InvalidInputError, match="the coordinates are not degrees"):
        check_overlap("x", (500_000, 2_494_000, 500_100, 2_494_100), (105, 22, 106, 23))


def test_gadm_communes_with_unit_types_and_restored_names(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "GID_3": ["VNM.60.4.11_1", "VNM.60.6.1_1", "VNM.60.6.2_1"],
            "NAME_1": ["TuyênQuang"] * 3,
            "NAME_2": ["NàHang", "TuyênQuang", "TuyênQuang"],
            "NAME_3": ["ThượngNông", "PhanThiết", "NA"],
            "TYPE_3": ["Xã", "Phường", "Thịtrấn"],
        },
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 0, 3, 1)],
        crs="EPSG:4326",
    )
    frame.to_file(tmp_path / "gadm.geojson")
    result = read_commune_file(tmp_path / "gadm.geojson", fields=FieldMap.preset("gadm"))
    assert result.valid[["id", "name", "district", "province", "unit_type"]].values.tolist() == [
        ["thuong-nong", "Thượng Nông", "Nà Hang", "Tuyên Quang", "xã"],
        ["phan-thiet", "Phan Thiết", "Tuyên Quang", "Tuyên Quang", "phường"],
    ]
    assert result.rejected_by_reason == {"name: required field is missing": 1}


def test_commune_ids_default_to_the_name_and_aliases_split(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"ten": ["Thượng Nông"], "tinh": ["Tuyên Quang"], "ten_cu": ["Thượng Giáp; Xuân Tân"]},
        geometry=[shapely.box(0, 0, 1, 1)],
        crs="EPSG:4326",
    )
    frame.to_file(tmp_path / "xa.gpkg")
    fields = FieldMap.parse({"name": "ten", "province": "tinh", "aliases": "ten_cu"})
    result = read_commune_file(tmp_path / "xa.gpkg", fields=fields)
    row = result.valid.iloc[0]
    assert (row["id"], row["aliases"], row["unit_type"], row["district"]) == (
        "thuong-nong",
        ["Thượng Giáp", "Xuân Tân"],
        None,
        None,
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Xã", "xã"),
        ("PHƯỜNG", "phường"),
        ("Thị trấn", "thị trấn"),
        ("Thịtrấn", "thị trấn"),
        ("Đặc khu", "đặc khu"),
        ("NA", None),
        ("", None),
    ],
)
def test_unit_types_come_from_the_data(given: str, expected: str | None) -> None:
    assert unit_type(given) == expected


def test_a_field_map_refuses_unknown_fields(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown field\\(s\\) hamlet"):
        FieldMap.parse({"hamlet": "x"})
    (tmp_path / "map.json").write_text('{"name": "TEN", "households": "SO_HO"}')
    assert FieldMap.read(tmp_path / "map.json").fields == {"name": "TEN", "households": "SO_HO"}
