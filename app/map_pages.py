"""The service's map pages: what the store holds, composed into :mod:`geodata.maps` pages.

Route handlers call one function here per page; each returns the HTML.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from app.errors import NotFoundError
from app.store import Store
from coverage.map_cells import OVERVIEW_RESOLUTION, cells_geoframe, coarsen_cells
from geodata.constants import Lang
from geodata.errors import GeodataError
from geodata.maps import MapPage, Nav, cached_hillshade, render_index_page, render_map, words
from geodata.maps.index import lang_query, slug

logger = logging.getLogger(__name__)

# Sites this far (degrees, ~5 km) outside a commune still serve it: show them.
SITES_MARGIN_DEG = 0.05
# The hillshade reaches this far (degrees, ~1 km) past the villages.
HILLSHADE_MARGIN_DEG = 0.01


@dataclass(frozen=True)
class PageSettings:
    """How pages are built: language, where cached images go, optional online tiles."""

    lang: Lang
    cache_dir: Path
    online_tiles: str | None = None
    base_url: str = "/maps"


def _hillshade(store: Store, bounds: tuple[float, ...], opts: PageSettings) -> dict[str, object]:
    """``MapPage`` fields of the hillshade of ``bounds``, or none without a usable DEM."""
    dem = store.get_meta("dem_path")
    if not dem or not Path(dem).is_file():
        return {}
    west, south, east, north = bounds
    m = HILLSHADE_MARGIN_DEG
    try:
        padded = (west - m, south - m, east + m, north + m)
        key, shade = cached_hillshade(dem, cache_dir=opts.cache_dir, bounds_wgs84=padded)
    except (GeodataError, OSError) as exc:
        logger.warning("no hillshade from %s: %s", dem, exc)
        return {}
    return {
        "hillshade": f"{opts.base_url}/hillshade/{key}.png",
        "hillshade_bounds": shade.leaflet_bounds(),
    }


def _sites_near(store: Store, bounds: tuple[float, ...]) -> pd.DataFrame:
    sites = store.sites()
    west, south, east, north = bounds
    m = SITES_MARGIN_DEG
    near = sites["lon"].between(west - m, east + m) & sites["lat"].between(south - m, north + m)
    return sites.loc[near]


def _extra(opts: PageSettings, path: str, report: str | None = None) -> list[tuple[str, str]]:
    text = words(opts.lang)
    other: Lang = "en" if opts.lang == "vi" else "vi"
    links = [("English" if opts.lang == "vi" else "Tiếng Việt", f"{path}{lang_query(other)}")]
    if report:
        links.insert(0, (text["report"], report))
    return links


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
    """A province overview: simplified villages, dead zones, res-8 hexagons."""
    text, q, base = words(opts.lang), lang_query(opts.lang), opts.base_url
    province, communes = _province_of(store, province_id)
    ids = communes["id"].tolist()
    villages = store.villages(commune_ids=ids)
    cells = coarsen_cells(store.cells(commune_ids=ids), resolution=OVERVIEW_RESOLUTION)
    bounds = tuple(villages.total_bounds) if len(villages) else tuple(communes.total_bounds)
    down = [
        (f"{c.name} ({c.district})", f"{base}/communes/{c.id}{q}")
        for c in communes.sort_values(["district", "name"]).itertuples()
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
            extra=_extra(opts, f"{base}/provinces/{province_id}"),
        ),
        village_url=f"{base}/villages/{{id}}{q}",
        **_hillshade(store, bounds, opts),  # type: ignore[arg-type]
    )
    return render_map(page, lang=opts.lang, detail="overview", online_tiles=opts.online_tiles)


def commune_page(store: Store, commune_id: str, opts: PageSettings) -> str:
    """A commune: villages, dead zones, res-9 hexagons per carrier and radio, sites."""
    text, q, base = words(opts.lang), lang_query(opts.lang), opts.base_url
    commune = store.commune(commune_id)
    villages = store.villages(commune_ids=[commune_id])
    bounds = tuple(villages.total_bounds) if len(villages) else (0.0, 0.0, 0.0, 0.0)
    province = str(commune["province"])
    down = [(str(v.name), f"{base}/villages/{v.id}{q}") for v in villages.itertuples()]
    page = MapPage(
        villages,
        f"{text['commune']} {commune['name']}",
        dead_zones=store.dead_zones(commune_id=commune_id),
        cells=cells_geoframe(store.cells(commune_ids=[commune_id])),
        sites=_sites_near(store, bounds) if len(villages) else None,
        nav=Nav(
            up=[
                (text["all_maps"], f"{base}{q}"),
                (province, f"{base}/provinces/{slug(province)}{q}"),
            ],
            down_title=text["villages"],
            down=down,
            extra=_extra(
                opts, f"{base}/communes/{commune_id}", report=f"/reports/communes/{commune_id}{q}"
            ),
        ),
        village_url=f"{base}/villages/{{id}}{q}",
        **(_hillshade(store, bounds, opts) if len(villages) else {}),  # type: ignore[arg-type]
    )
    return render_map(page, lang=opts.lang, online_tiles=opts.online_tiles)


def village_page(store: Store, village_id: str, opts: PageSettings) -> str:
    """One village with its cells, dead zones and nearby sites (on its commune's hillshade)."""
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
        sites=_sites_near(store, (west, south, east, north)),
        nav=Nav(
            up=[
                (text["all_maps"], f"{base}{q}"),
                (province, f"{base}/provinces/{slug(province)}{q}"),
                (str(row["commune"]), f"{base}/communes/{commune_id}{q}"),
            ],
            extra=_extra(opts, f"{base}/villages/{village_id}"),
        ),
        **_hillshade(store, tuple(commune_villages.total_bounds), opts),  # type: ignore[arg-type]
    )
    return render_map(page, lang=opts.lang, online_tiles=opts.online_tiles)
