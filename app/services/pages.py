"""The service's map pages: what the store holds, composed into :mod:`geodata.maps` pages.

Route handlers call one function here per page; each returns the HTML.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd

from app.core.config import Rasters
from app.core.errors import NotFoundError
from app.store import Store
from coverage.map_cells import OVERVIEW_RESOLUTION, cells_geoframe, coarsen_cells
from coverage.thresholds import MIN_CONFIDENCE, SERVED_P
from geodata.constants import Lang
from geodata.errors import GeodataError
from geodata.maps import MapPage, Nav, cached_hillshade, render_index_page, render_map, words
from geodata.maps.index import lang_query, path_segment, slug
from geodata.report import print_date as print_date  # the report date, for the route's key
from geodata.report import render_commune_report

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageSettings:
    """How pages are built: language, where cached images go, optional online tiles."""

    lang: Lang
    cache_dir: Path
    online_tiles: str | None = None
    base_url: str = "/maps"
    #: Rasters that override the region's (``LOMSONG_DEM_PATH``...).
    rasters: Rasters | None = None


def _hillshade(store: Store, bounds: tuple[float, ...], opts: PageSettings) -> dict[str, object]:
    """``MapPage`` fields of the hillshade of ``bounds``, or none without a usable DEM."""
    dem = (opts.rasters or Rasters()).over(store.rasters()).dem
    if dem is None or not dem.is_file():
        return {}
    from geodata.maps import padded_bounds

    try:
        padded = padded_bounds(bounds)  # type: ignore[arg-type]  # four numbers
        key, shade = cached_hillshade(dem, cache_dir=opts.cache_dir, bounds_wgs84=padded)
    except (GeodataError, OSError) as exc:
        logger.warning("no hillshade from %s: %s", dem, exc)
        return {}
    return {
        "hillshade": f"{opts.base_url}/hillshade/{key}.webp",  # a sixth of the PNG
        "hillshade_bounds": shade.leaflet_bounds(),
    }


def _extra(opts: PageSettings, path: str, report: str | None = None) -> list[tuple[str, str]]:
    from geodata.maps import language_links

    return language_links(opts.lang, path, report=report)


def index_page(store: Store, opts: PageSettings) -> str:
    """Provinces → districts → communes, with the village search."""
    villages = pd.DataFrame(store.villages().drop(columns="geometry"))
    communes = pd.DataFrame(store.communes().drop(columns="geometry"))
    return render_index_page(communes, villages, lang=opts.lang, base_url=opts.base_url)


def _province_of(store: Store, province_id: str) -> tuple[str, gpd.GeoDataFrame]:
    communes = store.communes()
    chosen = communes.loc[[slug(str(p)) == province_id for p in communes["province"]]]
    if chosen.empty:
        raise NotFoundError(f"province {province_id!r} not found")
    return str(chosen["province"].iloc[0]), chosen


def province_page(store: Store, province_id: str, opts: PageSettings) -> str:
    """Render a province overview: simplified villages, dead zones, res-8 hexagons."""
    text, q, base = words(opts.lang), lang_query(opts.lang), opts.base_url
    province, communes = _province_of(store, province_id)
    ids = communes["id"].tolist()
    villages = store.villages(commune_ids=ids)
    cells = coarsen_cells(store.cells(commune_ids=ids), resolution=OVERVIEW_RESOLUTION)
    bounds = tuple(villages.total_bounds) if len(villages) else tuple(communes.total_bounds)
    down = [
        (
            f"{c.name} ({c.district})" if isinstance(c.district, str) else str(c.name),
            f"{base}/communes/{path_segment(c.id)}{q}",
        )
        for c in communes.sort_values(["district", "name"], na_position="first").itertuples()
    ]
    page = MapPage(
        villages,
        f"{text['province']} {province}",
        dead_zones=store.dead_zones().loc[lambda z: z["commune_id"].isin(ids)],
        cells=cells_geoframe(cells),
        nav=Nav(
            up=[(text["all_maps"], f"{base}{q}")],
            down_title=text["communes"],
            down=down,
            extra=_extra(opts, f"{base}/provinces/{path_segment(province_id)}"),
        ),
        village_url=f"{base}/villages/{{id}}{q}",
        **_hillshade(store, bounds, opts),  # type: ignore[arg-type]
    )
    return render_map(page, lang=opts.lang, detail="overview", online_tiles=opts.online_tiles)


def commune_page(store: Store, commune_id: str, opts: PageSettings) -> str:
    """Render a commune: villages, dead zones, res-9 hexagons per carrier and radio, sites.

    The page is :func:`geodata.maps.commune_page`, the one the CLI's
    ``map.html`` is too; this reads what it shows from the store.
    """
    from app.services.survey import survey_plan_for
    from geodata.maps import CommuneUrls
    from geodata.maps import commune_page as render_commune_page

    commune = store.commune(commune_id)
    villages = store.villages(commune_ids=[commune_id])
    return render_commune_page(
        villages,
        store.dead_zones(commune_id=commune_id),
        cells_geoframe(store.cells(commune_ids=[commune_id])),
        store.sites(),
        **(_hillshade(store, tuple(villages.total_bounds), opts) if len(villages) else {}),  # type: ignore[arg-type]
        commune=str(commune["name"]),
        unit_type=commune.get("unit_type") if isinstance(commune.get("unit_type"), str) else None,
        lang=opts.lang,
        urls=CommuneUrls(commune_id, province=str(commune["province"]), base=opts.base_url),
        online_tiles=opts.online_tiles,
        survey=survey_plan_for(store, commune_id, rasters=opts.rasters),  # "Nơi cần đo tiếp"
    )


def village_page(store: Store, village_id: str, opts: PageSettings) -> str:
    """One village with its cells, dead zones and nearby sites (on its commune's hillshade)."""
    from app.services.survey import public_challenges
    from geodata.maps import sites_near

    text, q, base = words(opts.lang), lang_query(opts.lang), opts.base_url
    village = store.village(village_id)
    row = village.iloc[0]
    commune_id, province = str(row["commune_id"]), str(row["province"])
    commune_villages = store.villages(commune_ids=[commune_id])
    west, south, east, north = village.total_bounds
    zones = store.dead_zones(commune_id=commune_id)
    zones = zones.loc[[village_id in (ids or []) for ids in zones["village_ids"]]]
    cells = store.cells(commune_ids=[commune_id], bbox=(west, south, east, north))
    page = MapPage(
        village,
        f"{text['village']} {row['name']}",
        dead_zones=zones,
        cells=cells_geoframe(cells),
        sites=sites_near(store.sites(), (west, south, east, north)),
        nav=Nav(
            up=[
                (text["all_maps"], f"{base}{q}"),
                (province, f"{base}/provinces/{slug(province)}{q}"),
                (str(row["commune"]), f"{base}/communes/{path_segment(commune_id)}{q}"),
            ],
            extra=_extra(opts, f"{base}/villages/{path_segment(village_id)}"),
        ),
        **_hillshade(store, tuple(commune_villages.total_bounds), opts),  # type: ignore[arg-type]
        challenges=public_challenges(store, [village_id]) or None,
    )
    return render_map(page, lang=opts.lang, online_tiles=opts.online_tiles)


def commune_report(
    store: Store, commune_id: str, lang: Lang, *, site_url: str = "", printed: date | None = None
) -> str:
    """Render the commune's report page (404 for an unknown commune): what the store holds.

    ``site_url`` (``http://host``) makes the link and QR code back to the map
    absolute, for a phone reading the paper; ``printed`` is the print date shown.
    """
    return render_commune_report(
        store.commune(commune_id),
        store.villages(commune_ids=[commune_id]),
        store.dead_zones(commune_id=commune_id),
        lang=lang,
        map_url=f"{site_url}/maps/communes/{path_segment(commune_id)}{lang_query(lang)}",
        printed=printed,
        served_p=SERVED_P,
        min_confidence=MIN_CONFIDENCE,
    )
