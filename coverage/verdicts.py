"""Village verdicts with the official criteria (step 5 of the pipeline).

Two things are kept apart: how often service is usable (the physics of
*lõm sóng*) and how sure we are of that (the evidence).

Each (cell, carrier) from :func:`coverage.fusion.fuse` carries a margin m
(median dBm above the usable level), its standard error σ and the
temporal spread σ_t; availability is A = Φ(m / σ_t). The official rules,
read on the point estimate (m as estimated):

- ``no_signal`` (*trắng sóng*): no carrier gives usable signal at the
  village centre (its cultural house): the best carrier's availability
  there is below :data:`~coverage.thresholds.USABLE_P_LOW`;
- ``patchy`` (*lõm sóng*): the centre has signal, but it comes and goes
  (best availability below :data:`~coverage.thresholds.USABLE_P_HIGH`), or
  at least :data:`~coverage.thresholds.PATCHY_HOUSEHOLD_SHARE` of the
  households live where **no carrier** serves them (a household is served
  when any carrier's availability at its place is at least one half:
  people carry several SIMs);
- ``covered``: neither.

How sure: the estimate's error is taken as one standardised shift z ~ N(0, 1)
per village, shared by its cells and carriers (true m = m̂ + z·σ). A model's
error is a local bias (a ridge it mis-reads, a site's real power), correlated
over a village's few km, so the cells do not average it away; the shift is
the pessimistic, simple end of that. The centre rules are monotone in z: the
centre fails for z below a threshold found in closed form. Where households
were placed from a prior (no buildings), the unserved share S(z) is itself
uncertain: the true share is taken as Beta(S·n, (1 − S)·n), n from
:data:`~coverage.thresholds.SETTLEMENTS`. So P(problem) = Φ(z_centre) + E_z[P(share ≥ s | z)
where the centre holds], and the verdict takes the likelier side; its
``confidence`` is that side's probability.

``unknown`` (never a verdict of its own, a statement that we do not know):

- no evidence at the centre: no reading, and no known site of any carrier
  within reach (an area the site database does not cover is not an area
  without signal);
- or the evidence cannot decide: ``confidence`` below :data:`~coverage.thresholds.MIN_CONFIDENCE`.

Every village gets ``reasons``: plain sentences saying why (English in
``reasons``, Vietnamese in ``reasons_vi``).

Constructed cases (``tests/coverage/test_verdicts.py``):

>>> from scipy.stats import norm
>>> round(float(norm.cdf((5.0 - 0.0) / 8.0)), 2)  # m̂ = +5 dB, σ = 8: not sure
0.73
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.stats import beta, norm

from coverage import thresholds as T
from geodata import constants as C
from geodata.constants import Verdict


def judge_villages(
    villages: gpd.GeoDataFrame,
    fused: pd.DataFrame,
    *,
    households: pd.DataFrame,
    centre_cells: pd.DataFrame,
    fading_db: float = T.DEFAULT_FADING_DB,
    readings: pd.DataFrame | None = None,
    new_sites: pd.DataFrame | None = None,
    nearest: pd.DataFrame | None = None,
    carrier_readings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Verdict, confidence, reasons and households without usable signal, per village.

    Parameters
    ----------
    villages : GeoDataFrame
        With ``id`` and ``households``.
    fused : DataFrame
        ``h3, carrier, margin_db, sigma_db, evidence, radio, count`` (from
        :func:`coverage.fusion.fuse`).
    households : DataFrame, keyword-only
        ``village_id, h3, households`` weights.
    centre_cells : DataFrame, keyword-only
        ``village_id, h3``: the cells that make up each village centre.
    fading_db : float, keyword-only
        The temporal spread σ_t of readings (dB).
    readings : DataFrame, optional, keyword-only
        ``readings_count``, ``last_reading`` indexed by village id, for the reasons.
    new_sites : DataFrame, optional, keyword-only
        ``village_id, site_id, carrier, since``: sites that started after
        the readings near the village and are not yet measured.
    nearest : DataFrame, optional, keyword-only
        ``village_id, carrier, site_id, distance_m, terrain_loss_db,
        behind_terrain``: each carrier's nearest site to the village centre
        (:func:`coverage.nearest_sites.nearest_sites`).
    carrier_readings : DataFrame, optional, keyword-only
        ``village_id, carrier, readings, reading_days, unusable_share``
        (:func:`coverage.points.carrier_readings_per_village`).

    Returns
    -------
    DataFrame indexed by village id with ``verdict``, ``confidence``,
    ``p_problem``, ``households_without_signal``, ``best_carrier`` (None
    where no carrier serves: see :func:`_best_carrier`),
    ``centre_p_usable``, ``carriers`` (a dict per village: carrier ->
    summary, see :func:`_carrier_summaries`), ``reasons`` and ``reasons_vi``
    (lists of sentences; the first is the village's *why* line).
    """
    ids = villages["id"].to_numpy()
    total = villages.set_index("id")["households"].astype(float).reindex(ids)
    index = pd.Index(ids)
    fused = fused.loc[fused["margin_db"].notna()]
    centre = _centre_evidence(centre_cells, fused, fading_db=fading_db)
    rows = households.merge(fused[["h3", "carrier", "margin_db", "sigma_db"]], on="h3")
    # z at which a carrier starts to serve a household's cell: m + zσ = 0.
    rows["z_serve"] = -rows["margin_db"] / rows["sigma_db"]
    per_carrier = _households_per_carrier(rows, households)
    without_any, known_households = _households_without_any(households, rows, index)

    level_high = fading_db * norm.ppf(T.USABLE_P_HIGH)
    level_low = fading_db * norm.ppf(T.USABLE_P_LOW)
    # z below which the best carrier at the centre stays under a level.
    centre_high = (
        ((level_high - centre["margin_db"]) / centre["sigma_db"])
        .groupby(centre["village_id"])
        .min()
    )
    centre_low = (
        ((level_low - centre["margin_db"]) / centre["sigma_db"]).groupby(centre["village_id"]).min()
    )
    centre_known = centre_high.reindex(index).notna().to_numpy()
    # P(problem) = E_z[ 1 if the centre fails at z, else P(share ≥ s | z) ].
    centre_z = centre_high.reindex(index).to_numpy(float)
    share_p = _share_problem_by_z(households, rows, index, _settlements(households))
    # The centre's part is exact (Φ); the share's is summed on the grid of z
    # above the centre's threshold.
    centre_z = np.nan_to_num(centre_z, nan=-np.inf)
    centre_holds = _Z[None, :] >= centre_z[:, None]
    share_part = (np.where(centre_holds, share_p, 0.0) * _Z_WEIGHT[None, :]).sum(axis=1)
    p_problem = np.clip(norm.cdf(centre_z) + share_part, 0.0, 1.0)
    p_no_signal = norm.cdf(centre_low.reindex(index).to_numpy(float))

    out = pd.DataFrame(index=index)
    best_p = centre.groupby("village_id")["centre_p_usable"].max()
    out["centre_p_usable"] = best_p.reindex(index).astype(float).round(3)
    problem = p_problem >= 0.5  # the likelier side, not the point estimate's
    verdict = np.where(
        problem,
        np.where(p_no_signal >= 0.5, Verdict.NO_SIGNAL.value, Verdict.PATCHY.value),
        Verdict.COVERED.value,
    )
    confidence = np.where(problem, p_problem, 1.0 - p_problem)
    undecided = confidence < T.MIN_CONFIDENCE
    verdict = np.where(centre_known & ~undecided, verdict, Verdict.UNKNOWN.value)
    out["verdict"] = verdict
    out["confidence"] = np.where(centre_known, np.round(confidence, 3), 0.0)
    out["p_problem"] = np.where(centre_known, np.round(p_problem, 3), np.nan)
    hh_without = without_any.reindex(index).fillna(0.0)
    out["households_without_signal"] = np.rint(
        np.minimum(hh_without.to_numpy(float), total.fillna(0).to_numpy(float))
    ).astype(int)
    table = _carrier_table(centre, per_carrier, nearest, carrier_readings)
    best = _best_carrier(table, total)
    out["best_carrier"] = best.reindex(index).where(centre_known, None)
    out["best_carrier"] = (
        out["best_carrier"].astype(object).where(out["best_carrier"].notna(), None)
    )
    out["carriers"] = _carrier_summaries(table).reindex(index)
    out["carriers"] = out["carriers"].apply(lambda v: v if isinstance(v, dict) else {})
    facts = pd.DataFrame(
        {
            "confidence": confidence,
            "centre_known": centre_known,
            "households": total.to_numpy(float),
            "without": hh_without.to_numpy(float),
            "known_households": known_households.reindex(index).fillna(0.0).to_numpy(float),
            "verdict": out["verdict"].to_numpy(),
        },
        index=index,
    )
    texts = _reasons(facts, centre, best, table, readings, new_sites, nearest)
    out["reasons"] = texts["en"]
    out["reasons_vi"] = texts["vi"]
    return out


