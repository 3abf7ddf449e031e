"""A field campaign: phones walking the valley paths of the villages and
driving the main valley roads, over several days in October-November 2026.

Each device carries one or two SIMs (carriers) and logs, at each fix, one row
per SIM on the radio it camps on (the radio with the better margin over its
usable threshold). Half the devices never log no-service: when the phone has
no service they write nothing. The instantaneous signal is the true median
plus temporal fading (σ_t of the place, correlated from one fix to the next)
plus a per-device bias; below the radio's service floor the phone has no
service.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.signal import lfilter

from tests.scenarios.radio import REPORT_RANGE_DBM, SERVICE_FLOOR_DBM, CarrierField
from tests.scenarios.terrain import TO_WGS84, Terrain
from tests.scenarios.world import Village

WALK_STEP_M = 20.0
DRIVE_STEP_M = 80.0
WALK_SPEED_MS = 1.2
DRIVE_SPEED_MS = 8.0
FADING_CORRELATION = 0.6  # between consecutive fixes of one phone
CAMPAIGN_START = pd.Timestamp("2026-10-06T00:00:00Z")


@dataclass
class Routes:
    """Fixed path pieces (arrays of node indices) and the nodes' positions."""

    xy: np.ndarray  # (nodes, 2), metres
    walks: dict[str, list[np.ndarray]]  # village id -> pieces of path
    drives: list[np.ndarray]


def _sample_line(line: shapely.LineString, step: float) -> np.ndarray:
    n = max(2, int(line.length / step) + 1)
    return shapely.get_coordinates(
        shapely.line_interpolate_point(line, np.linspace(0, line.length, n))
    )


def make_routes(rng: np.random.Generator, terrain: Terrain, villages: list[Village]) -> Routes:
    """Walks inside visited villages (valley paths, loops round the hamlets)
    and drives along the main valleys, outside the villages nobody visited."""
    pieces: list[np.ndarray] = []
    walks: dict[str, list[np.ndarray]] = {}
    drives: list[np.ndarray] = []
    closed = shapely.union_all([v.polygon for v in villages if not v.visited])

    def add(points: np.ndarray) -> np.ndarray:
        start = sum(len(p) for p in pieces)
        pieces.append(points)
        return np.arange(start, start + len(points))

    for village in villages:
        if not village.visited:
            continue
        own: list[np.ndarray] = []
        for valley in terrain.valleys:
            inside = shapely.intersection(valley.line, village.polygon)
            for part in shapely.get_parts(
                shapely.line_merge(inside) if not inside.is_empty else inside
            ):
                if part.geom_type == "LineString" and part.length > 3 * WALK_STEP_M:
                    own.append(add(_sample_line(part, WALK_STEP_M)))
        for hx, hy in village.hamlets:
            radius = rng.uniform(60.0, 160.0)
            theta = np.linspace(0, 2 * np.pi, max(8, int(2 * np.pi * radius / WALK_STEP_M)))
            ring = np.column_stack([hx + radius * np.sin(theta), hy + radius * np.cos(theta)])
            ring += rng.normal(0.0, 10.0, ring.shape)
            ok = terrain.sample(terrain.floor, ring[:, 0], ring[:, 1]) >= 0.3
            ok &= shapely.contains_xy(village.polygon, ring[:, 0], ring[:, 1])
            if ok.sum() >= 4:
                own.append(add(ring[ok]))
        walks[village.id] = own
    for valley in terrain.valleys:
        if not valley.main:
            continue
        road = shapely.difference(valley.line, closed) if not closed.is_empty else valley.line
        for part in shapely.get_parts(
            shapely.line_merge(road) if road.geom_type != "LineString" else road
        ):
            if part.length > 1000.0:
                drives.append(add(_sample_line(part, DRIVE_STEP_M)))
    return Routes(xy=np.vstack(pieces), walks=walks, drives=drives)


