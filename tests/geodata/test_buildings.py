"""Building footprints and points: read in any CRS, one point per building."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geodata.buildings import read_buildings
from geodata.errors import InvalidInputError


def footprints(crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    houses = [
        shapely.box(105.49 + i * 0.001, 22.56, 105.4905 + i * 0.001, 22.5605) for i in range(3)
    ]
    return gpd.GeoDataFrame({"building": ["house"] * 3}, geometry=houses, crs="EPSG:4326").to_crs(
        crs
    )


@pytest.mark.parametrize(
    "driver, suffix", [("GeoJSON", "geojson"), ("GPKG", "gpkg"), ("FlatGeobuf", "fgb")]
)
def test_footprints_become_points_inside_them(tmp_path: Path, driver: str, suffix: str) -> None:
    path = tmp_path / f"buildings.{suffix}"
    frame = footprints("EPSG:32648" if driver != "GeoJSON" else "EPSG:4326")
    frame.to_file(path, driver=driver)
    found = read_buildings(path)
    assert found.rejected_by_reason == {}
    assert found.points.crs == "EPSG:4326"
    assert len(found.points) == 3
    # Each point lies inside a footprint (FlatGeobuf may reorder features).
    houses = shapely.union_all(footprints().geometry.to_numpy())
    assert shapely.contains(houses, found.points.geometry.to_numpy()).all()


def test_only_the_box_is_read(tmp_path: Path) -> None:
    path = tmp_path / "buildings.gpkg"
    footprints().to_file(path, driver="GPKG")
    found = read_buildings(path, bbox=(105.4895, 22.559, 105.4908, 22.561))
    assert len(found.points) == 1


def test_lines_are_left_out_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "mixed.gpkg"
    frame = gpd.GeoDataFrame(
        geometry=[
            shapely.Point(105.49, 22.56),
            shapely.LineString([(105.49, 22.56), (105.5, 22.57)]),
        ],
        crs="EPSG:4326",
    )
    frame.to_file(path, driver="GPKG")
    found = read_buildings(path)
    assert len(found.points) == 1
    assert found.rejected_by_reason == {"not a point or polygon": 1}


def test_not_a_vector_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "buildings.geojson"
    path.write_text("this is not GeoJSON", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a vector file of buildings"):
        read_buildings(path)