def _settlements(households: pd.DataFrame) -> pd.Series:
    """Count the effective independent places each village's households could be.

    See :data:`~coverage.thresholds.SETTLEMENTS`; from the ``placed_by``
    column of the household weights (infinite where it is absent: positions
    known).
    """
    if "placed_by" not in households:
        return pd.Series(dtype=float)
    by = households.drop_duplicates("village_id").set_index("village_id")["placed_by"]
    return by.map(T.SETTLEMENTS).astype(float)


def _centre_evidence(
    centre_cells: pd.DataFrame, fused: pd.DataFrame, *, fading_db: float
) -> pd.DataFrame:
    """Margin, its error and availability at each village centre, per carrier.

    The centre's cells are averaged with weights readings + 1: measured
    cells speak for the centre, a cell without readings adds its prediction
    once. Evidence is ``measured`` when any centre cell is, and the radio is
    the most-read measured cell's.
    """
    cells = centre_cells.merge(fused, on="h3", how="inner")
    columns = [
        "village_id",
        "carrier",
        "margin_db",
        "sigma_db",
        "centre_p_usable",
        "evidence",
        "radio",
        "count",
    ]
    if cells.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    cells = cells.assign(weight=cells["count"] + 1.0)
    cells["weighted_m"] = cells["weight"] * cells["margin_db"]
    cells["weighted_s"] = cells["weight"] * cells["sigma_db"]
    grouped = cells.groupby(["village_id", "carrier"], sort=False)
    table = grouped[["weighted_m", "weighted_s", "weight", "count"]].sum()
    table["margin_db"] = table["weighted_m"] / table["weight"]
    table["sigma_db"] = table["weighted_s"] / table["weight"]
    table["centre_p_usable"] = norm.cdf(table["margin_db"] / fading_db)
    ranked = cells.assign(measured=cells["evidence"] == "measured").sort_values(
        ["measured", "count"], ascending=False
    )
    first = ranked.drop_duplicates(["village_id", "carrier"]).set_index(["village_id", "carrier"])
    table["evidence"] = first["evidence"]
    table["radio"] = first["radio"]
    return table.reset_index()[columns]


