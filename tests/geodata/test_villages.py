"""Village files: any CRS in, EPSG:4326 out, NFC names, clear errors."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geodata.errors import InvalidInputError, MissingColumnError
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


def test_missing_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "v.geojson"
    village_frame().drop(columns=["households"]).to_file(path)
    with pytest.raises(
        MissingColumnError, match=r"villages: missing required field\(s\): households"
    ):
        read_villages(path)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.geojson"
    village_frame(id=["v1", "v1"]).to_file(path)
    with pytest.raises(InvalidInputError, match="duplicate id"):
        read_villages(path)


def test_bad_households_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "v.geojson"
    village_frame(households=[98, -3]).to_file(path)
    with pytest.raises(InvalidInputError, match="row 1: households must be a non-negative integer"):
        read_villages(path)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "v.geojson"
    path.write_text("not json")
    with pytest.raises(InvalidInputError, match="not a readable vector file"):
        read_villages(path)


def test_commune_id_folds_vietnamese() -> None:
    assert commune_id("Linh Phú") == "linh-phu"
    assert commune_id("Đống Đa") == "dong-da"
