"""A plan's files: the candidates weighed, the chosen sites with their footprints, the table.

Writers only, on the plain frames :func:`coverage.planning.plan` and
:func:`coverage.planning.evaluate_candidates` return (this module imports
nothing from :mod:`coverage`): ``lomsong plan`` writes them into its
directory, the service sends the same features.

- ``candidates.geojson``: every candidate as a point, with its evaluation.
- ``plan.geojson``: the chosen, in order, each as its predicted footprint
  (where its own signal would be usable: its H3 cells dissolved into one
  outline) with the mast's ``lon``/``lat`` among its properties.
- ``plan.csv``: :data:`PLAN_CSV_COLUMNS`, one row per chosen candidate; its
  ``id, lon, lat, height, carrier, radio, cost`` are the columns of an
  uploaded candidate file (:func:`geodata.formats.candidates.read_candidates`),
  so a plan can be edited and weighed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.constants import CRS_WGS84
from geodata.errors import MissingColumnError
from geodata.exports import to_csv, to_geojson
from geodata.hexgrid import cell_polygons

#: Columns of ``plan.csv``, in order.
PLAN_CSV_COLUMNS: Final = (
    "rank",
    "id",
    "kind",
    "carrier",
    "radio",
    "lon",
    "lat",
    "height",
    "cost",
    "marginal_households",
    "cumulative_households",
    "cumulative_cost",
)
#: Columns a plan's chosen table must have (:attr:`coverage.planning.Plan.chosen`).
CHOSEN_REQUIRED: Final = (
    "rank",
    "candidate_id",
    "kind",
    "carrier",
    "radio",
    "lon",
    "lat",
    "height_m",
    "cost",
    "marginal_households",
    "cumulative_households",
    "cumulative_cost",
)
# Households are whole people's homes: shown to one decimal at most, where weights split them.
_HOUSEHOLD_DECIMALS: Final = 1


def _require(table: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MissingColumnError(f"{what}: missing column(s) {', '.join(missing)}")


def footprint_polygons(footprints: pd.DataFrame) -> gpd.GeoSeries:
    """Dissolve each candidate's footprint cells into one outline (EPSG:4326).

    Parameters
    ----------
    footprints : DataFrame
        ``candidate_id, h3`` (uint64 cells of one resolution): where each
        candidate's own signal would be usable.

    Returns
    -------
    GeoSeries
        One (Multi)Polygon per candidate that has cells, indexed by
        ``candidate_id``. The hexagons tile without overlap, so GEOS'
        coverage union dissolves them (linear in their edges).

    Examples
    --------
    >>> from geodata.hexgrid import cells_for_points, neighbourhood
    >>> centre = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=10)
    >>> ring = neighbourhood(centre, k=1)["neighbour"].to_numpy()
    >>> shapes = footprint_polygons(pd.DataFrame({"candidate_id": "c1", "h3": ring}))
    >>> shapes.index.tolist(), shapes.iloc[0].geom_type
    (['c1'], 'Polygon')
    """
    _require(footprints, ("candidate_id", "h3"), "footprints")
    if footprints.empty:
        return gpd.GeoSeries([], index=pd.Index([], name="candidate_id"), crs=CRS_WGS84)
    cells = footprints[["candidate_id", "h3"]].drop_duplicates()
    order = np.argsort(cells["candidate_id"].astype(str).to_numpy(), kind="stable")
    cells = cells.iloc[order]
    polygons = cell_polygons(cells["h3"].to_numpy(np.uint64))
    ids = cells["candidate_id"].astype(str).to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    # One union per candidate (a plan's few dozen), not per cell.
    shapes = [shapely.coverage_union_all(polygons[a:b]) for a, b in zip(starts, ends, strict=True)]
    return gpd.GeoSeries(shapes, index=pd.Index(ids[starts], name="candidate_id"), crs=CRS_WGS84)


def _households(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").round(_HOUSEHOLD_DECIMALS)


def candidates_frame(candidates: pd.DataFrame) -> gpd.GeoDataFrame:
    """Every candidate as a point at its mast, with its evaluation (``candidates.geojson``).

    ``candidates`` is :attr:`coverage.planning.Evaluation.candidates`:
    :data:`~geodata.sites.CANDIDATE_COLUMNS` plus the households it serves.
    """
    _require(candidates, ("candidate_id", "lon", "lat"), "candidates")
    table = pd.DataFrame(candidates).reset_index(drop=True)
    for column in ("households_served", "households_served_own"):
        if column in table:
            table[column] = _households(table[column])
    points = gpd.points_from_xy(
        pd.to_numeric(table["lon"]), pd.to_numeric(table["lat"]), crs=CRS_WGS84
    )
    return gpd.GeoDataFrame(table, geometry=points, crs=CRS_WGS84)


def plan_frame(chosen: pd.DataFrame, footprints: pd.DataFrame) -> gpd.GeoDataFrame:
    """Return the chosen in rank order, each as its footprint outline (``plan.geojson``).

    Parameters
    ----------
    chosen : DataFrame
        :attr:`coverage.planning.Plan.chosen` (:data:`CHOSEN_REQUIRED`).
    footprints : DataFrame
        :attr:`coverage.planning.Evaluation.footprints` (``candidate_id, h3``);
        only the chosen candidates' cells are dissolved.

    Returns
    -------
    GeoDataFrame
        ``chosen``'s columns (households to one decimal) in EPSG:4326; the
        geometry is the footprint, ``None`` for a candidate without one.
    """
    _require(chosen, CHOSEN_REQUIRED, "plan")
    table = pd.DataFrame(chosen).sort_values("rank", kind="stable").reset_index(drop=True)
    for column in table.columns:
        if "households" in column and pd.api.types.is_numeric_dtype(table[column]):
            table[column] = _households(table[column])
    ids = table["candidate_id"].astype(str)
    mine = footprints.loc[footprints["candidate_id"].astype(str).isin(set(ids))]
    shapes = footprint_polygons(mine.assign(candidate_id=mine["candidate_id"].astype(str)))
    geometry = gpd.GeoSeries(shapes.reindex(ids).to_numpy(), crs=CRS_WGS84)
    return gpd.GeoDataFrame(table, geometry=geometry, crs=CRS_WGS84)


def plan_table(chosen: pd.DataFrame) -> pd.DataFrame:
    """``plan.csv``'s rows: :data:`PLAN_CSV_COLUMNS`, one per chosen candidate, in rank order.

    >>> chosen = pd.DataFrame({"rank": [1], "candidate_id": ["co-s1-Viettel"],
    ...     "kind": ["colocation"], "carrier": ["Viettel"], "radio": ["lte"], "lon": [105.49],
    ...     "lat": [22.57], "height_m": [30.0], "cost": [3e8], "marginal_households": [52.04],
    ...     "cumulative_households": [52.04], "cumulative_cost": [3e8]})
    >>> row = plan_table(chosen).iloc[0]
    >>> str(row["id"]), float(row["marginal_households"]), list(row.index[:3])
    ('co-s1-Viettel', 52.0, ['rank', 'id', 'kind'])
    """
    _require(chosen, CHOSEN_REQUIRED, "plan")
    table = pd.DataFrame(chosen).sort_values("rank", kind="stable").reset_index(drop=True)
    table = table.rename(columns={"candidate_id": "id", "height_m": "height"})
    for column in ("marginal_households", "cumulative_households"):
        table[column] = _households(table[column])
    return table[list(PLAN_CSV_COLUMNS)]


def villages_lifted(villages: pd.DataFrame) -> tuple[int, int]:
    """Count the villages a plan lifts out of no signal, and out of patchy signal.

    ``villages`` is :attr:`coverage.planning.Plan.villages`. Out of
    *trắng sóng*: ``no_signal`` before, anything else after; out of *lõm
    sóng*: ``patchy`` before, ``covered`` after.

    >>> villages_lifted(pd.DataFrame({"verdict_before": ["no_signal", "patchy", "patchy"],
    ...                               "verdict_after": ["patchy", "covered", "patchy"]}))
    (1, 1)
    """
    before = villages["verdict_before"].astype(str)
    after = villages["verdict_after"].astype(str)
    out_of_no_signal = (before == "no_signal") & (after != "no_signal")
    out_of_patchy = (before == "patchy") & (after == "covered")
    return int(out_of_no_signal.sum()), int(out_of_patchy.sum())


@dataclass(frozen=True)
class PlanFiles:
    """Where :func:`write_plan` put each file."""

    candidates: Path
    plan: Path
    table: Path
    page: Path | None


def write_plan(
    out: str | Path,
    *,
    candidates: pd.DataFrame,
    chosen: pd.DataFrame,
    footprints: pd.DataFrame,
    summary: dict[str, Any] | None = None,
    page: str | None = None,
) -> PlanFiles:
    """Write ``candidates.geojson``, ``plan.geojson``, ``plan.csv`` and ``plan.html`` into ``out``.

    Parameters
    ----------
    out : str or Path
        The directory (made when missing).
    candidates, chosen, footprints : DataFrame
        As :func:`candidates_frame` and :func:`plan_frame` take them.
    summary : dict, optional
        Top-level members of ``plan.geojson`` (``households_served``,
        ``cost``, ``method``...), beside its features.
    page : str, optional
        The plan's HTML page (:func:`geodata.maps.plan.plan_page`).

    Returns
    -------
    PlanFiles
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files = PlanFiles(
        candidates=folder / "candidates.geojson",
        plan=folder / "plan.geojson",
        table=folder / "plan.csv",
        page=folder / "plan.html" if page is not None else None,
    )
    files.candidates.write_bytes(to_geojson(candidates_frame(candidates)))
    files.plan.write_bytes(to_geojson(plan_frame(chosen, footprints), **(summary or {})))
    table = plan_table(chosen)
    points = gpd.points_from_xy(table["lon"], table["lat"], crs=CRS_WGS84)
    files.table.write_bytes(to_csv(gpd.GeoDataFrame(table, geometry=points, crs=CRS_WGS84)))
    if files.page is not None and page is not None:
        files.page.write_text(page, encoding="utf-8")
    return files