def _households_per_carrier(rows: pd.DataFrame, households: pd.DataFrame) -> pd.DataFrame:
    """Households each carrier leaves without usable signal, per village.

    A household is unserved by a carrier where its availability there is
    below :data:`~coverage.thresholds.SERVED_P`, i.e. the margin is negative (Φ(m/σ_t) < ½).
    Households in cells where the carrier has no evidence count as unserved
    by it.
    """
    served = rows.assign(hh=rows["households"] * (rows["margin_db"] >= 0.0))
    served_hh = served.groupby(["village_id", "carrier"])["hh"].sum()
    total = households.groupby("village_id")["households"].sum()
    table = served_hh.rename("served").reset_index()
    table["households_without_signal"] = (
        table["village_id"].map(total).astype(float) - table["served"]
    ).clip(lower=0.0)
    return table[["village_id", "carrier", "households_without_signal"]]


def _households_without_any(
    households: pd.DataFrame, rows: pd.DataFrame, index: pd.Index
) -> tuple[pd.Series, pd.Series]:
    """Count, per village, the households no carrier serves and those with any evidence.

    At the estimate (z = 0).

    A household cell is served when any carrier's margin there is ≥ 0, i.e.
    min over carriers of ``z_serve`` (−m/σ) ≤ 0. Households in cells
    without any evidence are left out of both (unknown, not unserved).
    """
    cell = rows.groupby(["village_id", "h3"], sort=False)["z_serve"].min()
    placed = households.groupby(["village_id", "h3"], sort=False)["households"].sum()
    frame = pd.DataFrame({"households": placed}).join(cell.rename("z_serve"), how="inner")
    frame = frame.reset_index()
    if frame.empty:
        nothing = pd.Series(0.0, index=index)
        return nothing, nothing
    known = frame.groupby("village_id")["households"].sum()
    without = frame.loc[frame["z_serve"] > 0.0].groupby("village_id")["households"].sum()
    return without.reindex(index).fillna(0.0), known.reindex(index).fillna(0.0)


