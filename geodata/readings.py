"""Signal readings: the canonical table, lenient normalisation, strict validation.

A reading is one observation by one device at one place and time (see
DESIGN.md). Every function here works on whole columns: a batch of a million
readings is validated without a Python loop over rows.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from geodata import constants as C
from geodata.errors import InvalidInputError, MissingColumnError
from geodata.regions import in_mcc_country, known_network, known_networks, network_codes

logger = logging.getLogger(__name__)

#: Columns of the canonical readings table, in order.
READING_COLUMNS: tuple[str, ...] = (
    "time",
    "lat",
    "lon",
    "accuracy_m",
    "mcc",
    "mnc",
    "radio",
    "signal_dbm",
    "no_service",
    "cell_id",
    "area_code",
    "pci",
    "rsrq_db",
    "sinr_db",
    "device",
    "source",
)

#: Columns a reading must carry (``signal_dbm`` only when there is service).
REQUIRED_COLUMNS: tuple[str, ...] = ("time", "lat", "lon", "mcc", "mnc", "radio", "no_service")

# Names clients use for the four radios; normalised to lomsong's own.
_RADIO_ALIASES = {
    "gsm": "gsm",
    "2g": "gsm",
    "edge": "gsm",
    "gprs": "gsm",
    "umts": "umts",
    "wcdma": "umts",
    "3g": "umts",
    "hspa": "umts",
    "hspa+": "umts",
    "lte": "lte",
    "4g": "lte",
    "nr": "nr",
    "5g": "nr",
}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


@dataclass(frozen=True)
class Rejection:
    """One refused row: its index in the batch, the field at fault and why.

    ``index`` counts from 1 everywhere: a file's line (the header is line 1,
    so the first data row is 2; a spreadsheet's row as Excel shows it), or a
    JSON item's position in its list (the first object is 1).
    """

    index: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        """Return the rejection as the API lists it (the reason names its field)."""
        return {"index": self.index, "field": self.field, "reason": f"{self.field}: {self.reason}"}


def count_by_reason(rejected: Iterable[Rejection]) -> dict[str, int]:
    """Rejections counted per ``field: reason``, in the order each reason first appears.

    >>> count_by_reason([Rejection(3, "lat", "not a number"), Rejection(5, "lat", "not a number")])
    {'lat: not a number': 2}
    """
    return dict(Counter(f"{r.field}: {r.reason}" for r in rejected))


def nothing_valid_error(what: str, source: object, rejected: list[Rejection]) -> InvalidInputError:
    """Return the error of a whole-file reader with no valid row: how many were refused, and why.

    >>> str(nothing_valid_error("sites", "s.csv", [Rejection(2, "lat", "not a number")]))
    's.csv: no valid sites (1 refused: lat: not a number ×1)'
    """
    reasons = sorted(count_by_reason(rejected).items(), key=lambda item: -item[1])
    shown = "; ".join(f"{reason} ×{count}" for reason, count in reasons[:3])
    more = f"; and {len(reasons) - 3} more reasons" if len(reasons) > 3 else ""
    detail = f" ({len(rejected)} refused: {shown}{more})" if rejected else " (the file has none)"
    return InvalidInputError(f"{source}: no valid {what}{detail}")


@dataclass
class ValidatedReadings:
    """The outcome of validating a batch: the good rows and the refused ones."""

    valid: pd.DataFrame
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        """Count of rejections per ``field: reason``."""
        return count_by_reason(self.rejected)


def empty_readings() -> pd.DataFrame:
    """Return an empty canonical readings table with the right dtypes."""
    return normalise_readings(pd.DataFrame({c: [] for c in REQUIRED_COLUMNS}))


def _per_distinct(
    values: pd.Series, func: Callable[[Any], object], missing: object = None
) -> np.ndarray:
    """Apply ``func`` once per distinct value; ``missing`` where the value is missing.

    A column of 10⁶ readings holds a handful of spellings.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([*(func(u) for u in uniques), missing], dtype=object)
    spread: np.ndarray = mapped[codes]
    return spread


def _to_bool(values: pd.Series) -> np.ndarray:
    """True/false spellings as 1.0/0.0, anything else NaN."""
    if values.dtype == bool:
        flags: np.ndarray = values.to_numpy(dtype="float64")
        return flags

    def parse(value: object) -> object:
        text = str(value).strip().lower()
        return 1.0 if text in _TRUE else 0.0 if text in _FALSE else np.nan

    return _per_distinct(values, parse).astype("float64")  # None (missing) -> NaN


