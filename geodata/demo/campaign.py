"""A simulated field campaign: phones driven along valley roads and walked into villages.

Each device carries one SIM (one carrier) and works one commune over a few
weeks of January-March 2026. On each trip it drives the road network from a
road end through a handful of villages, lingers round each village centre
(the point of the official trắng sóng criterion) and sometimes walks up to a
hamlet. Every reading is the true median (field.py) plus temporal fading.
About a quarter of the phones never log "no service": in a dead zone they
simply record nothing, as many real logging apps do.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

from geodata import constants as C
from geodata.demo.field import TEMPORAL_SIGMA_DB, SignalField
from geodata.demo.network import Network
from geodata.demo.region import TO_WGS84, Region
from geodata.readings import READING_COLUMNS

# A phone drops to "no service" below these instantaneous levels (dBm): about
# 6 dB under the lowest Android bar for LTE RSRP, 2 dB for UMTS RSCP, where
# cell reselection and RRC connection start failing.
NO_SERVICE_DBM = {"lte": -121.0, "umts": -117.0}
# Share of phones whose app never logs a no-service observation.
SILENT_DEVICE_SHARE = 0.25
DEVICE_COUNT = (15, 19)  # drawn in [low, high)
TRIPS_PER_DEVICE = (9, 13)
VILLAGES_PER_TRIP = (4, 7)
CAMPAIGN_START = pd.Timestamp("2026-01-12", tz="UTC")
CAMPAIGN_DAYS = (30, 42)
# Local time is UTC+7; trips start between 07:00 and 09:30 local.
TRIP_START_UTC_S = (0.0, 2.5 * 3600.0)
# Driving: speed (m/s) and logging interval (s); dwelling and walking likewise.
DRIVE_SPEED_MS = (5.0, 9.0)
DRIVE_INTERVAL_S = (15.0, 40.0)
DWELL_READINGS = (6, 15)
DWELL_RADIUS_M = 300.0
DWELL_INTERVAL_S = (30.0, 90.0)
WALK_SPEED_MS = 1.2
WALK_INTERVAL_S = (12.0, 25.0)
WALK_PROBABILITY = 0.45
# Reported GPS accuracy (m); the true error has σ = accuracy / 1.5 per axis
# (Android's accuracy is the 68 % radius).
ACCURACY_M = (5.0, 25.0)
SOURCES = ("netmonster", "g-nettrack", "towercollector")


@dataclass(frozen=True)
class Device:
    """One phone: its opaque id, carrier (MNC), commune and logging habit."""

    id: str
    mnc: int
    commune_id: str
    logs_no_service: bool
    source: str


def plan_devices(
    region: Region, carriers: tuple[int, ...], rng: np.random.Generator
) -> list[Device]:
    """Spread the phones so every carrier works every commune with two or more."""
    combos = [(mnc, c) for c in region.communes["id"] for mnc in carriers]
    count = int(rng.integers(*DEVICE_COUNT))
    order = np.r_[
        np.arange(len(combos)), np.arange(len(combos)), rng.integers(0, len(combos), count)
    ]
    silent = set(rng.choice(count, size=round(SILENT_DEVICE_SHARE * count), replace=False).tolist())
    return [
        Device(
            id=f"demo-phone-{k + 1:02d}",
            mnc=int(combos[order[k]][0]),
            commune_id=str(combos[order[k]][1]),
            logs_no_service=k not in silent,
            source=SOURCES[int(rng.integers(len(SOURCES)))],
        )
        for k in range(count)
    ]


class _Roads:
    """A commune's road graph: shortest drives between named nodes."""

    def __init__(
        self, nodes: dict[str, tuple[float, float]], edges: list[tuple[str, str, np.ndarray]]
    ) -> None:
        self.names = list(nodes)
        index = {n: i for i, n in enumerate(self.names)}
        self.lines = {}
        rows, cols, lengths = [], [], []
        for a, b, line in edges:
            i, j = index[a], index[b]
            self.lines[i, j], self.lines[j, i] = line, line[::-1]
            rows.append(i)
            cols.append(j)
            lengths.append(float(np.hypot(*np.diff(line, axis=0).T).sum()))
        n = len(self.names)
        graph = coo_matrix((lengths, (rows, cols)), shape=(n, n)).tocsr()
        _, self.predecessors = shortest_path(graph, directed=False, return_predecessors=True)
        self.index = index

    def drive(self, stops: list[str]) -> np.ndarray:
        """Return the polyline of a drive through ``stops`` in order."""
        parts: list[np.ndarray] = []
        for a, b in itertools.pairwise(stops):
            i, j = self.index[a], self.index[b]
            hops = [j]
            while hops[-1] != i:
                hops.append(int(self.predecessors[i, hops[-1]]))
            hops.reverse()
            parts.extend(self.lines[u, v] for u, v in itertools.pairwise(hops))
        return np.vstack(parts) if parts else np.empty((0, 2))


