"""Commune maps: one Folium renderer shared by the service, the CLI and notebooks.

The page is fully offline: no tile layer, and the only scripts and styles it
loads are Leaflet's own, from a URL the caller chooses (the service serves
them at ``/static/leaflet``) or inlined from a local directory (the CLI's
``map.html``). Labels are Vietnamese by default, English on request.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Final, Literal

import branca.element
import folium
import geopandas as gpd
import pandas as pd

from geodata.constants import CRS_WGS84
from geodata.errors import InvalidInputError

Lang = Literal["vi", "en"]

#: Fill colour per village verdict (ColorBrewer RdYlGn, diverging; grey = unknown).
VERDICT_COLOURS: Final[dict[str, str]] = {
    "no_signal": "#d7191c",
    "patchy": "#fdae61",
    "covered": "#1a9641",
    "unknown": "#9e9e9e",
}

#: Legend and popup label per verdict, per language.
VERDICT_LABELS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "no_signal": "Trắng sóng (không có sóng)",
        "patchy": "Lõm sóng (sóng chập chờn)",
        "covered": "Có sóng",
        "unknown": "Chưa đủ dữ liệu",
    },
    "en": {
        "no_signal": "No signal",
        "patchy": "Patchy signal",
        "covered": "Covered",
        "unknown": "Not enough data",
    },
}

_TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "village": "Thôn/bản",
        "verdict": "Tình trạng sóng",
        "households": "Số hộ",
        "without": "Hộ không có sóng dùng được",
        "best_carrier": "Nhà mạng tốt nhất",
        "villages_layer": "Thôn/bản",
        "dead_zones_layer": "Vùng lõm sóng, trắng sóng",
        "centres_layer": "Trung tâm thôn/bản (nhà văn hóa)",
        "legend_title": "Sóng di động theo thôn/bản",
        "dead_zone": "Vùng không có sóng ổn định",
        "area": "Diện tích (km²)",
        "none": "—",
        "title": "Bản đồ sóng di động",
    },
    "en": {
        "village": "Village",
        "verdict": "Mobile signal",
        "households": "Households",
        "without": "Households without usable signal",
        "best_carrier": "Best carrier",
        "villages_layer": "Villages",
        "dead_zones_layer": "Dead zones (no or patchy signal)",
        "centres_layer": "Village centres (cultural house)",
        "legend_title": "Mobile signal by village",
        "dead_zone": "Area without reliable signal",
        "area": "Area (km²)",
        "none": "—",
        "title": "Mobile signal map",
    },
}

#: CSS class on every village polygon, so a browser test can count them.
VILLAGE_CLASS: Final = "lomsong-village"
DEAD_ZONE_CLASS: Final = "lomsong-dead-zone"
CENTRE_CLASS: Final = "lomsong-village-centre"

# Tuyên Quang province, for an empty map.
_FALLBACK_CENTRE: Final = (22.15, 105.2)

_LEGEND_TEMPLATE: Final = """
{% macro html(this, kwargs) %}
<div class="lomsong-legend" style="position: fixed; bottom: 24px; right: 12px; z-index: 1000;
     background: rgba(255,255,255,0.92); padding: 8px 12px; border-radius: 4px;
     font: 13px/1.5 sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,0.3);">
  <style>.lomsong-legend-swatch { display: inline-block; width: 14px; height: 14px;
    margin-right: 6px; vertical-align: -2px; border: 1px solid #555; }</style>
  <div style="font-weight: bold; margin-bottom: 4px;">{{ this.title }}</div>
  {% for colour, label in this.items %}
  <div><span class="lomsong-legend-swatch" style="background: {{ colour }};"></span>
    {{- label }}</div>
  {% endfor %}
</div>
{% endmacro %}
"""


class _Legend(branca.element.MacroElement):
    """A fixed legend box of verdict colours."""

    def __init__(self, title: str, items: list[tuple[str, str]]) -> None:
        super().__init__()
        self._name = "LomsongLegend"
        self.title = html.escape(title)
        self.items = [(colour, html.escape(label)) for colour, label in items]
        self._template = branca.element.Template(_LEGEND_TEMPLATE)


def _village_properties(villages: gpd.GeoDataFrame, lang: Lang) -> gpd.GeoDataFrame:
    """The few display columns a village feature needs, as ready-made strings."""
    text, labels = _TEXT[lang], VERDICT_LABELS[lang]
    n = len(villages)

    def column(name: str, default: Any) -> pd.Series:
        if name in villages.columns:
            return villages[name]
        return pd.Series([default] * n, index=villages.index, dtype=object)

    verdict = column("verdict", "unknown").fillna("unknown").astype(str)
    verdict = verdict.where(verdict.isin(list(VERDICT_COLOURS)), "unknown")
    households = pd.to_numeric(column("households", None), errors="coerce")
    without = pd.to_numeric(column("households_without_signal", None), errors="coerce")
    best = column("best_carrier", None)
    return gpd.GeoDataFrame(
        {
            "id": column("id", "").astype(str),
            "name": column("name", "").astype(str),
            "verdict": verdict,
            "verdict_label": verdict.map(labels),
            "households_text": households.map(lambda v: text["none"] if pd.isna(v) else f"{v:.0f}"),
            "without_text": without.map(lambda v: text["none"] if pd.isna(v) else f"{v:.0f}"),
            "best_carrier_text": best.map(lambda v: text["none"] if v is None or pd.isna(v) else v),
        },
        geometry=villages.geometry.to_numpy(),
        crs=villages.crs,
    )


def _village_style(feature: dict[str, Any]) -> dict[str, Any]:
    colour = VERDICT_COLOURS.get(feature["properties"]["verdict"], VERDICT_COLOURS["unknown"])
    return {
        "fillColor": colour,
        "color": "#333333",
        "weight": 1.5,
        "fillOpacity": 0.55,
        "className": VILLAGE_CLASS,
    }


def _dead_zone_style(feature: dict[str, Any]) -> dict[str, Any]:
    colour = VERDICT_COLOURS.get(feature["properties"]["verdict"], VERDICT_COLOURS["unknown"])
    return {
        "fillColor": colour,
        "color": colour,
        "weight": 2,
        "dashArray": "6 4",
        "fillOpacity": 0.25,
        "className": DEAD_ZONE_CLASS,
    }


def _centre_points(villages: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Village centres: the recorded centre, else a point inside the polygon."""
    points = villages.geometry.representative_point()
    if {"centre_lon", "centre_lat"} <= set(villages.columns):
        lon = pd.to_numeric(villages["centre_lon"], errors="coerce")
        lat = pd.to_numeric(villages["centre_lat"], errors="coerce")
        known = (lon.notna() & lat.notna()).to_numpy()
        given = gpd.points_from_xy(lon.fillna(0.0), lat.fillna(0.0), crs=villages.crs)
        points = gpd.GeoSeries(
            [g if k else p for g, p, k in zip(given, points, known, strict=True)],
            index=villages.index,
            crs=villages.crs,
        )
    return gpd.GeoDataFrame({"name": villages["name"].astype(str)}, geometry=points)


def _offline_assets(fmap: folium.Map, *, assets_url: str, inline_assets_dir: Path | None) -> None:
    """Make the page load nothing but Leaflet, from the service or inlined."""
    # Instance attributes: folium's class-level lists must stay untouched.
    if inline_assets_dir is None:
        base = assets_url.rstrip("/")
        fmap.default_js = [("leaflet", f"{base}/leaflet.js")]
        fmap.default_css = [("leaflet_css", f"{base}/leaflet.css")]
        return
    js_path, css_path = inline_assets_dir / "leaflet.js", inline_assets_dir / "leaflet.css"
    if not (js_path.is_file() and css_path.is_file()):
        raise InvalidInputError(f"Leaflet assets not found in {inline_assets_dir}")
    fmap.default_js = []
    fmap.default_css = []
    header = fmap.get_root().header  # type: ignore[attr-defined]
    header.add_child(
        branca.element.Element(f"<style>{css_path.read_text(encoding='utf-8')}</style>"),
        name="leaflet_css_inline",
        index=0,
    )
    header.add_child(
        branca.element.Element(f"<script>{js_path.read_text(encoding='utf-8')}</script>"),
        name="leaflet_inline",
        index=1,
    )


def render_commune_map(
    villages_gdf: gpd.GeoDataFrame,
    *,
    dead_zones: gpd.GeoDataFrame | None = None,
    commune_name: str,
    lang: Lang = "vi",
    assets_url: str = "/static/leaflet",
    inline_assets_dir: Path | None = None,
) -> str:
    """Render a commune's villages, coloured by verdict, as a standalone HTML page.

    Parameters
    ----------
    villages_gdf : geopandas.GeoDataFrame
        Villages with a CRS and at least ``id``, ``name``, ``geometry``; the
        columns ``verdict``, ``households``, ``households_without_signal``,
        ``best_carrier``, ``centre_lon``/``centre_lat`` are shown when present.
    dead_zones : geopandas.GeoDataFrame, optional
        Dead-zone polygons with ``verdict`` (and ``area_km2``, ``households``).
    commune_name : str
        Shown in the page title.
    lang : {"vi", "en"}
        Language of the legend, tooltips and popups (Vietnamese by default).
    assets_url : str
        URL prefix under which ``leaflet.js`` and ``leaflet.css`` are served.
    inline_assets_dir : pathlib.Path, optional
        Directory holding ``leaflet.js``/``leaflet.css`` to inline instead of
        linking, for a single file that opens offline.

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    InvalidInputError
        When ``villages_gdf`` has no CRS, ``lang`` is unknown, or the inline
        assets are missing.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> villages = gpd.GeoDataFrame({"id": ["a"], "name": ["Bản Giòng"],
    ...     "verdict": ["patchy"], "households": [98]},
    ...     geometry=[box(105.49, 22.57, 105.50, 22.58)], crs="EPSG:4326")
    >>> page = render_commune_map(villages, commune_name="Thượng Nông")
    >>> "Lõm sóng (sóng chập chờn)" in page and "/static/leaflet/leaflet.js" in page
    True
    """
    if lang not in _TEXT:
        raise InvalidInputError(f"unknown language {lang!r}, expected 'vi' or 'en'")
    if villages_gdf.crs is None:
        raise InvalidInputError("villages have no CRS")
    villages = villages_gdf.to_crs(CRS_WGS84)
    text = _TEXT[lang]

    fmap = folium.Map(
        location=list(_FALLBACK_CENTRE),
        zoom_start=9,
        tiles=None,
        control_scale=True,
        attributionControl=False,
    )
    _offline_assets(fmap, assets_url=assets_url, inline_assets_dir=inline_assets_dir)
    title = f"{text['title']} — {commune_name}"
    fmap.get_root().header.add_child(  # type: ignore[attr-defined]
        branca.element.Element(f"<title>{html.escape(title)}</title>"), name="title"
    )

    if len(villages):
        minx, miny, maxx, maxy = villages.total_bounds
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
        display = _village_properties(villages, lang)
        fields = ["name", "verdict_label", "households_text", "without_text", "best_carrier_text"]
        aliases = [
            text["village"],
            text["verdict"],
            text["households"],
            text["without"],
            text["best_carrier"],
        ]
        folium.GeoJson(
            display,
            name=text["villages_layer"],
            style_function=_village_style,
            tooltip=folium.GeoJsonTooltip(fields=["name", "verdict_label"], aliases=aliases[:2]),
            popup=folium.GeoJsonPopup(fields=fields, aliases=aliases),
        ).add_to(fmap)

    if dead_zones is not None and len(dead_zones):
        if dead_zones.crs is None:
            raise InvalidInputError("dead zones have no CRS")
        zones = dead_zones.to_crs(CRS_WGS84)
        verdict = zones["verdict"].astype(str)
        zone_display = gpd.GeoDataFrame(
            {
                "verdict": verdict,
                "label": verdict.map(VERDICT_LABELS[lang]).fillna(text["dead_zone"]),
                "area_text": pd.to_numeric(zones.get("area_km2"), errors="coerce")
                .round(2)
                .astype(str),
            },
            geometry=zones.geometry.to_numpy(),
            crs=CRS_WGS84,
        )
        folium.GeoJson(
            zone_display,
            name=text["dead_zones_layer"],
            style_function=_dead_zone_style,
            tooltip=folium.GeoJsonTooltip(
                fields=["label", "area_text"], aliases=[text["dead_zone"], text["area"]]
            ),
        ).add_to(fmap)

    if len(villages):
        folium.GeoJson(
            _centre_points(villages),
            name=text["centres_layer"],
            marker=folium.CircleMarker(
                radius=4, color="#222222", fill=True, fill_opacity=1.0, class_name=CENTRE_CLASS
            ),
            tooltip=folium.GeoJsonTooltip(fields=["name"], aliases=[text["village"]]),
        ).add_to(fmap)

    folium.LayerControl(collapsed=False).add_to(fmap)
    legend_items = [(VERDICT_COLOURS[v], VERDICT_LABELS[lang][v]) for v in VERDICT_COLOURS]
    fmap.get_root().add_child(_Legend(text["legend_title"], legend_items))  # type: ignore[attr-defined]
    page: str = fmap.get_root().render()
    return page
