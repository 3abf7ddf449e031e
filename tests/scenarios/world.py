"""Villages, hamlets, households and carrier sites in the karst world.

Villages sit on valley floors: the main hamlet (with the cultural house, the
village centre) on a valley centreline, other hamlets further along the
valley or up a side valley. Village polygons are Voronoi cells of the
village anchors, clipped to ~1.4 km around the anchor. Remote villages lie
tens of kilometres away from the square, beyond every site.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from tests.scenarios.terrain import Terrain

# Tày and Dao place names of the karst north (nà = rice field, bản = village,
# khuổi = stream, lũng = closed karst valley, pác = river mouth).
VILLAGE_NAMES = (
    "Bản Nà Lầu",
    "Thôn Khuổi Phầy",
    "Bản Pác Rằng",
    "Thôn Lũng Vài",
    "Bản Nậm Đăm",
    "Bản Phiêng Luông",
    "Thôn Nà Mòn",
    "Bản Khuổi Lùng",
    "Thôn Cốc Pài",
    "Bản Lũng Hòa",
    "Thôn Tát Kẻ",
    "Bản Nặm Pồ",
    "Thôn Pù Lầu",
    "Bản Phai Khắt",
    "Thôn Nà Đon",
    "Bản Hin Đăm",
    "Thôn Lạn Chì",
    "Bản Tà Chải",
    "Thôn Khâu Vai",
    "Bản Mỏ Phát",
    "Thôn Slam Vè",
    "Bản Cốc Lùng",
    "Thôn Nà Pục",
    "Bản Phìn Hồ",
    "Thôn Bó Mạ",
    "Bản Nà Tâm",
    "Thôn Khuổi Hóp",
    "Bản Tòng Pu",
    "Thôn Lũng Xuôi",
    "Bản Nà Ngặm",
    "Thôn Phiêng Chỉ",
    "Bản Khau Cưởm",
)
COMMUNES = ("Xuân Lạc", "Bằng Thành", "Cao Sơn", "Lũng Pù", "Hồng Quang", "Thanh Vân")
DISTRICTS = ("Chợ Đồn", "Na Hang", "Lâm Bình", "Bắc Mê")  # historical (districts abolished 2025)
PROVINCE = "Tuyên Quang"

CARRIERS = {1: "MobiFone", 2: "VinaPhone", 4: "Viettel"}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass
class Village:
    id: str
    name: str
    commune: str
    district: str
    polygon: shapely.Polygon  # metres, UTM
    centre: tuple[float, float]  # the cultural house
    households: np.ndarray  # (n, 2) positions, metres
    hamlets: list[tuple[float, float]]
    remote: bool = False
    visited: bool = True


def _valley_points(terrain: Terrain, step_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along every valley centreline and whether the valley is a main one."""
    points, main = [], []
    for valley in terrain.valleys:
        n = max(2, int(valley.line.length / step_m))
        along = shapely.line_interpolate_point(valley.line, np.linspace(0, valley.line.length, n))
        points.append(shapely.get_coordinates(along))
        main.append(np.full(n, valley.main))
    return np.vstack(points), np.concatenate(main)


def _scatter(
    rng: np.random.Generator,
    terrain: Terrain,
    polygon: shapely.Polygon,
    centre: tuple[float, float],
    count: int,
    spread_m: float,
) -> np.ndarray:
    """Household positions around a hamlet centre, on the valley floor, in the polygon."""
    chosen = np.empty((0, 2))
    for spread in (spread_m, 1.5 * spread_m, 2.5 * spread_m, 4.0 * spread_m):
        trial = np.asarray(centre) + rng.normal(0.0, spread, size=(40 * count, 2))
        ok = shapely.contains_xy(polygon, trial[:, 0], trial[:, 1])
        ok &= terrain.inside(trial[:, 0], trial[:, 1], 60.0)
        ok &= terrain.sample(terrain.floor, trial[:, 0], trial[:, 1]) >= 0.6
        chosen = np.vstack([chosen, trial[ok]])[:count]
        if len(chosen) == count:
            return chosen
    raise RuntimeError("no room for a hamlet")  # caller drops the hamlet