def _to_number(values: pd.Series) -> np.ndarray:
    """Numbers as float64; text that does not parse, and missing values, as NaN."""
    if not pd.api.types.is_numeric_dtype(values.dtype):
        values = pd.to_numeric(values, errors="coerce")
    numbers: np.ndarray = values.to_numpy(dtype="float64", na_value=np.nan)
    return numbers


#: Radio names by code (code -1, unknown, is None).
_RADIO_NAMES = np.array([*C.RADIOS, None], dtype=object)

_SENTINELS = np.array(sorted(float(v) for v in C.ANDROID_UNAVAILABLE))


def _normalised_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """:func:`normalise_readings`' columns as arrays, before they become a frame.

    Works column by column on numpy arrays: a 1,000-reading JSON batch costs
    a few milliseconds, not a few hundred pandas operations.
    """
    n = len(frame)
    given = dict(frame.items())  # each column looked up once: pandas' lookups add up

    def column(name: str) -> pd.Series:
        if name in given:
            return given[name]
        return pd.Series(np.full(n, None, dtype=object), index=frame.index)

    def numbers(name: str) -> np.ndarray:
        if name not in given:
            return np.full(n, np.nan)
        return _to_number(given[name])

    out: dict[str, Any] = {}
    # A tz-aware DatetimeArray: the unit pandas infers is kept, and with it
    # every content key stored before.
    out["time"] = pd.to_datetime(column("time"), utc=True, errors="coerce", format="ISO8601").array
    for name in ("lat", "lon", "accuracy_m", "signal_dbm", "rsrq_db", "sinr_db"):
        out[name] = numbers(name)
    for name in ("mcc", "mnc", "cell_id", "area_code", "pci"):
        values = numbers(name)
        # Android's "unavailable" sentinels mean unknown, not an error.
        out[name] = np.where(np.isin(values, _SENTINELS), np.nan, values)
    # Radios as codes into C.RADIOS (-1 unknown or missing), one lookup per spelling.
    radio_index = {radio: code for code, radio in enumerate(C.RADIOS)}
    out["radio_code"] = _per_distinct(
        column("radio"),
        lambda value: radio_index.get(_RADIO_ALIASES.get(str(value).strip().lower(), ""), -1),
        missing=-1,
    ).astype(np.int8)
    out["radio"] = _RADIO_NAMES[out["radio_code"]]
    out["no_service"] = _to_bool(column("no_service"))
    for name in ("device", "source"):
        if name not in given:
            out[name] = np.full(n, None)
        elif isinstance(given[name].dtype, pd.StringDtype):
            # Kept in Arrow: no round trip through a million Python strings.
            out[name] = given[name].array
        else:
            out[name] = given[name].to_numpy(dtype=object, na_value=None)
    return out