def _share_problem_by_z(
    households: pd.DataFrame, rows: pd.DataFrame, index: pd.Index, settlements: pd.Series
) -> np.ndarray:
    """Compute P(unserved share ≥ PATCHY_HOUSEHOLD_SHARE | z) per village and z.

    Villages in rows, z in :data:`_Z` in columns.

    At shift z the estimated share is S(z) = Σ w·[z_serve > z] / W. Where
    households were placed from a prior (no buildings), the true share is
    uncertain around it: Beta(S·n, (1 − S)·n), n the village's
    ``settlements`` (the effective number of independent places households
    could be; infinite for buildings, where S is the share).
    """
    cell = rows.groupby(["village_id", "h3"], sort=False)["z_serve"].min()
    placed = households.groupby(["village_id", "h3"], sort=False)["households"].sum()
    frame = pd.DataFrame({"households": placed}).join(cell.rename("z_serve"), how="inner")
    frame = frame.reset_index()
    out = np.zeros((len(index), len(_Z)))
    if frame.empty:
        return out
    code = index.get_indexer(frame["village_id"])
    keep = code >= 0
    code, weight = code[keep], frame["households"].to_numpy(float)[keep]
    z_serve = frame["z_serve"].to_numpy(float)[keep]
    known = np.bincount(code, weights=weight, minlength=len(index))
    n = settlements.reindex(index).fillna(np.inf).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        for column, z in enumerate(_Z):
            unserved = np.bincount(code, weights=weight * (z_serve > z), minlength=len(index))
            share = np.clip(np.where(known > 0, unserved / known, 0.0), 0.0, 1.0)
            exact = (share >= T.PATCHY_HOUSEHOLD_SHARE - 1e-12).astype(float)
            a, b = share * n, (1.0 - share) * n
            spread = np.isfinite(n) & (share > 0) & (share < 1)
            prior = beta.sf(
                T.PATCHY_HOUSEHOLD_SHARE, np.where(spread, a, 1.0), np.where(spread, b, 1.0)
            )
            out[:, column] = np.where(spread, prior, exact)
    return out


#: Standardised shifts z at which P(problem) is integrated (see the module).
_Z = np.linspace(-4.0, 4.0, 81)
_Z_WEIGHT = norm.pdf(_Z) / norm.pdf(_Z).sum()


def _carrier_table(
    centre: pd.DataFrame,
    per_carrier: pd.DataFrame,
    nearest: pd.DataFrame | None,
    carrier_readings: pd.DataFrame | None,
) -> pd.DataFrame:
    """Join centre evidence, households without signal, nearest site and readings.

    One row per (village, carrier).

    Rows are the carriers with evidence (at the centre or at households'
    places); the nearest site and the readings are joined to them.
    """
    table = centre.merge(per_carrier, on=["village_id", "carrier"], how="outer")
    table["evidence"] = table["evidence"].fillna("none")
    keys = ["village_id", "carrier"]
    if nearest is not None and len(nearest):
        names = {"site_id": "nearest_site_id", "distance_m": "nearest_site_m"}
        near = nearest.rename(columns=names)
        table = table.merge(near, on=keys, how="left")
    if carrier_readings is not None and len(carrier_readings):
        table = table.merge(carrier_readings, on=keys, how="left")
    return table