def make_villages(rng: np.random.Generator, terrain: Terrain, *, prefix: str) -> list[Village]:
    """15-22 valley villages, 2-3 of them never visited by a phone."""
    west, south, east, north = terrain.bounds
    points, main = _valley_points(terrain, 100.0)
    keep = terrain.inside(points[:, 0], points[:, 1], 1200.0)
    points, main = points[keep], main[keep]
    wanted = int(rng.integers(15, 23))
    anchors: list[np.ndarray] = []
    for i in rng.permutation(len(points)):
        if len(anchors) == wanted:
            break
        if all(np.hypot(*(points[i] - a)) >= 1900.0 for a in anchors):
            anchors.append(points[i])
    box = shapely.box(west + 300, south + 300, east - 300, north - 300)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.MultiPoint([tuple(a) for a in anchors]), extend_to=box)
    )
    names = rng.permutation(len(VILLAGE_NAMES))
    communes = rng.choice(len(COMMUNES), size=3, replace=False)
    villages: list[Village] = []
    for k, anchor in enumerate(anchors):
        cell = next(c for c in cells if c.contains(shapely.Point(anchor)))
        radius = rng.uniform(1100.0, 1500.0)
        polygon = shapely.Polygon(
            shapely.intersection(cell, shapely.Point(anchor).buffer(radius, 24))
            .intersection(box)
            .simplify(20.0)
            .exterior
        )
        total = int(rng.integers(30, 201))
        hamlets = [tuple(anchor)]
        near = shapely.contains_xy(polygon, points[:, 0], points[:, 1])
        near &= np.hypot(*(points - anchor).T) >= 450.0
        candidates = points[near]
        side = candidates[~main[near]]
        extra = int(rng.integers(1, 4))
        if len(side) and rng.random() < 0.6:  # a hamlet up a side valley
            hamlets.append(tuple(side[rng.integers(len(side))]))
        while len(hamlets) < extra + 1 and len(candidates):
            pick = candidates[rng.integers(len(candidates))]
            if all(np.hypot(*(pick - np.asarray(h))) >= 350.0 for h in hamlets):
                hamlets.append(tuple(pick))
            candidates = candidates[np.hypot(*(candidates - pick).T) >= 350.0]
        shares = rng.dirichlet(np.r_[3.0, np.full(len(hamlets) - 1, 1.5)])
        counts = np.maximum(1, np.round(shares * total)).astype(int)
        counts[0] += total - counts.sum()
        houses, placed = [], []
        for hamlet, count in zip(hamlets, counts, strict=True):
            try:
                houses.append(
                    _scatter(rng, terrain, polygon, hamlet, int(count), rng.uniform(50.0, 110.0))
                )
                placed.append(hamlet)
            except RuntimeError:
                continue
        households = np.vstack(houses)
        if len(households) < 30:
            continue
        centre = _scatter(rng, terrain, polygon, hamlets[0], 1, 25.0)[0]
        third = min(2, int(3 * (anchor[0] - west) / (east - west)))  # communes west to east
        commune = COMMUNES[int(communes[third])]
        villages.append(
            Village(
                id=f"{prefix}-v{k + 1:02d}",
                name=nfc(VILLAGE_NAMES[int(names[k])]),
                commune=nfc(commune),
                district=nfc(DISTRICTS[k % len(DISTRICTS)]),
                polygon=polygon,
                centre=(float(centre[0]), float(centre[1])),
                households=households,
                hamlets=placed,
            )
        )
    unvisited = rng.choice(len(villages), size=int(rng.integers(2, 4)), replace=False)
    for i in unvisited:
        villages[int(i)].visited = False
    return villages


def make_remote_villages(
    rng: np.random.Generator,
    terrain: Terrain,
    site_xy: np.ndarray,
    *,
    prefix: str,
    start: int,
    taken: set[str],
) -> list[Village]:
    """2-3 villages 55-75 km from the square's centre, ≥ 45 km from every site,
    named unlike the ``taken`` names."""
    west, south, east, north = terrain.bounds
    cx, cy = (west + east) / 2, (south + north) / 2
    villages: list[Village] = []
    used = {i for i, n in enumerate(VILLAGE_NAMES) if nfc(n) in taken}
    wanted = int(rng.integers(2, 4))
    while len(villages) < wanted:
        angle = rng.uniform(0, 2 * np.pi)
        reach = rng.uniform(55_000.0, 75_000.0)
        x, y = cx + reach * np.sin(angle), cy + reach * np.cos(angle)
        if np.hypot(site_xy[:, 0] - x, site_xy[:, 1] - y).min() < 45_000.0:
            continue
        k = start + len(villages)
        corners = rng.uniform(700.0, 1100.0, size=9)
        theta = np.linspace(0, 2 * np.pi, 9, endpoint=False)
        polygon = shapely.Polygon(
            np.column_stack([x + corners * np.sin(theta), y + corners * np.cos(theta)])
        )
        count = int(rng.integers(30, 121))
        houses = np.array([x, y]) + rng.normal(0.0, 150.0, size=(count * 4, 2))
        houses = houses[shapely.contains_xy(polygon, houses[:, 0], houses[:, 1])][:count]
        name = next(n for n in rng.permutation(len(VILLAGE_NAMES)) if int(n) not in used)
        used.add(int(name))
        villages.append(
            Village(
                id=f"{prefix}-r{k:02d}",
                name=nfc(VILLAGE_NAMES[int(name)]),
                commune=nfc("Thượng Lâm"),
                district=nfc("Lâm Bình"),
                polygon=polygon,
                centre=(float(houses[0, 0]), float(houses[0, 1])),
                households=houses,
                hamlets=[(x, y)],
                remote=True,
                visited=False,
            )
        )
    return villages


