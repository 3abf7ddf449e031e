"""What the map pages say: legends for every symbol drawn, colours apart, words people use.

Pages are rendered from small frames built here (not the demo generator's);
the legend is read back from the HTML and compared with what the layers draw.
"""

from __future__ import annotations

import itertools
import json
import re
from html.parser import HTMLParser

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from colorspacious import cspace_convert

from geodata.maps import MapPage, render_map
from geodata.maps import layers as L
from geodata.maps.features import (
    LEGEND_SYMBOLS,
    legend_sections,
    signal_lines,
    site_collection,
    village_collection,
)
from geodata.maps.text import CELL_CLASS_COLOURS, VERDICT_COLOURS, radio_word

WGS84 = "EPSG:4326"


@pytest.fixture
def villages() -> gpd.GeoDataFrame:
    """Three villages: none serves the first, VinaPhone the second, the third is not known."""
    return gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["Thôn Một", "Thôn Hai", "Thôn Ba"],
            "verdict": ["no_signal", "patchy", "unknown"],
            "households": [40, 25, 10],
            "households_without_signal": [40, 5, None],
            "best_carrier": [None, "VinaPhone", None],
            "carriers": [
                {
                    "MobiFone": {
                        "radio": "lte",
                        "centre_p_usable": 0.05,
                        "evidence": "measured",
                        "nearest_site_m": 2630,
                        "behind_terrain": True,
                    }
                },
                {
                    "VinaPhone": {
                        "radio": "umts",
                        "centre_p_usable": 0.62,
                        "evidence": "predicted",
                        "nearest_site_m": 940,
                        "behind_terrain": None,
                    }
                },
                None,
            ],
            "reasons": [["First why.", "Detail."], ["Second why."], []],
            "reasons_vi": [["Vì sao một.", "Chi tiết."], ["Vì sao hai."], []],
        },
        geometry=[
            shapely.box(105.49 + 0.01 * i, 22.56, 105.495 + 0.01 * i, 22.57) for i in range(3)
        ],
        crs=WGS84,
    )


@pytest.fixture
def dead_zones() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["z1", "z2"], "verdict": ["no_signal", "patchy"], "area_km2": [0.2, 0.4]},
        geometry=[
            shapely.box(105.491, 22.561, 105.494, 22.564),
            shapely.box(105.50, 22.56, 105.503, 22.563),
        ],
        crs=WGS84,
    )


@pytest.fixture
def cells() -> gpd.GeoDataFrame:
    hexes = [shapely.Point(105.49 + 0.002 * i, 22.565).buffer(0.001, 3) for i in range(2)]
    return gpd.GeoDataFrame(
        {
            "carrier": ["Viettel", "Viettel"],
            "radio": ["lte", "lte"],
            "cell_class": ["good", "weak"],
            "evidence": ["measured", "predicted"],
            "count": [5, 0],
        },
        geometry=hexes,
        crs=WGS84,
    )


@pytest.fixture
def sites() -> pd.DataFrame:
    """A Viettel sector pointing east and an omni VinaPhone site."""
    return pd.DataFrame(
        {
            "site_id": ["s1", "s2"],
            "name": ["Trạm 1", "Trạm 2"],
            "carrier": ["Viettel", "VinaPhone"],
            "radio": ["lte", "umts"],
            "lon": [105.50, 105.51],
            "lat": [22.56, 22.565],
            "azimuth_deg": [90.0, np.nan],
        }
    )


