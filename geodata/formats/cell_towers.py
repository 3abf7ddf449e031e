"""Site files: OpenCelliD's ``cell_towers.csv`` and lomsong's site CSV, row by row.

Two layouts, both header-matched (order free):

``native``
    DESIGN.md's site file: OpenCelliD's columns (``radio, mcc, net, area,
    cell, unit, lon, lat, range, samples, changeable, created, updated,
    averageSignal``) plus lomsong's optional ``site_id, name, height_m,
    azimuth_deg, beamwidth_deg, eirp_dbm, freq_mhz``. A plain OpenCelliD
    export is valid native input.
``opencellid``
    OpenCelliD's (and ichnaea's) cell export exactly: lomsong's extra
    columns, if a file carries them, are ignored. CRLF line endings and
    empty fields are the format's own (ichnaea's "Data import and export").

``radio, mcc, net, lon, lat`` are required. Rows are numbered by their line
in the file (header = line 1); a bad row is refused with its field and
reason and never fails the others. The whole file is validated before any
of it is stored, so an import is one change to the network.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from geodata import constants as C
from geodata.errors import InvalidInputError, UnsupportedFormatError
from geodata.formats._common import Source, csv_chunks
from geodata.readings import Rejection
from geodata.sites import SITE_REQUIRED, ValidatedSites, drop_repeated_cells, validate_sites

#: Names of the site file layouts :func:`read_sites` reads.
SITE_FORMATS: tuple[str, ...] = ("native", "opencellid")

# Text columns stay text: a site id "0012" must not become the number 12.
_DTYPES = {"radio": "string", "site_id": "string", "name": "string"}


def read_sites(
    source: Source,
    *,
    format: str = "native",
    chunk_rows: int = 100_000,
    max_cells: int = C.MAX_SITES_PER_IMPORT,
) -> ValidatedSites:
    r"""Read and validate a site file; every row is a cell or a rejection.

    The one site reader: the CLI, the demo, the admin import and notebooks
    all use it (as :func:`geodata.formats.read_sites`).

    Parameters
    ----------
    source : str, Path or binary file object
        A path, or an open binary stream (read, not closed).
    format : str, keyword-only
        ``"native"`` or ``"opencellid"`` (see the module docstring).
    chunk_rows : int, keyword-only
        Rows parsed at once.
    max_cells : int, keyword-only
        Most valid cells one file may hold.

    Returns
    -------
    ValidatedSites
        Valid cells indexed by line number, and the refused lines. A line
        repeating an earlier line's cell is refused.

    Raises
    ------
    UnsupportedFormatError
        An unknown ``format``.
    InvalidInputError
        An empty or unreadable file, a header without the required columns
        (:class:`~geodata.errors.MissingColumnError`), bytes that are not
        UTF-8 (:class:`~geodata.errors.BadEncodingError`), more than
        ``max_cells`` cells.

    Examples
    --------
    >>> import io
    >>> text = (b"radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,"
    ...         b"updated,averageSignal\r\n"
    ...         b"LTE,452,4,3101,25601,,105.4901,22.5702,,,1,1700000000,,\r\n"
    ...         b"LTE,452,4,3101,25602,,105.4901,95,,,1,1700000000,,\r\n")
    >>> sites = read_sites(io.BytesIO(text), format="opencellid")
    >>> sites.valid["cell_id"].tolist(), [r.as_dict()["reason"] for r in sites.rejected]
    ([25601], ['lat: outside -90..90'])
    """
    if format not in SITE_FORMATS:
        raise UnsupportedFormatError(
            f"unknown site format {format!r}; expected one of {', '.join(SITE_FORMATS)}"
        )
    cells: list[pd.DataFrame] = []
    rejected: list[Rejection] = []
    count = 0
    for frame, bad_lines, _blank in _chunks(source, chunk_rows):
        validated = validate_sites(frame, extras=format == "native")
        cells.append(validated.valid)
        rejected += bad_lines + validated.rejected
        count += len(validated.valid)
        if count > max_cells:
            raise InvalidInputError(
                f"sites: more than {max_cells} cells in one file; split it (by MCC or region)"
            )
    if not cells:  # a header and nothing else
        empty = validate_sites(
            pd.DataFrame({c: pd.Series([], dtype=object) for c in SITE_REQUIRED})
        )
        cells.append(empty.valid)
    valid, repeated = drop_repeated_cells(pd.concat(cells) if len(cells) > 1 else cells[0])
    return ValidatedSites(valid=valid, rejected=sorted(rejected + repeated, key=lambda r: r.index))


def _chunks(source: Source, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, list[Rejection], int]]:
    yield from csv_chunks(
        source, what="sites", required=SITE_REQUIRED, chunk_rows=chunk_rows, dtype=_DTYPES
    )
