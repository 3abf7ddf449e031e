"""G-NetTrack Pro drive logs (CSV), as in the uccmisl/5Gdataset drives.

Columns used (matched by name; others such as Speed, CQI, bit rates, ping
statistics are ignored): ``Timestamp`` (``YYYY.MM.DD_HH.MM.SS`` in the
phone's local time), ``Longitude``, ``Latitude``, ``NetworkMode``, ``RSRP``
(G-NetTrack's serving "level": RSRP on LTE, RSCP on UMTS, RSSI on GSM),
``RSRQ``, ``SNR``, ``RSSI``, ``NRxRSRP``, ``NRxRSRQ``, and when present
``CellID``, ``RAWCELLID``, ``LACHEX``, ``MCC``, ``MNC``, ``Accuracy``.

Mapping
-------
- ``time``: the local timestamp in the IANA zone ``tz`` (required), in UTC.
  Local times that do not exist or occur twice (DST changes) are rejected.
- ``-`` is missing; −200, −205, 2147483647 (and 2⁶³−1) are sentinels, missing.
- ``NetworkMode`` → radio:

  ========================================  ===========================================
  LTE, LTE+, LTE-A, 4G                      ``lte``: RSRP, RSRQ, SNR
  5G, NR, 5G NSA, NR NSA (EN-DC)            ``nr``: NRxRSRP, NRxRSRQ, with the LTE
                                            anchor's cell ids; *plus* an ``lte``
                                            reading of the anchor (RSRP, RSRQ, SNR)
  HSPA+, HSPA, HSDPA, HSUPA, UMTS, WCDMA,   ``umts``: RSCP from the level column, else
  3G                                        RSSI + Ec/Io (the RSRQ column) when both exist
  EDGE, GPRS, GSM, 2G                       ``gsm``: the level column, else RSSI
  ========================================  ===========================================

  A 5G row thus gives two readings sharing its line number.
- ``cell_id`` = ``RAWCELLID`` (the full 28-bit ECI / UTRAN cell id), else
  ``CellID``; ``area_code`` = ``LACHEX`` read as hexadecimal (0 is 3GPP's
  reserved "no LAC", read as unknown).
- ``mcc``/``mnc`` come from ``MCC``/``MNC`` columns when the log has them,
  else from ``Operatorname`` when it names one Vietnamese network (Viettel,
  VinaPhone, MobiFone, Vietnamobile, Gmobile/Wintel, I-Telecom, or a PLMN such
  as ``45204``: :func:`operator_codes`), else from the ``mcc=``/``mnc=``
  arguments (the sample file's operator is anonymised "B"); without any of
  them the row is rejected naming the field. A row whose Operatorname names
  another network than ``mcc=``/``mnc=`` say is rejected (``mnc``): one of the
  two is wrong, and guessing which would file readings under the wrong carrier.
- A position of exactly (0, 0) is G-NetTrack's "no GPS fix": rejected.
- ``source`` is ``"gnettrack"``.

No-service representation
-------------------------
A row with no signal in any signal column and a ``NetworkMode`` that is
empty, ``-`` or says there is no service (NO SERVICE, OUT OF SERVICE, NONE,
NO SIGNAL, EMERGENCY, SEARCHING) is ``no_service = true`` with radio
``lte``: a phone with no service at all has no LTE service either, and LTE is
the layer phones camp on first (2G is switched off in Vietnam). A row whose
mode names a radio but carries no signal is rejected, not taken as no service.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.errors import InvalidInputError
from geodata.formats._common import (
    ParsedChunk,
    RowRejections,
    Source,
    csv_chunks,
    numbers,
    readings_frame,
)
from geodata.readings import READING_COLUMNS

REQUIRED = ("Timestamp", "Longitude", "Latitude", "NetworkMode", "RSRP")
_MODES = {
    **dict.fromkeys(("LTE", "LTE+", "LTE-A", "LTE_CA", "4G"), "lte"),
    **dict.fromkeys(("5G", "NR", "5G NSA", "NR NSA", "NR_NSA", "ENDC", "EN-DC"), "nr"),
    **dict.fromkeys(("HSPA+", "HSPA", "HSDPA", "HSUPA", "HSPAP", "UMTS", "WCDMA", "3G"), "umts"),
    **dict.fromkeys(("EDGE", "GPRS", "GSM", "2G"), "gsm"),
}
_NO_SERVICE_MODES = frozenset(
    (
        "",
        "-",
        "NO SERVICE",
        "NO_SERVICE",
        "NOSERVICE",
        "OUT OF SERVICE",
        "OUT_OF_SERVICE",
        "NONE",
        "NO SIGNAL",
        "EMERGENCY",
        "EMERGENCY ONLY",
        "SEARCHING",
    )
)
_TIME_FORMAT = "%Y.%m.%d_%H.%M.%S"
_NOT_ALNUM = re.compile(r"[\W_]+")
_VN_PLMN = re.compile(rf"{C.MCC_VIETNAM}(\d\d)")
_SIGNALS = ("RSRP", "RSRQ", "SNR", "RSSI", "NRxRSRP", "NRxRSRQ")


def read_gnettrack(
    source: Source,
    *,
    tz: str | None,
    mcc: int | None = None,
    mnc: int | None = None,
    chunk_rows: int,
) -> Iterator[ParsedChunk]:
    """Stream a G-NetTrack Pro CSV log; the index is the physical line number.

    Raises
    ------
    InvalidInputError
        When ``tz`` is missing or not an IANA zone, or the file cannot be
        read as a G-NetTrack CSV (see :func:`geodata.formats.read_readings`).
    """
    zone = check_tz(tz)
    dtype = {c: "string" for c in ("Timestamp", "NetworkMode", "LACHEX", "Operatorname")}
    for frame, rejected, blank in csv_chunks(
        source,
        what="gnettrack",
        required=REQUIRED,
        chunk_rows=chunk_rows,
        dtype=dtype,
        na_values=["-"],
    ):
        chunk = map_gnettrack(frame, tz=zone, mcc=mcc, mnc=mnc)
        chunk.rejected = rejected + chunk.rejected
        chunk.ignored = blank
        yield chunk


def check_tz(tz: str | None) -> str:
    """Return ``tz`` when it names an IANA time zone, else raise InvalidInputError."""
    if not tz:
        raise InvalidInputError(
            "gnettrack: the tz parameter is required (the log's timestamps are in local time;"
            " e.g. tz='Asia/Ho_Chi_Minh')"
        )
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(f"gnettrack: unknown time zone {tz!r} (use an IANA name)") from exc
    return tz


def map_gnettrack(
    frame: pd.DataFrame, *, tz: str, mcc: int | None = None, mnc: int | None = None
) -> ParsedChunk:
    """Map a table of G-NetTrack log rows (index = line numbers) to readings."""
    rows = RowRejections(frame.index)

    def column(name: str) -> pd.Series:
        if name in frame.columns:
            return frame[name]
        return pd.Series(pd.NA, index=frame.index, dtype=object)

    level = {name: numbers(column(name), C.GNETTRACK_SENTINELS) for name in _SIGNALS}
    mode = column("NetworkMode").astype("string").str.strip().str.upper().fillna("")
    radio = mode.map(_MODES).astype(object)
    no_signal = (
        pd.concat([level["RSRP"], level["RSSI"], level["NRxRSRP"]], axis=1).isna().all(axis=1)
    )
    no_service = (mode.isin(list(_NO_SERVICE_MODES)) & no_signal).to_numpy(bool)
    radio = radio.where(~no_service, "lte")

    local = pd.to_datetime(column("Timestamp"), format=_TIME_FORMAT, errors="coerce")
    rows.reject(local.isna(), "time", "not a G-NetTrack timestamp (YYYY.MM.DD_HH.MM.SS)")
    time = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    rows.reject(time.isna(), "time", f"local time does not exist or is ambiguous in {tz}")
    lat, lon = numbers(column("Latitude")), numbers(column("Longitude"))
    rows.reject((lat == 0) & (lon == 0), "lat", "position (0, 0): no GPS fix")
    rows.reject(
        radio.isna() & ~mode.isin(list(_NO_SERVICE_MODES)),
        "radio",
        "unknown NetworkMode (expected LTE, 5G, HSPA+/UMTS or EDGE/GSM)",
    )
    rows.reject(radio.isna(), "radio", "NetworkMode names no service but the row has a signal")

    umts_rscp = level["RSRP"].fillna(level["RSSI"] + level["RSRQ"])
    signal = pd.Series(np.nan, index=frame.index)
    signal = signal.mask(radio.eq("lte"), level["RSRP"])
    signal = signal.mask(radio.eq("nr"), level["NRxRSRP"])
    signal = signal.mask(radio.eq("umts"), umts_rscp)
    signal = signal.mask(radio.eq("gsm"), level["RSRP"].fillna(level["RSSI"]))

    log_mcc, log_mnc = numbers(column("MCC")), numbers(column("MNC"))
    name = column("Operatorname")
    named_mcc, named_mnc = operator_codes(name)
    given_mcc = np.nan if mcc is None else float(mcc)
    given_mnc = np.nan if mnc is None else float(mnc)
    clash = pd.Series(False, index=frame.index)
    if mcc is not None:
        clash |= named_mcc.notna() & (named_mcc != given_mcc)
    if mnc is not None:
        clash |= named_mnc.notna() & (named_mnc != given_mnc)
    rows.reject(
        clash & log_mcc.isna(),
        "mnc",
        f"Operatorname names another network than the mcc={mcc}, mnc={mnc} given",
    )
    mcc_values = log_mcc.fillna(named_mcc).fillna(given_mcc)
    mnc_values = log_mnc.fillna(named_mnc).fillna(given_mnc)
    rows.reject(
        mcc_values.isna(),
        "mcc",
        "the log carries no MCC and its Operatorname names no one network: pass mcc= for it",
    )
    rows.reject(
        mnc_values.isna(),
        "mnc",
        "the log carries no MNC and its Operatorname names no one network: pass mnc= for it",
    )

    area, bad_hex = _hex(column("LACHEX"))
    rows.reject(bad_hex, "area_code", "LACHEX is not hexadecimal")
    cell = numbers(column("RAWCELLID"), C.GNETTRACK_SENTINELS).fillna(
        numbers(column("CellID"), C.GNETTRACK_SENTINELS)
    )

    # A 5G row without NRxRSRP still gives its LTE anchor reading below.
    mapped = ~rows.bad
    has_signal = signal.notna() | no_service
    rows.reject(~has_signal & radio.eq("nr"), "signal_dbm", "no NRxRSRP in a 5G row")
    rows.reject(~has_signal, "signal_dbm", "no signal level in the row (RSRP/RSSI)")
    keep = ~rows.bad
    lte_like = radio.isin(["lte", "nr"])
    base = {
        "time": time,
        "lat": lat,
        "lon": lon,
        "accuracy_m": numbers(column("Accuracy")),
        "mcc": mcc_values,
        "mnc": mnc_values,
        "radio": radio,
        "signal_dbm": signal,
        "no_service": no_service,
        "cell_id": cell,
        "area_code": area,
        "rsrq_db": level["RSRQ"].where(lte_like),
        "sinr_db": level["SNR"].where(lte_like),
        "source": "gnettrack",
    }
    readings = readings_frame(base, frame.index)
    nr = radio.eq("nr").to_numpy(bool)
    readings.loc[nr, "rsrq_db"] = level["NRxRSRQ"][nr]
    readings.loc[nr, "sinr_db"] = np.nan
    # The NSA anchor: the same row as an LTE reading, when it has an RSRP.
    anchor_rows = nr & mapped & level["RSRP"].notna().to_numpy(bool)
    anchor = readings.loc[anchor_rows].copy()
    anchor["radio"] = "lte"
    anchor["signal_dbm"] = level["RSRP"][anchor_rows]
    anchor["rsrq_db"] = level["RSRQ"][anchor_rows]
    anchor["sinr_db"] = level["SNR"][anchor_rows]
    out = pd.concat([readings.loc[keep], anchor]).sort_index(kind="stable")
    return ParsedChunk(out[list(READING_COLUMNS)], rows.rejections())


def operator_codes(names: pd.Series) -> tuple[pd.Series, pd.Series]:
    """MCC and MNC of each ``Operatorname`` that names one network, else NaN.

    Names are folded (case, spaces, dots, dashes, a leading "VN") and looked up in
    :data:`geodata.constants.GNETTRACK_OPERATORS`; a numeric PLMN ``45204``
    (``452 04``, ``452-04``) is read as MCC 452, MNC 04 (Vietnam's MNCs have
    two digits). Anything else (an anonymised "B", a brand shared across
    countries) gives NaN, so the row still needs ``mcc=``/``mnc=``.

    Examples
    --------
    >>> mcc, mnc = operator_codes(pd.Series(["VN VINAPHONE", "Viettel", "452-05", "B", None]))
    >>> mcc.tolist(), mnc.tolist()
    ([452.0, 452.0, 452.0, nan, nan], [2.0, 4.0, 5.0, nan, nan])
    """
    codes, distinct = pd.factorize(names.astype("string"))
    found = np.array([_operator(str(v)) for v in distinct], dtype=float).reshape(-1, 2)
    mcc = np.where(codes >= 0, found[codes, 0] if len(found) else np.nan, np.nan)
    mnc = np.where(codes >= 0, found[codes, 1] if len(found) else np.nan, np.nan)
    return pd.Series(mcc, index=names.index), pd.Series(mnc, index=names.index)


def _operator(name: str) -> tuple[float, float]:
    folded = _NOT_ALNUM.sub("", unicodedata.normalize("NFC", name).casefold())
    for key in (folded, folded.removeprefix("vn")):
        if key in C.GNETTRACK_OPERATORS:
            mcc, mnc = C.GNETTRACK_OPERATORS[key]
            return float(mcc), float(mnc)
    plmn = _VN_PLMN.fullmatch(folded)
    if plmn:
        return float(C.MCC_VIETNAM), float(plmn.group(1))
    return np.nan, np.nan


def _hex(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse hexadecimal text per distinct value; returns ``(numbers, not_hex)``."""
    text = values.astype("string").str.strip()
    codes, distinct = pd.factorize(text)
    parsed = np.array([_hex_value(str(v)) for v in distinct], dtype=float)
    out = np.where(codes >= 0, parsed[codes] if len(parsed) else np.nan, np.nan)
    not_hex = (codes >= 0) & np.isnan(out)
    out[out == 0] = np.nan  # LAC/TAC 0 is reserved: G-NetTrack's "none"
    return pd.Series(out, index=values.index), not_hex


def _hex_value(text: str) -> float:
    try:
        return float(int(text, 16))
    except ValueError:
        return np.nan
