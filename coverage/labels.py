"""Text columns from integer codes.

Building a pandas text column (Arrow-backed ``str``) from a numpy array of
Python or fixed-width strings converts every element: seconds for the
millions of rows of a province's cells. Computing with small integer codes
and taking the labels once, in Arrow, costs a fraction of that.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa


def labels_from_codes(
    codes: np.ndarray, labels: Iterable[object]
) -> pd.api.extensions.ExtensionArray:
    """``labels[codes]`` as a pandas ``str`` array (missing where a code is −1).

    >>> list(labels_from_codes(np.array([1, 0, -1]), ["no", "yes"]))
    ['yes', 'no', nan]
    """
    codes = np.asarray(codes, dtype=np.int64)
    indices = pa.array(codes, mask=codes < 0)
    return pd.array(
        pa.array([str(label) for label in labels], type=pa.large_string()).take(indices),
        dtype="str",
    )
