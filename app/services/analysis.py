"""Run the coverage analysis on what the store holds, and store its results."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import pandas as pd

from app.core.config import Rasters, get_settings
from app.store import Store
from coverage.pipeline import AnalysisResult, analyze
from coverage.points import villages_touched

# Readings this far (degrees, ~2 km) outside the analysed villages still
# inform the analysis: dead zones and calibration reach past village edges.
_READINGS_MARGIN_DEG = 0.02


def _commune_zone_ids(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Re-number dead zones per commune (``thuong-nong-dz-001``).

    The analysis numbers zones per run; re-analysing one commune must not
    reuse an id another commune's zone holds.
    """
    zones = zones.copy()
    commune = zones["commune_id"].fillna("region").astype(str)
    order = zones.groupby(commune, sort=False).cumcount() + 1
    zones["id"] = [f"{c}-dz-{n:03d}" for c, n in zip(commune, order, strict=True)]
    return zones


def cluster_setting() -> str | None:
    """Return ``LOMSONG_CLUSTER`` (:attr:`app.core.config.Settings.cluster`), None when unset."""
    if not os.environ.get("LOMSONG_CLUSTER", "").strip():
        return None
    return get_settings().cluster


def analyse(
    store: Store,
    commune_ids: Iterable[str] | None = None,
    *,
    rasters: Rasters | None = None,
    extra_sites: pd.DataFrame | None = None,
    cluster: str | None = None,
) -> AnalysisResult | None:
    """Analyse the villages of ``commune_ids`` (all when ``None``) from what the store holds.

    Nothing is published: :func:`analyze_communes` publishes, a what-if
    (``extra_sites``: hypothetical cells from
    :func:`geodata.sites.hypothetical_cells`) and a plan only read.

    Parameters
    ----------
    store : Store
    commune_ids : iterable of str, optional
        Communes whose villages are analysed.
    rasters : Rasters, optional, keyword-only
        Rasters that override the region's (``LOMSONG_DEM_PATH``...).
    extra_sites : DataFrame, optional, keyword-only
        Cells analysed beside the store's sites, as if they existed.
    cluster : str, optional, keyword-only
        ``local:N`` or ``tcp://HOST:PORT``: analyse in tiles on that dask
        cluster (:func:`coverage.tiles.analyze_tiled`, the same answers).

    Returns
    -------
    AnalysisResult or None
        None when there are no such villages.
    """
    communes = None if commune_ids is None else sorted(set(commune_ids))
    villages = store.villages(commune_ids=communes, with_results=False)
    if villages.empty:
        return None
    minx, miny, maxx, maxy = villages.total_bounds
    margin = _READINGS_MARGIN_DEG
    box = (minx - margin, miny - margin, maxx + margin, maxy + margin)
    used = (rasters or Rasters()).over(store.rasters())
    buildings = None
    if (buildings_file := store.buildings_path()) is not None:  # lomsong region load --buildings
        from geodata.buildings import read_buildings

        buildings = read_buildings(buildings_file, bbox=(minx, miny, maxx, maxy)).points
    sites = store.sites()
    if extra_sites is not None and len(extra_sites):
        sites = pd.concat([sites, extra_sites.reindex(columns=sites.columns)], ignore_index=True)
    readings = store.readings(bounds=box)
    inputs: dict[str, Any] = {
        "dem": used.dem,
        "population": used.population,
        "buildings": buildings,
    }
    if cluster is not None:
        from coverage.tiles import analyze_tiled, client_for

        # The readings go to the workers from this process, tile by tile, not
        # from the GeoParquet dataset (app.services.readings_export): from a
        # dataset each tile infers its phones' silent gaps in its own readings,
        # which moved 1 village in 300 to 1,200 in benchmarks/bench_national.py.
        # From a frame the gaps are inferred once, and the verdicts are the
        # single-process run's exactly.
        with client_for(cluster) as client:
            return analyze_tiled(villages, sites, readings, client=client, **inputs)
    return analyze(villages, sites, readings, **inputs)


def analyze_communes(
    store: Store, commune_ids: Iterable[str] | None = None, *, rasters: Rasters | None = None
) -> list[str]:
    """Analyse the villages of ``commune_ids`` (all when ``None``) and publish the results.

    Verdicts, dead zones and cells are published in one transaction
    (:meth:`app.store.results.Results.publish`): a reader never sees new
    verdicts beside old dead zones. A full analysis (``commune_ids`` None)
    runs in tiles on ``LOMSONG_CLUSTER`` when it is set (:func:`cluster_setting`);
    a refresh of some communes stays in process.

    Parameters
    ----------
    store : Store
    commune_ids : iterable of str, optional
        Communes to re-analyse; their dead zones are replaced as a whole.
    rasters : Rasters, optional, keyword-only
        Rasters that override the region's (``LOMSONG_DEM_PATH``...).

    Returns
    -------
    list of str
        Ids of the villages whose verdicts were stored.
    """
    communes = None if commune_ids is None else sorted(set(commune_ids))
    # Every reading stored by now is in a full analysis (app.services.refresh's mark).
    through_batch = store.last_batch_id()
    cluster = cluster_setting() if communes is None else None
    result = analyse(store, communes, rasters=rasters, cluster=cluster)
    if result is None:
        return []
    store.publish(
        result.villages,
        _commune_zone_ids(result.dead_zones),
        result.map_cells(),
        commune_ids=communes,
    )
    if communes is None:
        store.mark_refreshed(through_batch)
    return [str(v) for v in result.villages["id"]]


def refresh_for_readings(
    store: Store, readings: pd.DataFrame, *, rasters: Rasters | None = None
) -> list[str]:
    """Re-judge the villages whose area ``readings`` fall in.

    Every village of each touched commune is re-analysed, so the commune's
    dead zones (which may span several villages) stay whole.

    Returns
    -------
    list of str
        Ids of the villages the readings touched.
    """
    if readings.empty:
        return []
    villages = store.villages(with_results=False)
    if villages.empty:
        return []
    touched = villages_touched(villages, readings)
    if not touched:
        return []
    communes = villages.loc[villages["id"].isin(touched), "commune_id"].dropna().unique()
    analyze_communes(store, [str(c) for c in communes], rasters=rasters)
    return sorted(touched)
