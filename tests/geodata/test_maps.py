"""geodata.maps: offline pages, one polygon per village, bilingual legend, light hexagons."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.errors import InvalidInputError
from geodata.maps import (
    CommuneUrls,
    MapPage,
    Nav,
    commune_page,
    render_index_page,
    render_map,
)
from geodata.maps.display import display_geometry, encode_rings, sector_wedges
from geodata.maps.features import signal_lines
from geodata.maps.layers import OWN_CSS, OWN_JS, versioned

# Hosts folium would load from by default; the page must name none of them.
FORBIDDEN = ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "fonts.googleapis")
LEAFLET_DIST = Path(__file__).resolve().parents[2] / "node_modules" / "leaflet" / "dist"
WGS84 = "EPSG:4326"


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
            "carriers": [
                {"VinaPhone": {"radio": "lte", "centre_p_usable": 0.05, "evidence": "measured"}},
                None,
                None,
                None,
            ],
            "readings_count": [12, 0, 3, 0],
            "last_reading": ["2026-01-05T03:00:00+00:00", None, None, None],
        },
        geometry=[
            shapely.box(105.49 + 0.01 * i, 22.56, 105.495 + 0.01 * i, 22.57) for i in range(4)
        ],
        crs=WGS84,
    )


@pytest.fixture
def zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["z"], "verdict": ["no_signal"], "area_km2": [0.31], "carriers_absent": [["A"]]},
        geometry=[shapely.box(105.491, 22.561, 105.494, 22.564)],
        crs=WGS84,
    )


@pytest.fixture
def cells() -> gpd.GeoDataFrame:
    hexes = [shapely.Point(105.49 + 0.002 * i, 22.565).buffer(0.001, 3) for i in range(3)]
    return gpd.GeoDataFrame(
        {
            "carrier": ["Viettel", "Viettel", "VinaPhone"],
            "radio": ["lte", "lte", "umts"],
            "cell_class": ["good", "no_signal", "patchy"],
            "evidence": ["measured", "predicted", "measured"],
            "count": [5, 0, 3],
        },
        geometry=hexes,
        crs=WGS84,
    )


def asset_urls(page: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page)


def collections(page: str, function: str = "featureLayer") -> list[dict]:  # type: ignore[type-arg]
    """The JSON data passed to ``lomsong.<function>(data, options)`` calls in the page."""
    decoder = json.JSONDecoder()
    out = []
    for match in re.finditer(rf"lomsong\.{function}\(", page):
        data, _ = decoder.raw_decode(page, match.end())
        out.append(data)
    return out


def test_vietnamese_by_default(villages: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> None:
    page = commune_page(villages, dead_zones=zones, commune="Thượng Nông")

    for label in (
        "Trắng sóng (không có sóng)",
        "Lõm sóng (sóng chập chờn)",
        "Có sóng",
        "Chưa đủ dữ liệu",
        "Thượng Nông",
        "Hộ không có sóng dùng được",
    ):
        assert label in page
    props = collections(page)[0]["features"][0]["properties"]
    assert props["name"] == "Bản Giòng"
    assert props["verdict_label"] == "Trắng sóng (không có sóng)"
    assert props["signal"] == [
        "VinaPhone 4G: dùng được 5% thời gian tại trung tâm thôn (đo thực tế)"
    ]
    assert (props["households"], props["without"], props["readings"]) == ("98", "98", "12")
    assert props["last_reading"] == "05/01/2026"  # dd/mm/yyyy for people
    assert "Patchy signal" not in page


def test_english_on_request(villages: gpd.GeoDataFrame) -> None:
    page = commune_page(villages, commune="Thượng Nông", lang="en")

    for label in ("No signal", "Patchy signal", "Covered", "Not enough data"):
        assert label in page
    assert "Trắng sóng" not in page


def test_one_feature_per_village_with_its_verdict(villages: gpd.GeoDataFrame) -> None:
    page = commune_page(villages, commune="Thượng Nông")

    village_layer, centres = collections(page)
    assert [f["geometry"]["type"] for f in village_layer["features"]] == ["Polygon"] * 4
    verdicts = [f["properties"]["verdict"] for f in village_layer["features"]]
    assert verdicts == ["no_signal", "patchy", "covered", "unknown"]
    assert len(centres["features"]) == 4
    assert '"className":"lomsong-village"' in page


def test_loads_only_leaflet_and_our_files_from_the_given_urls(
    villages: gpd.GeoDataFrame, zones: gpd.GeoDataFrame
) -> None:
    page = commune_page(villages, dead_zones=zones, commune="X", assets_url="/s/lf/")

    assert asset_urls(page) == [
        "/s/lf/leaflet.js",
        f"/static/lomsong/{versioned(OWN_JS)}",
        "/s/lf/leaflet.css",
        f"/static/lomsong/{versioned(OWN_CSS)}",
    ]
    assert re.fullmatch(r"lomsong-map\.js\?v=[0-9a-f]{12}", versioned(OWN_JS))
    assert not re.search(r"https?://", page)
    assert not any(host in page for host in FORBIDDEN)


def test_inline_assets_make_a_single_offline_file(villages: gpd.GeoDataFrame) -> None:
    page = commune_page(villages, commune="X", inline_assets_dir=LEAFLET_DIST)

    assert asset_urls(page) == []
    assert "L.map(" in page and ".leaflet-container" in page and "hexLayer" in page
    assert not any(host in page for host in FORBIDDEN)


def test_folium_defaults_are_left_alone(villages: gpd.GeoDataFrame) -> None:
    import folium

    commune_page(villages, commune="X")

    assert any("leaflet" in url for _, url in folium.Map.default_js)
    assert len(folium.Map.default_css) > 2


def test_empty_commune_still_renders() -> None:
    empty = gpd.GeoDataFrame({"id": [], "name": []}, geometry=[], crs=WGS84)

    page = commune_page(empty, commune="X")

    assert "Trắng sóng (không có sóng)" in page


def test_refuses_missing_crs_and_unknown_language(villages: gpd.GeoDataFrame) -> None:
    with pytest.raises(InvalidInputError, match="no CRS"):
        commune_page(villages.set_crs(None, allow_override=True), commune="X")
    with pytest.raises(InvalidInputError, match="unknown language 'fr'"):
        commune_page(villages, commune="X", lang="fr")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="Leaflet assets not found"):
        commune_page(villages, commune="X", inline_assets_dir=Path("/nonexistent"))


def test_hex_layers_per_carrier_and_radio(
    villages: gpd.GeoDataFrame, cells: gpd.GeoDataFrame
) -> None:
    page = commune_page(villages, commune="X", cells=cells)

    hexes = collections(page, "hexLayer")
    assert [len(h["c"]) for h in hexes] == [2, 1]  # Viettel LTE, VinaPhone UMTS
    assert hexes[0]["v"] == [0, 4]  # good, no_signal
    assert hexes[0]["e"] == [0, 1] and hexes[0]["n"] == [5, 0]
    # The layer control's names are JSON with \u escapes.
    assert json.dumps("Sóng: Viettel 4G")[1:-1] in page
    assert json.dumps("Sóng: VinaPhone 3G")[1:-1] in page
    assert "Sóng tốt (3–4 vạch)" in page  # the legend's signal section


def test_sites_with_sector_wedges(villages: gpd.GeoDataFrame) -> None:
    sites = pd.DataFrame(
        {
            "site_id": ["s1", "s1"],
            "name": ["Trạm 1", "Trạm 1"],
            "carrier": ["Viettel", "Viettel"],
            "radio": ["lte", "lte"],
            "lon": [105.5, 105.5],
            "lat": [22.56, 22.56],
            "azimuth_deg": [90.0, np.nan],
        }
    )

    page = commune_page(villages, commune="X", sites=sites)

    site_layer = collections(page)[1]
    kinds = [f["geometry"]["type"] for f in site_layer["features"]]
    assert kinds == ["Polygon", "Point"]  # one wedge (azimuth known), one point per site
    wedge = shapely.geometry.shape(site_layer["features"][0]["geometry"])
    assert wedge.centroid.x > 105.5  # pointing east


def test_nav_links_up_and_down(villages: gpd.GeoDataFrame) -> None:
    nav = Nav(up=[("Tất cả", "/maps")], down_title="Thôn", down=[("Bản Giòng", "/maps/villages/a")])

    page = render_map(MapPage(villages, "Xã <X>", nav=nav))

    assert '<a href="/maps">Tất cả</a>' in page
    assert '<a href="/maps/villages/a">Bản Giòng</a>' in page
    assert "Xã &lt;X&gt;" in page


def test_overview_is_lighter(villages: gpd.GeoDataFrame) -> None:
    full = render_map(MapPage(villages, "X"))
    overview = render_map(MapPage(villages, "X"), detail="overview")

    assert "signal" in collections(full)[0]["features"][0]["properties"]
    assert "signal" not in collections(overview)[0]["features"][0]["properties"]
    assert len(overview) < len(full)


def test_display_geometry_simplifies_in_metres_and_rounds() -> None:
    wiggly = shapely.Point(105.5, 22.5).buffer(0.01, 64)
    frame = gpd.GeoDataFrame(geometry=[wiggly], crs=WGS84)

    light = display_geometry(frame, tolerance_m=25.0).geometry.iloc[0]

    assert shapely.get_num_coordinates(light) < shapely.get_num_coordinates(wiggly) / 2
    coords = shapely.get_coordinates(light)
    assert np.allclose(coords, np.round(coords, 5))
    assert light.symmetric_difference(wiggly).area / wiggly.area < 0.05


def test_encode_rings_round_trips() -> None:
    hexagon = shapely.Point(105.4912345, 22.5654321).buffer(0.001, 2)

    (encoded,) = encode_rings(np.array([hexagon]))

    lat, lng = np.cumsum(encoded[0::2]) / 1e5, np.cumsum(encoded[1::2]) / 1e5
    decoded = shapely.Polygon(np.column_stack([lng, lat]))
    assert decoded.symmetric_difference(hexagon).area < 1e-2 * hexagon.area


def test_sector_wedges_only_where_azimuth_is_known() -> None:
    sites = pd.DataFrame({"lon": [105.5, 105.5], "lat": [22.5, 22.5], "azimuth_deg": [0.0, np.nan]})

    north, omni = sector_wedges(sites)

    assert omni is None
    assert north.centroid.y > 22.5 and abs(north.centroid.x - 105.5) < 1e-4


def test_signal_lines() -> None:
    lines = signal_lines(
        {
            "B": {"radio": "nr", "centre_p_usable": None, "evidence": "predicted"},
            "A": {"radio": "lte", "centre_p_usable": 0.5, "evidence": "measured"},
        },
        lang="en",
    )

    assert lines == [
        "A 4G: usable 50% of the time at the village centre (measured)",
        "B 5G: no evidence at the village centre",
    ]
    assert signal_lines(None, lang="vi") == ["—"]


def test_index_page_lists_the_hierarchy_and_search_entries() -> None:
    communes = pd.DataFrame(
        {
            "id": ["tn", "lp"],
            "name": ["Thượng Nông", "Linh Phú"],
            "district": ["Na Hang", "Chiêm Hóa"],
            "province": ["Tuyên Quang"] * 2,
        }
    )
    villages = pd.DataFrame(
        {"id": ["bg"], "name": ["Bản Giòng"], "commune_id": ["tn"], "verdict": ["patchy"]}
    )

    page = render_index_page(communes, villages, lang="vi")

    assert '<a href="/maps/provinces/tuyen-quang">Tỉnh Tuyên Quang</a>' in page
    assert "<h3>Huyện Chiêm Hóa</h3>" in page and "<h3>Huyện Na Hang</h3>" in page
    assert '<a href="/maps/communes/tn">Thượng Nông</a>' in page
    assert '["Bản Giòng","ban giong","/maps/villages/bg","Thôn/bản · Thượng Nông"]' in page
    assert "1 thôn/bản: 1 lõm sóng" in page
    assert asset_urls(page) == [
        f"/static/lomsong/{versioned(OWN_CSS)}",
        f"/static/lomsong/{versioned(OWN_JS)}",
    ]


HOSTILE = ["<script>alert(1)</script>", "Bản $\\foo$", 'Nà "Tà" & <b>', "Khoan Hạ"]


def outside_scripts(page: str) -> str:
    """The page without its script elements (data in them is JSON, ``</`` escaped)."""
    return re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)


def test_names_are_text_never_markup(villages: gpd.GeoDataFrame) -> None:
    hostile = villages.assign(name=HOSTILE)
    nav = Nav(
        up=[("<i>up</i>", "/maps?a=1&b=2")],
        down_title="Thôn <u>",
        down=[(str(n), f"/maps/villages/{i}") for i, n in zip(hostile["id"], HOSTILE, strict=True)],
        extra=[("Báo cáo", '/r?x="1"')],
    )
    sites = pd.DataFrame(
        {"carrier": ["<Carrier>"], "radio": ["lte"], "lon": [105.5], "lat": [22.565]}
    ).assign(azimuth_deg=np.nan, beamwidth_deg=65.0, site_id="s", name="<site>")

    page = render_map(MapPage(hostile, "Xã <script>", nav=nav, sites=sites))

    markup = outside_scripts(page)
    assert "<script" not in markup and "<b>" not in markup and "<i>" not in markup
    assert "<title>Bản đồ sóng di động — Xã &lt;script&gt;</title>" in page
    assert "<h1>Xã &lt;script&gt;</h1>" in page
    assert '<a href="/maps?a=1&amp;b=2">&lt;i&gt;up&lt;/i&gt;</a>' in page
    assert '<a href="/r?x=&#34;1&#34;">Báo cáo</a>' in page
    assert "<summary>Thôn &lt;u&gt;</summary>" in page
    assert '<a href="/maps/villages/a">&lt;script&gt;alert(1)&lt;/script&gt;</a>' in page
    assert '<a href="/maps/villages/b">Bản $\\foo$</a>' in page
    assert '<a href="/maps/villages/c">Nà &#34;Tà&#34; &amp; &lt;b&gt;</a>' in page
    assert "</span>&lt;Carrier&gt;</div>" in page  # the legend's site section
    # In the layers' data the names are JSON text, with no way out of the script element.
    names = [f["properties"]["name"] for f in collections(page)[0]["features"]]
    assert names == HOSTILE
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in page


def test_the_index_page_escapes_names() -> None:
    communes = pd.DataFrame(
        {"id": ["x"], "name": ["<b>X</b>"], "district": ["Na <i>"], "province": ["Hà $\\foo$"]}
    )
    villages = pd.DataFrame({"id": ["v"], "name": ["</script><script>"], "commune_id": ["x"]})

    page = render_index_page(communes, villages)

    markup = outside_scripts(page)
    assert "<b>" not in markup and "<i>" not in markup and "<script" not in markup
    assert '<a href="/maps/communes/x">&lt;b&gt;X&lt;/b&gt;</a>' in page
    assert '<h2><a href="/maps/provinces/ha-foo">Tỉnh Hà $\\foo$</a></h2>' in page
    assert '"\\u003c/script\\u003e\\u003cscript\\u003e"' in page


def test_commune_page_is_one_page_with_or_without_the_service_links(
    villages: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, cells: gpd.GeoDataFrame
) -> None:
    sites = pd.DataFrame(
        {
            "carrier": ["Viettel", "VinaPhone"],
            "radio": ["lte", "lte"],
            "lon": [105.5, 106.5],  # the second is ~100 km away: not shown
            "lat": [22.565, 22.565],
            "azimuth_deg": [np.nan, np.nan],
            "beamwidth_deg": [65.0, 65.0],
            "site_id": ["near", "far"],
            "name": ["near", "far"],
        }
    )
    layers = (villages, zones, cells, sites)

    served = commune_page(
        *layers, commune="Thượng Nông", urls=CommuneUrls("thuong-nong", province="Tuyên Quang")
    )
    alone = commune_page(*layers, commune="Thượng Nông", lang="vi")

    for page in (served, alone):
        assert "<h1>Xã Thượng Nông</h1>" in page
        assert page.count("lomsong.hexLayer(") == 2  # Viettel LTE, VinaPhone UMTS
        site_layer = collections(page)[2]
        assert [f["properties"]["label"] for f in site_layer["features"]] == ["Trạm near · Viettel"]
    for href in (
        "/maps",
        "/maps/provinces/tuyen-quang",
        "/maps/villages/a",
        "/reports/communes/thuong-nong",
        "/maps/communes/thuong-nong?lang=en",
    ):
        assert f'href="{href}"' in served and f'href="{href}"' not in alone
    unlinked = [f["properties"].get("url") for f in collections(alone)[0]["features"]]
    assert unlinked == [None] * 4


SCRIPT_BREAKERS = ["Bản <!--<script>", "</SCRIPT><b>", "a & b", "line\u2028sep\u2029par", "x > y"]


def script_bodies(page: str) -> list[str]:
    """The text of every inline ``<script>`` element, as an HTML parser would cut it."""
    return re.findall(r"<script\b[^>]*>(.*?)</script", page, flags=re.S | re.I)


def assert_scripts_are_inert(page: str) -> None:
    for body in script_bodies(page):
        assert "<!--" not in body and "<script" not in body.lower() and "</" not in body
        assert "\u2028" not in body and "\u2029" not in body


def test_script_data_can_neither_close_nor_reopen_markup(
    villages: gpd.GeoDataFrame, cells: gpd.GeoDataFrame
) -> None:
    hostile = villages.assign(name=SCRIPT_BREAKERS[:4])
    sites = pd.DataFrame(
        {"carrier": [SCRIPT_BREAKERS[0]], "radio": ["lte"], "lon": [105.5], "lat": [22.565]}
    ).assign(azimuth_deg=np.nan, beamwidth_deg=65.0, site_id="s", name=SCRIPT_BREAKERS[1])
    cells = cells.assign(carrier=[SCRIPT_BREAKERS[0], SCRIPT_BREAKERS[0], SCRIPT_BREAKERS[4]])

    page = commune_page(hostile, cells=cells, sites=sites, commune=SCRIPT_BREAKERS[0])

    assert len(script_bodies(page)) >= 1
    assert_scripts_are_inert(page)
    assert [f["properties"]["name"] for f in collections(page)[0]["features"]] == (
        SCRIPT_BREAKERS[:4]
    )
    assert "\\u003c!--\\u003cscript\\u003e" in page  # not stripped: escaped
    assert "line\\u2028sep\\u2029par" in page


def test_the_index_page_script_data_is_inert() -> None:
    communes = pd.DataFrame(
        {"id": ["x"], "name": ["Xã <!--"], "district": [None], "province": ["T"]}
    )
    villages = pd.DataFrame({"id": ["v"], "name": [SCRIPT_BREAKERS[0]], "commune_id": ["x"]})

    page = render_index_page(communes, villages)

    assert_scripts_are_inert(page)
    start = re.search(r'getElementById\("lomsong-results"\),\s*', page)
    assert start is not None
    entries, _ = json.JSONDecoder().raw_decode(page, start.end())
    assert [e[0] for e in entries] == ["Xã <!--", SCRIPT_BREAKERS[0]]


ODD_IDS = ["a b", "x?y=1", "p#q", "../up", "s/t"]


def test_links_percent_encode_ids(villages: gpd.GeoDataFrame) -> None:
    odd = villages.assign(id=ODD_IDS[:4])
    urls = CommuneUrls("c/1?x #y", province="Tuyên Quang")

    page = commune_page(odd, commune="X", urls=urls)

    for encoded in ("a%20b", "x%3Fy%3D1", "p%23q", "..%2Fup"):
        assert f'href="/maps/villages/{encoded}"' in page
    assert 'href="/reports/communes/c%2F1%3Fx%20%23y"' in page
    assert 'href="/maps/communes/c%2F1%3Fx%20%23y?lang=en"' in page
    popup_urls = [f["properties"]["url"] for f in collections(page)[0]["features"]]
    assert popup_urls == [
        "/maps/villages/a%20b",
        "/maps/villages/x%3Fy%3D1",
        "/maps/villages/p%23q",
        "/maps/villages/..%2Fup",
    ]


def test_the_index_links_percent_encode_ids() -> None:
    communes = pd.DataFrame({"id": ["s/t"], "name": ["Xã"], "district": ["H"], "province": ["T"]})
    villages = pd.DataFrame({"id": ["../up", "p#q"], "name": ["A", "B"], "commune_id": ["s/t"] * 2})

    page = render_index_page(communes, villages, lang="en")

    assert '<a href="/maps/communes/s%2Ft?lang=en">Xã</a>' in page
    assert '"/maps/villages/..%2Fup?lang=en"' in page
    assert '"/maps/villages/p%23q?lang=en"' in page
    assert '"/maps/communes/s%2Ft?lang=en"' in page


def village_options(page: str) -> dict:  # type: ignore[type-arg]
    """The options of the village layer: ``lomsong.featureLayer(data, options)``."""
    decoder = json.JSONDecoder()
    match = re.search(r"lomsong\.featureLayer\(", page)
    assert match is not None
    _, end = decoder.raw_decode(page, match.end())
    options, _ = decoder.raw_decode(page, end + len(", "))
    return options  # type: ignore[no-any-return]


def test_pages_are_phone_pages_in_their_language(
    villages: gpd.GeoDataFrame, zones: gpd.GeoDataFrame
) -> None:
    vi = commune_page(villages, dead_zones=zones, commune="X")
    en = commune_page(villages, commune="X", lang="en")

    assert vi.startswith('<!DOCTYPE html>\n<html lang="vi">')
    assert en.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in vi
    assert "user-scalable" not in vi and "maximum-scale" not in vi
    assert "L.control.scale({ imperial: false })" in vi
    assert "lomsong.panels(" in vi and '{"layers":"Lớp bản đồ","legend":"Chú giải"}' in vi
    assert '{"layers":"Map layers","legend":"Legend"}' in en
    assert '<p class="lomsong-print-date">In ngày <time data-lomsong-today></time></p>' in vi
    assert '<p class="lomsong-print-date">Printed on <time data-lomsong-today></time></p>' in en


def test_villages_own_clicks_and_carry_their_labels(
    villages: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, cells: gpd.GeoDataFrame
) -> None:
    page = commune_page(
        villages.assign(centre_lon=105.4912, centre_lat=22.5634),
        commune="X",
        dead_zones=zones,
        cells=cells,
    )

    options = village_options(page)
    assert options["ownsClicks"] is True and options["label"] == "name"
    assert options["labelAt"] == [[22.5634, 105.4912]] * 4  # the recorded centres
    # Zones, hexagons and centre dots hand a click inside a village to the village.
    assert page.count('"yields":true') == 1 + 2 + 1  # zones, two hex layers, centres


def test_an_overview_leaves_the_label_points_to_the_browser(villages: gpd.GeoDataFrame) -> None:
    options = village_options(render_map(MapPage(villages, "X"), detail="overview"))

    assert options["label"] == "name" and "labelAt" not in options