def _fading(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-variance AR(1) fading along one phone's sequence of fixes."""
    rho = FADING_CORRELATION
    noise = rng.standard_normal(n)
    out = lfilter([np.sqrt(1 - rho * rho)], [1.0, -rho], noise, zi=[rho * noise[0]])[0]
    out[0] = noise[0]
    return np.asarray(out)


def simulate_campaign(
    rng: np.random.Generator,
    routes: Routes,
    fields: dict[int, CarrierField],
    cells: pd.DataFrame,
    *,
    prefix: str,
) -> pd.DataFrame:
    """The readings table (native columns) of the whole campaign."""
    carriers = sorted(fields)
    n_devices = int(rng.integers(6, 9))
    silent = set(rng.choice(n_devices, size=n_devices // 2, replace=False).tolist())
    days = int(rng.integers(3, 6))
    first_day = CAMPAIGN_START + pd.Timedelta(days=int(rng.integers(0, 30)))
    village_ids = sorted(routes.walks)
    rows: list[pd.DataFrame] = []
    for device in range(n_devices):
        sims = [carriers[device % len(carriers)]]
        if rng.random() < 0.5:
            sims.append(carriers[(device + 1 + int(rng.integers(2))) % len(carriers)])
        sims = sorted(set(sims))
        bias = rng.normal(0.0, 1.5)
        floor_shift = rng.normal(0.0, 1.0)
        logs_no_service = device not in silent
        name = f"{prefix}-phone-{device + 1:02d}"
        source = "netmonitor" if device % 2 else "lomsong-android"
        for day in range(days):
            if rng.random() < 0.25:
                continue
            clock = first_day + pd.Timedelta(days=day, minutes=int(rng.integers(30, 150)))
            nodes, speeds = [], []
            for vid in rng.choice(village_ids, size=min(3, len(village_ids)), replace=False):
                for piece in routes.walks[str(vid)]:
                    if rng.random() < 0.75:
                        stride = int(rng.integers(1, 3))
                        nodes.append(piece[::stride][:: 1 if rng.random() < 0.5 else -1])
                        speeds.append(np.full(len(nodes[-1]), WALK_STEP_M * stride / WALK_SPEED_MS))
            if routes.drives and rng.random() < 0.6:
                drive = routes.drives[int(rng.integers(len(routes.drives)))]
                nodes.append(drive)
                speeds.append(np.full(len(drive), DRIVE_STEP_M / DRIVE_SPEED_MS))
            if not nodes:
                continue
            node = np.concatenate(nodes)
            gaps = np.concatenate(speeds) + rng.uniform(0.0, 4.0, len(node))
            starts = np.cumsum([len(n) for n in nodes])[:-1]
            gaps[starts] += rng.uniform(180, 900, len(starts))  # moving on to the next path
            seconds = np.cumsum(gaps).round()
            times = clock + pd.to_timedelta(seconds, unit="s")
            accuracy = rng.uniform(3.0, 15.0, len(node)).round(1)
            xy = routes.xy[node] + rng.normal(0.0, 1.0, (len(node), 2)) * accuracy[:, None] / 2
            lon, lat = TO_WGS84.transform(xy[:, 0], xy[:, 1])
            for mnc in sims:
                field = fields[mnc]
                camped, median, serving = field.camped()
                radio, median, serving = camped[node], median[node], serving[node]
                level = median + field.sigma_db[node] * _fading(rng, len(node)) + bias
                floor = np.array([SERVICE_FLOOR_DBM[r] for r in radio]) + floor_shift
                service = level >= floor
                keep = service | logs_no_service
                low = np.array([REPORT_RANGE_DBM[r][0] for r in radio])
                high = np.array([REPORT_RANGE_DBM[r][1] for r in radio])
                signal = np.clip(np.round(level), low, high)
                cell = cells.iloc[serving]
                is_lte = radio == "lte"
                frame = pd.DataFrame(
                    {
                        "time": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "lat": np.round(lat, 7),
                        "lon": np.round(lon, 7),
                        "accuracy_m": accuracy,
                        "mcc": 452,
                        "mnc": mnc,
                        "radio": radio,
                        "signal_dbm": pd.array(np.where(service, signal, np.nan), dtype="Int64"),
                        "no_service": np.where(service, "false", "true"),
                        "cell_id": pd.array(
                            np.where(service, cell["cell_id"], np.nan), dtype="Int64"
                        ),
                        "area_code": pd.array(
                            np.where(service, cell["area"], np.nan), dtype="Int64"
                        ),
                        "pci": pd.array(
                            np.where(service & is_lte, cell["unit"], np.nan), dtype="Int64"
                        ),
                        "rsrq_db": np.nan,
                        "sinr_db": np.nan,
                        "device": name,
                        "source": source,
                    }
                )
                rows.append(frame.loc[keep])
    readings = pd.concat(rows, ignore_index=True)
    return readings.sort_values(["device", "time", "mnc"], kind="stable").reset_index(drop=True)
