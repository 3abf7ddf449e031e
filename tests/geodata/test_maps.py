"""geodata.maps.render_commune_map: offline, one polygon per village, bilingual legend."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geodata.errors import InvalidInputError
from geodata.maps import VILLAGE_CLASS, render_commune_map

# Hosts folium would load from by default; the page must name none of them.
FORBIDDEN = ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "fonts.googleapis")
LEAFLET_DIST = Path(__file__).resolve().parents[2] / "node_modules" / "leaflet" / "dist"


@pytest.fixture
def villages() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "name": ["Bản Giòng", "Nà Tà", "Bản Hun", "Khoan Hạ"],
            "verdict": ["no_signal", "patchy", "covered", None],
            "households": [98, 40, 61, 30],
            "households_without_signal": [98, 12, 0, None],
            "best_carrier": [None, "VinaPhone", "Viettel", None],
        },
        geometry=[
            shapely.box(105.49 + 0.01 * i, 22.56, 105.495 + 0.01 * i, 22.57) for i in range(4)
        ],
        crs="EPSG:4326",
    )


@pytest.fixture
def zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["z"], "verdict": ["no_signal"], "area_km2": [0.31]},
        geometry=[shapely.box(105.491, 22.561, 105.494, 22.564)],
        crs="EPSG:4326",
    )


def asset_urls(page: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page)


def test_vietnamese_by_default(villages: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> None:
    page = render_commune_map(villages, dead_zones=zones, commune_name="Thượng Nông")

    for label in (
        "Trắng sóng (không có sóng)",
        "Lõm sóng (sóng chập chờn)",
        "Có sóng",
        "Chưa đủ dữ liệu",
        "Thượng Nông",
    ):
        assert label in page
    # Popup aliases and feature data are embedded as JSON, with \u escapes.
    assert json.dumps("Hộ không có sóng dùng được")[1:-1] in page
    assert json.dumps("Trắng sóng (không có sóng)")[1:-1] in page  # the popup's verdict
    assert "Patchy signal" not in page


def test_english_on_request(villages: gpd.GeoDataFrame) -> None:
    page = render_commune_map(villages, commune_name="Thượng Nông", lang="en")

    for label in ("No signal", "Patchy signal", "Covered", "Not enough data"):
        assert label in page
    assert "Trắng sóng" not in page


def test_each_village_is_one_styled_polygon(villages: gpd.GeoDataFrame) -> None:
    page = render_commune_map(villages, commune_name="Thượng Nông")

    # One style rule per verdict present, each carrying the village class.
    for colour in ("#d7191c", "#fdae61", "#1a9641", "#9e9e9e"):
        assert re.search(rf'"className": "{VILLAGE_CLASS}"[^}}]*"fillColor": "{colour}"', page)
    assert page.count('"type": "Polygon"') == len(villages)


def test_loads_only_leaflet_from_the_given_url(
    villages: gpd.GeoDataFrame, zones: gpd.GeoDataFrame
) -> None:
    page = render_commune_map(villages, dead_zones=zones, commune_name="X", assets_url="/s/lf/")

    assert asset_urls(page) == ["/s/lf/leaflet.js", "/s/lf/leaflet.css"]
    assert not re.search(r"https?://", page)
    assert not any(host in page for host in FORBIDDEN)


def test_inline_assets_make_a_single_offline_file(villages: gpd.GeoDataFrame) -> None:
    page = render_commune_map(villages, commune_name="X", inline_assets_dir=LEAFLET_DIST)

    assert asset_urls(page) == []
    assert "L.map(" in page and ".leaflet-container" in page
    assert not any(host in page for host in FORBIDDEN)


def test_folium_defaults_are_left_alone(villages: gpd.GeoDataFrame) -> None:
    import folium

    render_commune_map(villages, commune_name="X")

    assert any("leaflet" in url for _, url in folium.Map.default_js)
    assert len(folium.Map.default_css) > 2


def test_empty_commune_still_renders() -> None:
    empty = gpd.GeoDataFrame({"id": [], "name": []}, geometry=[], crs="EPSG:4326")

    page = render_commune_map(empty, commune_name="X")

    assert "Trắng sóng (không có sóng)" in page


def test_refuses_missing_crs_and_unknown_language(villages: gpd.GeoDataFrame) -> None:
    with pytest.raises(InvalidInputError, match="no CRS"):
        render_commune_map(villages.set_crs(None, allow_override=True), commune_name="X")
    with pytest.raises(InvalidInputError, match="unknown language 'fr'"):
        render_commune_map(villages, commune_name="X", lang="fr")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="Leaflet assets not found"):
        render_commune_map(villages, commune_name="X", inline_assets_dir=Path("/nonexistent"))
