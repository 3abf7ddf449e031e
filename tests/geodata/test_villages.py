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
from geodata.formats import read_villages as read_village_file
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
    result = read_village_file(path)
    assert result.valid["id"].tolist() == ["v1", "v2"]
    assert result.valid["name"].tolist() == ["Bản Giòng", "Nà Tà"]
    assert [(r.index, r.field, r.reason) for r in result.rejected] == [
        (2, "id", "the same id as an earlier feature"),
        (3, "households", "outside 0..1e+07"),
    ]
    assert result.rejected_by_reason == {
        "id: the same id as an earlier feature": 1,
        "households: outside 0..1e+07": 1,
    }
    assert read_villages(path)["id"].tolist() == ["v1", "v2"]  # the thin wrapper


def test_a_geojson_stream_and_a_geopackage_give_the_same_villages(tmp_path: Path) -> None:
    path = tmp_path / "villages.gpkg"
    village_frame().to_crs("EPSG:32648").to_file(path)
    from_gpkg = read_village_file(path).valid
    from_geojson = read_village_file(io.BytesIO(village_frame().to_json().encode())).valid
    assert from_gpkg["id"].tolist() == from_geojson["id"].tolist() == ["v1", "v2"]
    assert from_gpkg.crs == from_geojson.crs == "EPSG:4326"
    assert from_gpkg.geom_equals_exact(from_geojson, tolerance=1e-7).all()


def test_a_flatgeobuf_stream_is_read_through_gdal(tmp_path: Path) -> None:
    path = tmp_path / "villages.fgb"
    village_frame().to_crs("EPSG:32648").to_file(path, SPATIAL_INDEX="NO")
    result = read_village_file(io.BytesIO(path.read_bytes()))
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