def _best_carrier(table: pd.DataFrame, total: pd.Series) -> pd.Series:
    """Pick, per village, the serving carrier leaving the fewest households without signal.

    A carrier serves a village when it gives usable signal at the centre
    (availability at least :data:`~coverage.thresholds.USABLE_P_LOW`) or
    serves at least :data:`~coverage.thresholds.PATCHY_HOUSEHOLD_SHARE` of
    its households. Ties go to the surest centre. None where no carrier
    serves: "none serves here", never the least bad of the ones that fail.
    """
    if table.empty:
        return pd.Series(dtype=object)
    ranked = table.assign(
        hh=table["households_without_signal"].fillna(np.inf),
        p=table["centre_p_usable"].astype(float).fillna(0.0),
    )
    households = ranked["village_id"].map(total).astype(float)
    served = (households - ranked["hh"].clip(upper=households)).fillna(0.0)
    serves = (ranked["p"] >= T.USABLE_P_LOW) | (
        (served > 0) & (served >= T.PATCHY_HOUSEHOLD_SHARE * households)
    )
    ranked = ranked.loc[serves].sort_values(
        ["village_id", "hh", "p"], ascending=[True, True, False]
    )
    first = ranked.drop_duplicates("village_id").set_index("village_id")
    return first["carrier"].reindex(table["village_id"].unique())


def _optional(value: object, kind: type) -> object:
    """``kind(value)``, or None where the value is missing."""
    if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
        return None
    return kind(value)


def _carrier_summaries(table: pd.DataFrame) -> pd.Series:
    """{carrier: summary} per village.

    Each summary: ``households_without_signal``, ``centre_p_usable``,
    ``radio``, ``evidence``; the carrier's nearest site to the village
    centre: ``nearest_site_m`` (int, metres), ``nearest_site_id``,
    ``terrain_loss_db`` and ``behind_terrain`` (None without a DEM); its
    readings in the village: ``readings``, ``reading_days``,
    ``unusable_share`` (0 readings: days and share None). Missing values are None.

    A loop over villages × carriers (tens to thousands of rows), not readings.
    """
    summaries: dict[str, dict[str, dict[str, object]]] = {}
    for row in table.to_dict("records"):
        p = _optional(row.get("centre_p_usable"), float)
        hh = row.get("households_without_signal")
        summaries.setdefault(row["village_id"], {})[row["carrier"]] = {
            "households_without_signal": round(hh) if pd.notna(hh) else None,
            "centre_p_usable": round(p, 3) if isinstance(p, float) else None,
            "radio": row["radio"] if isinstance(row.get("radio"), str) else None,
            "evidence": row["evidence"],
            "nearest_site_m": _optional(row.get("nearest_site_m"), int),
            "nearest_site_id": _optional(row.get("nearest_site_id"), str),
            "terrain_loss_db": _optional(row.get("terrain_loss_db"), float),
            "behind_terrain": _optional(row.get("behind_terrain"), bool),
            "readings": _optional(row.get("readings"), int) or 0,
            "reading_days": _optional(row.get("reading_days"), int),
            "unusable_share": _optional(row.get("unusable_share"), float),
        }
    return pd.Series(summaries, dtype=object)


# --- Reasons, in plain words -------------------------------------------------

