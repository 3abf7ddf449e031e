"""The readings' evidence per cell: what was measured, corrected for what phones lose.

Steps 1 and 1b of the pipeline: the cell statistics without the readings a
newer site retired (they say nothing of it), the spread of readings in one
place, the censoring-corrected median per (cell, carrier, radio)
(:mod:`coverage.censoring`) and each carrier's best radio per cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from coverage import thresholds as T
from coverage.censoring import observed_median, reading_spread_db
from coverage.stats import aggregate_readings, retired_readings, service_floors


@dataclass(frozen=True)
class Evidence:
    """What the readings say, per cell.

    Attributes
    ----------
    stats : DataFrame
        Cell statistics (:func:`coverage.stats.aggregate_readings`) of the
        readings still in force.
    retired : numpy.ndarray
        Per reading (boolean): taken before a site that now serves its cell.
    fading_db : float
        Spread of readings in one place, σ_t (:func:`~coverage.censoring.reading_spread_db`).
    observed : DataFrame
        Per (cell, carrier, radio): ``stats`` with ``median_dbm``,
        ``censored`` and ``p_measured`` (:func:`~coverage.censoring.observed_median`).
    measured : DataFrame
        Per (cell, carrier): the best radio's evidence (:func:`measured_by_carrier`).
    before : DataFrame or None
        The same, from the retired readings alone: the network as it was
        before the newer sites, which they can only add to (the floor of
        :func:`coverage.fusion.fuse`). None when no reading was retired.
    """

    stats: pd.DataFrame
    retired: np.ndarray
    fading_db: float
    observed: pd.DataFrame
    measured: pd.DataFrame
    before: pd.DataFrame | None = None


def measure(
    readings: pd.DataFrame,
    stats: pd.DataFrame,
    predicted: pd.DataFrame,
    sites: pd.DataFrame,
    *,
    resolution: int,
) -> Evidence:
    """Gather the readings' evidence per cell, without the readings newer sites retired.

    Parameters
    ----------
    readings : DataFrame
        Validated readings (with inferred silent gaps, when wanted).
    stats : DataFrame
        Their cell statistics at ``resolution``.
    predicted : DataFrame
        The prediction at the cells (:func:`coverage.predict.predict_cells`):
        which site serves each cell, to retire the readings taken before it.
    sites : DataFrame
        Normalised sites, with ``created`` when known.
    resolution : int, keyword-only
        H3 resolution of ``stats``.

    Returns
    -------
    Evidence
    """
    retired = retired_readings(readings, predicted, sites, resolution=resolution)
    if retired.any():
        stats = aggregate_readings(readings.loc[~retired], resolution=resolution)
    fading = reading_spread_db(stats)
    floors = service_floors(readings)
    observed = observed_median(stats, floors=floors, spread_db=fading)
    before = None
    if retired.any():
        old = aggregate_readings(readings.loc[retired], resolution=resolution)
        before = measured_by_carrier(observed_median(old, floors=floors, spread_db=fading))
    return Evidence(
        stats=stats,
        retired=retired,
        fading_db=fading,
        observed=observed,
        measured=measured_by_carrier(observed),
        before=before,
    )


def measured_by_carrier(observed: pd.DataFrame) -> pd.DataFrame:
    """Pick each carrier's measured evidence per cell: its best radio's P(usable).

    A phone camps on the best radio it can, so the carrier serves a cell
    when any of its radios does. Among radios with enough readings the best
    P counts; with none, the most-read radio. ``count`` pools all readings.

    Parameters
    ----------
    observed : DataFrame
        Output of :func:`observed_median`.
    """
    columns = [
        "h3",
        "carrier",
        "count",
        "usable_count",
        "no_service_count",
        "mean_dbm",
        "p_measured",
        "measured_radio",
    ]
    if observed.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns}).astype(
            {"h3": "uint64", "carrier": "string", "measured_radio": object}
        )
    # Groups numbered by first appearance (as groupby(sort=False) lists
    # them); each group's best row is its first in the ranking (enough
    # readings, then P, then count, all descending; ties keep their order).
    group = observed.groupby(["h3", "carrier"], sort=False).ngroup().to_numpy(np.int64)
    groups = int(group.max()) + 1
    rows = np.arange(len(observed))
    count = observed["count"].to_numpy(float)
    enough = (count >= T.MIN_READINGS_MEASURED).astype(float)
    order = np.lexsort((-count, -observed["p_measured"].to_numpy(float), -enough))
    rank = np.empty(len(observed), dtype=np.int64)
    rank[order] = rows
    first_rank = np.full(groups, len(observed))
    np.minimum.at(first_rank, group, rank)
    best = order[first_rank]
    first = np.full(groups, len(observed))
    np.minimum.at(first, group, rows)
    pooled = observed.iloc[first][["h3", "carrier"]].reset_index(drop=True)
    for column in ("count", "usable_count", "no_service_count"):
        values = observed[column].to_numpy()
        total = np.bincount(group, weights=values.astype(float), minlength=groups)
        pooled[column] = total.astype(values.dtype)
    for column, source in (
        ("mean_dbm", "mean_dbm"),
        ("p_measured", "p_measured"),
        ("measured_radio", "radio"),
    ):
        pooled[column] = observed[source].iloc[best].reset_index(drop=True)
    return pooled[columns]