def _along(line: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Points along ``line`` at cumulative distances ``spacing.cumsum()``."""
    length = np.r_[0.0, np.cumsum(np.hypot(*np.diff(line, axis=0).T))]
    at = np.cumsum(spacing)
    at = at[at < length[-1]]
    return np.column_stack([np.interp(at, length, line[:, 0]), np.interp(at, length, line[:, 1])])


def _trip(
    rng: np.random.Generator,
    roads: _Roads,
    stops: list[str],
    start: str,
    centres: dict[str, np.ndarray],
    homes: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n×2, UTM) and seconds since the trip began, in order."""
    xy, seconds = [], []
    clock = 0.0
    route = [start, *stops]
    for leg in range(len(route) - 1):
        line = roads.drive(route[leg : leg + 2])
        speed = rng.uniform(*DRIVE_SPEED_MS)
        length = float(np.hypot(*np.diff(line, axis=0).T).sum()) if len(line) > 1 else 0.0
        intervals = rng.uniform(*DRIVE_INTERVAL_S, size=int(length / (speed * 10.0)) + 2)
        points = _along(line, intervals * speed) if len(line) > 1 else np.empty((0, 2))
        xy.append(points)
        seconds.append(clock + np.cumsum(intervals)[: len(points)])
        clock += length / speed
        centre = centres[route[leg + 1]]
        # Round the centre: most readings close to the cultural house.
        n = int(rng.integers(*DWELL_READINGS))
        radius = np.minimum(rng.exponential(90.0, n), DWELL_RADIUS_M)
        angle = rng.uniform(0.0, 2 * np.pi, n)
        xy.append(centre + np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]))
        steps = np.cumsum(rng.uniform(*DWELL_INTERVAL_S, n))
        seconds.append(clock + steps)
        clock += steps[-1]
        houses = homes[route[leg + 1]]
        if rng.random() < WALK_PROBABILITY and len(houses):
            home = houses[rng.integers(len(houses))]
            walk = np.vstack([centre, home])
            intervals = rng.uniform(
                *WALK_INTERVAL_S, size=int(np.hypot(*(home - centre)) / 12.0) + 2
            )
            points = _along(walk, intervals * WALK_SPEED_MS)
            xy.append(points)
            seconds.append(clock + np.cumsum(intervals)[: len(points)])
            # Walk there and back.
            clock += 2.0 * np.hypot(*(home - centre)) / WALK_SPEED_MS
        clock += rng.uniform(120.0, 900.0)
    return np.vstack(xy), np.concatenate(seconds)


