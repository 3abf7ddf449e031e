"""The page of a what-if scenario: villages before and after hypothetical sites, and a table.

:func:`scenario_page` draws, with the commune page's pieces and palettes
(:mod:`geodata.maps.layers`, :mod:`geodata.maps.features`, the verdict
colours of :mod:`geodata.maps.text`): the villages coloured by their verdict
before the sites and after them (two layers; "after" shows first), the
hypothetical sites with their sectors, their predicted footprint (where some
carrier would be usable and none was), and a table of the villages, before →
after, that a phone opens from a button.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import branca.element
import folium
import geopandas as gpd
import pandas as pd

from geodata.constants import CRS_WGS84, Lang
from geodata.maps import layers as L
from geodata.maps.display import display_geometry, sector_wedges
from geodata.maps.features import LegendItem, legend_sections, site_collection, village_collection
from geodata.maps.hillshade import Hillshade
from geodata.maps.pages import MapPage, Nav, _base_layers
from geodata.maps.templating import render
from geodata.maps.text import CARRIER_COLOURS, CELL_CLASS_COLOURS, VERDICT_COLOURS, VERDICT_LABELS
from geodata.maps.text import words as page_words

#: The footprint's fill: the hexagons' "good signal" hue, which no verdict uses.
FOOTPRINT_COLOUR: Final = CELL_CLASS_COLOURS["good"]
#: CSS classes of what only this page draws, for the browser tests.
BEFORE_CLASS: Final = "lomsong-village-before"
FOOTPRINT_CLASS: Final = "lomsong-footprint"

SCENARIO_TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "title": "Giả định",
        "before_layer": "Thôn/bản: trước khi có trạm giả định",
        "after_layer": "Thôn/bản: sau khi có trạm giả định",
        "sites_layer": "Trạm giả định",
        "footprint_layer": "Vùng có sóng mới (dự báo)",
        "legend_footprint": "Vùng có sóng mới nhờ trạm giả định (dự báo)",
        "table": "Thôn/bản: trước → sau",
        "village": "Thôn/bản",
        "verdict": "Tình trạng sóng",
        "without": "Hộ không có sóng",
        "newly_served": "Hộ có sóng mới",
        "summary": (
            "{sites} trạm giả định: {served} hộ có sóng mới; {no_signal} thôn/bản hết trắng sóng,"
            " {patchy} thôn/bản hết lõm sóng."
        ),
        "created": "Tạo ngày",
        "note": "Dự báo của mô hình; dữ liệu thật không thay đổi.",
    },
    "en": {
        "title": "What-if",
        "before_layer": "Villages: before the hypothetical sites",
        "after_layer": "Villages: after the hypothetical sites",
        "sites_layer": "Hypothetical sites",
        "footprint_layer": "Newly covered area (predicted)",
        "legend_footprint": "Newly covered by the hypothetical sites (predicted)",
        "table": "Villages: before → after",
        "village": "Village",
        "verdict": "Mobile signal",
        "without": "Households without signal",
        "newly_served": "Households newly served",
        "summary": (
            "{sites} hypothetical sites: {served} households newly served; {no_signal} villages"
            " out of no signal, {patchy} out of patchy signal."
        ),
        "created": "Created",
        "note": "The model's prediction; the real data is unchanged.",
    },
}


def scenario_words(lang: Lang) -> dict[str, str]:
    """Return the scenario page's own words in ``lang`` (the map's are :func:`words`)."""
    page_words(lang)  # refuses an unknown language
    return SCENARIO_TEXT[lang]


def _table_rows(villages: pd.DataFrame, lang: Lang) -> list[dict[str, Any]]:
    labels = VERDICT_LABELS[lang]

    def count(value: Any) -> str:
        number = pd.to_numeric(value, errors="coerce")
        return "—" if pd.isna(number) else f"{number:.0f}"

    # The villages the sites change most first; the others as the analysis lists them.
    served = pd.to_numeric(villages["households_newly_served"], errors="coerce").fillna(0)
    order = villages.assign(_served=-served.to_numpy()).sort_values("_served", kind="stable")
    rows = []
    for v in order.itertuples(index=False):
        before, after = str(v.verdict_before or "unknown"), str(v.verdict_after or "unknown")
        rows.append(
            {
                "name": str(v.name),
                "before": labels.get(before, before),
                "after": labels.get(after, after),
                "before_colour": VERDICT_COLOURS.get(before, VERDICT_COLOURS["unknown"]),
                "after_colour": VERDICT_COLOURS.get(after, VERDICT_COLOURS["unknown"]),
                "without_before": count(v.households_without_signal_before),
                "without_after": count(v.households_without_signal_after),
                "newly_served": count(v.households_newly_served),
                "changed": before != after,
            }
        )
    return rows


def _village_layer(
    villages: gpd.GeoDataFrame, *, lang: Lang, name: str, before: bool, show: bool
) -> L.ScriptLayer:
    text = page_words(lang)
    options: dict[str, Any] = {
        "colourBy": "verdict",
        "colours": VERDICT_COLOURS,
        "className": BEFORE_CLASS if before else L.VILLAGE_CLASS,
        "style": {"color": "#333333", "weight": 1.5, "fillOpacity": 0.55},
        "title": "name",
        "tooltip": "name",
        "ownsClicks": True,
        "fields": [
            [text["verdict"], "verdict_label"],
            [text["confidence"], "confidence"],
            [text["households"], "households"],
            [text["without"], "without"],
        ],
    }
    if not before:
        options["label"] = "name"
    collection = village_collection(villages, lang=lang, detail="full")
    return L.feature_layer(collection, options, name=name, show=show)


def scenario_page(
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame | None = None,
    footprint: gpd.GeoSeries | None = None,
    hillshade: Hillshade | str | None = None,
    *,
    title: str,
    summary: dict[str, int],
    created: str,
    lang: Lang = "vi",
    nav: Nav | None = None,
    hillshade_bounds: list[list[float]] | None = None,
    online_tiles: str | None = None,
    assets_url: str = "/static/leaflet",
    own_assets_url: str = "/static/lomsong",
    inline_assets_dir: Path | None = None,
) -> str:
    """Render a scenario's map page.

    Parameters
    ----------
    villages : GeoDataFrame
        The villages re-judged, with ``id``, ``name``, ``households``,
        ``verdict_before``/``_after``, ``households_without_signal_before``/``_after``,
        ``confidence_before``/``_after`` and ``households_newly_served``.
    sites : DataFrame, optional
        The hypothetical sites' cells (:func:`geodata.sites.hypothetical_cells`).
    footprint : GeoSeries, optional
        Where they newly serve (EPSG:4326).
    hillshade, hillshade_bounds, online_tiles, assets_url, own_assets_url, inline_assets_dir
        As :func:`geodata.maps.render_map` takes them.
    title : str, keyword-only
        The scenario's name.
    summary : dict, keyword-only
        ``sites``, ``households_newly_served``, ``villages_out_of_no_signal``,
        ``villages_out_of_patchy``.
    created : str, keyword-only
        When it was made, as people read dates (dd/mm/yyyy).
    lang : {"vi", "en"}
    nav : Nav, optional
        Links of the page (the other language).

    Examples
    --------
    >>> from shapely.geometry import box
    >>> villages = gpd.GeoDataFrame({"id": ["bg"], "name": ["Bản Giòng"], "households": [98],
    ...     "verdict_before": ["no_signal"], "verdict_after": ["covered"],
    ...     "households_without_signal_before": [95], "households_without_signal_after": [3],
    ...     "confidence_before": [1.0], "confidence_after": [0.9],
    ...     "households_newly_served": [92]},
    ...     geometry=[box(105.51, 22.58, 105.52, 22.60)], crs="EPSG:4326")
    >>> page = scenario_page(villages, title="Viettel", created="01/12/2026", summary={
    ...     "sites": 1, "households_newly_served": 92, "villages_out_of_no_signal": 1,
    ...     "villages_out_of_patchy": 0})
    >>> "1 trạm giả định: 92 hộ có sóng mới" in page
    True
    >>> "Có sóng</td>" in page
    True
    """
    text, own = page_words(lang), scenario_words(lang)
    if villages.crs is None:
        from geodata.errors import InvalidInputError

        raise InvalidInputError("villages have no CRS")
    shown = display_geometry(villages.to_crs(CRS_WGS84), tolerance_m=2.0)
    heading = f"{own['title']}: {title}"
    fmap = L.titled_page_map(
        lang=lang,
        title=f"{text['title']} — {heading}",
        assets_url=assets_url,
        own_assets_url=own_assets_url,
        inline_assets_dir=inline_assets_dir,
    )
    root: Any = fmap.get_root()
    nav = nav or Nav()
    root.html.add_child(
        branca.element.Element(
            L.nav_html(heading, nav.up, None, nav.extra, printed_on=text["printed_on"])
        )
    )
    if len(shown):
        minx, miny, maxx, maxy = shown.total_bounds
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    base = MapPage(shown, heading, hillshade=hillshade, hillshade_bounds=hillshade_bounds)
    _base_layers(fmap, base, text, online_tiles)

    def state(when: str) -> gpd.GeoDataFrame:
        return shown.assign(
            verdict=shown[f"verdict_{when}"],
            households_without_signal=shown[f"households_without_signal_{when}"],
            confidence=shown[f"confidence_{when}"],
        )

    if len(shown):
        _village_layer(
            state("before"), lang=lang, name=own["before_layer"], before=True, show=False
        ).add_to(fmap)
        _village_layer(
            state("after"), lang=lang, name=own["after_layer"], before=False, show=True
        ).add_to(fmap)
    if footprint is not None and len(footprint):
        area = gpd.GeoDataFrame(
            {"label": [own["footprint_layer"]]},
            geometry=[footprint.to_crs(CRS_WGS84).union_all()],
            crs=CRS_WGS84,
        )
        L.feature_layer(
            area.to_geo_dict(drop_id=True),
            {
                "className": FOOTPRINT_CLASS,
                "tooltip": "label",
                "yields": True,
                "style": {"color": FOOTPRINT_COLOUR, "fillColor": FOOTPRINT_COLOUR,
                          "weight": 1, "fillOpacity": 0.35},
            },
            name=own["footprint_layer"],
        ).add_to(fmap)  # fmt: skip
    if sites is not None and len(sites):
        L.feature_layer(
            site_collection(sites, sector_wedges(sites), lang=lang),
            {
                "colourBy": "carrier",
                "colours": CARRIER_COLOURS,
                "strokeByColour": True,
                "className": L.SITE_CLASS,
                "radius": 7,
                "tooltip": "label",
                "title": "label",
                "style": {"weight": 3, "fillOpacity": 0.8},
                "fields": [[text["carrier"], "carrier"], [text["radio"], "radio"]],
            },
            name=own["sites_layer"],
        ).add_to(fmap)
    control = folium.LayerControl(collapsed=False)
    control.add_to(fmap)
    sections = legend_sections(lang=lang, centres=False, sites=sites, sectors=sites is not None)
    if footprint is not None and len(footprint):
        item: LegendItem = ("fill", FOOTPRINT_COLOUR, own["legend_footprint"])
        sections.append((own["footprint_layer"], [item]))
    root.add_child(L.Legend(sections))
    L.PhonePanels(control, layers=text["layers_button"], legend=text["legend_button"]).add_to(fmap)
    table = render(
        "scenario_table.html",
        text=own,
        rows=_table_rows(shown, lang),
        summary=own["summary"].format(
            sites=summary.get("sites", 0),
            served=summary.get("households_newly_served", 0),
            no_signal=summary.get("villages_out_of_no_signal", 0),
            patchy=summary.get("villages_out_of_patchy", 0),
        ),
        created=created,
    )
    root.html.add_child(branca.element.Element(table.strip()))
    rendered: str = root.render()
    return rendered
