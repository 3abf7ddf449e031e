"""Text columns from codes are the columns pandas itself builds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from coverage.labels import labels_from_codes


def test_labels_match_a_text_series() -> None:
    labels = labels_from_codes(np.array([2, 0, 1, -1]), ["good", "fair", "weak"])
    expected = pd.Series(["weak", "good", "fair", None], dtype="str")
    pd.testing.assert_series_equal(pd.Series(labels), expected)
