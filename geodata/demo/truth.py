"""Ground truth per village, from the simulator's true median field.

Only tests read it: the analysis must reach its verdicts from readings,
sites and terrain alone. The rules are DESIGN.md's, applied to the truth:
trắng sóng (``no_signal``) when no carrier is usable at the centre, lõm sóng
(``patchy``) when a share of households has no usable signal from the best
carrier or service at the centre comes and goes, otherwise ``covered``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from geodata import constants as C
from geodata.demo.field import TEMPORAL_SIGMA_DB, SignalField
from geodata.demo.region import Region

TRUTH_COLUMNS = (
    "village_id",
    "verdict",
    "households_without_signal",
    "centre_p_usable",
    "best_carrier",
    "borderline",
)

# A village is borderline when its truth sits this close to a verdict
# boundary: no estimator can be held to a side there (a household more or
# less, a few dB at the centre).
BORDERLINE_SHARE: tuple[float, float] = (0.05, 0.2)
BORDERLINE_P = 0.05


def p_usable(field: SignalField, x: np.ndarray, y: np.ndarray, mnc: int) -> np.ndarray:
    """Probability a reading of carrier ``mnc`` is usable, on its best radio."""
    probabilities = [
        norm.cdf((field.median(x, y, mnc, radio) - C.USABLE_DBM[radio]) / TEMPORAL_SIGMA_DB)
        for radio in ("lte", "umts")
    ]
    best: np.ndarray = np.maximum.reduce(probabilities)
    return best


def village_truth(region: Region, households: pd.DataFrame, field: SignalField) -> pd.DataFrame:
    """Return the verdict and households without signal of every village.

    ``households_without_signal`` counts households no carrier serves;
    ``borderline`` marks villages within :data:`BORDERLINE_SHARE` or
    :data:`BORDERLINE_P` of a verdict boundary.

    Parameters
    ----------
    region : Region
    households : pandas.DataFrame
        ``village_id``, ``x``, ``y`` per household (UTM).
    field : SignalField

    Returns
    -------
    pandas.DataFrame
        :data:`TRUTH_COLUMNS`, one row per village, ``best_carrier`` as the
        carrier's name (VinaPhone, Viettel, MobiFone).
    """
    villages = region.villages
    carriers = list(field.carriers)
    cx, cy = villages["centre_x"].to_numpy(), villages["centre_y"].to_numpy()
    centre_p = np.column_stack([p_usable(field, cx, cy, mnc) for mnc in carriers])
    hx, hy = households["x"].to_numpy(), households["y"].to_numpy()
    served_by = pd.DataFrame(
        {mnc: p_usable(field, hx, hy, mnc) >= 0.5 for mnc in carriers}, index=households.index
    )
    counts = (~served_by).groupby(households["village_id"]).sum().reindex(villages["id"])
    # DESIGN.md: a household is served when any carrier serves it (people
    # carry several SIMs); the best carrier is reported beside.
    without_any = (~served_by.any(axis=1)).groupby(households["village_id"]).sum()
    without_any = without_any.reindex(villages["id"]).fillna(0).to_numpy()
    counts = counts.to_numpy()
    # Best carrier: fewest households without signal; ties go to the stronger centre.
    rank = counts * 10.0 - centre_p  # centre_p <= 1, so it only breaks ties
    best = rank.argmin(axis=1)
    centre_best = centre_p.max(axis=1)
    share = without_any / villages["households"].to_numpy()
    verdict = np.where(
        centre_best < C.USABLE_P_LOW,
        "no_signal",
        np.where(
            (share >= C.PATCHY_HOUSEHOLD_SHARE) | (centre_best < C.USABLE_P_HIGH),
            "patchy",
            "covered",
        ),
    )
    low, high = BORDERLINE_SHARE
    borderline = ((share >= low) & (share < high)) | (
        np.minimum(np.abs(centre_best - C.USABLE_P_HIGH), np.abs(centre_best - C.USABLE_P_LOW))
        < BORDERLINE_P
    )
    return pd.DataFrame(
        {
            "village_id": villages["id"].to_numpy(),
            "verdict": verdict,
            "households_without_signal": without_any.astype(int),
            "centre_p_usable": np.round(centre_best, 4),
            "best_carrier": [C.CARRIERS[carriers[i]] for i in best],
            "borderline": borderline,
        }
    )


def write_truth(truth: pd.DataFrame, path: Path) -> Path:
    """Write ``truth.csv``."""
    truth.loc[:, list(TRUTH_COLUMNS)].to_csv(path, index=False, lineterminator="\n")
    return path
