"""Carrier sites and cells: OpenCelliD ``cell_towers.csv`` plus lomsong's extras.

A plain OpenCelliD export is valid input: the radio parameters it lacks
(height, EIRP, azimuth, beamwidth, frequency) are filled with the documented
defaults in :mod:`geodata.constants`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.errors import InvalidInputError, MissingColumnError

#: OpenCelliD's cell_towers.csv header, in order.
OPENCELLID_COLUMNS: tuple[str, ...] = (
    "radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range", "samples",
    "changeable", "created", "updated", "averageSignal",
)  # fmt: skip
#: lomsong's optional extra site columns.
SITE_EXTRA_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "height_m", "azimuth_deg", "beamwidth_deg", "eirp_dbm", "freq_mhz",
)  # fmt: skip

_RADIO = {"GSM": "gsm", "UMTS": "umts", "CDMA": "cdma", "LTE": "lte", "NR": "nr"}


def carrier_name(mcc: int, mnc: int) -> str:
    """The carrier's brand for MCC 452 codes, else ``"MCC-MNC"``.

    >>> carrier_name(452, 2), carrier_name(208, 1)
    ('VinaPhone', '208-01')
    """
    if mcc == C.MCC_VIETNAM and mnc in C.CARRIERS:
        return C.CARRIERS[mnc]
    return f"{mcc:03d}-{mnc:02d}"


def carrier_names(mcc: pd.Series, mnc: pd.Series) -> pd.Series:
    """Vectorised :func:`carrier_name`: computed once per distinct (mcc, mnc)."""
    code = mcc.to_numpy(int) * 1000 + mnc.to_numpy(int)
    distinct, position = np.unique(code, return_inverse=True)
    names = np.array([carrier_name(int(c) // 1000, int(c) % 1000) for c in distinct], dtype=object)
    return pd.Series(names[position], index=mcc.index, dtype="string")


def normalise_sites(frame: pd.DataFrame) -> pd.DataFrame:
    """Map an OpenCelliD-style table to lomsong's site table, filling defaults.

    Returns columns ``site_id, name, carrier, mcc, mnc, radio, cell_id,
    area_code, lon, lat, height_m, azimuth_deg, beamwidth_deg, eirp_dbm,
    freq_mhz, range_m, created`` with one row per cell. Cells without a
    ``site_id`` are grouped into sites by carrier and position (~1 m).

    Raises
    ------
    MissingColumnError
        When radio, mcc, net, lon or lat is missing.
    InvalidInputError
        When a coordinate is out of range, naming the row.
    """
    missing = [c for c in ("radio", "mcc", "net", "lon", "lat") if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"sites: missing required column(s): {', '.join(missing)}")
    out = pd.DataFrame(index=frame.index)
    out["radio"] = frame["radio"].astype(str).str.strip().str.upper().map(_RADIO)
    if out["radio"].isna().any():
        row = int(np.flatnonzero(out["radio"].isna())[0])
        raise InvalidInputError(f"sites: row {row}: radio {frame['radio'].iloc[row]!r} is unknown")
    for target, source in (("mcc", "mcc"), ("mnc", "net"), ("lon", "lon"), ("lat", "lat")):
        out[target] = pd.to_numeric(frame[source], errors="coerce")
    bad = ~out["lat"].between(C.LAT_MIN, C.LAT_MAX) | ~out["lon"].between(C.LON_MIN, C.LON_MAX)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"sites: row {row}: lon/lat missing or out of range")
    out["mcc"] = out["mcc"].astype(int)
    out["mnc"] = out["mnc"].astype(int)
    out["carrier"] = carrier_names(out["mcc"], out["mnc"])

    def number(column: str) -> pd.Series:
        if column not in frame.columns:
            return pd.Series(np.nan, index=frame.index)
        return pd.to_numeric(frame[column], errors="coerce")

    out["cell_id"] = number("cell").astype("Int64")
    out["area_code"] = number("area").astype("Int64")
    out["height_m"] = number("height_m").fillna(C.DEFAULT_SITE_HEIGHT_M)
    out["azimuth_deg"] = number("azimuth_deg") % 360  # NaN stays NaN: omni
    out["beamwidth_deg"] = number("beamwidth_deg").fillna(C.DEFAULT_BEAMWIDTH_DEG)
    out["eirp_dbm"] = number("eirp_dbm").fillna(out["radio"].map(C.DEFAULT_EIRP_DBM))
    out["freq_mhz"] = number("freq_mhz").fillna(out["radio"].map(C.DEFAULT_FREQ_MHZ))
    out["range_m"] = number("range").clip(upper=C.MAX_CELL_RANGE_M).fillna(C.MAX_CELL_RANGE_M)
    created = number("created")
    out["created"] = pd.to_datetime(created, unit="s", utc=True)
    position = (
        out["carrier"]
        + ":"
        + out["lon"].round(5).astype(str)
        + ","
        + out["lat"].round(5).astype(str)
    )
    given = (
        frame["site_id"].astype("string")
        if "site_id" in frame
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    out["site_id"] = given.fillna(position)
    names = (
        frame["name"].astype("string")
        if "name" in frame
        else pd.Series(pd.NA, index=frame.index, dtype="string")
    )
    out["name"] = names.fillna(out["site_id"])
    columns = [
        "site_id",
        "name",
        "carrier",
        "mcc",
        "mnc",
        "radio",
        "cell_id",
        "area_code",
        "lon",
        "lat",
        "height_m",
        "azimuth_deg",
        "beamwidth_deg",
        "eirp_dbm",
        "freq_mhz",
        "range_m",
        "created",
    ]
    return out[columns].reset_index(drop=True)


def read_sites(path: str | Path) -> pd.DataFrame:
    """Read a site CSV (OpenCelliD columns, optional extras) into the site table.

    Raises
    ------
    InvalidInputError
        When the file is not a parseable CSV or a row is invalid.
    """
    try:
        frame = pd.read_csv(path, dtype={"site_id": "string", "name": "string"})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InvalidInputError(f"{path}: not a readable sites CSV ({exc})") from exc
    return normalise_sites(frame)