def _itinerary(names: list[str], trips: int, rng: np.random.Generator) -> list[list[str]]:
    """Villages per trip, cycling through shuffled rounds so each is visited often."""
    per_trip = int(rng.integers(*VILLAGES_PER_TRIP))
    rounds = -(-trips * per_trip // len(names))
    sequence = np.concatenate([rng.permutation(names) for _ in range(rounds)])
    chunks = [sequence[k * per_trip : (k + 1) * per_trip] for k in range(trips)]
    return [list(dict.fromkeys(chunk.tolist())) for chunk in chunks]


def simulate_readings(
    region: Region,
    households: pd.DataFrame,
    network: Network,
    field: SignalField,
    rng: np.random.Generator,
    *,
    true_positions: bool = False,
) -> pd.DataFrame:
    """Simulate the campaign and return readings in the canonical columns.

    Parameters
    ----------
    region, households, network, field
        The demo's geography, household points, cells and true median field.
    rng : numpy.random.Generator
    true_positions : bool, default False, keyword-only
        Also return ``true_x``/``true_y``: where each reading was taken
        (UTM), before the GPS error of its reported ``lat``/``lon``.

    Returns
    -------
    pandas.DataFrame
        :data:`geodata.readings.READING_COLUMNS`, sorted by time then device.
    """
    devices = plan_devices(region, field.carriers, rng)
    start = CAMPAIGN_START + pd.Timedelta(days=int(rng.integers(0, 8)))
    days = int(rng.integers(*CAMPAIGN_DAYS))
    villages = region.villages.set_index("name", drop=False)
    centres = dict(zip(villages.index, villages[["centre_x", "centre_y"]].to_numpy(), strict=True))
    by_id = {vid: g[["x", "y"]].to_numpy() for vid, g in households.groupby("village_id")}
    homes = {name: by_id.get(vid, np.empty((0, 2))) for name, vid in villages["id"].items()}
    xy, seconds, device_index = [], [], []
    for k, device in enumerate(devices):
        commune = villages[villages["commune_id"] == device.commune_id]
        roads = _Roads(region.road_nodes[device.commune_id], region.road_edges[device.commune_id])
        ends = [n for n in region.road_nodes[device.commune_id] if n not in commune.index]
        trips = int(rng.integers(*TRIPS_PER_DEVICE))
        # The first device opens and closes the campaign; the others pick days.
        trip_days = np.sort(rng.choice(days, size=trips, replace=False))
        if k == 0:
            trip_days[0], trip_days[-1] = 0, days - 1
        for day, stops in zip(trip_days, _itinerary(list(commune.index), trips, rng), strict=True):
            origin = ends[int(rng.integers(len(ends)))]
            points, offsets = _trip(rng, roads, stops, origin, centres, homes)
            xy.append(points)
            seconds.append(day * 86400.0 + rng.uniform(*TRIP_START_UTC_S) + offsets)
            device_index.append(np.full(len(points), k))
    every_xy, every_second = np.vstack(xy), np.concatenate(seconds)
    readings = _observe(
        every_xy, every_second, np.concatenate(device_index), devices, start, network, field, rng
    )
    return readings if true_positions else readings.loc[:, list(READING_COLUMNS)]


def _observe(
    xy: np.ndarray,
    seconds: np.ndarray,
    who: np.ndarray,
    devices: list[Device],
    start: pd.Timestamp,
    network: Network,
    field: SignalField,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Turn positions into readings: fading, camping, no-service, GPS error."""
    n = len(xy)
    mnc = np.array([d.mnc for d in devices])[who]
    lte = np.full(n, -200.0)
    umts = np.full(n, -200.0)
    for carrier in np.unique(mnc):
        mine = mnc == carrier
        lte[mine] = field.median(xy[mine, 0], xy[mine, 1], int(carrier), "lte")
        umts[mine] = field.median(xy[mine, 0], xy[mine, 1], int(carrier), "umts")
    lte += rng.normal(0.0, TEMPORAL_SIGMA_DB, n)
    umts += rng.normal(0.0, TEMPORAL_SIGMA_DB, n)
    # Camp on LTE when usable, else on UMTS when it serves, else weak LTE.
    on_lte = lte >= C.USABLE_DBM["lte"]
    on_umts = ~on_lte & (umts >= NO_SERVICE_DBM["umts"])
    on_lte |= ~on_umts & (lte >= NO_SERVICE_DBM["lte"])
    no_service = ~on_lte & ~on_umts
    radio = np.where(on_umts, "umts", "lte")
    lte_hi, umts_hi = C.SIGNAL_RANGE_DBM["lte"][1], C.SIGNAL_RANGE_DBM["umts"][1]
    signal = np.where(on_umts, np.minimum(umts, umts_hi), np.minimum(lte, lte_hi - 1.0))
    signal = np.round(signal)

    cells = network.cells
    cell_row = np.full(n, -1)
    for carrier in np.unique(mnc):
        for name, mask in (("lte", on_lte), ("umts", on_umts)):
            pick = (mnc == carrier) & mask
            cell_row[pick] = field.serving_cell(xy[pick, 0], xy[pick, 1], int(carrier), name)
    served = cell_row >= 0
    cell_id = pd.array(np.where(served, cells["cell"].to_numpy()[cell_row], 0), dtype="Int64")
    area = pd.array(np.where(served, cells["area"].to_numpy()[cell_row], 0), dtype="Int64")
    pci = pd.array(np.where(served, cells["unit"].to_numpy()[cell_row], 0), dtype="Int64")
    cell_id[~served] = pd.NA
    area[~served] = pd.NA
    pci[~served | on_umts] = pd.NA  # UMTS has a scrambling code, not a PCI

    # RSRQ and SINR follow the margin over the noise floor, LTE only.
    margin = lte + 118.0
    rsrq = np.clip(-11.0 + 0.12 * margin + rng.normal(0.0, 1.5, n), -19.5, -3.0).round(1)
    sinr = np.clip(0.6 * margin - 4.0 + rng.normal(0.0, 3.0, n), -10.0, 30.0).round(1)
    lte_served = on_lte & served

    accuracy = rng.uniform(*ACCURACY_M, n).round(1)
    reported = xy + rng.normal(0.0, 1.0, (n, 2)) * (accuracy / 1.5)[:, None]
    lon, lat = TO_WGS84.transform(reported[:, 0], reported[:, 1])
    times = start + pd.to_timedelta(np.round(seconds), unit="s")
    readings = pd.DataFrame(
        {
            "time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "accuracy_m": accuracy,
            "mcc": C.MCC_VIETNAM,
            "mnc": mnc,
            "radio": radio,
            "signal_dbm": pd.array(np.where(no_service, 0, signal).astype(int), dtype="Int64"),
            "no_service": np.where(no_service, "true", "false"),
            "cell_id": cell_id,
            "area_code": area,
            "pci": pci,
            "rsrq_db": np.where(lte_served, rsrq, np.nan),
            "sinr_db": np.where(lte_served, sinr, np.nan),
            "device": np.array([d.id for d in devices])[who],
            "source": np.array([d.source for d in devices])[who],
            "true_x": xy[:, 0],
            "true_y": xy[:, 1],
            "_order": seconds,
        }
    )
    readings.loc[no_service, "signal_dbm"] = pd.NA
    silent = np.array([not d.logs_no_service for d in devices])[who]
    readings = readings.loc[~(silent & no_service)]
    readings = readings.sort_values(["_order", "device"], kind="stable")
    return readings.loc[:, [*READING_COLUMNS, "true_x", "true_y"]].reset_index(drop=True)


def write_readings(readings: pd.DataFrame, path: Path) -> Path:
    """Write ``readings.csv`` in the canonical columns (empty cells for nulls)."""
    readings.loc[:, list(READING_COLUMNS)].to_csv(path, index=False, lineterminator="\n")
    return path