class _Legend(HTMLParser):
    """Entries of the page's legend: (section title, symbol, colour, label)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # inside .lomsong-legend while > 0
        self.title = ""
        self.in_title = False
        self.entry: list[str] | None = None
        self.entries: list[tuple[str, str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "div" and "lomsong-legend" in classes:
            self.depth = 1
            return
        if not self.depth:
            return
        if tag == "div":
            self.depth += 1
        if tag == "h4":
            self.in_title, self.title = True, ""
        prefix = "lomsong-legend-"
        kinds = [c.removeprefix(prefix) for c in classes if c.startswith(prefix)]
        symbol = next((k for k in kinds if k in LEGEND_SYMBOLS), None)
        if symbol:
            colour = re.search(r"background: ([^;]+);", a.get("style") or "")
            self.entry = [symbol, colour.group(1) if colour else "", ""]
        elif self.entry is not None and tag in ("rect", "circle", "path") and not self.entry[1]:
            self.entry[1] = a.get("stroke") or ""

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag == "h4":
            self.in_title = False
        if tag == "div":
            if self.entry is not None:
                symbol, colour, label = self.entry
                self.entries.append((self.title, symbol, colour, label.strip()))
                self.entry = None
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        elif self.entry is not None:
            self.entry[2] += data


def legend_entries(page: str) -> list[tuple[str, str, str, str]]:
    parser = _Legend()
    parser.feed(page)
    return parser.entries


def calls(page: str, function: str) -> list[tuple[dict, dict]]:  # type: ignore[type-arg]
    """The (data, options) JSON passed to each ``lomsong.<function>(data, options)`` call."""
    decoder = json.JSONDecoder()
    out = []
    for match in re.finditer(rf"lomsong\.{function}\(", page):
        data, end = decoder.raw_decode(page, match.end())
        comma = re.compile(r"\s*,\s*").match(page, end)
        assert comma is not None
        options, _ = decoder.raw_decode(page, comma.end())
        out.append((data, options))
    return out


def test_every_symbol_drawn_is_in_the_legend(
    villages: gpd.GeoDataFrame,
    dead_zones: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    sites: pd.DataFrame,
) -> None:
    page = render_map(MapPage(villages, "X", dead_zones=dead_zones, cells=cells, sites=sites))
    entries = legend_entries(page)
    by_symbol = {
        s: [(t, c, label) for t, sym, c, label in entries if sym == s] for s in LEGEND_SYMBOLS
    }
    assert {symbol for _, symbol, _, _ in entries} == set(LEGEND_SYMBOLS)

    layers = {
        options["className"]: (data, options) for data, options in calls(page, "featureLayer")
    }
    # Villages: one filled swatch per verdict colour the layer uses, in its own section.
    _, village_options = layers[L.VILLAGE_CLASS]
    verdict_fills = {
        c: label
        for t, c, label in by_symbol["fill"]
        if t == "Tình trạng sóng của thôn/bản (màu nền)"
    }
    assert set(verdict_fills) == set(village_options["colours"].values())
    assert verdict_fills[VERDICT_COLOURS["no_signal"]] == "Trắng sóng (không có sóng)"
    # Hexagons: their own section, the layer's colours exactly.
    ((_, hex_options),) = calls(page, "hexLayer")
    hex_fills = [
        c for t, c, _ in by_symbol["fill"] if t == "Cường độ sóng theo nhà mạng (ô lục giác)"
    ]
    assert hex_fills == hex_options["colours"]
    # Dead zones are drawn dashed, in the verdict colour: both kinds are in the legend.
    _, zone_options = layers[L.DEAD_ZONE_CLASS]
    assert zone_options["style"]["dashArray"]
    assert {c for _, c, _ in by_symbol["dashed"]} == {
        zone_options["colours"]["no_signal"],
        zone_options["colours"]["patchy"],
    }
    # Village centres: a dot of the colour they are drawn in.
    _, centre_options = layers[L.CENTRE_CLASS]
    assert [c for _, c, _ in by_symbol["dot"]] == [centre_options["style"]["fillColor"]]
    assert by_symbol["dot"][0][2] == "Trung tâm thôn/bản (nhà văn hóa)"
    # Sites: a ringed circle per carrier drawn, and the wedge of the sector drawn.
    site_data, site_options = layers[L.SITE_CLASS]
    drawn = {
        f["properties"]["carrier"]
        for f in site_data["features"]
        if f["geometry"]["type"] == "Point"
    }
    assert {label for _, _, label in by_symbol["site"]} == drawn == {"Viettel", "VinaPhone"}
    assert {c for _, c, _ in by_symbol["site"]} == {site_options["colours"][c] for c in drawn}
    assert any(f["geometry"]["type"] == "Polygon" for f in site_data["features"])
    assert [label for _, _, label in by_symbol["wedge"]] == [
        "Hướng phát của trạm (màu theo nhà mạng)"
    ]


def test_a_page_of_villages_alone_lists_only_what_it_draws(villages: gpd.GeoDataFrame) -> None:
    entries = legend_entries(render_map(MapPage(villages, "X"), lang="en"))
    assert {symbol for _, symbol, _, _ in entries} == {"fill", "dot"}
    assert {title for title, _, _, _ in entries} == {
        "Signal in each village (fill)",
        "Other symbols",
    }
    # Omni sites only: no wedge is drawn, none is listed.
    omni = pd.DataFrame({"carrier": ["Viettel"], "radio": ["lte"], "lon": [105.5], "lat": [22.56]})
    titles = [title for title, _ in legend_sections(lang="en", sites=omni)]
    assert "Sites by carrier" in titles
    assert all(
        sym != "wedge" for _, items in legend_sections(lang="en", sites=omni) for sym, _, _ in items
    )


def _ucs(colour: str, kind: str) -> np.ndarray:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    if kind != "normal":
        cvd = {"name": "sRGB1+CVD", "cvd_type": kind, "severity": 100}
        rgb = np.clip(cspace_convert(rgb, cvd, "sRGB1"), 0, 1)
    ucs: np.ndarray = cspace_convert(rgb, "sRGB1", "CAM02-UCS")
    return ucs


@pytest.mark.parametrize("vision", ["normal", "deuteranomaly", "protanomaly", "tritanomaly"])
def test_colours_of_different_meaning_cannot_be_confused(vision: str) -> None:
    # Every verdict and hexagon colour against every other, across both legends
    # (the two "unknown" greys mean the same): ΔE' ≥ 10 in CAM02-UCS, for normal
    # vision and under full colour-vision deficiency (Machado et al. 2009).
    colours = [(f"verdict {k}", c) for k, c in VERDICT_COLOURS.items()]
    colours += [(f"cell {k}", c) for k, c in CELL_CLASS_COLOURS.items()]
    closest = min(
        (float(np.linalg.norm(_ucs(a, vision) - _ucs(b, vision))), ka, kb)
        for (ka, a), (kb, b) in itertools.combinations(colours, 2)
        if not (ka.endswith("unknown") and kb.endswith("unknown"))
    )
    assert closest[0] >= 10.0, closest


def test_the_two_legends_share_no_colour_but_unknown() -> None:
    shared = set(VERDICT_COLOURS.values()) & set(CELL_CLASS_COLOURS.values())
    assert shared == {VERDICT_COLOURS["unknown"]} == {CELL_CLASS_COLOURS["unknown"]}


@pytest.mark.parametrize(
    ("radio", "word"), [("lte", "4G"), ("UMTS", "3G"), ("gsm", "2G"), ("nr", "5G")]
)
def test_radios_are_named_as_people_say_them(radio: str, word: str) -> None:
    assert radio_word(radio) == word


def test_site_popups_and_hex_layers_say_4g_and_3g(
    villages: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, sites: pd.DataFrame
) -> None:
    collection = site_collection(sites, np.full(len(sites), None, dtype=object), lang="vi")
    assert {f["properties"]["radio"] for f in collection["features"]} == {"4G", "3G"}
    page = render_map(MapPage(villages, "X", cells=cells, sites=sites))
    assert json.dumps("Sóng: Viettel 4G")[1:-1] in page
    assert "LTE" not in page and "UMTS" not in page


def test_signal_lines_say_what_the_number_is(villages: gpd.GeoDataFrame) -> None:
    vi = signal_lines(villages.at[0, "carriers"], lang="vi")
    assert vi == [
        "MobiFone 4G: dùng được 5% thời gian tại trung tâm thôn (đo thực tế)"
        " · trạm gần nhất cách 2,6 km, bị núi che khuất"
    ]
    en = signal_lines(villages.at[1, "carriers"], lang="en")
    # Terrain not known: not mentioned.
    assert en == [
        "VinaPhone 3G: usable 62% of the time at the village centre (predicted)"
        " · nearest site 0.9 km"
    ]


def test_best_carrier_only_where_a_carrier_serves(villages: gpd.GeoDataFrame) -> None:
    vi = village_collection(villages, lang="vi")["features"]
    assert [f["properties"]["best_carrier"] for f in vi] == [
        "Không nhà mạng nào phục vụ ở đây",
        "VinaPhone",
        "—",  # unknown: not known, not "none serves"
    ]
    en = village_collection(villages, lang="en")["features"]
    assert en[0]["properties"]["best_carrier"] == "None serves here"


def test_the_why_line_comes_right_after_the_verdict(villages: gpd.GeoDataFrame) -> None:
    page = render_map(MapPage(villages, "X"), lang="en")
    (data, options), *_ = calls(page, "featureLayer")
    assert options["fields"][:2] == [["Mobile signal", "verdict_label"], ["Why", "why"]]
    assert data["features"][0]["properties"]["why"] == ["First why.", "Detail."]