def normalise_readings(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce a client's table to canonical columns and dtypes, leniently.

    Radio names are lower-cased and aliased (``WCDMA`` -> ``umts``, ``5G`` ->
    ``nr``); booleans accept true/false/1/0/yes/no; numbers that do not parse
    become NaN (and are rejected later by :func:`validate_readings`, which
    knows the field). Missing optional columns are added empty.
    """
    columns = _normalised_columns(frame)
    out = pd.DataFrame({c: columns[c] for c in READING_COLUMNS}, index=frame.index)
    out["no_service"] = pd.array(
        np.where(np.isnan(columns["no_service"]), None, columns["no_service"] == 1.0),
        dtype="boolean",
    )
    return out


def validate_readings(
    frame: pd.DataFrame,
    *,
    now: pd.Timestamp | None = None,
    time_floor: pd.Timestamp | str = C.TIME_FLOOR_ISO,
) -> ValidatedReadings:
    """Split a batch into valid canonical readings and per-row rejections.

    Each row is checked against the bounds in :mod:`geodata.constants`; the
    first failing check names the row's rejection. Valid rows come back
    normalised, with a ``content_key`` that identifies the same observation
    across re-uploads.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows in the native reading columns (extra columns are ignored). An
        integer index (row or line numbers) names the rows in rejections.
    now : pandas.Timestamp, optional
        The current time, for the "not in the future" check (UTC now by default).
    time_floor : Timestamp or str
        Readings before this instant are refused.

    Returns
    -------
    ValidatedReadings

    Raises
    ------
    MissingColumnError
        When a required column is absent from the whole table.

    Examples
    --------
    >>> batch = pd.DataFrame({"time": ["2026-01-05T03:00:00Z", "2026-01-05T03:00:00Z"],
    ...     "lat": [22.57, 95.0], "lon": [105.49, 105.49], "mcc": [452, 452],
    ...     "mnc": [2, 2], "radio": ["LTE", "lte"], "signal_dbm": [-101, -101],
    ...     "no_service": [False, False]})
    >>> result = validate_readings(batch, now=pd.Timestamp("2026-02-01", tz="UTC"))
    >>> len(result.valid), result.rejected[0].field, result.rejected[0].index
    (1, 'lat', 1)
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"missing required column(s): {', '.join(missing)}")
    # Rejections name rows by the caller's index labels (a row number, a line
    # number): integer labels are kept, anything else becomes the position.
    labels = frame.index.to_numpy() if pd.api.types.is_integer_dtype(frame.index) else None
    frame = frame.reset_index(drop=True)
    data = _normalised_columns(frame)
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    floor = pd.Timestamp(time_floor)
    floor = floor if floor.tzinfo else floor.tz_localize("UTC")

    # Each row's first failing check, as an index into ``checks`` (0: none yet).
    n = len(frame)
    fault = np.zeros(n, dtype=np.int16)
    checks: list[tuple[str, str]] = [("", "")]

    def reject(mask: np.ndarray, name: str, why: str) -> None:
        hit = np.asarray(mask, dtype=bool) & (fault == 0)
        if hit.any():
            checks.append((name, why))
            fault[hit] = len(checks) - 1

    given = dict(frame.items())

    def absent(name: str) -> np.ndarray:
        """Where the client sent nothing at all for ``name``."""
        if name not in given:
            return np.ones(n, dtype=bool)
        return np.asarray(pd.isna(given[name].array), dtype=bool)

    def outside(values: np.ndarray, low: float, high: float | np.ndarray) -> np.ndarray:
        """Not within ``low..high`` (NaN is outside)."""
        with np.errstate(invalid="ignore"):
            return ~((values >= low) & (values <= high))

    for column in REQUIRED_COLUMNS:
        reject(absent(column), column, "required field is missing")
    time = data["time"]
    reject(np.asarray(time.isna()), "time", "not an ISO 8601 timestamp")
    future = now + pd.Timedelta(seconds=C.FUTURE_TOLERANCE_S)
    reject(np.asarray(time > future), "time", "in the future")
    reject(np.asarray(time < floor), "time", f"before {floor.date().isoformat()}")
    lat, lon = data["lat"], data["lon"]
    reject(np.isnan(lat), "lat", "not a number")
    reject(outside(lat, C.LAT_MIN, C.LAT_MAX), "lat", f"outside {C.LAT_MIN:g}..{C.LAT_MAX:g}")
    reject(np.isnan(lon), "lon", "not a number")
    reject(outside(lon, C.LON_MIN, C.LON_MAX), "lon", f"outside {C.LON_MIN:g}..{C.LON_MAX:g}")
    accuracy = data["accuracy_m"]
    with np.errstate(invalid="ignore"):
        reject(accuracy < 0, "accuracy_m", "negative")
        reject(accuracy > C.ACCURACY_MAX_M, "accuracy_m", f"worse than {C.ACCURACY_MAX_M:g} m")
    reject(outside(data["mcc"], C.MCC_MIN, C.MCC_MAX), "mcc", f"outside {C.MCC_MIN}..{C.MCC_MAX}")
    reject(outside(data["mnc"], C.MNC_MIN, C.MNC_MAX), "mnc", f"outside {C.MNC_MIN}..{C.MNC_MAX}")
    _reject_unknown_networks(reject, data["mcc"], data["mnc"], fault == 0)
    radio_code = data["radio_code"]
    known_radio = radio_code >= 0
    reject(~known_radio, "radio", f"unknown radio, expected one of {', '.join(C.RADIOS)}")
    reject(np.isnan(data["no_service"]), "no_service", "not true or false")

    no_service = data["no_service"] == 1.0
    signal = data["signal_dbm"]
    reject(~no_service & absent("signal_dbm"), "signal_dbm", "required when no_service is false")
    reject(~no_service & np.isnan(signal), "signal_dbm", "not a number")
    ranges = np.array([C.SIGNAL_RANGE_DBM[r] for r in C.RADIOS] + [(np.nan, np.nan)])
    with np.errstate(invalid="ignore"):
        beyond = (signal < ranges[radio_code, 0]) | (signal > ranges[radio_code, 1])
    out_of_range = ~no_service & known_radio & beyond
    for code, radio in enumerate(C.RADIOS):
        lo, hi = C.SIGNAL_RANGE_DBM[radio]
        reject(
            out_of_range & (radio_code == code),
            "signal_dbm",
            f"outside {lo:g}..{hi:g} dBm for {radio}",
        )

    for code, alpha2 in C.MCC_COUNTRIES.items():
        rows = (data["mcc"] == code) & (fault == 0)
        if rows.any():
            away = np.zeros(n, dtype=bool)
            away[rows] = ~in_mcc_country(data["mcc"][rows], lon[rows], lat[rows])
            country = C.COUNTRY_NAMES[alpha2]
            reject(away, "mcc", f"{code} is {country}'s ({alpha2}); the position lies outside it")

    cell_id, area, pci = data["cell_id"], data["area_code"], data["pci"]
    # NR cell identities are 36 bits, the others fit in LTE's 28.
    is_nr = radio_code == C.RADIOS.index("nr")
    reject(
        ~np.isnan(cell_id)
        & outside(cell_id, C.CELL_ID_MIN, np.where(is_nr, C.NR_CELL_ID_MAX, C.CELL_ID_MAX)),
        "cell_id",
        f"outside {C.CELL_ID_MIN}..{C.CELL_ID_MAX} (NR: ..{C.NR_CELL_ID_MAX})",
    )
    reject(
        ~np.isnan(area) & outside(area, C.LAC_MIN, C.LAC_MAX),
        "area_code",
        f"outside {C.LAC_MIN}..{C.LAC_MAX}",
    )
    pci_max = np.where(is_nr, C.PCI_MAX_NR, C.PCI_MAX_LTE)
    reject(~np.isnan(pci) & outside(pci, 0, pci_max), "pci", "outside 0..503 (LTE) / 0..1007 (NR)")

    bad = fault != 0
    rejected = [
        Rejection(int(labels[i]) if labels is not None else int(i), *checks[fault[i]])
        for i in np.flatnonzero(bad).tolist()
    ]
    keep = ~bad
    kept_no_service = no_service[keep]
    valid = pd.DataFrame(
        {
            "time": time[keep],
            **{c: data[c][keep] for c in ("lat", "lon", "accuracy_m")},
            "mcc": data["mcc"][keep].astype("int64"),
            "mnc": data["mnc"][keep].astype("int64"),
            "radio": _radio_names(radio_code[keep]),
            "signal_dbm": np.where(kept_no_service, np.nan, signal[keep]),
            "no_service": kept_no_service,
            **{c: pd.array(data[c][keep], dtype="Int64") for c in ("cell_id", "area_code", "pci")},
            **{c: data[c][keep] for c in ("rsrq_db", "sinr_db", "device", "source")},
        },
        index=np.flatnonzero(keep),
    )
    valid["content_key"] = content_keys(valid)
    return ValidatedReadings(valid=valid, rejected=rejected)


