"""What each candidate site would serve, and plans that serve the most households.

:func:`evaluate_candidates` re-judges, for each candidate, only the cells
within its reach (the households' cells and the village centres), with the
calibrated model the verdicts come from: the same propagation
(:func:`coverage.predict._site_contribution`: Hata, sector gain, terrain
diffraction by :mod:`coverage.terrain`), the same calibration
(:func:`coverage.calibration.apply_calibration`; a new site has no site
offset of its own) and the same rule of service (a household is served
when some carrier's margin, calibrated dBm minus the radio's usable level,
is at least 0 at its cell: :mod:`coverage.verdicts`). The analysis itself is
not re-run.

:func:`plan` then picks candidates by lazy greedy maximum coverage over the
household cells they newly serve (:data:`GREEDY_METHOD`, :data:`BUDGET_METHOD`).

Households are the analysis' weights (:attr:`coverage.pipeline.AnalysisResult.households`),
which come from each village's recorded household count, not from
readings: a village where few people own a smartphone (and so few readings
come from) weighs by its households all the same. Coverage is for calls
and SMS too.

What the evaluation does not follow: a full re-analysis with the candidate
built also refits the calibration and re-krigs the residuals, and the
readings it keeps (see :func:`with_readings`) pull both down near the
candidate. On the demo's top plan of three the full analysis finds ~7 %
fewer households newly served than the evaluation claims
(``tests/coverage/test_planning.py``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
from scipy.spatial import cKDTree
from scipy.stats import norm

from coverage import thresholds as T
from coverage.calibration import Calibration, apply_calibration
from coverage.candidates import InvalidCandidateError, checked_values
from coverage.diffraction import float32_terrain
from coverage.errors import CoverageError
from coverage.pipeline import AnalysisResult
from coverage.predict import (
    _site_contribution,
    _SiteContribution,
    _SiteTable,
    coarse_terrain,
    metric_centres,
)
from coverage.stats import could_serve
from geodata import constants as C
from geodata.constants import Verdict
from geodata.raster import Raster, read_raster
from geodata.sites import CANDIDATE_COLUMNS, carrier_codes, carrier_name, hypothetical_cells
from geodata.threads import map_in_order, worker_count


class InvalidPlanError(CoverageError, ValueError):
    """A plan was asked for with options that make no sense (k < 1, a negative budget...)."""


#: Columns :func:`evaluate_candidates` adds to the candidates.
EVALUATION_COLUMNS: tuple[str, ...] = (
    "households_served",
    "households_served_own",
    "villages_out_of_no_signal",
    "villages_out_of_patchy",
)

GREEDY_METHOD = (
    "Lazy greedy maximum coverage (Minoux 1978, lazy evaluations): each pick adds the "
    "candidate serving the most households not yet served, which is within (1 - 1/e) "
    "of the best choice of k (Nemhauser, Wolsey & Fisher 1978)."
)
BUDGET_METHOD = (
    "Cost-effective lazy greedy maximum coverage within the budget (households newly served "
    "per VND, lazy evaluations as in CELF, Leskovec et al. 2007), or the best single "
    "candidate when it serves more: within (1 - 1/e)/2 of the best plan for the budget "
    "(Khuller, Moss & Naor 1999; Leskovec et al. 2007)."
)

_TERRAIN_MARGIN_M = C.MAX_CELL_RANGE_M
# Footprints kept by default (evaluate_candidates): a candidate on open
# ground is usable at ~25,000 res-10 cells (12 bytes each in the table), so
# 500 of them stay near 150 MB; a map shows far fewer.
FOOTPRINT_CANDIDATES = 500


def _no_centres() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=float if c == "margin_db" else object)
            for c in ("candidate_id", "village_id", "h3", "carrier", "margin_db")
        }
    )


def _no_baseline() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=float if c in ("margin_db", "weight") else object)
            for c in ("village_id", "h3", "carrier", "margin_db", "weight")
        }
    )


@dataclass(frozen=True)
class Evaluation:
    """What each candidate would serve (:func:`evaluate_candidates`).

    Attributes
    ----------
    candidates : DataFrame
        :data:`geodata.sites.CANDIDATE_COLUMNS` plus :data:`EVALUATION_COLUMNS`:
        households newly served (by any carrier, or by ``carrier`` when
        given), households its own carrier did not serve that it would,
        villages it alone lifts out of ``no_signal`` and out of ``patchy``.
    footprints : DataFrame
        ``candidate_id, h3`` (uint64, res 10): the village centres, and the
        households' cells some carrier of the candidates does not serve
        today, where the candidate's own signal would be usable (cells every
        such carrier serves already are not judged again: they change no
        count); for the candidates newly serving the most households (see
        the ``footprints`` option of :func:`evaluate_candidates`).
    gains : DataFrame
        ``candidate_id, village_id, h3, households``: the household cells
        it newly serves (the plan's objective); ``unserved_any`` tells
        whether no carrier serves the cell today (always, without ``carrier``).
    villages : DataFrame
        The baseline per village: ``village_id, name, commune_id, verdict``
        (the analysis'), ``households``, ``households_without_signal`` (at
        the estimate, unrounded), ``point_verdict`` (the point-estimate rule
        of :func:`village_outcomes`).
    carrier : str or None
        The carrier of the objective: households without that carrier
        (None: without any carrier).
    centres : DataFrame
        ``candidate_id, village_id, h3, carrier, margin_db``: the
        candidate's margin at each village-centre cell within its reach.
    baseline : DataFrame
        ``village_id, h3, carrier, margin_db, weight``: the centre cells'
        margins today, with their weights (readings + 1).
    fading_db : float
        The temporal spread σ_t the analysis found.
    """

    candidates: pd.DataFrame
    footprints: pd.DataFrame
    gains: pd.DataFrame
    villages: pd.DataFrame
    carrier: str | None
    centres: pd.DataFrame = field(default_factory=_no_centres)
    baseline: pd.DataFrame = field(default_factory=_no_baseline)
    fading_db: float = T.DEFAULT_FADING_DB


@dataclass(frozen=True)
class Plan:
    """The candidates a plan picks, and what they change (:func:`plan`).

    Attributes
    ----------
    chosen : DataFrame
        The evaluation's candidate columns plus ``rank`` (1, 2, ...),
        ``marginal_households`` (households newly served that no earlier
        pick serves), ``cumulative_households`` and ``cumulative_cost``.
    villages : DataFrame
        ``village_id, name, commune_id, households,
        households_without_signal_before``, ``..._after``,
        ``verdict_before``, ``verdict_after`` (point estimates: see
        :func:`village_outcomes`) and ``newly_served_share`` (the share
        of the village's households the plan newly serves).
    households_served : float
        Households newly served by the plan (each counted once).
    cost : float
        The chosen candidates' cost, VND.
    method : str
        The algorithm and its guarantee, with the citation.
    """

    chosen: pd.DataFrame
    villages: pd.DataFrame
    households_served: float
    cost: float
    method: str


def canonical_carrier(carrier: str | None) -> str | None:
    """Return the canonical name of ``carrier`` (a brand or ``MCC-MNC``), or None.

    >>> canonical_carrier("viettel"), canonical_carrier(None)
    ('Viettel', None)

    Raises
    ------
    InvalidCandidateError
        When the carrier is not known.
    """
    if carrier is None:
        return None
    try:
        return carrier_name(*carrier_codes(str(carrier)))
    except ValueError as error:
        raise InvalidCandidateError(f"carrier {carrier!r}: not a known carrier") from error


def _margins_today(result_cells: pd.DataFrame, cells: np.ndarray) -> pd.DataFrame:
    """Margins per (cell, carrier) at ``cells``: a table indexed by cell, a column per carrier."""
    table = result_cells.loc[result_cells["margin_db"].notna(), ["h3", "carrier", "margin_db"]]
    wide = table.assign(carrier=table["carrier"].astype(object)).pivot_table(
        index="h3", columns="carrier", values="margin_db", aggfunc="max"
    )
    return wide.reindex(pd.Index(cells, name="h3"))


def _counts_today(result_cells: pd.DataFrame, cells: np.ndarray) -> pd.DataFrame:
    """Count the readings per (cell, carrier) at ``cells``: by cell, a column per carrier."""
    table = result_cells[["h3", "carrier", "count"]]
    wide = table.assign(carrier=table["carrier"].astype(object)).pivot_table(
        index="h3", columns="carrier", values="count", aggfunc="sum"
    )
    return wide.reindex(pd.Index(cells, name="h3")).fillna(0.0)


def _centre_baseline(result: AnalysisResult) -> pd.DataFrame:
    """Centre cells' margins per carrier today, weighted as the verdicts weigh them.

    The weight is readings + 1 (:func:`coverage.verdicts._centre_evidence`).
    """
    centre = result.centre_cells
    cells = result.cells
    cells = cells.loc[cells["margin_db"].notna(), ["h3", "carrier", "margin_db", "count"]]
    rows = centre.merge(cells, on="h3", how="inner")
    rows = rows.assign(
        carrier=rows["carrier"].astype(object), weight=rows["count"].astype(float) + 1.0
    )
    return rows[["village_id", "h3", "carrier", "margin_db", "weight"]].reset_index(drop=True)


def point_verdicts(best_p: np.ndarray, share: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Apply the official rules of :mod:`coverage.verdicts` to point estimates.

    ``no_signal`` when the best centre availability is below
    :data:`~coverage.thresholds.USABLE_P_LOW`, ``patchy`` when below
    :data:`~coverage.thresholds.USABLE_P_HIGH` or when at least
    :data:`~coverage.thresholds.PATCHY_HOUSEHOLD_SHARE` of the households
    are unserved, ``covered`` otherwise, ``unknown`` without evidence at
    the centre (``known`` false). The confidence is ignored: this is the
    verdict at the estimate, not the likelier side.

    >>> point_verdicts(np.array([0.05, 0.5, 0.99, 0.99]), np.array([0, 0, 0.5, 0]),
    ...     np.array([True, True, True, True])).tolist()
    ['no_signal', 'patchy', 'patchy', 'covered']
    """
    best_p = np.nan_to_num(np.asarray(best_p, float), nan=0.0)
    share = np.nan_to_num(np.asarray(share, float), nan=0.0)
    verdict = np.where(
        best_p < T.USABLE_P_LOW,
        Verdict.NO_SIGNAL.value,
        np.where(
            (best_p < T.USABLE_P_HIGH) | (share >= T.PATCHY_HOUSEHOLD_SHARE - 1e-12),
            Verdict.PATCHY.value,
            Verdict.COVERED.value,
        ),
    )
    return np.where(np.asarray(known, bool), verdict, Verdict.UNKNOWN.value)


def _centre_p(baseline: pd.DataFrame, fading_db: float, key: list[str]) -> pd.Series:
    """Best carrier's centre availability per ``key`` group: Φ(weighted mean margin / σ_t)."""
    if baseline.empty:
        return pd.Series(dtype=float)
    work = baseline.assign(weighted=baseline["weight"] * baseline["margin_db"])
    per = work.groupby([*key, "carrier"], sort=False)[["weighted", "weight"]].sum()
    p = pd.Series(norm.cdf((per["weighted"] / per["weight"]).to_numpy() / fading_db), per.index)
    return p.groupby(level=key).max()


def village_outcomes(evaluation: Evaluation, groups: pd.Series | None = None) -> pd.DataFrame:
    """Households without signal and point verdicts per village, after groups of candidates.

    Each group is a set of candidates built together (``groups`` maps
    candidate id to group; None: every candidate alone, its own group).
    After a group, a household cell is served when it was, or when a
    candidate of the group serves it (:attr:`Evaluation.gains`); a centre
    cell's margin for a carrier becomes the best of today's and the group's
    candidates of that carrier; the verdict follows :func:`point_verdicts`.
    Point estimates: the confidence, and readings a new site retires, are
    left out.

    Returns
    -------
    DataFrame
        ``group, village_id, households_without_signal_after`` (without
        any carrier), ``households_without_objective_after`` (without the
        evaluation's carrier, or any), ``best_p_after, verdict_after``
        for each village a group touches.
    """
    gains, centres = evaluation.gains, evaluation.centres
    if groups is None:
        groups = pd.Series(
            evaluation.candidates["candidate_id"].to_numpy(),
            index=evaluation.candidates["candidate_id"].to_numpy(),
        )
    gains = gains.assign(group=gains["candidate_id"].map(groups)).dropna(subset=["group"])
    centres = centres.assign(group=centres["candidate_id"].map(groups)).dropna(subset=["group"])
    villages = evaluation.villages.set_index("village_id")
    # Households: a cell served by several of a group's candidates counts once.
    once = gains.drop_duplicates(["group", "village_id", "h3"])
    served = once.groupby(["group", "village_id"])["households"].sum()
    served_any = (
        once.loc[once["unserved_any"].astype(bool)]
        .groupby(["group", "village_id"])["households"]
        .sum()
    )
    # Centres: the group's best margin per (cell, carrier), over today's.
    best = centres.groupby(["group", "village_id", "h3", "carrier"])["margin_db"].max()
    baseline = evaluation.baseline
    touched = pd.MultiIndex.from_frame(
        pd.concat(
            [
                served.index.to_frame(index=False),
                best.index.to_frame(index=False)[["group", "village_id"]],
            ]
        ).drop_duplicates()
    )
    if len(touched) == 0:
        return pd.DataFrame(
            columns=[
                "group",
                "village_id",
                "households_without_signal_after",
                "households_without_objective_after",
                "best_p_after",
                "verdict_after",
            ]
        )
    frame = touched.to_frame(index=False)
    rows = frame.merge(baseline, on="village_id", how="left")
    rows = rows.dropna(subset=["h3"])
    new = best.rename("candidate_margin").reset_index()
    rows = rows.merge(new, on=["group", "village_id", "h3", "carrier"], how="outer")
    rows["weight"] = rows["weight"].fillna(1.0)
    rows["margin_db"] = np.fmax(rows["margin_db"].to_numpy(float), rows["candidate_margin"])
    best_p = _centre_p(
        rows.dropna(subset=["margin_db"]), evaluation.fading_db, ["group", "village_id"]
    )
    out = frame.set_index(["group", "village_id"])
    village = out.index.get_level_values("village_id")
    before = villages["households_without_signal"].reindex(village).to_numpy(float)
    gained = served_any.reindex(out.index).fillna(0.0).to_numpy(float)
    out["households_without_signal_after"] = np.maximum(before - gained, 0.0)
    before = villages["households_without_carrier"].reindex(village).to_numpy(float)
    gained = served.reindex(out.index).fillna(0.0).to_numpy(float)
    out["households_without_objective_after"] = np.maximum(before - gained, 0.0)
    out["best_p_after"] = best_p.reindex(out.index).to_numpy(float)
    known = villages["known_households"].reindex(village).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(known > 0, out["households_without_signal_after"] / known, 0.0)
    out["verdict_after"] = point_verdicts(
        out["best_p_after"].to_numpy(float), share, np.isfinite(out["best_p_after"].to_numpy(float))
    )
    return out.reset_index()


def _as_terrain(terrain: Raster | str | Path | None, result: AnalysisResult) -> Raster | None:
    if terrain is None or isinstance(terrain, Raster):
        return terrain
    bounds = tuple(float(v) for v in result.villages.total_bounds)
    return read_raster(terrain, bounds_wgs84=bounds, margin_m=_TERRAIN_MARGIN_M)  # type: ignore[arg-type]


def _check_candidates(candidates: pd.DataFrame) -> pd.DataFrame:
    """Check the candidates (:func:`coverage.candidates.checked_values`) and their ids."""
    if "candidate_id" not in candidates:
        raise InvalidCandidateError("candidates: missing column(s) candidate_id")
    table = candidates.reindex(columns=list(CANDIDATE_COLUMNS)).reset_index(drop=True)
    values = checked_values(
        candidates.reset_index(drop=True).reindex(
            columns=[c for c in CANDIDATE_COLUMNS if c in candidates]
        ),
        label="candidates",
    )
    repeated = table["candidate_id"].astype(str).duplicated()
    if repeated.any():
        value = table["candidate_id"].iloc[int(np.flatnonzero(repeated.to_numpy())[0])]
        raise InvalidCandidateError(f"candidates: candidate_id {value!r} is repeated")
    table["candidate_id"] = table["candidate_id"].astype(str)
    for column, column_values in values.items():
        table[column] = pd.Series(
            column_values, dtype=object if column in ("carrier", "radio") else float
        )
    return table


def _empty_evaluation(
    candidates: pd.DataFrame, villages: pd.DataFrame, carrier: str | None, fading: float
) -> Evaluation:
    table = candidates.reindex(columns=list(CANDIDATE_COLUMNS)).iloc[0:0].copy()
    for column in EVALUATION_COLUMNS:
        table[column] = pd.Series(dtype=float)
    return Evaluation(
        candidates=table,
        footprints=pd.DataFrame(
            {"candidate_id": pd.Series(dtype=object), "h3": pd.Series(dtype="uint64")}
        ),
        gains=pd.DataFrame(
            {
                "candidate_id": pd.Series(dtype=object),
                "village_id": pd.Series(dtype=object),
                "h3": pd.Series(dtype="uint64"),
                "households": pd.Series(dtype=float),
                "unserved_any": pd.Series(dtype=bool),
            }
        ),
        villages=villages,
        carrier=carrier,
        centres=_no_centres(),
        fading_db=fading,
    )


def _baseline_villages(
    result: AnalysisResult,
    households: pd.DataFrame,
    served: np.ndarray,
    known: np.ndarray,
    best_p: pd.Series,
    served_by_carrier: np.ndarray,
) -> pd.DataFrame:
    """Per village today: households, those without signal at the estimate, verdicts."""
    villages = result.villages
    table = pd.DataFrame(
        {
            "village_id": villages["id"].to_numpy(),
            "name": villages["name"].to_numpy() if "name" in villages else None,
            "commune_id": villages["commune_id"].to_numpy() if "commune_id" in villages else None,
            "verdict": villages["verdict"].to_numpy() if "verdict" in villages else None,
            "households": villages["households"].astype(float).to_numpy(),
        }
    )
    hh = households.assign(
        unserved=households["households"] * (known & ~served),
        known=households["households"] * known,
        unserved_carrier=households["households"] * ~served_by_carrier,
    )
    per = hh.groupby("village_id")[["unserved", "known", "unserved_carrier"]].sum()
    table["households_without_signal"] = (
        table["village_id"].map(per["unserved"]).fillna(0.0).to_numpy(float)
    )
    table["households_without_carrier"] = (
        table["village_id"].map(per["unserved_carrier"]).fillna(0.0).to_numpy(float)
    )
    table["known_households"] = table["village_id"].map(per["known"]).fillna(0.0).to_numpy(float)
    p = best_p.reindex(table["village_id"]).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(
            table["known_households"] > 0,
            table["households_without_signal"] / table["known_households"],
            0.0,
        )
    table["point_verdict"] = point_verdicts(p, share, np.isfinite(p))
    return table


@dataclass(frozen=True)
class _Reach:
    """The cells candidates are judged at, and what serves them today."""

    cells: np.ndarray  # uint64, sorted: household cells and centre cells
    x: np.ndarray
    y: np.ndarray
    today: pd.DataFrame  # margins per (cell, carrier), rows aligned with cells
    served_any: np.ndarray
    known: np.ndarray
    counts: pd.DataFrame  # readings per (cell, carrier), aligned like ``today``
    fading_db: float


def with_readings(
    candidate_margin: np.ndarray,
    open_path_dbm: np.ndarray,
    usable_dbm: float,
    *,
    margin_today: np.ndarray,
    readings: np.ndarray,
    model_sigma_db: float,
    fading_db: float,
) -> np.ndarray:
    """Set the carrier's margin with the candidate built, where older readings stay in force.

    The analysis retires a carrier's readings in a cell only where the new
    site's open-path prediction (before terrain loss) comes within
    :data:`coverage.stats.NEW_SITE_MARGIN_DB` of usable
    (:func:`coverage.stats.could_serve`, :func:`coverage.stats.retired_readings`);
    elsewhere they stay, and in
    their cell the fused margin weighs them against the model by precision
    (:func:`coverage.fusion.fuse`). There the readings' margin is taken as
    today's fused margin (readings dominate where they are many), with
    precision n / (1.25 σ_t)², the candidate's as its calibrated margin
    with the calibration's σ; the result is never below today's margin.
    (What those readings do beyond their cell, to the calibration's refit
    and to the kriged residuals of their neighbours, is not followed.)

    Cells without readings of the carrier, or whose readings are retired,
    take the candidate's margin.
    """
    kept = (readings > 0) & ~could_serve(open_path_dbm, np.full(len(open_path_dbm), usable_dbm))
    if not kept.any():
        return candidate_margin
    reading_precision = readings / (T.MEDIAN_ERROR_FACTOR * fading_db) ** 2
    model_precision = 1.0 / model_sigma_db**2
    with np.errstate(invalid="ignore"):
        mixed = (model_precision * candidate_margin + reading_precision * margin_today) / (
            model_precision + reading_precision
        )
    mixed = np.fmax(mixed, margin_today)
    out: np.ndarray = np.where(kept, mixed, candidate_margin)
    return out


@dataclass(frozen=True)
class _Correction:
    """The calibration of one carrier and radio, for a site without an offset of its own.

    :func:`coverage.calibration.apply_calibration` is linear in the
    predicted dBm and the diffraction loss (see the model in
    :mod:`coverage.calibration`): calibrated = a + b·dBm + c·loss. The
    three numbers are read off it once per carrier and radio, so that the
    calibration keeps one home and each candidate costs no table merge.
    """

    intercept: float
    slope: float
    per_loss_db: float
    sigma_db: float

    @classmethod
    def of(cls, calibration: Calibration, carrier: str, radio: str) -> _Correction:
        probe = pd.DataFrame(
            {
                "carrier": carrier,
                "radio": radio,
                "predicted_dbm": [0.0, 1.0, 0.0],
                "diffraction_db": [0.0, 0.0, 1.0],
                "site_id": None,  # a new site has no offset of its own
            }
        )
        table = apply_calibration(probe, calibration)
        at = table["calibrated_dbm"].to_numpy(float)
        return cls(
            intercept=float(at[0]),
            slope=float(at[1] - at[0]),
            per_loss_db=float(at[2] - at[0]),
            sigma_db=float(table["sigma_db"].iloc[0]),
        )

    def calibrated(self, predicted_dbm: np.ndarray, diffraction_db: np.ndarray) -> np.ndarray:
        """Calibrated dBm of predictions with their terrain loss."""
        out: np.ndarray = (
            self.intercept + self.slope * predicted_dbm + self.per_loss_db * diffraction_db
        )
        return out


def _candidate_margins(
    candidates: pd.DataFrame,
    sites: pd.DataFrame,
    reach: _Reach,
    terrain: Raster | None,
    result: AnalysisResult,
) -> Iterator[tuple[int, np.ndarray, np.ndarray] | None]:
    """Each candidate's calibrated margin at the cells within its reach.

    Per candidate ``(number, cells (indices into reach.cells), margin_db)``,
    or None when it reaches none; the best sector per cell counts. A
    generator: its consumer keeps what it needs of each candidate, so
    memory does not grow with candidates × cells.
    """
    metric_crs = result.metric_crs
    calibration = result.calibration
    cells = hypothetical_cells(candidates, sites, created=pd.Timestamp.now(tz="UTC"))
    to_metric = pyproj.Transformer.from_crs(C.CRS_WGS84, metric_crs, always_xy=True)
    site_x, site_y = to_metric.transform(cells["lon"].to_numpy(float), cells["lat"].to_numpy(float))
    table = _SiteTable.of(cells.reset_index(drop=True), np.asarray(site_x), np.asarray(site_y))
    tree = cKDTree(np.column_stack([reach.x, reach.y]))
    number = pd.Index(candidates["candidate_id"]).get_indexer(cells["site_id"].astype(str))
    by_candidate = pd.Series(np.arange(len(cells))).groupby(number, sort=True).indices
    dem = float32_terrain(terrain) if terrain is not None else None
    coarse = None
    if dem is not None:
        measured = result.cells.loc[
            result.cells["count"] >= T.MIN_READINGS_MEASURED, "h3"
        ].to_numpy(np.uint64)
        coarse = coarse_terrain(reach.cells, metric_crs, exact=measured)
    carriers = cells["carrier"].astype(object).to_numpy()
    radios = cells["radio"].astype(object).to_numpy()
    corrections = {
        (str(c), str(r)): _Correction.of(calibration, str(c), str(r))
        for c, r in set(zip(carriers, radios, strict=True))
    }

    def margin_of(
        number: int, rows: np.ndarray, found: _SiteContribution
    ) -> tuple[int, np.ndarray, np.ndarray] | None:
        """One candidate's margins from the contribution of its position."""
        position = np.searchsorted(found.rows, rows)
        inside = found.distance <= float(table.reach[rows].max())
        if not inside.any():
            return None
        received = np.vstack([found.received[i][inside] for i in position])
        loss = np.vstack([found.diffraction[i][inside] for i in position])
        best = received.argmax(axis=0)
        column = np.arange(received.shape[1])
        raw = received[best, column]
        own, radio = str(carriers[rows[0]]), str(radios[rows[0]])
        correction = corrections[(own, radio)]
        usable = C.USABLE_DBM[radio]
        near = found.near[inside]
        margin = correction.calibrated(raw, loss[best, column]) - usable
        if own in reach.counts:
            margin = with_readings(
                margin,
                raw + loss[best, column],
                usable,
                margin_today=reach.today[own].to_numpy(float)[near],
                readings=np.nan_to_num(reach.counts[own].to_numpy(float)[near]),
                model_sigma_db=correction.sigma_db,
                fading_db=reach.fading_db,
            )
        return number, near, margin

    def margins(group: list[int]) -> list[tuple[int, np.ndarray, np.ndarray] | None]:
        # Candidates at one position share its terrain profiles: one call
        # computes the loss once per (frequency, height) for all of them.
        rows = np.sort(np.concatenate([by_candidate[n] for n in group]))
        found = _site_contribution(group[0], rows, table, tree, (reach.x, reach.y), dem, coarse)
        if found is None:
            return [None] * len(group)
        return [margin_of(n, by_candidate[n], found) for n in group]

    positions = (
        pd.DataFrame(
            {
                "number": list(by_candidate),
                "lon": [float(cells["lon"].iat[by_candidate[n][0]]) for n in by_candidate],
                "lat": [float(cells["lat"].iat[by_candidate[n][0]]) for n in by_candidate],
            }
        )
        .round({"lon": 7, "lat": 7})
        .groupby(["lon", "lat"], sort=False)["number"]
        .agg(list)
    )
    work = [list(group) for group in positions]
    workers = worker_count() if dem is not None else 1
    for group in map_in_order(margins, work, workers=workers):
        yield from group


def evaluate_candidates(
    result: AnalysisResult,
    sites: pd.DataFrame,
    candidates: pd.DataFrame,
    *,
    terrain: Raster | str | Path | None,
    carrier: str | None = None,
    footprints: int | None = FOOTPRINT_CANDIDATES,
) -> Evaluation:
    """Count what each candidate would serve, re-judging only the cells within its reach.

    The cells are the households' cells (:attr:`~coverage.pipeline.AnalysisResult.households`)
    and the village centres; a household cell that every candidate's
    carrier serves today changes no count and is left out. Each candidate
    becomes its carrier's usual cells (:func:`geodata.sites.hypothetical_cells`),
    predicted at those cells with the analysis' propagation and terrain
    (:func:`coverage.predict._site_contribution`) and calibrated with its
    calibration (:func:`coverage.calibration.apply_calibration`; no site
    offset, the kriged residuals of existing sites are not carried over);
    its margin is the calibrated dBm minus the radio's usable level.

    A household cell is served today when some carrier's fused margin in
    ``result.cells`` is at least 0; with the candidate, also when the
    candidate's margin is. Readings taken before the candidate do not veto
    it (as :func:`coverage.stats.retired_readings` retires them where a
    newer site serves). Cells with no evidence today are neither served
    nor unserved (as in the verdicts) and gain nothing.

    Parameters
    ----------
    result : AnalysisResult
        The analysis of the villages (with ``households``, ``centre_cells``,
        ``metric_crs`` and ``calibration``).
    sites : DataFrame
        The sites analysed: what each carrier usually builds.
    candidates : DataFrame
        :data:`geodata.sites.CANDIDATE_COLUMNS` (see :mod:`coverage.candidates`).
    terrain : Raster, path or None, keyword-only
        The DEM the analysis used (None: path loss alone).
    carrier : str, optional, keyword-only
        Count households without this carrier instead of without any: only
        its candidates are evaluated, and a household cell it does not
        serve today is a gain where its candidate serves it.
    footprints : int or None, keyword-only
        Keep the footprints (:attr:`Evaluation.footprints`) of this many
        candidates, those newly serving the most households
        (:data:`FOOTPRINT_CANDIDATES` by default; None: every candidate's).
        A footprint is tens of thousands of cells where terrain is open:
        thousands of them would not fit in memory, nor on a map.

    Returns
    -------
    Evaluation

    Raises
    ------
    InvalidCandidateError
        When the carrier, or a candidate's carrier or radio, is unknown, a
        column is missing or an id is repeated.
    """
    wanted = canonical_carrier(carrier)
    table = _check_candidates(candidates)
    if wanted is not None:
        table = table.loc[table["carrier"] == wanted].reset_index(drop=True)
    households = result.households
    households = households.loc[households["households"] > 0].reset_index(drop=True)
    centre_cells = result.centre_cells
    cells = np.unique(
        np.concatenate(
            [households["h3"].to_numpy(np.uint64), centre_cells["h3"].to_numpy(np.uint64)]
        )
    )
    today = _margins_today(result.cells, cells)
    margins = today.to_numpy(float)
    known = np.isfinite(margins).any(axis=1) if margins.size else np.zeros(len(cells), bool)
    served_any = (np.nan_to_num(margins, nan=-np.inf) >= 0).any(axis=1) if margins.size else known
    fading = result.fading_db
    baseline = _centre_baseline(result)
    row_of_cell = np.searchsorted(cells, households["h3"].to_numpy(np.uint64))
    by_carrier = served_any
    if wanted is not None:
        by_carrier = (
            today[wanted].to_numpy(float) >= 0.0
            if wanted in today
            else np.zeros(len(cells), dtype=bool)
        )
    villages = _baseline_villages(
        result,
        households,
        served_any[row_of_cell],
        known[row_of_cell],
        _centre_p(baseline, fading, ["village_id"]),
        (by_carrier if wanted is not None else served_any | ~known)[row_of_cell],
    )
    if table.empty or len(cells) == 0:
        return _empty_evaluation(candidates, villages, wanted, fading)
    # A cell every candidate's carrier serves today can change no count: only
    # the others (and the centres) are judged again.
    needed = np.isin(cells, centre_cells["h3"].to_numpy(np.uint64))
    for name in table["carrier"].unique():
        needed |= ~(today[name].to_numpy(float) >= 0.0) if name in today else True
    cells = cells[needed]
    today = today.loc[cells]
    x, y = metric_centres(cells, result.metric_crs)
    counts = _counts_today(result.cells, cells)
    reach = _Reach(
        cells,
        x.to_numpy(),
        y.to_numpy(),
        today,
        served_any[needed],
        known[needed],
        counts,
        fading,
    )
    found = _candidate_margins(table, sites, reach, _as_terrain(terrain, result), result)
    in_reach = households["h3"].isin(cells).to_numpy()
    return _collect(
        table,
        found,
        reach,
        households.loc[in_reach].reset_index(drop=True),
        centre_cells,
        villages,
        baseline,
        wanted,
        fading,
        footprints,
    )


def _collect(
    table: pd.DataFrame,
    found: Iterator[tuple[int, np.ndarray, np.ndarray] | None],
    reach: _Reach,
    households: pd.DataFrame,
    centre_cells: pd.DataFrame,
    villages: pd.DataFrame,
    baseline: pd.DataFrame,
    wanted: str | None,
    fading: float,
    footprints: int | None,
) -> Evaluation:
    """Turn the candidates' margins into footprints, gains and counts (sparse).

    Kept per candidate: the household cells it newly serves, its margins at
    village centres where it beats its carrier's today, and (for the
    ``footprints`` candidates newly serving the most households) the cells
    where it is usable.
    """
    # Household rows per cell (a cell may hold households of two villages).
    hh_cell = np.searchsorted(reach.cells, households["h3"].to_numpy(np.uint64))
    order = np.argsort(hh_cell, kind="stable")
    hh_sorted = hh_cell[order]
    weight = households["households"].to_numpy(float)
    centre_row = np.searchsorted(reach.cells, centre_cells["h3"].to_numpy(np.uint64))
    c_order = np.argsort(centre_row, kind="stable")
    c_sorted = centre_row[c_order]
    carrier_of = table["carrier"].to_numpy(object)
    columns = list(reach.today.columns)
    today = reach.today.to_numpy(float)
    own_served = np.zeros(len(table))
    kept: list[tuple[float, int, np.ndarray]] = []  # a heap: the footprints kept
    gain_c, gain_r, cen_c, cen_r, cen_m = ([] for _ in range(5))
    for item in found:  # a loop over candidates
        if item is None:
            continue
        number, near, margin = item
        serves = near[margin >= 0.0]
        rows = _rows_at(serves, hh_sorted, order)
        own = carrier_of[number]
        column = columns.index(own) if own in columns else -1
        mine = today[hh_cell[rows], column] if column >= 0 else np.full(rows.size, np.nan)
        own_rows = rows[~(mine >= 0.0)]  # NaN: the carrier has no evidence there
        own_served[number] = float(weight[own_rows].sum())
        if wanted is None:
            new_rows = rows[reach.known[hh_cell[rows]] & ~reach.served_any[hh_cell[rows]]]
        else:
            new_rows = own_rows
        gain_c.append(np.full(new_rows.size, number))
        gain_r.append(new_rows)
        entry = (float(weight[new_rows].sum()), -number, serves.astype(np.uint32))
        if footprints is None or len(kept) < footprints:
            heapq.heappush(kept, entry)
        elif footprints > 0 and entry[:2] > kept[0][:2]:
            heapq.heapreplace(kept, entry)
        crow = _rows_at(near, c_sorted, c_order)
        at_centre = margin[np.searchsorted(near, centre_row[crow])]
        before = today[centre_row[crow], column] if column >= 0 else np.full(crow.size, np.nan)
        better = ~(before >= at_centre)  # only these can change a centre
        cen_c.append(np.full(int(better.sum()), number))
        cen_r.append(crow[better])
        cen_m.append(at_centre[better])
    ids = table["candidate_id"].to_numpy(object)

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        joined: np.ndarray = np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)
        return joined

    kept.sort(key=lambda entry: -entry[1])  # in the candidates' order
    footprint_table = pd.DataFrame(
        {
            "candidate_id": ids[cat([np.full(e[2].size, -e[1]) for e in kept], np.intp)],
            "h3": reach.cells[cat([e[2] for e in kept], np.intp)],
        }
    )
    g_rows = cat(gain_r, np.intp)
    g_cells = hh_cell[g_rows]
    gains = pd.DataFrame(
        {
            "candidate_id": ids[cat(gain_c, np.intp)],
            "village_id": households["village_id"].to_numpy(object)[g_rows],
            "h3": households["h3"].to_numpy(np.uint64)[g_rows],
            "households": weight[g_rows],
            "unserved_any": reach.known[g_cells] & ~reach.served_any[g_cells],
        }
    )
    c_rows = cat(cen_r, np.intp)
    centres = pd.DataFrame(
        {
            "candidate_id": ids[cat(cen_c, np.intp)],
            "village_id": centre_cells["village_id"].to_numpy(object)[c_rows],
            "h3": centre_cells["h3"].to_numpy(np.uint64)[c_rows],
            "carrier": carrier_of[cat(cen_c, np.intp)],
            "margin_db": cat(cen_m, float),
        }
    )
    evaluation = Evaluation(
        candidates=table,
        footprints=footprint_table,
        gains=gains,
        villages=villages,
        carrier=wanted,
        centres=centres,
        baseline=baseline,
        fading_db=fading,
    )
    return _with_counts(evaluation, pd.Series(own_served, index=ids))


def _rows_at(cells: np.ndarray, sorted_cells: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rows (of the table ``order`` sorts by cell) whose cell is in ``cells``."""
    lo = np.searchsorted(sorted_cells, cells, side="left")
    hi = np.searchsorted(sorted_cells, cells, side="right")
    counts = hi - lo
    if counts.sum() == 0:
        return np.empty(0, np.intp)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    positions = starts + np.arange(int(counts.sum()))
    rows: np.ndarray = order[positions]
    return rows


def _with_counts(evaluation: Evaluation, own_served: pd.Series) -> Evaluation:
    """Add :data:`EVALUATION_COLUMNS` to the evaluation's candidates."""
    table = evaluation.candidates.copy()
    ids = table["candidate_id"]
    served = evaluation.gains.groupby("candidate_id")["households"].sum()
    table["households_served"] = ids.map(served).fillna(0.0).to_numpy(float)
    table["households_served_own"] = ids.map(own_served).fillna(0.0).to_numpy(float)
    # Only a village with a problem today can be lifted out of it.
    villages = evaluation.villages
    problem = villages.loc[
        villages["point_verdict"].isin([Verdict.NO_SIGNAL.value, Verdict.PATCHY.value]),
        "village_id",
    ]
    after = village_outcomes(
        replace(
            evaluation,
            gains=evaluation.gains.loc[evaluation.gains["village_id"].isin(problem)],
            centres=evaluation.centres.loc[evaluation.centres["village_id"].isin(problem)],
        )
    )
    before = evaluation.villages.set_index("village_id")["point_verdict"]
    was = after["village_id"].map(before)
    no_signal = Verdict.NO_SIGNAL.value
    lifted_none = (was == no_signal) & (after["verdict_after"] != no_signal)
    lifted_patchy = (was == Verdict.PATCHY.value) & (
        after["verdict_after"] == Verdict.COVERED.value
    )
    counts = (
        pd.DataFrame({"group": after["group"], "none": lifted_none, "patchy": lifted_patchy})
        .groupby("group")[["none", "patchy"]]
        .sum()
    )
    table["villages_out_of_no_signal"] = ids.map(counts["none"]).fillna(0).astype(int).to_numpy()
    table["villages_out_of_patchy"] = ids.map(counts["patchy"]).fillna(0).astype(int).to_numpy()
    return replace(evaluation, candidates=table)


def village_gains(evaluation: Evaluation) -> pd.DataFrame:
    """Households each candidate newly serves per village, and their share of the village.

    Returns
    -------
    DataFrame
        ``candidate_id, village_id, households_newly_served, newly_served_share``
        (the population-weighted share of the village newly served).
    """
    per = (
        evaluation.gains.groupby(["candidate_id", "village_id"], sort=True)["households"]
        .sum()
        .rename("households_newly_served")
        .reset_index()
    )
    total = evaluation.villages.set_index("village_id")["households"]
    with np.errstate(invalid="ignore", divide="ignore"):
        per["newly_served_share"] = (
            per["households_newly_served"] / per["village_id"].map(total).astype(float)
        ).fillna(0.0)
    return per


# --- Plans ----------------------------------------------------------------------


def _check_plan_options(k: int | None, budget: float | None) -> None:
    if k is not None and (isinstance(k, bool) or int(k) != k or k < 1):
        raise InvalidPlanError(f"k: {k!r} is not a whole number of at least 1")
    if budget is not None and (not np.isfinite(budget) or budget < 0):
        raise InvalidPlanError(f"budget: {budget!r} is not an amount of at least 0 VND")


def _cover_sets(evaluation: Evaluation) -> tuple[list[np.ndarray], np.ndarray]:
    """Give the household elements each candidate newly serves, and their weights.

    Candidates in the evaluation's order; elements are (village, cell) pairs.
    """
    gains = evaluation.gains
    element, _ = pd.MultiIndex.from_frame(gains[["village_id", "h3"]].astype(object)).factorize()
    weight = np.zeros(int(element.max()) + 1 if len(element) else 0)
    weight[element] = gains["households"].to_numpy(float)
    number = pd.Index(evaluation.candidates["candidate_id"]).get_indexer(gains["candidate_id"])
    by = pd.Series(element).groupby(number).indices
    sets = [
        np.unique(element[by[i]]) if i in by else np.empty(0, np.intp)
        for i in range(len(evaluation.candidates))
    ]
    return sets, weight


def lazy_greedy(
    sets: list[np.ndarray],
    weight: np.ndarray,
    cost: np.ndarray,
    *,
    k: int | None = None,
    budget: float | None = None,
) -> list[tuple[int, float]]:
    """Pick sets by lazy greedy maximum coverage; return ``(set, marginal weight)`` in order.

    Without ``budget``: the largest marginal weight first (Minoux's lazy
    evaluations: a set's gain only shrinks as others are picked, so a stale
    gain is an upper bound and only the top of the heap is re-evaluated).
    With ``budget``: the largest marginal weight per cost among the sets
    that still fit, then the best single set that fits if it beats the
    greedy result (Khuller, Moss & Naor 1999). Ties go to the earlier set.
    Sets that add nothing are never picked; at most ``k`` picks.

    >>> sets = [np.array([0, 1]), np.array([1, 2, 3]), np.array([0, 1])]
    >>> lazy_greedy(sets, np.ones(4), np.ones(3), k=2)
    [(1, 3.0), (0, 1.0)]
    """
    covered = np.zeros(len(weight), dtype=bool)
    limit = len(sets) if k is None else int(k)
    cost = np.asarray(cost, float)

    def gain(i: int) -> float:
        return float(weight[sets[i][~covered[sets[i]]]].sum())

    def key(i: int, value: float) -> float:
        if budget is None:
            return value
        return value / cost[i] if cost[i] > 0 else np.inf if value > 0 else 0.0

    heap = [(-key(i, gain(i)), i) for i in range(len(sets))]
    heapq.heapify(heap)
    picked: list[tuple[int, float]] = []
    spent = 0.0
    while heap and len(picked) < limit:
        _, i = heapq.heappop(heap)
        if budget is not None and spent + cost[i] > budget + 1e-9:
            continue  # never fits again: the spend only grows
        value = gain(i)
        if value <= 0:
            continue
        mine = key(i, value)
        if heap and (
            -heap[0][0] > mine + 1e-12 or (-heap[0][0] >= mine - 1e-12 and heap[0][1] < i)
        ):  # stale (or tied with an earlier candidate): back in with its true gain
            heapq.heappush(heap, (-mine, i))
            continue
        picked.append((i, value))
        covered[sets[i]] = True
        spent += cost[i]
    if budget is not None:
        fits = [i for i in range(len(sets)) if cost[i] <= budget + 1e-9]
        if fits:
            single = max(fits, key=lambda i: (float(weight[sets[i]].sum()), -i))
            alone = float(weight[sets[single]].sum())
            if alone > sum(v for _, v in picked) + 1e-9:
                return [(single, alone)]
    return picked


def plan(evaluation: Evaluation, *, k: int | None = None, budget: float | None = None) -> Plan:
    """Pick candidates that newly serve the most households: k of them, or within a budget.

    Lazy greedy maximum coverage over the household cells each candidate
    newly serves (:attr:`Evaluation.gains`): a cell served by an earlier
    pick gives a later one no credit. With ``k`` alone this is the greedy
    of Nemhauser, Wolsey & Fisher (1978), within 1 − 1/e of the best k,
    with Minoux's (1978) lazy evaluations; with ``budget`` (VND), the
    cost-effective lazy greedy plus the best single candidate (Khuller,
    Moss & Naor 1999; CELF, Leskovec et al. 2007), within (1 − 1/e)/2, and
    at most ``k`` picks when both are given. Neither: picks go on while a
    candidate adds households. With ``evaluation.carrier``, households are
    those without that carrier. Households come from each village's
    recorded count, not from readings: a village with few smartphones counts
    by its households.

    Parameters
    ----------
    evaluation : Evaluation
        From :func:`evaluate_candidates`.
    k : int, optional, keyword-only
        How many candidates, at most (≥ 1).
    budget : float, optional, keyword-only
        The most the plan may cost, VND (≥ 0).

    Returns
    -------
    Plan

    Raises
    ------
    InvalidPlanError
        When ``k`` < 1 or ``budget`` is negative (or not a number).
    """
    _check_plan_options(k, budget)
    candidates = evaluation.candidates.reset_index(drop=True)
    sets, weight = _cover_sets(evaluation)
    cost = (
        candidates["cost"].astype(float).fillna(0.0).to_numpy() if len(candidates) else np.empty(0)
    )
    picks = lazy_greedy(sets, weight, cost, k=k, budget=budget)
    chosen = candidates.iloc[[i for i, _ in picks]].reset_index(drop=True)
    chosen.insert(0, "rank", np.arange(1, len(chosen) + 1))
    chosen["marginal_households"] = [v for _, v in picks]
    chosen["cumulative_households"] = chosen["marginal_households"].cumsum()
    chosen["cumulative_cost"] = chosen["cost"].astype(float).fillna(0.0).cumsum()
    return Plan(
        chosen=chosen,
        villages=_plan_villages(evaluation, chosen["candidate_id"]),
        households_served=float(chosen["marginal_households"].sum()),
        cost=float(chosen["cost"].astype(float).fillna(0.0).sum()),
        method=BUDGET_METHOD if budget is not None else GREEDY_METHOD,
    )


def _plan_villages(evaluation: Evaluation, chosen: pd.Series) -> pd.DataFrame:
    """Before and after per village, with the chosen candidates built together."""
    base = evaluation.villages
    after = village_outcomes(evaluation, pd.Series("plan", index=chosen.to_numpy(object)))
    after = after.set_index("village_id")
    out = pd.DataFrame(
        {
            "village_id": base["village_id"],
            "name": base["name"],
            "commune_id": base["commune_id"],
            "households": base["households"],
            "households_without_signal_before": base["households_without_carrier"],
        }
    )
    ids = base["village_id"]
    out["households_without_signal_after"] = (
        ids.map(after["households_without_objective_after"])
        .fillna(base["households_without_carrier"])
        .to_numpy(float)
    )
    out["verdict_before"] = base["point_verdict"].to_numpy()
    verdict = ids.map(after["verdict_after"]).astype(object)
    out["verdict_after"] = np.where(
        verdict.notna(), verdict, base["point_verdict"].astype(object)
    ).astype(object)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["newly_served_share"] = (
            (out["households_without_signal_before"] - out["households_without_signal_after"])
            / out["households"]
        ).fillna(0.0)
    return out.reset_index(drop=True)
