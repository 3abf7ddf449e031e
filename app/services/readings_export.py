"""The store's readings as a GeoParquet dataset, for the tiled analysis's workers.

One home for ``lomsong export-readings`` and the service's full
re-analysis on a cluster: both call :func:`export_readings`, which streams
the stored batches (:meth:`app.store.Store.iter_readings`) into
:func:`geodata.readings_dataset.write_readings_batches` a chunk at a time,
so memory stays bounded by :data:`EXPORT_CHUNK_ROWS` whatever the store
holds. The dataset is replaced whole: the store's content keys keep every
reading once, and the export copies them once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from app.core.config import Settings
from app.store import Store
from app.store.readings import STORED_COLUMNS
from geodata.readings_dataset import checked_bounds, write_readings_batches

#: Readings gathered before a chunk is written: ~150 MB of columns, and few
#: enough chunks that a partition gets few files.
EXPORT_CHUNK_ROWS = 1_000_000

#: Where the service keeps its dataset, under ``LOMSONG_DATA_DIR``.
READINGS_DATASET_DIR = "readings"


def service_readings_dataset(settings: Settings) -> Path:
    """Return the directory of the service's readings dataset (``data_dir/readings``)."""
    return settings.data_dir / READINGS_DATASET_DIR


def export_readings(
    store: Store,
    root: Path,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    chunk_rows: int = EXPORT_CHUNK_ROWS,
) -> int:
    """Write the store's readings into a dataset at ``root``, replacing what it held.

    Parameters
    ----------
    store : Store
    root : pathlib.Path
        The dataset's directory (:func:`service_readings_dataset` for the service).
    bounds : tuple of float, optional, keyword-only
        ``(minlon, minlat, maxlon, maxlat)``: only the readings inside (edges included).
    chunk_rows : int, keyword-only
        Readings written at a time (memory is bounded by it).

    Returns
    -------
    int
        Readings written.

    Raises
    ------
    ValueError
        When ``bounds`` are not valid.
    geodata.errors.InvalidInputError
        When ``root`` holds something that is not a readings dataset.
    """
    box = None if bounds is None else checked_bounds(bounds)
    return write_readings_batches(_chunks(store, box, chunk_rows), Path(root))


def _chunks(
    store: Store, box: tuple[float, float, float, float] | None, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """Yield stored readings in frames of about ``chunk_rows`` (small batches gathered)."""
    pending: list[pd.DataFrame] = []
    held = 0
    for frame in store.iter_readings(STORED_COLUMNS, batch_rows=chunk_rows):
        if box is not None:
            west, south, east, north = box
            inside = frame["lon"].between(west, east) & frame["lat"].between(south, north)
            frame = frame[inside]
        if frame.empty:
            continue
        pending.append(frame)
        held += len(frame)
        if held >= chunk_rows:
            yield pd.concat(pending, ignore_index=True)
            pending, held = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)