_EVIDENCE_WORDS = {
    "en": {"measured": "measured", "predicted": "predicted from sites and terrain"},
    "vi": {"measured": "đo thực tế", "predicted": "dự báo từ trạm và địa hình"},
}
_TEXT = {
    "no_centre": {
        "en": "No readings here and no known site of any carrier within reach: "
        "the site database does not cover this place",
        "vi": "Chưa có số đo và không có trạm nào đã biết trong tầm phủ: "
        "dữ liệu trạm chưa phủ tới nơi này",
    },
    "why_unknown": {
        "en": "Not known: the evidence cannot decide (confidence {confidence:.0%}), "
        "a field visit would",
        "vi": "Chưa rõ: dữ liệu chưa đủ để kết luận (độ tin cậy {confidence:.0%}), cần đo thực địa",
    },
    "why_none": {
        "en": "No carrier gives usable signal at the village centre",
        "vi": "Tại trung tâm thôn không nhà mạng nào có sóng dùng được",
    },
    "why_intermittent": {
        "en": "At the village centre signal comes and goes ({carrier} {radio} "
        "usable {p:.0%} of the time, {evidence})",
        "vi": "Tại trung tâm thôn sóng lúc có lúc mất ({carrier} {radio} "
        "dùng được {p:.0%} thời gian, {evidence})",
    },
    "why_households": {
        "en": "{without:.0f} of {total:.0f} households live where no carrier gives usable signal",
        "vi": "{without:.0f}/{total:.0f} hộ ở nơi không nhà mạng nào có sóng dùng được",
    },
    "why_good": {
        "en": "At the village centre {carrier} {radio} is usable {p:.0%} of the time ({evidence})",
        "vi": "Tại trung tâm thôn {carrier} {radio} dùng được {p:.0%} thời gian ({evidence})",
    },
    "site": {
        "en": "nearest {carrier} site {km} km{terrain}",
        "vi": "trạm {carrier} gần nhất cách {km} km{terrain}",
    },
    "nearest_known": {
        "en": "nearest known site: {carrier}, {km} km",
        "vi": "trạm gần nhất đã biết: {carrier}, cách {km} km",
    },
    "no_site": {
        "en": "no {carrier} site known",
        "vi": "không có trạm {carrier} nào đã biết",
    },
    "behind": {"en": ", behind a ridge", "vi": ", bị núi che khuất"},
    "in_sight": {"en": ", in line of sight", "vi": ", không bị núi che"},
    "carrier_readings": {
        "en": "{count} {carrier} readings over {days} {day_word}, "
        "{share:.0%} without usable signal",
        "vi": "{count} số đo {carrier} trong {days} ngày, {share:.0%} không có sóng dùng được",
    },
    "no_carrier_readings": {
        "en": "no {carrier} readings in the village",
        "vi": "chưa có số đo {carrier} trong thôn",
    },
    "strongest": {
        "en": "The strongest there, {carrier} {radio}, is usable {p:.0%} of the time ({evidence}).",
        "vi": "Mạnh nhất ở đó là {carrier} {radio}, chỉ dùng được {p:.0%} thời gian ({evidence}).",
    },
    "households": {
        "en": "{without:.0f} of {total:.0f} households live where no carrier gives usable signal.",
        "vi": "{without:.0f}/{total:.0f} hộ ở nơi không nhà mạng nào có sóng dùng được.",
    },
    "households_unknown": {
        "en": "No evidence for {unknown:.0f} of {total:.0f} households' places.",
        "vi": "Chưa có dữ liệu cho nơi ở của {unknown:.0f}/{total:.0f} hộ.",
    },
    "readings": {
        "en": "{count} readings in the village, the latest on {date}.",
        "vi": "{count} số đo trong thôn, gần nhất ngày {date}.",
    },
    "no_readings": {
        "en": "No readings in the village: prediction from sites and terrain only.",
        "vi": "Chưa có số đo trong thôn: chỉ dự báo từ trạm và địa hình.",
    },
    "new_site": {
        "en": "Site {site} ({carrier}) since {date}, not yet measured.",
        "vi": "Trạm {site} ({carrier}) hoạt động từ {date}, chưa được đo.",
    },
}
_LANGS = ("en", "vi")


def _say(key: str, **values: object) -> dict[str, str]:
    return {lang: text.format(**values) for lang, text in _TEXT[key].items()}


def _kilometres(metres: float) -> dict[str, str]:
    """Write a distance in km with one decimal, as each language writes it (2.6 / 2,6)."""
    km = f"{metres / 1000:.1f}"
    return {"en": km, "vi": km.replace(".", ",")}


def people_date(value: object) -> str:
    """Write a date as people read it here: dd/mm/yyyy.

    >>> people_date("2026-01-10T03:04:05+00:00")
    '10/01/2026'
    """
    return str(pd.Timestamp(value).strftime("%d/%m/%Y"))


