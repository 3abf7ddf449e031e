"""Carrier sites and cells: OpenCelliD ``cell_towers.csv`` plus lomsong's extras.

A plain OpenCelliD export is valid input: the radio parameters it lacks
(height, EIRP, azimuth, beamwidth, frequency) are filled with the documented
defaults in :mod:`geodata.constants`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.errors import InvalidInputError, MissingColumnError
from geodata.readings import Rejection, count_by_reason, nothing_valid_error
from geodata.text import nfc, unencodable_mask

logger = logging.getLogger(__name__)

#: OpenCelliD's cell_towers.csv header, in order.
OPENCELLID_COLUMNS: tuple[str, ...] = (
    "radio",
    "mcc",
    "net",
    "area",
    "cell",
    "unit",
    "lon",
    "lat",
    "range",
    "samples",
    "changeable",
    "created",
    "updated",
    "averageSignal",
)
#: lomsong's optional extra site columns.
SITE_EXTRA_COLUMNS: tuple[str, ...] = (
    "site_id",
    "name",
    "height_m",
    "azimuth_deg",
    "beamwidth_deg",
    "eirp_dbm",
    "freq_mhz",
)

#: Columns of a normalised site table, one row per cell (and of the service's ``sites``).
SITE_COLUMNS: tuple[str, ...] = (
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
)

#: Columns a site row must carry.
SITE_REQUIRED: tuple[str, ...] = ("radio", "mcc", "net", "lon", "lat")

_RADIO = {"GSM": "gsm", "UMTS": "umts", "CDMA": "cdma", "LTE": "lte", "NR": "nr"}
# Radios the analysis models; OpenCelliD also lists CDMA, which it does not.
_ANALYSED_RADIO = {"GSM": "gsm", "UMTS": "umts", "WCDMA": "umts", "LTE": "lte", "NR": "nr"}


def carrier_name(mcc: int, mnc: int) -> str:
    """Return the carrier's brand for MCC 452 codes, else ``"MCC-MNC"``.

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
    return out[list(SITE_COLUMNS)].reset_index(drop=True)


def read_sites(path: str | Path) -> pd.DataFrame:
    """Return the valid cells of a site file, as a plain site table (for notebooks and tests).

    A thin wrapper of :func:`geodata.formats.read_sites`, the one site reader:
    refused rows are left out and logged (count per reason); use that reader
    to see them. Columns are :func:`normalise_sites`' columns, index from 0.

    Raises
    ------
    InvalidInputError
        When the file is unreadable, or no valid cell is left.
    """
    from geodata.formats.cell_towers import read_sites as read_site_file  # imports this module

    result = read_site_file(path)
    if result.valid.empty:
        raise nothing_valid_error("sites", path, result.rejected)
    if result.rejected:
        logger.warning(
            "%s: %d site rows refused: %s", path, len(result.rejected), result.rejected_by_reason
        )
    return result.valid.drop(columns="cell_key").reset_index(drop=True)


@dataclass
class ValidatedSites:
    """The outcome of validating a site table: the good cells and the refused rows.

    ``valid`` has :func:`normalise_sites` columns plus ``cell_key`` (see
    :func:`cell_keys`); its index keeps the caller's row labels.
    """

    valid: pd.DataFrame
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        """Count of rejections per ``field: reason``."""
        return count_by_reason(self.rejected)


def cell_keys(sites: pd.DataFrame) -> pd.Series:
    """Each cell's identity: what an import adds or updates by.

    3GPP's global cell identity: MCC, MNC, LAC and cell id for GSM and UMTS
    (CGI, TS 23.003 §4.3.1), MCC, MNC and the 28-bit ECI or 36-bit NCI for LTE
    and NR (ECGI/NCGI, TS 23.003 §19.6 and §19.6A), so a tracking area
    re-planned does not make a second LTE cell. A row without a cell id is
    identified by its carrier, radio, site and azimuth.

    Examples
    --------
    >>> frame = pd.DataFrame({"radio": ["lte", "gsm", "lte"], "mcc": [452] * 3,
    ...     "mnc": [4, 2, 4], "area_code": [101, 7, 101], "cell_id": [1001, 55, None],
    ...     "site_id": ["a", "b", "c"], "azimuth_deg": [None, None, 120.0]})
    >>> cell_keys(frame).tolist()
    ['lte:452:4::1001', 'gsm:452:2:7:55', 'lte:452:4:site=c:az=120.0']
    """
    radio = sites["radio"].astype(str)

    def integers(column: str) -> pd.Series:
        values = pd.to_numeric(sites[column], errors="coerce").astype("Int64").astype("string")
        return values.fillna("")

    plmn = radio + ":" + integers("mcc") + ":" + integers("mnc") + ":"
    area = integers("area_code").where(radio.isin(["gsm", "umts"]).to_numpy(), "")
    cell = integers("cell_id")
    azimuth = pd.to_numeric(sites["azimuth_deg"], errors="coerce").round(1)
    facing = azimuth.astype("string").fillna("omni")
    by_site = plmn + "site=" + sites["site_id"].astype("string").fillna("") + ":az=" + facing
    keys = (plmn + area + ":" + cell).where(cell != "", by_site)
    return pd.Series(keys.to_numpy(dtype=object), index=sites.index, name="cell_key")


