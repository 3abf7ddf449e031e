"""The commune page: what a commune chairman opens, built from plain frames.

One pure function, :func:`commune_page`, composes the page (villages by
verdict, dead zones, hex cells per carrier and radio, the sites that serve
the commune, a hillshade, navigation) and renders it with
:func:`geodata.maps.render_map`. The service calls it with what its store
holds, ``lomsong analyze`` with what the analysis returned, a notebook with
either: all three show the same page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import geopandas as gpd
import pandas as pd

from geodata.constants import Lang
from geodata.maps.hillshade import Hillshade
from geodata.maps.index import lang_query, path_segment, slug
from geodata.maps.pages import MapPage, Nav, render_map
from geodata.maps.text import words

#: Sites this far (degrees, ~5 km) outside a commune's villages still serve it: shown.
SITES_MARGIN_DEG: Final = 0.05
#: The hillshade reaches this far (degrees, ~1 km) past the villages.
HILLSHADE_MARGIN_DEG: Final = 0.01

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class CommuneUrls:
    """The service's links from a commune page: up to the index and province, down to villages.

    ``base`` prefixes the map pages, ``reports`` the printable reports.
    """

    commune_id: str
    province: str
    base: str = "/maps"
    reports: str = "/reports"


def sites_near(
    sites: pd.DataFrame, bounds: Bounds, *, margin_deg: float = SITES_MARGIN_DEG
) -> pd.DataFrame:
    """Return the sites within ``margin_deg`` of ``(west, south, east, north)``."""
    west, south, east, north = bounds
    m = margin_deg
    near = sites["lon"].between(west - m, east + m) & sites["lat"].between(south - m, north + m)
    return sites.loc[near]


def padded_bounds(bounds: Bounds, *, margin_deg: float = HILLSHADE_MARGIN_DEG) -> Bounds:
    """``(west, south, east, north)`` padded for a hillshade that reaches past the villages."""
    west, south, east, north = bounds
    m = margin_deg
    return (west - m, south - m, east + m, north + m)


def language_links(lang: Lang, path: str, *, report: str | None = None) -> list[tuple[str, str]]:
    """List a page's extra links: its report (if it has one), then itself in the other language."""
    text = words(lang)
    other: Lang = "en" if lang == "vi" else "vi"
    links = [("English" if lang == "vi" else "Tiếng Việt", f"{path}{lang_query(other)}")]
    if report:
        links.insert(0, (text["report"], report))
    return links


def commune_page(
    villages: gpd.GeoDataFrame,
    dead_zones: gpd.GeoDataFrame | None = None,
    cells: gpd.GeoDataFrame | None = None,
    sites: pd.DataFrame | None = None,
    hillshade: Hillshade | str | None = None,
    *,
    commune: str,
    unit_type: str | None = None,
    lang: Lang = "vi",
    urls: CommuneUrls | None = None,
    hillshade_bounds: list[list[float]] | None = None,
    online_tiles: str | None = None,
    assets_url: str = "/static/leaflet",
    own_assets_url: str = "/static/lomsong",
    inline_assets_dir: Path | None = None,
    survey: pd.DataFrame | None = None,
) -> str:
    """Render a commune's map page: villages, dead zones, hex cells, nearby sites, hillshade, links.

    Parameters
    ----------
    villages : GeoDataFrame
        The commune's villages with their verdicts (:class:`MapPage`).
    dead_zones, cells : GeoDataFrame, optional
        Its dead zones, and hexagons with ``carrier``, ``radio``,
        ``cell_class``, ``evidence``, ``count``.
    sites : DataFrame, optional
        Sites (any extent): those within :data:`SITES_MARGIN_DEG` of the
        villages are shown.
    hillshade : Hillshade or str, optional
        A :class:`Hillshade` to embed, or the URL of its PNG (then with
        ``hillshade_bounds``); see :func:`padded_bounds` for its extent.
    commune : str, keyword-only
        The commune's name (or names) for the title.
    lang : {"vi", "en"}
    urls : CommuneUrls, optional
        The service's links (index, province, villages, report, language);
        without, a standalone page whose header is its title.
    online_tiles, assets_url, own_assets_url, inline_assets_dir
        As :func:`render_map` takes them.
    survey : DataFrame, optional
        Where to measure next (``coverage.survey.survey_plan``): the layer
        "Nơi cần đo tiếp", and with ``urls`` a link to its printable page.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> villages = gpd.GeoDataFrame({"id": ["bg"], "name": ["Bản Giòng"],
    ...     "verdict": ["patchy"], "households": [98]},
    ...     geometry=[box(105.49, 22.57, 105.50, 22.58)], crs="EPSG:4326")
    >>> page = commune_page(villages, commune="Thượng Nông",
    ...     urls=CommuneUrls("thuong-nong", province="Tuyên Quang"))
    >>> '<a href="/maps/villages/bg">Bản Giòng</a>' in page
    True
    >>> '<a href="/reports/communes/thuong-nong">Báo cáo in</a>' in page
    True
    """
    text, q = words(lang), lang_query(lang)
    nav = Nav()
    village_url = None
    if urls is not None:
        base, commune_id = urls.base, path_segment(urls.commune_id)
        nav = Nav(
            up=[
                (text["all_maps"], f"{base}{q}"),
                (urls.province, f"{base}/provinces/{slug(urls.province)}{q}"),
            ],
            down_title=text["villages"],
            down=[
                (str(v.name), f"{base}/villages/{path_segment(v.id)}{q}")
                for v in villages.itertuples()
            ],
            extra=language_links(
                lang,
                f"{base}/communes/{commune_id}",
                report=f"{urls.reports}/communes/{commune_id}{q}",
            ),
        )
        village_url = f"{base}/villages/{{id}}{q}"
        if survey is not None:
            from geodata.maps.survey import SURVEY_TEXT

            nav.extra.insert(
                1, (SURVEY_TEXT[lang]["page_link"], f"{base}/communes/{commune_id}/survey{q}")
            )
    shown = len(villages) > 0
    bounds: Bounds = tuple(villages.total_bounds) if shown else (0.0, 0.0, 0.0, 0.0)
    page = MapPage(
        villages,
        # The data's own unit type (xã, phường, thị trấn) names the page in Vietnamese.
        f"{unit_type.capitalize() if unit_type and lang == 'vi' else text['commune']} {commune}",
        dead_zones=dead_zones,
        cells=cells,
        sites=sites_near(sites, bounds) if shown and sites is not None and len(sites) else None,
        hillshade=hillshade if shown else None,
        hillshade_bounds=hillshade_bounds if shown else None,
        nav=nav,
        village_url=village_url,
        survey=survey if shown else None,
    )
    return render_map(
        page,
        lang=lang,
        online_tiles=online_tiles,
        assets_url=assets_url,
        own_assets_url=own_assets_url,
        inline_assets_dir=inline_assets_dir,
    )