#: Unknown networks named one by one in rejections; the rest share one reason.
_NAMED_UNKNOWN_NETWORKS = 20


def _reject_unknown_networks(
    reject: Callable[[np.ndarray, str, str], None],
    mcc: np.ndarray,
    mnc: np.ndarray,
    candidates: np.ndarray,
) -> None:
    """Refuse MNCs that are not a known network of their MCC, naming the values.

    An MCC with no known network at all is refused on ``mcc``; a known MCC
    with a phantom MNC (452-99) on ``mnc``. Each distinct value gets its own
    reason, up to :data:`_NAMED_UNKNOWN_NETWORKS`, so the counts stay short.
    """
    unknown = candidates & ~known_network(mcc, mnc)
    if not unknown.any():
        return
    codes = network_codes(mcc, mnc)
    networks = known_networks()
    known_mccs = np.unique(networks // 1000)
    distinct, first = np.unique(codes[unknown], return_index=True)
    order = distinct[np.argsort(first)]  # in the order they first appear
    for code in order[:_NAMED_UNKNOWN_NETWORKS].tolist():
        country, network = divmod(int(code), 1000)
        hit = unknown & (codes == code)
        if country in known_mccs:
            reject(hit, "mnc", f"{network:02d} is not a known network of MCC {country}")
        else:
            reject(hit, "mcc", f"{country} has no known network")
    reject(unknown, "mnc", "not a known network of its MCC")


def _radio_names(codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Known radio codes as a ``str`` array, built in Arrow from the codes."""
    names = pa.DictionaryArray.from_arrays(
        pa.array(codes, pa.int8()), pa.array(C.RADIOS, pa.large_string())
    )
    return pd.array(names.cast(pa.large_string()), dtype="str")


def _hash_text(values: pd.Series) -> np.ndarray:
    """Hash text once per distinct value, then spread the hashes by code.

    The same hashes as hashing every string (what pandas does for a categorical).
    """
    codes, uniques = pd.factorize(values)
    distinct = pd.util.hash_array(
        np.asarray(uniques, dtype=object), hash_key=_CONTENT_HASH_KEY, categorize=False
    )
    hashes: np.ndarray = distinct.take(codes)
    return hashes


def content_keys(readings: pd.DataFrame) -> pd.Series:
    """Return a stable 64-bit key per reading, so a re-upload stores nothing twice.

    The key hashes what makes an observation itself: time, place, network,
    radio, cell, signal, service flag and device. It is returned as a signed
    int64 so SQLite can index it. Numbers hash as numbers (missing = a value
    no reading can have), text as text: no per-row string formatting.

    The value is ``pandas.util.hash_pandas_object`` of these columns as a
    frame (``index=False``), which earlier versions stored; it is computed
    column by column with :func:`pandas.util.hash_array` and pandas' own
    combining rule (:func:`_combine_hashes`), because building the frame
    cost more than the hashing on a 1,000-reading batch.
    """

    def hashed(values: np.ndarray) -> np.ndarray:
        column_hashes: np.ndarray = pd.util.hash_array(values, hash_key=_CONTENT_HASH_KEY)
        return column_hashes

    def number(name: str) -> np.ndarray:
        return hashed(readings[name].to_numpy(dtype="float64", na_value=-1e9))

    # In the order the stored keys hashed them.
    hashes = [
        hashed(readings["time"].astype("int64").to_numpy()),
        hashed(readings["lat"].to_numpy(dtype="float64").round(7)),
        hashed(readings["lon"].to_numpy(dtype="float64").round(7)),
        number("mcc"),
        number("mnc"),
        _hash_text(readings["radio"]),
        number("cell_id"),
        number("signal_dbm"),
        hashed(readings["no_service"].to_numpy(dtype=bool)),
        _hash_text(readings["device"].fillna("")),
    ]
    return pd.Series(
        _combine_hashes(hashes).view(np.int64), index=readings.index, name="content_key"
    )


_CONTENT_HASH_KEY = "lomsong-readings"


def _combine_hashes(hashes: list[np.ndarray]) -> np.ndarray:
    """Combine column hashes into one row hash, by pandas' rule.

    The rule is ``combine_hash_arrays`` in ``pandas/core/util/hashing.py``, private
    there, so restated here; a pinned test checks the keys against those stored before.
    """
    out = np.zeros_like(hashes[0]) + np.uint64(0x345678)
    mult = np.uint64(1000003)
    for i, column in enumerate(hashes):
        inverse = len(hashes) - i
        out ^= column
        out *= mult
        mult += np.uint64(82520 + inverse + inverse)
    return out + np.uint64(97531)


def hash_devices(devices: pd.Series, *, salt: str) -> pd.Series:
    """Replace device identifiers with salted SHA-256 digests (first 16 hex).

    Raw device ids are never stored; the hash still lets the analysis count
    distinct devices. Loops over *distinct* devices only (a campaign has tens).
    """
    codes, distinct = pd.factorize(devices, use_na_sentinel=True)
    digests = [hashlib.sha256(f"{salt}:{d}".encode()).hexdigest()[:16] for d in distinct]
    hashed = np.array([*digests, None], dtype=object)[codes]  # code -1 (missing) -> None
    return pd.Series(hashed, index=devices.index, dtype="string")


def read_readings_csv(path: str | Path) -> pd.DataFrame:
    """Read a native readings CSV into a raw table (validate it next).

    A thin wrapper of :func:`geodata.formats.read_readings` (``format="csv"``),
    kept for notebooks: lines the parser refuses (too many fields) are left
    out and logged; :func:`geodata.formats.validate_chunks` keeps them.

    Raises
    ------
    InvalidInputError
        When the file is not a readable readings CSV.
    """
    from geodata.formats import read_readings  # geodata.formats imports this module

    chunks = list(read_readings(path, format="csv"))
    refused = [r for c in chunks for r in c.rejected]
    if refused:
        logger.warning("%s: %d lines refused: %s", path, len(refused), count_by_reason(refused))
    frames = [c.readings for c in chunks]
    if not frames:
        return pd.DataFrame(columns=list(READING_COLUMNS))
    return pd.concat(frames).reset_index(drop=True)
