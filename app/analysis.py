"""Run the coverage analysis on what the store holds, and store its results."""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import pandas as pd

from app.store import Store
from coverage.map_cells import cells_for_storage
from coverage.pipeline import analyze
from coverage.points import villages_touched

# Readings this far (degrees, ~2 km) outside the analysed villages still
# inform the analysis: dead zones and calibration reach past village edges.
_READINGS_MARGIN_DEG = 0.02

#: Meta key: the id of the newest readings batch every verdict already reflects.
REFRESH_MARK = "refreshed_through_batch"


def refreshed_through(store: Store) -> int:
    """The stored :data:`REFRESH_MARK` (0 when never set)."""
    return int(store.get_meta(REFRESH_MARK) or 0)


def mark_refreshed(store: Store, batch_id: int) -> None:
    """Move :data:`REFRESH_MARK` forward to ``batch_id`` (never back)."""
    if batch_id > refreshed_through(store):
        store.set_meta({REFRESH_MARK: str(batch_id)})


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


def analyze_communes(store: Store, commune_ids: Iterable[str] | None = None) -> list[str]:
    """Analyse the villages of ``commune_ids`` (all when ``None``) and store the results.

    Parameters
    ----------
    store : Store
    commune_ids : iterable of str, optional
        Communes to re-analyse; their dead zones are replaced as a whole.

    Returns
    -------
    list of str
        Ids of the villages whose verdicts were stored.
    """
    communes = None if commune_ids is None else sorted(set(commune_ids))
    # Every reading stored by now is in a full analysis (app.refresh's mark).
    through_batch = store.last_batch_id()
    villages = store.villages(commune_ids=communes, with_results=False)
    if villages.empty:
        return []
    minx, miny, maxx, maxy = villages.total_bounds
    margin = _READINGS_MARGIN_DEG
    readings = store.readings(bounds=(minx - margin, miny - margin, maxx + margin, maxy + margin))
    result = analyze(
        villages,
        store.sites(),
        readings,
        dem=store.get_meta("dem_path"),
        population=store.get_meta("population_path"),
    )
    store.save_results(result.villages)
    store.replace_dead_zones(_commune_zone_ids(result.dead_zones), commune_ids=communes)
    store.replace_cells(cells_for_storage(result.cells, result.villages), commune_ids=communes)
    if communes is None:
        mark_refreshed(store, through_batch)
    return [str(v) for v in result.villages["id"]]


def refresh_for_readings(store: Store, readings: pd.DataFrame) -> list[str]:
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
    analyze_communes(store, [str(c) for c in communes])
    return sorted(touched)
