"""Cell classes: P(usable) and the typical dBm of a cell, as the words maps show.

Step 4 of the pipeline. A cell is ``no_signal`` or ``patchy`` by its
probability of usable signal (the official rule,
:data:`~coverage.thresholds.USABLE_P_LOW` / :data:`~coverage.thresholds.USABLE_P_HIGH`);
above that, its Android signal level says ``weak``, ``fair`` or ``good``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from coverage import thresholds as T
from geodata import constants as C


def classify(p_usable: np.ndarray, dbm: np.ndarray, radio: np.ndarray) -> np.ndarray:
    """Cell class from P(usable) and the typical dBm (Android levels).

    ``no_signal`` below :data:`~coverage.thresholds.USABLE_P_LOW`, ``patchy``
    up to :data:`~coverage.thresholds.USABLE_P_HIGH`; above it the Android level
    of the dBm gives ``weak`` (1 bar), ``fair`` (2) or ``good`` (3–4);
    ``unknown`` where P is NaN.
    """
    codes, radios = pd.factorize(np.asarray(radio))
    classes: np.ndarray = CELL_CLASSES[class_codes(p_usable, dbm, codes, radios)]
    return classes


#: Cell classes, indexed by the codes :func:`class_codes` gives.
CELL_CLASSES = np.array(C.CELL_CLASSES)


def class_codes(
    p_usable: np.ndarray, dbm: np.ndarray, radio_codes: np.ndarray, radios: Sequence[object]
) -> np.ndarray:
    """Classify cells as :func:`classify` does, as codes into :data:`CELL_CLASSES`.

    The radio is given as codes into ``radios`` (−1: none). Integer codes,
    not strings: np.where on string arrays of millions of cells costs seconds.

    >>> class_codes(np.array([0.95, 0.5]), np.array([-80.0, -80.0]), np.array([0, 0]), ["lte"])
    array([0, 3])
    """
    p = np.asarray(p_usable, float)
    # Levels looked up once per distinct radio, then spread to the cells.
    table = np.array(
        [*(C.SIGNAL_LEVELS_DBM.get(str(r), (np.nan,) * 4) for r in radios), (np.nan,) * 4],
        dtype=float,
    )
    levels = table[np.asarray(radio_codes)]  # code -1 (no radio) takes the trailing NaNs
    dbm = np.asarray(dbm, float)
    with np.errstate(invalid="ignore"):
        code = np.where(dbm >= levels[:, 2], 0, np.where(dbm >= levels[:, 1], 1, 2))
    code = np.where(p >= T.USABLE_P_HIGH, code, np.where(p >= T.USABLE_P_LOW, 3, 4))
    return np.where(np.isnan(p), 5, code)
