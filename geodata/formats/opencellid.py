"""OpenCelliD measurement CSV: one reading per measurement row.

Header-matched (order free, extra columns ignored): ``mcc, mnc, lac, cellid,
lon, lat, signal, measured_at, rating, speed, direction, act, ta, psc, tac,
pci``; ``mcc, mnc, lon, lat, signal, measured_at, act`` are required.

Mapping
-------
- ``act`` (access technology) → radio: GSM/GPRS/EDGE → ``gsm``;
  UMTS/WCDMA/HSPA/HSDPA/HSUPA/HSPA+ → ``umts``; LTE → ``lte``; NR/5G → ``nr``.
  Anything else (CDMA, …) is rejected.
- ``signal`` is ASU or dBm, resolved per row by sign and radio:

  * negative → dBm, as is;
  * 0 up to the radio's ASU maximum (GSM 31, UMTS 96, LTE/NR 97) → ASU,
    converted (GSM 2·ASU − 113, UMTS ASU − 120, LTE/NR ASU − 140);
  * 99 or 255 above that maximum → ASU "unknown": no signal, rejected;
  * any other positive value → rejected (neither a dBm nor an ASU).

  No dBm value is positive and no ASU value is negative, so the two never
  overlap.
- ``measured_at`` is ISO 8601 text (UTC when it has no offset) or an epoch
  number: seconds, or milliseconds when above 10¹¹.
- ``rating`` is the GPS accuracy in metres → ``accuracy_m``.
- ``area_code`` = ``tac`` for LTE/NR (else ``lac``), ``lac`` for GSM/UMTS;
  ``pci`` kept for LTE/NR; ``psc``, ``ta``, ``speed``, ``direction`` dropped.
- ``source`` is ``"opencellid"``.

No-service representation
-------------------------
None: OpenCelliD records measurements of cells, so every row is an
in-service reading, and a row without a usable signal is rejected
(``signal_dbm: …``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from geodata import constants as C
from geodata.formats._common import (
    ParsedChunk,
    RowRejections,
    Source,
    asu_to_dbm,
    csv_chunks,
    numbers,
    readings_frame,
)
from geodata.readings import READING_COLUMNS

REQUIRED = ("mcc", "mnc", "lon", "lat", "signal", "measured_at", "act")
_ACT = {
    **dict.fromkeys(("GSM", "GPRS", "EDGE", "2G"), "gsm"),
    **dict.fromkeys(("UMTS", "WCDMA", "HSPA", "HSDPA", "HSUPA", "HSPA+", "HSPAP", "3G"), "umts"),
    **dict.fromkeys(("LTE", "4G"), "lte"),
    **dict.fromkeys(("NR", "5G"), "nr"),
}


def read_opencellid(source: Source, *, chunk_rows: int) -> Iterator[ParsedChunk]:
    """Stream an OpenCelliD measurement CSV; the index is the physical line number."""
    dtype = {"measured_at": "string", "act": "string"}
    for frame, rejected, blank in csv_chunks(
        source, what="opencellid", required=REQUIRED, chunk_rows=chunk_rows, dtype=dtype
    ):
        chunk = map_opencellid(frame)
        chunk.rejected = rejected + chunk.rejected
        chunk.ignored = blank
        yield chunk


def map_opencellid(frame: pd.DataFrame) -> ParsedChunk:
    """Map a table of OpenCelliD measurement rows (index = line numbers) to readings."""
    rows = RowRejections(frame.index)

    def column(name: str) -> pd.Series:
        if name in frame.columns:
            return frame[name]
        return pd.Series(pd.NA, index=frame.index, dtype=object)

    act = column("act").astype("string").str.strip().str.upper()
    radio = act.map(_ACT).astype(object)
    rows.reject(act.isna(), "radio", "act is empty")
    rows.reject(radio.isna(), "radio", "act is not GSM, UMTS, LTE or NR")

    time = _measured_at(column("measured_at"))
    rows.reject(column("measured_at").isna(), "time", "measured_at is empty")
    rows.reject(time.isna(), "time", "measured_at is neither ISO 8601 nor epoch seconds/ms")

    raw_signal = pd.to_numeric(column("signal"), errors="coerce").astype("float64")
    rows.reject(column("signal").isna(), "signal_dbm", "signal is empty")
    rows.reject(raw_signal.isna(), "signal_dbm", "signal is not a number")
    from_asu, asu_outside = asu_to_dbm(raw_signal.where(raw_signal >= 0), radio)
    unknown_asu = (raw_signal >= 0) & from_asu.isna() & ~asu_outside
    rows.reject(unknown_asu & radio.notna(), "signal_dbm", "signal is ASU 'unknown' (99/255)")
    rows.reject(asu_outside, "signal_dbm", "positive signal outside the radio's ASU range")
    signal = raw_signal.where(raw_signal < 0, from_asu)

    lte_like = radio.isin(["lte", "nr"])
    tac, lac = numbers(column("tac")), numbers(column("lac"))
    readings = readings_frame(
        {
            "time": time,
            "lat": column("lat"),
            "lon": column("lon"),
            "accuracy_m": numbers(column("rating")),
            "mcc": numbers(column("mcc")),
            "mnc": numbers(column("mnc")),
            "radio": radio,
            "signal_dbm": signal,
            "no_service": False,
            "cell_id": numbers(column("cellid")),
            "area_code": tac.where(lte_like & tac.notna(), lac),
            "pci": numbers(column("pci")).where(lte_like),
            "source": "opencellid",
        },
        frame.index,
    )
    return ParsedChunk(readings.loc[~rows.bad, list(READING_COLUMNS)], rows.rejections())


def _measured_at(values: pd.Series) -> pd.Series:
    """ISO 8601 text or epoch seconds/milliseconds to UTC; anything else NaT."""
    epoch = pd.to_numeric(values, errors="coerce").astype("float64")
    seconds = epoch.where(epoch < C.EPOCH_MS_THRESHOLD, epoch / 1000.0)
    # Beyond the year 2100 or before 1970 is no phone's clock; keeps pandas in range.
    seconds = seconds.where(seconds.between(0, 4.1e9))
    from_epoch = pd.to_datetime(seconds, unit="s", utc=True)
    text = values.astype("string").where(epoch.isna())
    from_text = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    return from_epoch.fillna(from_text)