def make_sites(
    rng: np.random.Generator, terrain: Terrain, villages: list[Village]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sites (one row per mast and carrier) and their cells (3 sectors per radio).

    Sites stand near villages, mostly on the valley floor beside the road
    (30-45 m masts), some on a low hill (15-25 m). Viettel has the most
    sites, MobiFone the fewest; a carrier rarely shares another's mast.
    """
    anchors = np.array([v.hamlets[0] for v in villages])
    rows = []
    counts = {4: int(rng.integers(6, 9)), 2: int(rng.integers(4, 7)), 1: int(rng.integers(3, 6))}
    for mnc, count in counts.items():
        for _ in range(count):
            if rows and rng.random() < 0.2:  # a shared mast
                other = rows[int(rng.integers(len(rows)))]
                x, y, hill = other["x"], other["y"], other["hill"]
            else:
                hill = rng.random() < 0.3
                for _ in range(500):
                    a = anchors[int(rng.integers(len(anchors)))]
                    x, y = a + rng.normal(0.0, 600.0, size=2)
                    if not terrain.inside(np.array(x), np.array(y), 1500.0):
                        continue
                    floor = float(terrain.sample(terrain.floor, np.array(x), np.array(y)))
                    if (hill and floor < 0.05) or (not hill and floor > 0.95):
                        break
            rows.append({"mnc": mnc, "x": float(x), "y": float(y), "hill": bool(hill)})
    sites = pd.DataFrame(rows)
    sites["ground_m"] = terrain.sample(terrain.z, sites["x"].to_numpy(), sites["y"].to_numpy())
    sites["height_m"] = np.where(
        sites["hill"], rng.uniform(15, 25, len(sites)), rng.uniform(30, 45, len(sites))
    ).round(0)
    sites["offset_db"] = np.clip(rng.normal(0.0, 3.0, len(sites)), -6.0, 6.0)
    sites["umts"] = rng.random(len(sites)) < np.where(sites["mnc"] == 1, 0.25, 0.45)
    cells = []
    enb = rng.choice(np.arange(20_000, 200_000), size=len(sites), replace=False)
    tac = {m: int(rng.integers(10_000, 30_000)) for m in CARRIERS}
    lac = {m: int(rng.integers(1_000, 60_000)) for m in CARRIERS}
    for site in sites.itertuples():
        first = rng.uniform(0, 120)
        radios = ["lte", "umts"] if site.umts else ["lte"]
        for radio in radios:
            for sector in range(3):
                if radio == "lte":  # ECI = eNodeB id * 256 + local cell id
                    cell_id = int(enb[site.Index]) * 256 + sector + 1
                else:  # UMTS: RNC id * 65536 + cell id
                    cell_id = (int(enb[site.Index]) % 4000 + 1) * 65536 + 10 * sector + 1
                cells.append(
                    {
                        "site": site.Index,
                        "mnc": site.mnc,
                        "radio": radio,
                        "azimuth_deg": round((first + 120.0 * sector) % 360.0, 0),
                        "beamwidth_deg": 65.0,
                        "eirp_dbm": round(
                            float(rng.uniform(58, 63) if radio == "lte" else rng.uniform(54, 58)), 1
                        ),
                        "freq_mhz": 1800.0 if radio == "lte" else 2100.0,
                        "cell_id": cell_id,
                        "area": tac[site.mnc] if radio == "lte" else lac[site.mnc],
                        "unit": int(rng.integers(0, 504 if radio == "lte" else 512)),
                    }
                )
    return sites, pd.DataFrame(cells)