class _RowFaults:
    """The first fault of each row: the field and why (later checks skip it)."""

    def __init__(self, size: int) -> None:
        self.field = np.full(size, "", dtype=object)
        self.reason = np.full(size, "", dtype=object)

    def reject(self, mask: pd.Series | np.ndarray, name: str, why: str) -> None:
        # A nullable comparison is NA where its input is missing: not a hit.
        flags = mask.fillna(False) if isinstance(mask, pd.Series) else mask
        hit = np.asarray(flags, dtype=bool) & (self.field == "")
        self.field[hit] = name
        self.reason[hit] = why

    @property
    def bad(self) -> np.ndarray:
        return np.asarray(self.field != "", dtype=bool)

    def rejections(self, labels: np.ndarray) -> list[Rejection]:
        bad = self.bad
        return [
            Rejection(int(i), str(f), str(r))
            for i, f, r in zip(labels[bad], self.field[bad], self.reason[bad], strict=True)
        ]


def _floats(values: pd.Series) -> pd.Series:
    """``values`` as float64, NaN where not a number; integers past 64 bits become ±inf."""
    try:
        return pd.to_numeric(values, errors="coerce").astype("float64")
    except OverflowError:  # pandas' integer path gives up on a 400-digit cell id
        return pd.Series([_float(v) for v in values], index=values.index, dtype="float64")


def _float(value: object) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        return math.nan


def _text(values: pd.Series) -> pd.Series:
    """Strip text and normalise it to NFC; empty becomes missing."""
    text = values.astype("string").str.strip()
    text = text.where(text != "")
    return text.map(nfc, na_action="ignore").astype("string")


