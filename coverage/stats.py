"""Readings -> per-cell statistics (step 1 of the pipeline).

One row per (H3 cell, carrier, radio): how many readings, how many without
service, the dBm distribution, how many devices and days saw it, and when.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.hexgrid import cells_for_points
from geodata.sites import carrier_names

#: Columns of a cell-statistics table.
CELL_STATS_COLUMNS: tuple[str, ...] = (
    "h3",
    "carrier",
    "mcc",
    "mnc",
    "radio",
    "count",
    "no_service_count",
    "usable_count",
    "mean_dbm",
    "std_dbm",
    "p10_dbm",
    "devices",
    "days",
    "last_seen",
)


def empty_cell_stats() -> pd.DataFrame:
    """Return a cell-statistics table with no rows and the right dtypes."""
    dtypes = {
        "h3": "uint64",
        "carrier": "string",
        "mcc": "int64",
        "mnc": "int64",
        "radio": "object",
        "last_seen": "datetime64[ns, UTC]",
    }
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in CELL_STATS_COLUMNS})


def usable_mask(readings: pd.DataFrame) -> np.ndarray:
    """Tell whether each reading had usable signal.

    Service, and dBm at or above the lowest Android level of its radio.
    """
    # Looked up once per distinct radio, not once per reading.
    codes, radios = pd.factorize(readings["radio"])
    by_radio = np.array([*(C.USABLE_DBM.get(str(r), np.nan) for r in radios), np.nan])
    threshold = by_radio[codes]  # code -1 (a missing radio) takes the trailing NaN
    signal = readings["signal_dbm"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        usable: np.ndarray = ~readings["no_service"].to_numpy(bool) & (signal >= threshold)
        return usable


def service_floors(readings: pd.DataFrame, *, min_readings: int = 200) -> dict[str, float]:
    """Find the dBm at which phones lose service, per radio, as the readings show it.

    The 0.5th percentile of readings with service, where a radio has at least
    ``min_readings`` of them and they reach below the usable threshold (else
    they never came near the floor and say nothing of it); the 3GPP
    sensitivity from :data:`geodata.constants.SERVICE_FLOOR_DBM` elsewhere.
    """
    floors = dict(C.SERVICE_FLOOR_DBM)
    served = readings.loc[~readings["no_service"].to_numpy(bool), ["radio", "signal_dbm"]]
    groups = served.groupby("radio")["signal_dbm"]
    seen = groups.quantile(0.005)[groups.size() >= min_readings]
    floors.update(
        {str(radio): float(dbm) for radio, dbm in seen.items() if dbm < C.USABLE_DBM[str(radio)]}
    )
    return floors


def select_as_of(readings: pd.DataFrame, as_of: pd.Timestamp | str | None) -> pd.DataFrame:
    """Select the readings taken at or before ``as_of`` (all of them when None)."""
    if as_of is None or readings.empty:
        return readings
    cutoff = pd.Timestamp(as_of)
    cutoff = cutoff if cutoff.tzinfo else cutoff.tz_localize("UTC")
    return readings.loc[readings["time"] <= cutoff]


def _device_codes(devices: pd.Series) -> np.ndarray:
    """Give each distinct device an integer; a missing device counts as ``"?"``."""
    codes, uniques = pd.factorize(devices)
    if (codes < 0).any():
        known = np.flatnonzero(np.asarray(uniques.astype(object)) == "?")
        codes = np.where(codes < 0, known[0] if known.size else len(uniques), codes)
    numbered: np.ndarray = codes
    return numbered


def _distinct_per_group(group: np.ndarray, values: np.ndarray, groups: int) -> np.ndarray:
    """How many distinct ``values`` (integers) each group (0..groups−1) holds."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return np.zeros(groups, dtype=np.int64)
    low = int(values.min())
    span = int(values.max()) - low + 1
    pairs = np.sort(group * span + (values - low))  # a sort: numpy's hashed unique is slower
    distinct = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
    return np.bincount(distinct // span, minlength=groups)


def aggregate_readings(
    readings: pd.DataFrame,
    *,
    resolution: int = C.H3_RESOLUTION,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Aggregate validated readings into per-cell statistics.

    Parameters
    ----------
    readings : pandas.DataFrame
        Canonical readings (see :func:`geodata.readings.validate_readings`).
    resolution : int, keyword-only
        H3 resolution (9 by default, ~0.105 km² per cell).
    as_of : Timestamp or str, optional
        Only readings taken at or before this instant count.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CELL_STATS_COLUMNS`; ``h3`` is the uint64 index.
        dBm statistics cover readings with service only.

    Examples
    --------
    >>> frame = pd.DataFrame({"time": pd.to_datetime(["2026-01-05", "2026-01-06"], utc=True),
    ...     "lat": [22.57, 22.57], "lon": [105.49, 105.49], "mcc": [452, 452], "mnc": [2, 2],
    ...     "radio": ["lte", "lte"], "signal_dbm": [-100.0, np.nan],
    ...     "no_service": [False, True], "device": ["a", "b"]})
    >>> row = aggregate_readings(frame).iloc[0]
    >>> [int(row[c]) for c in ("count", "no_service_count", "usable_count", "days")]
    [2, 1, 1, 2]
    """
    readings = select_as_of(readings, as_of)
    if readings.empty:
        return empty_cell_stats()
    # Times as int64 nanoseconds: a tz-aware column turned into numpy becomes
    # an object array of Timestamps, a hundred times slower to group.
    nanos = readings["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    nanos = nanos.astype("int64")
    devices = readings["device"] if "device" in readings else pd.Series("?", index=readings.index)
    work = pd.DataFrame(
        {
            "h3": cells_for_points(
                readings["lat"].to_numpy(float),
                readings["lon"].to_numpy(float),
                resolution=resolution,
            ),
            "mcc": readings["mcc"].to_numpy(int),
            "mnc": readings["mnc"].to_numpy(int),
            "radio": readings["radio"].astype("category").to_numpy(),
            "signal": readings["signal_dbm"].to_numpy(float),
            "no_service": readings["no_service"].to_numpy(bool),
            "usable": usable_mask(readings),
            "time": nanos,
        }
    )
    groups = work.groupby(["h3", "mcc", "mnc", "radio"], sort=False, observed=True)
    stats = groups.agg(
        count=("signal", "size"),
        no_service_count=("no_service", "sum"),
        usable_count=("usable", "sum"),
        mean_dbm=("signal", "mean"),
        std_dbm=("signal", "std"),
        last_seen=("time", "max"),
    )
    # Distinct devices and days per group from integer codes (groupby's
    # nunique costs several times more). ngroup numbers the groups in the
    # order agg lists them (first appearance, sort=False).
    group = groups.ngroup().to_numpy(np.int64)
    stats["devices"] = _distinct_per_group(group, _device_codes(devices), len(stats))
    stats["days"] = _distinct_per_group(group, nanos // 86_400_000_000_000, len(stats))
    stats["p10_dbm"] = groups["signal"].quantile(0.1)
    stats = stats.reset_index()
    stats["carrier"] = carrier_names(stats["mcc"], stats["mnc"])
    stats["radio"] = stats["radio"].astype(str)
    stats["last_seen"] = pd.to_datetime(stats["last_seen"], unit="ns", utc=True)
    for column in ("count", "no_service_count", "usable_count", "devices", "days"):
        stats[column] = stats[column].astype("int64")
    return stats[list(CELL_STATS_COLUMNS)]


# A site "could serve" a cell, for the ageing of older readings, when its
# open-path prediction there (before terrain loss) is within this margin of
# the usable level: the calibration moves predictions by a few dB, and the
# 90 % spread of the prediction error is about 1.3 × 8 dB. Terrain loss is
# left out because the calibration rescales it (by about one half on the
# demo): judged on the uncalibrated loss, many cells the calibrated model
# says a new site serves kept readings taken before it existed, and a what-if
# with the site built served 7 % fewer households than its plan claimed
# (tests/coverage/test_planning.py).
NEW_SITE_MARGIN_DB = 10.0


def could_serve(
    open_path_dbm: np.ndarray | pd.Series, usable_dbm: np.ndarray | pd.Series
) -> np.ndarray:
    """Whether a dated site could serve cells, for the ageing of older readings.

    ``open_path_dbm`` is its prediction before terrain loss
    (``predicted_dbm + diffraction_db``); see :data:`NEW_SITE_MARGIN_DB`.

    >>> could_serve(np.array([-120.0, -100.0]), np.array([-110.0, -110.0])).tolist()
    [True, True]
    >>> could_serve(np.array([-125.0]), np.array([-110.0])).tolist()
    [False]
    """
    out: np.ndarray = np.asarray(open_path_dbm, float) >= np.asarray(usable_dbm, float) - (
        NEW_SITE_MARGIN_DB
    )
    return out


def _site_starts(predicted: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Predicted rows that a dated site could serve: ``h3, carrier, site_id, since``."""
    columns = ["h3", "carrier", "site_id", "since", "predicted_dbm"]
    if "created" not in sites or predicted.empty or sites["created"].isna().all():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    since = sites.groupby("site_id")["created"].min()
    rows = predicted.assign(since=predicted["site_id"].map(since))
    open_path = rows["predicted_dbm"].to_numpy(float)
    if "diffraction_db" in rows:
        open_path = open_path + rows["diffraction_db"].fillna(0.0).to_numpy(float)
    usable = rows["radio"].map(C.USABLE_DBM).astype(float).to_numpy()
    return rows.loc[rows["since"].notna().to_numpy() & could_serve(open_path, usable), columns]


def retired_readings(
    readings: pd.DataFrame, predicted: pd.DataFrame, sites: pd.DataFrame, *, resolution: int
) -> np.ndarray:
    """Find the readings a newer site has retired (a boolean mask over ``readings``).

    A reading of a carrier taken before a site of that carrier started
    (its ``created`` date), in a cell the site could serve, says nothing of
    the network as it is: it no longer vetoes the site's predicted coverage,
    as ichnaea and Ookla age out observations older than a network change.

    Parameters
    ----------
    readings : DataFrame
        Canonical readings (``time``, ``lat``, ``lon``, ``mcc``, ``mnc``).
    predicted : DataFrame
        ``h3, carrier, radio, predicted_dbm, site_id`` (uncalibrated).
    sites : DataFrame
        Cells with ``site_id`` and ``created`` (UTC).
    resolution : int, keyword-only
        H3 resolution of ``predicted``'s cells.
    """
    retired = np.zeros(len(readings), dtype=bool)
    starts = _site_starts(predicted, sites)
    if starts.empty or readings.empty:
        return retired
    cutoff = starts.groupby(["h3", "carrier"])["since"].max()
    candidates = np.flatnonzero((readings["time"] < cutoff.max()).to_numpy(bool))
    if candidates.size == 0:
        return retired
    subset = readings.iloc[candidates]
    keys = pd.MultiIndex.from_arrays(
        [
            cells_for_points(
                subset["lat"].to_numpy(float), subset["lon"].to_numpy(float), resolution=resolution
            ),
            carrier_names(subset["mcc"], subset["mnc"]).astype(object),
        ]
    )
    started = cutoff.reindex(keys).to_numpy()
    times = subset["time"].to_numpy()
    with np.errstate(invalid="ignore"):
        older = pd.notna(started) & (times < np.where(pd.notna(started), started, times))
    retired[candidates[np.asarray(older, dtype=bool)]] = True
    return retired


def new_sites_near(
    centre_cells: pd.DataFrame,
    readings: pd.DataFrame,
    retired: np.ndarray,
    predicted: pd.DataFrame,
    sites: pd.DataFrame,
    *,
    resolution: int,
) -> pd.DataFrame:
    """Find the sites that retired readings at a village centre, not measured there since.

    Rows ``village_id, site_id, carrier, since``.

    One row per (village, carrier): the strongest such site at the centre.
    """
    columns = ["village_id", "site_id", "carrier", "since"]
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    if not retired.any():
        return empty
    starts = _site_starts(predicted, sites).merge(centre_cells, on="h3")
    old = readings.loc[retired]
    old_keys = pd.DataFrame(
        {
            "h3": cells_for_points(
                old["lat"].to_numpy(float), old["lon"].to_numpy(float), resolution=resolution
            ),
            "carrier": carrier_names(old["mcc"], old["mnc"]).astype(object),
        }
    ).drop_duplicates()
    starts = starts.merge(old_keys, on=["h3", "carrier"])
    if starts.empty:
        return empty
    starts = starts.sort_values("predicted_dbm", ascending=False)
    starts = starts.drop_duplicates(["village_id", "carrier"])
    later = readings.loc[readings["time"] >= starts["since"].min()]
    if len(later):
        seen = pd.DataFrame(
            {
                "h3": cells_for_points(
                    later["lat"].to_numpy(float),
                    later["lon"].to_numpy(float),
                    resolution=resolution,
                ),
                "carrier": carrier_names(later["mcc"], later["mnc"]).astype(object),
                "time": later["time"].to_numpy(),
            }
        ).merge(centre_cells, on="h3")
        last = seen.groupby(["village_id", "carrier"])["time"].max()
        measured_after = starts.set_index(["village_id", "carrier"]).index.map(last)
        keep = pd.isna(measured_after) | (
            pd.Series(measured_after, dtype=object).to_numpy() < starts["since"].to_numpy()
        )
        starts = starts.loc[np.asarray(keep, dtype=bool)]
    return starts[columns].reset_index(drop=True)


# Silent gaps (see infer_silent_gaps). A phone that logs nothing without
# service leaves a gap in its track where service was lost: the gap counts
# when the phone moved on (ends farther apart than SILENT_GAP_MIN_M), fell
# silent for longer than SILENT_GAP_FACTOR of its usual interval (and at
# least SILENT_GAP_MIN_S), not so long that it may have been switched off
# (SILENT_GAP_MAX_S), and when the signal at one end was within
# SILENT_GAP_FADING_DB of unusable: the signal faded, then the log stopped.
SILENT_GAP_MIN_S = 60.0
SILENT_GAP_FACTOR = 3.0
SILENT_GAP_MAX_S = 1800.0
SILENT_GAP_MIN_M = 100.0
SILENT_GAP_FADING_DB = 5.0
# One inferred no-service point per this many metres of the gap's path.
SILENT_GAP_STEP_M = 60.0
SILENT_GAP_MAX_POINTS = 40


def infer_silent_gaps(readings: pd.DataFrame) -> pd.DataFrame:
    """No-service readings inferred where a phone that hides them fell silent.

    Many apps write nothing while a phone has no service (in the demo and in
    the field, about half the phones do), so the readings alone over-report
    coverage exactly where it fails. A device that never logged a
    no-service reading is taken to be such a phone; where its track has a
    silent gap (see the constants above) the straight path between the two
    ends gets no-service points, one per :data:`SILENT_GAP_STEP_M`, with the
    carrier and radio of the reading before the gap and ``source``
    ``"inferred-gap"``.

    Parameters
    ----------
    readings : DataFrame
        Canonical readings with ``device``.

    Returns
    -------
    DataFrame
        Inferred readings (same columns as ``readings``), possibly empty.

    Examples
    --------
    >>> t = pd.to_datetime(["2026-01-05T00:00:00Z", "2026-01-05T00:00:30Z",
    ...                     "2026-01-05T00:01:00Z", "2026-01-05T00:06:00Z"])
    >>> track = pd.DataFrame({"time": t, "lat": [22.5, 22.5003, 22.5006, 22.505],
    ...     "lon": [105.5] * 4, "mcc": 452, "mnc": 4, "radio": "lte",
    ...     "signal_dbm": [-100.0, -106.0, -112.0, -104.0], "no_service": False, "device": "d1"})
    >>> gap = infer_silent_gaps(track)  # 5 silent minutes over ~490 m after −112 dBm
    >>> len(gap), bool(gap["no_service"].all()), set(gap["source"])
    (8, True, {'inferred-gap'})
    """
    if readings.empty or "device" not in readings or readings["device"].isna().all():
        return readings.iloc[0:0]
    device, _ = pd.factorize(readings["device"])
    hides = (
        np.bincount(
            device[device >= 0],
            weights=readings["no_service"].to_numpy(bool)[device >= 0].astype(float),
            minlength=int(device.max()) + 1,
        )
        == 0
    )
    candidates = np.flatnonzero((device >= 0) & hides[np.maximum(device, 0)])
    if candidates.size < 2:
        return readings.iloc[0:0]
    nanos = readings["time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    seconds = nanos.astype("int64")[candidates] / 1e9
    order = candidates[np.lexsort((seconds, device[candidates]))]
    seconds = nanos.astype("int64")[order] / 1e9
    same = device[order][1:] == device[order][:-1]
    interval = np.diff(seconds)
    usual = (
        pd.Series(np.where(same, interval, np.nan))
        .groupby(device[order][1:])
        .transform("median")
        .to_numpy()
    )
    lat = readings["lat"].to_numpy(float)[order]
    lon = readings["lon"].to_numpy(float)[order]
    # Gaps of tens of metres to a few km: the local equirectangular distance
    # is within 0.1 % of the geodesic there, and needs no projection.
    metres = np.hypot(
        np.diff(lat) * 111_320.0, np.diff(lon) * 111_320.0 * np.cos(np.radians(lat[1:]))
    )
    signal = readings["signal_dbm"].to_numpy(float)[order]
    level = readings["radio"].map(C.USABLE_DBM).to_numpy(float)[order]
    weak = np.fmin(signal[:-1] - level[:-1], signal[1:] - level[1:]) <= SILENT_GAP_FADING_DB
    gap = (
        same
        & (interval >= np.maximum(SILENT_GAP_MIN_S, SILENT_GAP_FACTOR * usual))
        & (interval <= SILENT_GAP_MAX_S)
        & (metres >= SILENT_GAP_MIN_M)
        & weak
    )
    start = np.flatnonzero(gap)
    if start.size == 0:
        return readings.iloc[0:0]
    points = np.clip((metres[start] // SILENT_GAP_STEP_M).astype(int), 1, SILENT_GAP_MAX_POINTS)
    which = np.repeat(start, points)
    step = np.arange(points.sum()) - np.repeat(np.cumsum(points) - points, points)
    fraction = (step + 1.0) / (np.repeat(points, points) + 1.0)
    first = readings.iloc[order[which]].reset_index(drop=True)
    inferred = first.assign(
        lat=lat[which] + fraction * (lat[which + 1] - lat[which]),
        lon=lon[which] + fraction * (lon[which + 1] - lon[which]),
        time=first["time"] + pd.to_timedelta(fraction * interval[which], unit="s"),
        signal_dbm=np.nan,
        no_service=True,
    )
    if "source" in inferred:
        inferred["source"] = "inferred-gap"
    else:
        inferred = inferred.assign(source="inferred-gap")
    for column in ("rsrq_db", "sinr_db", "pci", "cell_id", "area_code"):
        if column in inferred:
            inferred[column] = inferred[column].where(np.zeros(len(inferred), dtype=bool))
    return inferred
