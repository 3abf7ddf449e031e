"""Village verdicts with the official criteria (step 5 of the pipeline).

- ``no_signal`` (*trắng sóng*): no carrier gives usable signal at the village
  centre (its cultural house): the best carrier's P(usable) there is below
  :data:`~geodata.constants.USABLE_P_LOW`.
- ``patchy`` (*lõm sóng*): the centre has signal, but it comes and goes
  (P below :data:`~geodata.constants.USABLE_P_HIGH`), or the best carrier
  leaves at least :data:`~geodata.constants.PATCHY_HOUSEHOLD_SHARE` of the
  households without usable signal.
- ``covered``: neither.
- ``unknown``: no carrier has any evidence at the centre (no readings and no
  site in range).

A household is without usable signal from a carrier where that carrier's
P(usable) is below one half: more often without than with.
"""

from __future__ import annotations

import enum

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata import constants as C

# A household counts as served by a carrier when P(usable) is at least this.
SERVED_P = 0.5


class Verdict(enum.StrEnum):
    """A village's verdict; the Vietnamese terms are the official ones."""

    NO_SIGNAL = "no_signal"  # trắng sóng
    PATCHY = "patchy"  # lõm sóng
    COVERED = "covered"  # có sóng
    UNKNOWN = "unknown"  # chưa đủ dữ liệu


def judge_villages(
    villages: gpd.GeoDataFrame,
    fused: pd.DataFrame,
    *,
    households: pd.DataFrame,
    centre_cells: pd.DataFrame,
) -> pd.DataFrame:
    """Verdict and households without usable signal, per village.

    Parameters
    ----------
    villages : GeoDataFrame
        With ``id`` and ``households``.
    fused : DataFrame
        ``h3, carrier, p_usable, evidence, radio`` (from :func:`coverage.fusion.fuse`).
    households : DataFrame, keyword-only
        ``village_id, h3, households`` weights.
    centre_cells : DataFrame, keyword-only
        ``village_id, h3``: the cells that make up each village centre.

    Returns
    -------
    DataFrame indexed like ``villages`` with ``verdict``,
    ``households_without_signal``, ``best_carrier``, ``centre_p_usable`` and
    ``carriers`` (a dict per village: carrier -> summary).
    """
    served = fused.assign(unserved=fused["p_usable"] < SERVED_P)
    per_cell = households.merge(served, on="h3", how="inner")
    without = (
        per_cell.assign(hh=per_cell["households"] * per_cell["unserved"])
        .groupby(["village_id", "carrier"], as_index=False)["hh"]
        .sum()
        .rename(columns={"hh": "households_without_signal"})
    )
    centre = _centre_evidence(centre_cells, fused)
    table = centre.merge(without, on=["village_id", "carrier"], how="outer")
    table["households_without_signal"] = table["households_without_signal"].fillna(0.0)
    table["centre_p_usable"] = table["centre_p_usable"].fillna(0.0)
    table["evidence"] = table["evidence"].fillna("none")
    # Best carrier: fewest households without signal, then the surest centre.
    ranked = table.sort_values(
        ["village_id", "households_without_signal", "centre_p_usable"],
        ascending=[True, True, False],
    )
    best = ranked.drop_duplicates("village_id").set_index("village_id")
    centre_best = table.groupby("village_id")["centre_p_usable"].max()
    has_evidence = (table["evidence"] != "none").groupby(table["village_id"]).any()

    out = pd.DataFrame(index=villages["id"].to_numpy())
    total = villages.set_index("id")["households"].astype(float)
    out["centre_p_usable"] = centre_best.reindex(out.index).fillna(0.0)
    out["best_carrier"] = best["carrier"].reindex(out.index)
    hh_without = best["households_without_signal"].reindex(out.index).fillna(total)
    out["households_without_signal"] = np.rint(hh_without.clip(upper=total)).astype(int)
    share = (hh_without / total.where(total > 0)).fillna(0.0)
    verdict = np.where(
        out["centre_p_usable"] < C.USABLE_P_LOW,
        Verdict.NO_SIGNAL.value,
        np.where(
            (out["centre_p_usable"] < C.USABLE_P_HIGH) | (share >= C.PATCHY_HOUSEHOLD_SHARE),
            Verdict.PATCHY.value,
            Verdict.COVERED.value,
        ),
    )
    known = has_evidence.reindex(out.index).fillna(False).to_numpy(bool)
    out["verdict"] = np.where(known, verdict, Verdict.UNKNOWN.value)
    out.loc[~known, "best_carrier"] = None
    out["carriers"] = _carrier_summaries(table).reindex(out.index)
    out["carriers"] = out["carriers"].apply(lambda v: v if isinstance(v, dict) else {})
    return out


def _centre_evidence(centre_cells: pd.DataFrame, fused: pd.DataFrame) -> pd.DataFrame:
    """P(usable) at each village centre, per carrier, from the centre's cells.

    The cells' P are averaged with weights readings + 1: measured cells speak
    for the centre, a cell without readings adds its prediction once.
    Evidence is ``measured`` when any centre cell is, and the radio is the
    most-read measured cell's.
    """
    cells = centre_cells.merge(fused, on="h3", how="inner")
    cells = cells.assign(weight=cells["count"] + 1.0)
    cells["weighted"] = cells["weight"] * cells["p_usable"]
    grouped = cells.groupby(["village_id", "carrier"], sort=False)
    table = grouped[["weighted", "weight"]].sum()
    table["centre_p_usable"] = table["weighted"] / table["weight"]
    ranked = cells.assign(measured=cells["evidence"] == "measured").sort_values(
        ["measured", "count"], ascending=False
    )
    first = ranked.drop_duplicates(["village_id", "carrier"]).set_index(["village_id", "carrier"])
    table["evidence"] = first["evidence"]
    table["radio"] = first["radio"]
    return table.reset_index()[["village_id", "carrier", "centre_p_usable", "evidence", "radio"]]


def _carrier_summaries(table: pd.DataFrame) -> pd.Series:
    """{carrier: {households_without_signal, centre_p_usable, radio, evidence}} per village.

    A loop over villages × carriers (tens to thousands of rows), not readings.
    """
    summaries: dict[str, dict[str, dict[str, object]]] = {}
    for row in table.itertuples(index=False):
        summaries.setdefault(row.village_id, {})[row.carrier] = {
            "households_without_signal": round(row.households_without_signal),
            "centre_p_usable": round(float(row.centre_p_usable), 3),
            "radio": row.radio if isinstance(row.radio, str) else None,
            "evidence": row.evidence,
        }
    return pd.Series(summaries, dtype=object)