def site_clause(summary: dict[str, object], carrier: str) -> dict[str, str]:
    """Say where ``carrier``'s nearest site is and whether a ridge hides it, per language.

    From a carrier summary (:func:`_carrier_summaries`); without a DEM the
    terrain is not mentioned (not known), without a site of that carrier it
    says none is known.

    >>> site_clause({"nearest_site_m": 2630, "behind_terrain": True}, "Viettel")["en"]
    'nearest Viettel site 2.6 km, behind a ridge'
    >>> site_clause({"nearest_site_m": 2630, "behind_terrain": None}, "Viettel")["vi"]
    'trạm Viettel gần nhất cách 2,6 km'
    """
    metres = summary.get("nearest_site_m")
    if not isinstance(metres, int | float):
        return _say("no_site", carrier=carrier)
    behind = summary.get("behind_terrain")
    terrain = _TEXT["behind"] if behind is True else _TEXT["in_sight"] if behind is False else None
    km = _kilometres(float(metres))
    return {
        lang: _TEXT["site"][lang].format(
            carrier=carrier, km=km[lang], terrain=terrain[lang] if terrain else ""
        )
        for lang in _LANGS
    }


def readings_clause(summary: dict[str, object], carrier: str) -> dict[str, str]:
    """Say how many of ``carrier``'s readings the village has, over how long, how many unusable.

    >>> readings_clause({"readings": 312, "reading_days": 14, "unusable_share": 0.88},
    ...     "Viettel")["en"]
    '312 Viettel readings over 14 days, 88% without usable signal'
    """
    count = summary.get("readings")
    days, share = summary.get("reading_days"), summary.get("unusable_share")
    if not isinstance(count, int) or count <= 0 or not isinstance(days, int):
        return _say("no_carrier_readings", carrier=carrier)
    return _say(
        "carrier_readings",
        count=count,
        carrier=carrier,
        days=days,
        day_word="day" if days == 1 else "days",
        share=float(share) if isinstance(share, int | float) else 0.0,
    )


def _why_carrier(summaries: dict[str, dict[str, object]], best: object) -> str | None:
    """Choose the carrier a why line speaks of: the best one, else the one with the nearest site."""
    if isinstance(best, str) and best in summaries:
        return best
    located = {
        carrier: summary["nearest_site_m"]
        for carrier, summary in summaries.items()
        if isinstance(summary.get("nearest_site_m"), int | float)
    }
    if located:
        return min(sorted(located), key=lambda c: float(located[c]))  # type: ignore[arg-type]
    return min(summaries) if summaries else None


def _reasons(
    facts: pd.DataFrame,
    centre: pd.DataFrame,
    best: pd.Series,
    table: pd.DataFrame,
    readings: pd.DataFrame | None,
    new_sites: pd.DataFrame | None,
    nearest: pd.DataFrame | None,
) -> dict[str, pd.Series]:
    """Sentences per village saying why, in English and Vietnamese.

    The first is the *why* line: the verdict's ground, then, for the
    carrier that serves (else the one whose site is nearest), where its
    nearest site is and whether a ridge hides it, and its readings in the
    village; the rest give the details. A loop over villages (thousands),
    not cells or readings.
    """
    at_centre = centre.set_index(["village_id", "carrier"]) if len(centre) else None
    strongest = (
        centre.sort_values("centre_p_usable", ascending=False)
        .drop_duplicates("village_id")
        .set_index("village_id")
        if len(centre)
        else pd.DataFrame()
    )
    summaries = _carrier_summaries(table) if len(table) else pd.Series(dtype=object)
    closest = (
        nearest.sort_values(["distance_m", "carrier"])
        .drop_duplicates("village_id")
        .set_index("village_id")
        if nearest is not None and len(nearest)
        else pd.DataFrame()
    )
    started = new_sites.groupby("village_id") if new_sites is not None and len(new_sites) else None
    started_ids = set(started.groups) if started is not None else set()
    english: dict[object, list[str]] = {}
    vietnamese: dict[object, list[str]] = {}
    for village, fact in facts.iterrows():
        said: list[dict[str, str]] = []
        if not fact["centre_known"]:
            said.append(_no_centre_why(closest.loc[village] if village in closest.index else None))
        else:
            carrier = best.get(village)
            key = (village, carrier)
            row = (
                at_centre.loc[key]
                if at_centre is not None and isinstance(carrier, str) and key in at_centre.index
                else strongest.loc[village]
            )
            village_summaries = summaries.get(village)
            said += _judged_reasons(
                fact,
                row,
                carrier if isinstance(carrier, str) else str(strongest.loc[village, "carrier"]),
                carrier,
                village_summaries if isinstance(village_summaries, dict) else {},
            )
        if readings is not None and village in readings.index:
            count = int(readings.at[village, "readings_count"])
            if count:
                said.append(
                    _say(
                        "readings",
                        count=count,
                        date=people_date(readings.at[village, "last_reading"]),
                    )
                )
            else:
                said.append(_say("no_readings"))
        if village in started_ids and started is not None:
            for site in started.get_group(village).itertuples(index=False):
                said.append(
                    _say(
                        "new_site",
                        site=site.site_id,
                        carrier=site.carrier,
                        date=people_date(site.since),
                    )
                )
        english[village] = [s["en"] for s in said]
        vietnamese[village] = [s["vi"] for s in said]
    return {"en": pd.Series(english, dtype=object), "vi": pd.Series(vietnamese, dtype=object)}