def validate_sites(frame: pd.DataFrame, *, extras: bool = True) -> ValidatedSites:
    """Split a site table into valid cells and per-row rejections.

    The table has OpenCelliD's ``cell_towers.csv`` columns and, with
    ``extras``, lomsong's optional ones (``site_id``, ``name``, ``height_m``,
    ``azimuth_deg``, ``beamwidth_deg``, ``eirp_dbm``, ``freq_mhz``). Each row
    is checked against :mod:`geodata.constants`; the first failing check
    names its rejection. A row repeating an earlier row's cell (same
    :func:`cell_keys`) is refused, so one file never says two things about one
    cell. Valid rows come back through :func:`normalise_sites`, names in NFC.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw rows; an integer index (line numbers) names the rows in rejections.
    extras : bool, keyword-only
        Read lomsong's extra columns; ``False`` reads a plain OpenCelliD file
        and ignores them.

    Returns
    -------
    ValidatedSites

    Raises
    ------
    MissingColumnError
        When a required column (:data:`SITE_REQUIRED`) is absent from the table.

    Examples
    --------
    >>> rows = pd.DataFrame({"radio": ["LTE", "CDMA"], "mcc": [452, 452], "net": [4, 4],
    ...     "lon": [105.49, 105.5], "lat": [22.56, 95.0]}, index=[2, 3])
    >>> result = validate_sites(rows)
    >>> result.valid["carrier"].tolist()
    ['Viettel']
    >>> [(r.index, r.field) for r in result.rejected]
    [(3, 'radio')]
    """
    missing = [c for c in SITE_REQUIRED if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"sites: missing required column(s): {', '.join(missing)}")
    labels = (
        frame.index.to_numpy()
        if pd.api.types.is_integer_dtype(frame.index)
        else np.arange(len(frame))
    )
    optional = SITE_EXTRA_COLUMNS if extras else ()
    raw = frame.reindex(columns=[*OPENCELLID_COLUMNS, *optional]).reset_index(drop=True)
    faults = _RowFaults(len(raw))
    for column in raw.columns:  # text UTF-8 cannot hold (a lone surrogate): refused, blanked
        unencodable = unencodable_mask(raw[column])
        if unencodable.any():
            faults.reject(unencodable, column, "not valid Unicode text (a lone surrogate)")
            raw[column] = raw[column].mask(unencodable)

    radio_text = _text(raw["radio"]).str.upper()
    radio = radio_text.map(_ANALYSED_RADIO).astype(object)
    faults.reject(radio_text.isna(), "radio", "required field is missing")
    faults.reject(
        radio_text == "CDMA", "radio", "CDMA is not analysed; expected GSM, UMTS, LTE or NR"
    )
    faults.reject(radio.isna(), "radio", "unknown radio, expected GSM, UMTS, LTE or NR")

    def number(column: str, *, required: bool = False, integer: bool = False) -> pd.Series:
        given = _text(raw[column]).notna().to_numpy()
        values = _floats(raw[column])
        if required:
            faults.reject(~given, column, "required field is missing")
        faults.reject(given & values.isna().to_numpy(), column, "not a number")
        faults.reject(given & ~np.isfinite(values.to_numpy()), column, "not a finite number")
        if integer:
            faults.reject(given & (values % 1 != 0).to_numpy(), column, "not an integer")
        return values

    def within(column: str, values: pd.Series, low: float, high: float) -> None:
        outside = values.notna() & ~values.between(low, high)
        faults.reject(outside, column, f"outside {low:g}..{high:g}")

    mcc = number("mcc", required=True, integer=True)
    within("mcc", mcc, C.MCC_MIN, C.MCC_MAX)
    mnc = number("net", required=True, integer=True)
    within("net", mnc, C.MNC_MIN, C.MNC_MAX)
    lon = number("lon", required=True)
    within("lon", lon, C.LON_MIN, C.LON_MAX)
    lat = number("lat", required=True)
    within("lat", lat, C.LAT_MIN, C.LAT_MAX)
    is_nr = (radio == "nr").to_numpy(dtype=bool)
    area = number("area", integer=True)
    area_max = np.where(is_nr, C.NR_TAC_MAX, C.LAC_MAX)
    area_bounds = f"outside {C.LAC_MIN}..{C.LAC_MAX} (NR: ..{C.NR_TAC_MAX})"
    faults.reject(area.notna() & ((area < C.LAC_MIN) | (area > area_max)), "area", area_bounds)
    cell = number("cell", integer=True)
    cell_max = np.where(is_nr, C.NR_CELL_ID_MAX, C.CELL_ID_MAX)
    cell_bounds = f"outside {C.CELL_ID_MIN}..{C.CELL_ID_MAX} (NR: ..{C.NR_CELL_ID_MAX})"
    faults.reject(cell.notna() & ((cell < C.CELL_ID_MIN) | (cell > cell_max)), "cell", cell_bounds)
    within("range", number("range"), 0, np.inf)
    within("created", number("created"), 0, C.EPOCH_S_MAX)
    if extras:
        within("height_m", number("height_m"), 0, C.SITE_HEIGHT_MAX_M)
        number("azimuth_deg")
        beamwidth = number("beamwidth_deg")
        narrow = beamwidth.notna() & ~((beamwidth > 0) & (beamwidth <= 360))
        faults.reject(narrow, "beamwidth_deg", "outside 0..360 (above 0)")
        within("eirp_dbm", number("eirp_dbm"), C.EIRP_DBM_MIN, C.EIRP_DBM_MAX)
        within("freq_mhz", number("freq_mhz"), C.FREQ_MHZ_MIN, C.FREQ_MHZ_MAX)
        for column in ("site_id", "name"):
            raw[column] = _text(raw[column])

    good = ~faults.bad
    sites = normalise_sites(raw.loc[good].assign(radio=radio[good].str.upper()))
    sites.index = pd.Index(labels[good])
    sites["cell_key"] = cell_keys(sites)
    rejected = faults.rejections(labels)
    sites, repeated = drop_repeated_cells(sites)
    return ValidatedSites(valid=sites, rejected=sorted(rejected + repeated, key=lambda r: r.index))


