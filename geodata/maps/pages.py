"""Map pages: one Folium renderer shared by the service, the CLI and notebooks.

A page is fully offline: no tile layer unless the caller passes one, and the
only scripts and styles it loads are Leaflet's and ``lomsong-map.js/.css``,
from URLs the caller chooses (the service serves them) or inlined (the CLI's
single-file ``map.html``). Labels are Vietnamese by default, English on request.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import branca.element
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.constants import CELL_CLASSES, CRS_WGS84, Lang
from geodata.errors import InvalidInputError
from geodata.maps import layers as L
from geodata.maps.display import display_geometry, encode_rings, sector_wedges
from geodata.maps.features import (
    LegendItem,
    dead_zone_collection,
    legend_sections,
    site_collection,
    village_collection,
)
from geodata.maps.hillshade import Hillshade
from geodata.maps.templating import js_literal
from geodata.maps.text import (
    CARRIER_COLOURS,
    CELL_CLASS_COLOURS,
    CELL_CLASS_LABELS,
    EVIDENCE_LABELS,
    VERDICT_COLOURS,
    radio_word,
    words,
)

Detail = Literal["full", "overview"]
EVIDENCE_ORDER: Final = ("measured", "predicted", "none")
# Tuyên Quang province, for an empty map.
# Display simplification per level of detail, in metres (a pixel at zoom 13 ≈ 19 m).
_TOLERANCE_M: Final[dict[str, float]] = {"full": 2.0, "overview": 25.0}


@dataclass
class Nav:
    """Links of a page: up the hierarchy, down it, and extra ones (report, language)."""

    up: list[tuple[str, str]] = field(default_factory=list)
    down_title: str = ""
    down: list[tuple[str, str]] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class MapPage:
    """Everything a map page shows; only ``villages`` is required.

    ``cells`` holds hexagon polygons with ``carrier``, ``radio``,
    ``cell_class``, ``evidence`` and ``count``; ``sites`` is in
    :func:`geodata.sites.read_sites` columns. ``hillshade`` is either a URL
    (with ``hillshade_bounds``) or a :class:`Hillshade` to embed.
    """

    villages: gpd.GeoDataFrame
    title: str
    dead_zones: gpd.GeoDataFrame | None = None
    cells: gpd.GeoDataFrame | None = None
    sites: pd.DataFrame | None = None
    hillshade: Hillshade | str | None = None
    hillshade_bounds: list[list[float]] | None = None
    nav: Nav | None = None
    village_url: str | None = None  # e.g. "/maps/villages/{id}"
    #: Where to measure next (``coverage.survey.survey_plan`` rows): the layer
    #: "Nơi cần đo tiếp", numbered markers with their reasons.
    survey: pd.DataFrame | None = None
    #: Challenges to the verdict (a village page): shown in the title box, dated.
    challenges: list[dict[str, Any]] | None = None


def render_map(
    page: MapPage,
    *,
    lang: Lang = "vi",
    detail: Detail = "full",
    assets_url: str = "/static/leaflet",
    own_assets_url: str = "/static/lomsong",
    inline_assets_dir: Path | None = None,
    online_tiles: str | None = None,
) -> str:
    """Render ``page`` as a standalone HTML document.

    Parameters
    ----------
    page : MapPage
    lang : {"vi", "en"}
        Language of the legend, tooltips and popups.
    detail : {"full", "overview"}
        ``overview`` simplifies geometry more, draws hexagons on a canvas and
        keeps popups short (a province of thousands of villages).
    assets_url, own_assets_url : str
        Where Leaflet's files and ``lomsong-map.js/.css`` are served.
    inline_assets_dir : pathlib.Path, optional
        Leaflet's ``dist`` directory, to inline every asset instead (one file).
    online_tiles : str, optional
        A tile URL template (``{z}/{x}/{y}``) offered as an extra base layer.

    Raises
    ------
    InvalidInputError
        When a frame has no CRS, ``lang`` is unknown, or inline assets are missing.
    """
    text = words(lang)
    if page.villages.crs is None:
        raise InvalidInputError("villages have no CRS")
    tolerance = _TOLERANCE_M[detail]
    villages = display_geometry(page.villages, tolerance_m=tolerance)
    fmap = L.titled_page_map(
        lang=lang,
        title=f"{text['title']} — {page.title}",
        assets_url=assets_url,
        own_assets_url=own_assets_url,
        inline_assets_dir=inline_assets_dir,
    )
    root: Any = fmap.get_root()
    if page.nav is not None:
        nav = page.nav
        down = (nav.down_title, nav.down) if nav.down else None
        after = ""
        if page.challenges:
            from geodata.maps.survey import challenges_html

            after = challenges_html(page.challenges, lang=lang)
        header = L.nav_html(
            page.title, nav.up, down, nav.extra, printed_on=text["printed_on"], after=after
        )
        root.html.add_child(branca.element.Element(header))
    if len(villages):
        minx, miny, maxx, maxy = villages.total_bounds
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])

    _base_layers(fmap, page, text, online_tiles)
    if len(villages):
        collection = village_collection(
            villages, lang=lang, detail=detail, village_url=page.village_url
        )
        fields = [
            [text["verdict"], "verdict_label"],
            [text["why"], "why"],  # the first line is the village's why line
            [text["confidence"], "confidence"],
            [text["households"], "households"],
            [text["boundary"], "boundary"],
            [text["without"], "without"],
            [text["best_carrier"], "best_carrier"],
            [text["signal"], "signal"],
            [text["readings"], "readings"],
            [text["last_reading"], "last_reading"],
            [text["open_village"], "link", "url"],
        ]
        L.feature_layer(
            collection,
            {
                "colourBy": "verdict",
                "colours": VERDICT_COLOURS,
                "className": L.VILLAGE_CLASS,
                "style": {"color": "#333333", "weight": 1.5, "fillOpacity": 0.55},
                "title": "name",
                "fields": fields,
                "tooltip": "name",
                # A click inside a village opens the village, whatever is drawn over it.
                "ownsClicks": True,
                # Names on the map (hidden while too many are in view), beside the
                # centre dots; an overview leaves the points out (light pages).
                "label": "name",
                **({"labelAt": _lat_lng(_centre_points(villages))} if detail == "full" else {}),
            },
            name=text["villages_layer"],
        ).add_to(fmap)
    if page.dead_zones is not None and len(page.dead_zones):
        zones = display_geometry(page.dead_zones, tolerance_m=tolerance)
        L.feature_layer(
            dead_zone_collection(zones, lang=lang),
            {
                "colourBy": "verdict",
                "colours": VERDICT_COLOURS,
                "strokeByColour": True,
                "className": L.DEAD_ZONE_CLASS,
                "tooltip": "label",
                "title": "label",
                "style": {"weight": 2, "dashArray": "6 4", "fillOpacity": 0.25},
                # Its own popup only outside the villages shown (they own those clicks).
                "yields": True,
                "fields": [
                    [text["area"], "area_km2"],
                    [text["households"], "households"],
                    [text["carriers_absent"], "carriers_absent"],
                    [text["nearest_site"], "nearest_site_m"],
                ],
            },
            name=text["dead_zones_layer"],
        ).add_to(fmap)
    if page.cells is not None and len(page.cells):
        _hex_layers(fmap, page.cells, lang=lang, canvas=detail == "overview")
    if page.sites is not None and len(page.sites):
        sites = page.sites
        L.feature_layer(
            site_collection(sites, sector_wedges(sites), lang=lang),
            {
                "colourBy": "carrier",
                "colours": CARRIER_COLOURS,
                "strokeByColour": True,
                "className": L.SITE_CLASS,
                "radius": 5,
                "tooltip": "label",
                "title": "label",
                "style": {"weight": 2, "fillOpacity": 0.5},
                "fields": [
                    [text["carrier"], "carrier"],
                    [text["radio"], "radio"],
                    [text["azimuth"], "azimuth"],
                ],
            },
            name=text["sites_layer"],
            show=detail == "full",
        ).add_to(fmap)
    if len(villages):
        centres = gpd.GeoDataFrame(
            {"name": villages["name"].astype(str)}, geometry=_centre_points(villages), crs=CRS_WGS84
        )
        L.feature_layer(
            centres.to_geo_dict(drop_id=True),
            {
                "className": L.CENTRE_CLASS,
                "tooltip": "name",
                "yields": True,
                "radius": 3 if detail == "overview" else 4,
                "style": {
                    "color": "#222222",
                    "fillColor": "#222222",
                    "fillOpacity": 1,
                    "weight": 1,
                },
            },
            name=text["centres_layer"],
            show=detail == "full",
        ).add_to(fmap)

    if page.survey is not None and len(page.survey):
        from geodata.maps.survey import SURVEY_TEXT, survey_collection, survey_layer_options

        points = page.survey
        L.feature_layer(
            survey_collection(points, lang=lang),
            {
                **survey_layer_options(lang),
                "labelAt": [
                    [lat, lon]
                    for lat, lon in zip(
                        points["lat"].astype(float), points["lon"].astype(float), strict=True
                    )
                ],
            },
            name=SURVEY_TEXT[lang]["layer"],
            # Off when the page opens: the team turns it on in the layer list, and
            # a tap inside a village keeps opening the village for everyone else.
            show=False,
        ).add_to(fmap)

    control = folium.LayerControl(collapsed=False)
    control.add_to(fmap)
    fmap.get_root().add_child(L.Legend(_legend(page, lang)))
    L.PhonePanels(control, layers=text["layers_button"], legend=text["legend_button"]).add_to(fmap)
    rendered: str = root.render()
    return rendered


def _base_layers(
    fmap: folium.Map, page: MapPage, text: dict[str, str], online_tiles: str | None
) -> None:
    if isinstance(page.hillshade, Hillshade):
        url = "data:image/png;base64," + base64.b64encode(page.hillshade.png).decode()
        bounds = page.hillshade.leaflet_bounds()
    elif isinstance(page.hillshade, str) and page.hillshade_bounds is not None:
        url, bounds = page.hillshade, page.hillshade_bounds
    else:
        url, bounds = "", []
    if url:
        # A base layer: Leaflet draws the Web-Mercator PNG over its bounds.
        overlay = f"L.imageOverlay({js_literal(url)}, {js_literal(bounds)}, {{opacity: 0.7}})"
        L.ScriptLayer(overlay, name=text["hillshade"], overlay=False).add_to(fmap)
    if online_tiles:
        folium.TileLayer(
            online_tiles, attr="©", name=text["online_tiles"], overlay=False, show=not url
        ).add_to(fmap)


def _hex_layers(fmap: folium.Map, cells: gpd.GeoDataFrame, *, lang: Lang, canvas: bool) -> None:
    """One layer per (carrier, radio); only the first is shown when the page opens."""
    text = words(lang)
    cells = cells.to_crs(CRS_WGS84)
    classes = [str(c) for c in CELL_CLASSES]
    options = {
        "colours": [CELL_CLASS_COLOURS[c] for c in classes],
        "labels": [CELL_CLASS_LABELS[lang][c] for c in classes],
        "evidence": [EVIDENCE_LABELS[lang][e] for e in EVIDENCE_ORDER],
        "readings": text["readings"],
        "className": L.HEX_CLASS,
        "canvas": canvas,
        "yields": True,
    }
    groups = cells.groupby([cells["carrier"].astype(str), cells["radio"].astype(str)], sort=True)
    for number, ((carrier, radio), group) in enumerate(groups):
        klass = pd.Categorical(group["cell_class"].fillna("unknown"), categories=classes)
        evidence = pd.Categorical(group["evidence"].fillna("none"), categories=EVIDENCE_ORDER)
        data = {
            "s": 10**5,
            "c": encode_rings(group.geometry.to_numpy()),
            "v": np.where(klass.codes < 0, classes.index("unknown"), klass.codes).tolist(),
            "e": np.where(evidence.codes < 0, 2, evidence.codes).tolist(),
            "n": pd.to_numeric(group["count"]).fillna(0).astype(int).tolist(),
        }
        name = f"{text['hex_layer']}: {carrier} {radio_word(radio)}"
        L.hex_layer(data, options, name=name, show=number == 0).add_to(fmap)


def _legend(page: MapPage, lang: Lang) -> list[tuple[str, list[LegendItem]]]:
    """List the legend of what ``page`` draws (:func:`geodata.maps.features.legend_sections`)."""
    sites = page.sites if page.sites is not None and len(page.sites) else None
    azimuth = sites.get("azimuth_deg") if sites is not None else None
    return legend_sections(
        lang=lang,
        centres=len(page.villages) > 0,
        dead_zones=page.dead_zones is not None and len(page.dead_zones) > 0,
        cells=page.cells is not None and len(page.cells) > 0,
        sites=sites,
        sectors=azimuth is not None and bool(pd.to_numeric(azimuth, errors="coerce").notna().any()),
    )


def _lat_lng(points: np.ndarray) -> list[list[float]]:
    """``[[lat, lng], ...]`` of shapely points, for Leaflet."""
    xy = np.round(shapely.get_coordinates(points), 5)
    return [[float(lat), float(lng)] for lng, lat in xy]


def _centre_points(villages: gpd.GeoDataFrame) -> np.ndarray:
    """Village centres: the recorded centre, else a point inside the polygon."""
    points: np.ndarray = villages.geometry.representative_point().to_numpy()
    if {"centre_lon", "centre_lat"} <= set(villages.columns):
        lon = pd.to_numeric(villages["centre_lon"], errors="coerce").round(5)
        lat = pd.to_numeric(villages["centre_lat"], errors="coerce").round(5)
        known = (lon.notna() & lat.notna()).to_numpy()
        given = gpd.points_from_xy(lon.fillna(0.0), lat.fillna(0.0))
        points = np.where(known, np.asarray(given), points)
    return points