def _with_evidence(key: str, values: dict[str, object], evidence: str) -> dict[str, str]:
    """``_TEXT[key]`` with the evidence in each language's words."""
    return {
        lang: _TEXT[key][lang].format(
            **values, evidence=_EVIDENCE_WORDS[lang].get(evidence, evidence)
        )
        for lang in _LANGS
    }


def _no_centre_why(near: pd.Series | None) -> dict[str, str]:
    """Say that nothing is known here, naming the nearest known site when there is one."""
    why = _say("no_centre")
    if near is not None:
        km = _kilometres(float(near["distance_m"]))
        clause = {
            lang: _TEXT["nearest_known"][lang].format(carrier=near["carrier"], km=km[lang])
            for lang in _LANGS
        }
        why = {lang: f"{why[lang]} ({clause[lang]})" for lang in _LANGS}
    return {lang: why[lang] + "." for lang in _LANGS}


def _judged_reasons(
    fact: pd.Series,
    row: pd.Series,
    carrier_name: str,
    best: object,
    summaries: dict[str, dict[str, object]],
) -> list[dict[str, str]]:
    """Give the why line and the details of a village whose centre has evidence.

    ``row`` is the centre evidence of ``carrier_name`` (the best carrier,
    else the strongest at the centre).
    """
    # Rounded as the carrier summaries are, so the page's lines agree with the reasons.
    p = round(float(row["centre_p_usable"]), 3)
    radio = C.RADIO_GENERATIONS.get(str(row["radio"]), "")
    evidence = str(row["evidence"])
    values = {"carrier": carrier_name, "radio": radio, "p": p}
    verdict = fact["verdict"]
    by_households = False
    if verdict == Verdict.UNKNOWN.value:
        head = _say("why_unknown", confidence=fact["confidence"])
    elif verdict == Verdict.NO_SIGNAL.value or p < T.USABLE_P_LOW:
        head = _say("why_none")
    elif p < T.USABLE_P_HIGH:
        head = _with_evidence("why_intermittent", values, evidence)
    elif verdict == Verdict.PATCHY.value:
        head = _say("why_households", without=fact["without"], total=fact["households"])
        by_households = True
    else:
        head = _with_evidence("why_good", values, evidence)
    clauses = [head]
    subject = _why_carrier(summaries, best)
    if subject is not None:
        summary = summaries[subject]
        clauses += [site_clause(summary, subject), readings_clause(summary, subject)]
    said = [{lang: "; ".join(c[lang] for c in clauses) + "." for lang in _LANGS}]
    if p < T.USABLE_P_LOW:
        said.append(_with_evidence("strongest", values, evidence))
    if not by_households:  # else the why line said it
        said.append(_say("households", without=fact["without"], total=fact["households"]))
    unknown = fact["households"] - fact["known_households"]
    if unknown >= 1.0:
        said.append(_say("households_unknown", unknown=unknown, total=fact["households"]))
    return said