def drop_repeated_cells(sites: pd.DataFrame) -> tuple[pd.DataFrame, list[Rejection]]:
    """Keep the first row of each ``cell_key``; refuse the rows that repeat it.

    ``sites`` is :attr:`ValidatedSites.valid` (index = row labels).
    """
    repeated = sites["cell_key"].duplicated(keep="first").to_numpy()
    rejections = [
        Rejection(int(i), "cell", "the same cell (radio, mcc, net, area, cell) as an earlier row")
        for i in sites.index[repeated]
    ]
    return sites.loc[~repeated], rejections


# --- Candidates and hypothetical sites -----------------------------------------
# A candidate is a site that could be built (coverage.candidates), a planner's
# uploaded proposal, or any hypothetical site of a what-if scenario: one row
# each, turned into cells like the real ones by :func:`hypothetical_cells`.

#: Columns of a candidate table, one row per candidate site.
CANDIDATE_COLUMNS: tuple[str, ...] = (
    "candidate_id",
    "kind",
    "lon",
    "lat",
    "height_m",
    "carrier",
    "radio",
    "cost",
    "host_site_id",
)
#: What a candidate is: another carrier's antennas on an existing mast, a new
#: mast the terrain suggests, one a planner uploaded, or a what-if site.
CANDIDATE_KINDS: tuple[str, ...] = ("colocation", "new_site", "uploaded", "hypothetical")

# A site of a carrier whose own sites do not say otherwise has this many
# sectors (3GPP TR 36.814's three-sector macro site).
DEFAULT_SECTORS = 3


def carrier_codes(carrier: str) -> tuple[int, int]:
    """Return ``(mcc, mnc)`` for a carrier's brand or ``"MCC-MNC"`` name.

    The inverse of :func:`carrier_name`; brands compare without case.

    >>> carrier_codes("Viettel"), carrier_codes("vinaphone"), carrier_codes("208-01")
    ((452, 4), (452, 2), (208, 1))

    Raises
    ------
    ValueError
        When the name is neither a known brand nor ``MCC-MNC``.
    """
    wanted = str(carrier).strip().casefold()
    for mnc, brand in C.CARRIERS.items():
        if brand.casefold() == wanted:
            return C.MCC_VIETNAM, mnc
    mcc, dash, mnc_text = wanted.partition("-")
    if dash and mcc.isdigit() and mnc_text.isdigit():
        return int(mcc), int(mnc_text)
    raise ValueError(f"unknown carrier {carrier!r}")


def usual_antennas(sites: pd.DataFrame) -> pd.DataFrame:
    """Each carrier's usual antennas and power per radio, from its own cells.

    The medians over the carrier's sites of that radio: EIRP, frequency,
    beamwidth and sectors per site (cells of the radio on one site).

    Returns
    -------
    DataFrame
        Indexed by ``(carrier, radio)`` with ``eirp_dbm``, ``freq_mhz``,
        ``beamwidth_deg``, ``sectors`` and ``sites`` (how many sites it
        comes from).
    """
    columns = ["eirp_dbm", "freq_mhz", "beamwidth_deg", "sectors", "sites"]
    if len(sites) == 0:
        index = pd.MultiIndex.from_arrays([[], []], names=["carrier", "radio"])
        return pd.DataFrame({c: pd.Series(dtype=float) for c in columns}, index=index)
    cells = sites.assign(
        carrier=sites["carrier"].astype(object), radio=sites["radio"].astype(object)
    )
    per_site = cells.groupby(["carrier", "radio", "site_id"], sort=True).agg(
        eirp_dbm=("eirp_dbm", "median"),
        freq_mhz=("freq_mhz", "median"),
        beamwidth_deg=("beamwidth_deg", "median"),
        sectors=("site_id", "size"),
    )
    usual = per_site.groupby(level=["carrier", "radio"]).median()
    usual["sectors"] = np.rint(usual["sectors"]).astype(int)
    usual["sites"] = per_site.groupby(level=["carrier", "radio"]).size()
    return usual[columns]


def main_radio(sites: pd.DataFrame, carrier: str) -> str:
    """Return the radio most of ``carrier``'s sites carry (LTE when it has none).

    >>> frame = pd.DataFrame({"carrier": ["A", "A", "A"], "radio": ["lte", "umts", "umts"],
    ...                       "site_id": ["s1", "s1", "s2"]})
    >>> main_radio(frame, "A"), main_radio(frame, "B")
    ('umts', 'lte')
    """
    mine = sites.loc[sites["carrier"].astype(object) == carrier]
    if mine.empty:
        return "lte"
    counts = mine.drop_duplicates(["site_id", "radio"])["radio"].astype(object).value_counts()
    return str(counts.sort_index().idxmax())


def hypothetical_cells(
    candidates: pd.DataFrame, sites: pd.DataFrame, *, created: pd.Timestamp
) -> pd.DataFrame:
    """Turn candidate sites into cells, in the columns of :func:`normalise_sites`.

    Each candidate gets its carrier's usual antennas and power for its
    radio (:func:`usual_antennas`; the defaults of :mod:`geodata.constants`
    where the carrier has no such cells): that many sectors, evenly spaced
    from north, at the candidate's height. ``site_id`` is the candidate's
    id, so a prediction names the candidate that serves each cell.

    Parameters
    ----------
    candidates : DataFrame
        :data:`CANDIDATE_COLUMNS` (``cost``, ``kind`` and ``host_site_id``
        may be absent; ``radio`` may be missing: the carrier's main radio).
    sites : DataFrame
        The real sites, whose cells say what each carrier usually builds.
    created : Timestamp, keyword-only
        When the candidates start, for the analysis: readings taken before
        it, where a candidate could serve, no longer veto it
        (:func:`coverage.stats.retired_readings`). A what-if dates its
        sites now.

    Returns
    -------
    DataFrame
        One row per sector.

    Raises
    ------
    ValueError
        When a candidate names an unknown carrier or radio.
    """
    usual = usual_antennas(sites)
    stamp = pd.Timestamp(created)
    stamp = stamp if stamp.tzinfo else stamp.tz_localize("UTC")
    rows: list[dict[str, object]] = []
    # One iteration per candidate site (hundreds to thousands), not per reading.
    for candidate in candidates.itertuples(index=False):
        mcc, mnc = carrier_codes(str(candidate.carrier))
        carrier = carrier_name(mcc, mnc)
        radio = getattr(candidate, "radio", None)
        if radio is None or pd.isna(radio):
            radio = main_radio(sites, carrier)
        radio = str(radio).lower()
        if radio not in C.DEFAULT_EIRP_DBM:
            raise ValueError(f"candidate {candidate.candidate_id}: unknown radio {radio!r}")
        key = (carrier, radio)
        known = key in usual.index
        eirp = float(usual.at[key, "eirp_dbm"]) if known else C.DEFAULT_EIRP_DBM[radio]
        freq = float(usual.at[key, "freq_mhz"]) if known else C.DEFAULT_FREQ_MHZ[radio]
        beam = float(usual.at[key, "beamwidth_deg"]) if known else C.DEFAULT_BEAMWIDTH_DEG
        sectors = int(usual.at[key, "sectors"]) if known else DEFAULT_SECTORS
        height = getattr(candidate, "height_m", np.nan)
        height = C.DEFAULT_SITE_HEIGHT_M if pd.isna(height) else float(height)
        for sector in range(max(sectors, 1)):
            rows.append(
                {
                    "site_id": str(candidate.candidate_id),
                    "name": str(candidate.candidate_id),
                    "carrier": carrier,
                    "mcc": mcc,
                    "mnc": mnc,
                    "radio": radio,
                    "cell_id": pd.NA,
                    "area_code": pd.NA,
                    "lon": float(candidate.lon),
                    "lat": float(candidate.lat),
                    "height_m": height,
                    "azimuth_deg": 360.0 * sector / sectors if sectors > 1 else np.nan,
                    "beamwidth_deg": beam,
                    "eirp_dbm": eirp,
                    "freq_mhz": freq,
                    "range_m": float(C.MAX_CELL_RANGE_M),
                    "created": stamp,
                }
            )
    frame = pd.DataFrame(rows, columns=list(SITE_COLUMNS))
    if frame.empty:
        return sites.iloc[0:0].copy()
    frame["cell_id"] = frame["cell_id"].astype("Int64")
    frame["area_code"] = frame["area_code"].astype("Int64")
    for column in ("site_id", "name", "carrier", "radio"):
        frame[column] = frame[column].astype("string")
    return frame
