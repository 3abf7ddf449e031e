"""The demo region's geography: communes, villages, roads and the Bản Giòng ridge.

Everything is laid out by hand in kilometres around each commune's bounding
box centre (UTM 48N), so that the facts the demo is grounded in (the twelve
villages of Thượng Nông, Bản Giòng's 98 households, its 2.6 km and 3.5 km to
the nearest VNPT sites) hold for every seed. The seed only varies what the
facts leave open: Linh Phú's households, poverty rates, the bends of the
roads. The hamlets' side valleys are drawn from a fixed layout seed, so each
village keeps its shape from seed to seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike
from pyproj import Transformer

from geodata import constants as C
from geodata.text import fold, nfc

#: Metric CRS of all demo geometry work (UTM zone 48N covers Tuyên Quang).
CRS_UTM: str = "EPSG:32648"
PROVINCE: str = "Tuyên Quang"

_TO_UTM = Transformer.from_crs(C.CRS_WGS84, CRS_UTM, always_xy=True)
TO_WGS84 = Transformer.from_crs(CRS_UTM, C.CRS_WGS84, always_xy=True)


@dataclass(frozen=True)
class CommuneLayout:
    """A commune drawn in km offsets (east, north) from its bbox centre."""

    id: str
    name: str
    district: str
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max
    semi_axes_km: tuple[float, float]
    # Radial wobble of the outline: (amplitude, harmonic, phase) terms.
    wobble: tuple[tuple[float, int, float], ...]
    villages: tuple[tuple[str, float, float], ...]  # name, x_km, y_km
    waypoints: tuple[tuple[str, float, float], ...]  # junctions and road exits
    roads: tuple[tuple[str, str], ...]  # edges between villages/waypoints


THUONG_NONG = CommuneLayout(
    id="thuong-nong",
    name="Thượng Nông",
    district="Na Hang",
    bbox=(105.424, 22.534, 105.555, 22.613),
    semi_axes_km=(5.6, 3.4),
    wobble=((0.10, 2, 0.7), (0.07, 3, 2.1), (0.05, 5, 0.3)),
    villages=(
        ("Nà Khản", -4.0, 0.5),
        ("Bản Khẻ", -3.0, 1.9),
        ("Nà Tà", -2.6, -0.5),
        ("Bản Hun", -1.3, 0.9),
        ("Khoan Hạ", -0.9, -1.4),
        ("Khoan Thượng", -0.2, -2.6),
        ("Đống Đa 1", 0.3, 0.0),
        ("Đống Đa 2", 1.1, 1.3),
        ("Pắc Củng", 2.3, -0.3),
        ("Bản Giòng", 2.7, 1.9),
        ("Nà Cào", 3.9, 0.6),
        ("Thôm Luông", 3.6, -1.5),
    ),
    waypoints=(("exit-west", -7.5, 0.2), ("exit-east", 7.5, 1.0), ("exit-south", 6.0, -4.2)),
    roads=(
        ("exit-west", "Nà Khản"),
        ("Nà Khản", "Nà Tà"),
        ("Nà Khản", "Bản Khẻ"),
        ("Nà Tà", "Bản Hun"),
        ("Nà Tà", "Đống Đa 1"),
        ("Đống Đa 1", "Khoan Hạ"),
        ("Khoan Hạ", "Khoan Thượng"),
        ("Đống Đa 1", "Đống Đa 2"),
        ("Đống Đa 1", "Pắc Củng"),
        ("Pắc Củng", "Nà Cào"),
        ("Nà Cào", "Bản Giòng"),
        ("Nà Cào", "exit-east"),
        ("Pắc Củng", "Thôm Luông"),
        ("Thôm Luông", "exit-south"),
    ),
)

LINH_PHU = CommuneLayout(
    id="linh-phu",
    name="Linh Phú",
    district="Chiêm Hóa",
    bbox=(105.385, 21.946, 105.491, 22.074),
    semi_axes_km=(4.5, 6.0),
    wobble=((0.08, 2, 1.9), (0.09, 3, 0.4), (0.05, 4, 2.6)),
    villages=(
        ("Nà Mường", 0.0, 0.3),
        ("Bản Bó", -1.7, 1.7),
        ("Bản Kè", 0.9, 2.8),
        ("Khuôn Hẻ", -1.2, 4.4),
        ("Khau Cau", 2.7, 1.0),
        ("Nà Coóc", 1.5, -1.6),
        ("Phiêng Lịch", -2.5, -0.9),
        ("Nặm Tà", -0.9, -3.3),
        ("Nà Pồng", 1.2, -4.2),
    ),
    waypoints=(("exit-south", 1.0, -8.0), ("exit-west", -6.5, -1.6), ("exit-east", 6.0, 1.8)),
    roads=(
        ("exit-south", "Nà Pồng"),
        ("Nà Pồng", "Nà Coóc"),
        ("Nà Coóc", "Nặm Tà"),
        ("Nà Coóc", "Nà Mường"),
        ("Nà Mường", "Phiêng Lịch"),
        ("Phiêng Lịch", "exit-west"),
        ("Nà Mường", "Bản Bó"),
        ("Nà Mường", "Bản Kè"),
        ("Bản Kè", "Khuôn Hẻ"),
        ("Nà Mường", "Khau Cau"),
        ("Khau Cau", "exit-east"),
    ),
)

COMMUNES: tuple[CommuneLayout, ...] = (THUONG_NONG, LINH_PHU)

# The village and sites that ground the demo (DESIGN.md, "The problem").
BAN_GIONG = "Bản Giòng"
BAN_GIONG_HOUSEHOLDS = 98
THUONG_NONG_HOUSEHOLDS = 923
# Households of Thượng Nông's villages; they sum to the 2016 figure of 923.
_THUONG_NONG_HOUSEHOLDS = {
    "Nà Khản": 86,
    "Bản Khẻ": 62,
    "Nà Tà": 74,
    "Bản Hun": 68,
    "Khoan Hạ": 75,
    "Khoan Thượng": 66,
    "Đống Đa 1": 95,
    "Đống Đa 2": 71,
    "Pắc Củng": 77,
    "Bản Giòng": BAN_GIONG_HOUSEHOLDS,
    "Nà Cào": 70,
    "Thôm Luông": 81,
}
# Nearest VNPT sites to Bản Giòng: distance (km) and compass bearing (deg).
# ThuongGiap_TQG stands north, in neighbouring Thượng Giáp; Thuong-NongII_TQG
# west-south-west; the limestone ridge arcs between them and the village.
BAN_GIONG_SITES = {"ThuongGiap_TQG": (2.6, 10.0), "Thuong-NongII_TQG": (3.5, 250.0)}
# The ridge: an arc around Bản Giòng (radius km, from/to compass bearing deg),
# leaving the valley open to the south-east where the road to Nà Cào runs.
BAN_GIONG_RIDGE = (1.1, 200.0, 420.0)
# Linh Phú's households per village are drawn in this range (brief: 60-200).
LINH_PHU_HOUSEHOLDS = (60, 200)
# Persons per household in rural Tuyên Quang: about 4.5 (2019 census).
PERSONS_PER_HOUSEHOLD = (4.2, 4.8)
# Seed of the fixed parts of the layout (hamlet side valleys).
_LAYOUT_SEED = 2016


def slug(text: str) -> str:
    """Return a lower-case ASCII id from Vietnamese text ("Bản Giòng" -> "ban-giong")."""
    return "-".join(fold(text).replace(".", "").split())


def commune_origin(commune: CommuneLayout) -> tuple[float, float]:
    """UTM (x, y) of the centre of the commune's bounding box."""
    lon_min, lat_min, lon_max, lat_max = commune.bbox
    x, y = _TO_UTM.transform((lon_min + lon_max) / 2, (lat_min + lat_max) / 2)
    return float(x), float(y)


def to_utm(commune: CommuneLayout, x_km: float, y_km: float) -> tuple[float, float]:
    """UTM metres of a point given in km offsets from the commune origin."""
    x0, y0 = commune_origin(commune)
    return x0 + 1000.0 * x_km, y0 + 1000.0 * y_km


def commune_polygon(commune: CommuneLayout) -> shapely.Polygon:
    """Return the commune outline in UTM: a wobbly ellipse inside the real bbox."""
    theta = np.linspace(0.0, 2 * np.pi, 181)[:-1]
    radius = np.ones_like(theta)
    for amplitude, harmonic, phase in commune.wobble:
        radius += amplitude * np.sin(harmonic * theta + phase)
    a, b = commune.semi_axes_km
    x0, y0 = commune_origin(commune)
    xs = x0 + 1000.0 * a * radius * np.cos(theta)
    ys = y0 + 1000.0 * b * radius * np.sin(theta)
    return shapely.Polygon(np.column_stack([xs, ys]))


def ban_giong_xy() -> tuple[float, float]:
    """UTM position of Bản Giòng's centre."""
    (x_km, y_km) = next((x, y) for n, x, y in THUONG_NONG.villages if n == BAN_GIONG)
    return to_utm(THUONG_NONG, x_km, y_km)


def point_from(
    origin: tuple[float, float], distance_km: float, bearing_deg: ArrayLike
) -> tuple[Any, Any]:
    """UTM point at a distance and compass bearing from ``origin``."""
    bearing = np.radians(bearing_deg)
    return (
        origin[0] + 1000.0 * distance_km * np.sin(bearing),
        origin[1] + 1000.0 * distance_km * np.cos(bearing),
    )


def ridge_lines() -> list[np.ndarray]:
    """Polylines (UTM, n×2) of the explicit limestone ridges."""
    radius_km, start, stop = BAN_GIONG_RIDGE
    centre = ban_giong_xy()
    bearings = np.linspace(start, stop, 40)
    x, y = point_from(centre, radius_km, bearings)
    return [np.column_stack([x, y])]


@dataclass(frozen=True)
class Region:
    """The demo's geography in UTM: communes, villages, roads, hamlet spurs."""

    communes: gpd.GeoDataFrame  # one row per commune, CRS_UTM
    villages: gpd.GeoDataFrame  # Voronoi polygons, CRS_UTM, centre_x/centre_y columns
    roads: list[tuple[str, np.ndarray]]  # (commune id, polyline n×2)
    road_nodes: dict[str, dict[str, tuple[float, float]]]  # commune -> node -> xy
    road_edges: dict[str, list[tuple[str, str, np.ndarray]]]  # commune -> edges
    spurs: list[tuple[str, np.ndarray]]  # (village id, polyline) side valleys


def _road_polyline(
    a: tuple[float, float], b: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Return a road between two nodes: a gentle bend, as valleys are never straight."""
    a_, b_ = np.asarray(a), np.asarray(b)
    length = np.hypot(*(b_ - a_))
    normal = np.array([-(b_ - a_)[1], (b_ - a_)[0]]) / max(length, 1.0)
    t = np.linspace(0.0, 1.0, 9)[:, None]
    bend = rng.uniform(-0.12, 0.12) * length * np.sin(np.pi * t)
    line: np.ndarray = a_ + t * (b_ - a_) + bend * normal
    return line


def build_region(rng: np.random.Generator) -> Region:
    """Lay out communes, villages (Voronoi cells), roads and hamlet spurs.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of every random choice.

    Returns
    -------
    Region
    """
    commune_rows, village_rows = [], []
    roads: list[tuple[str, np.ndarray]] = []
    spurs: list[tuple[str, np.ndarray]] = []
    road_nodes: dict[str, dict[str, tuple[float, float]]] = {}
    road_edges: dict[str, list[tuple[str, str, np.ndarray]]] = {}
    for commune in COMMUNES:
        polygon = commune_polygon(commune)
        commune_rows.append(
            {
                "id": commune.id,
                "name": nfc(commune.name),
                "district": nfc(commune.district),
                "province": nfc(PROVINCE),
                "geometry": polygon,
            }
        )
        names = [nfc(n) for n, _, _ in commune.villages]
        centres = np.array([to_utm(commune, x, y) for _, x, y in commune.villages])
        cells = shapely.voronoi_polygons(
            shapely.MultiPoint(centres), extend_to=polygon, ordered=True
        )
        cells = shapely.intersection(np.asarray(cells.geoms), polygon)
        if commune.id == THUONG_NONG.id:
            households = [_THUONG_NONG_HOUSEHOLDS[n] for n in names]
        else:
            low, high = LINH_PHU_HOUSEHOLDS
            households = rng.integers(low, high + 1, size=len(names)).tolist()
        persons = rng.uniform(*PERSONS_PER_HOUSEHOLD, size=len(names))
        poverty = rng.uniform(0.12, 0.55, size=len(names))
        for i, name in enumerate(names):
            # Over 60 % of Bản Giòng's households are poor (DESIGN.md).
            rate = rng.uniform(0.61, 0.70) if name == nfc(BAN_GIONG) else poverty[i]
            village_rows.append(
                {
                    "id": f"{commune.id}-{slug(name)}",
                    "name": name,
                    "commune_id": commune.id,
                    "commune": nfc(commune.name),
                    "district": nfc(commune.district),
                    "province": nfc(PROVINCE),
                    "households": int(households[i]),
                    "population": round(households[i] * persons[i]),
                    "poverty_rate": round(float(rate), 3),
                    "centre_x": centres[i, 0],
                    "centre_y": centres[i, 1],
                    "geometry": cells[i],
                }
            )
        nodes = dict(zip(names, map(tuple, centres), strict=True))
        nodes |= {w: to_utm(commune, x, y) for w, x, y in commune.waypoints}
        road_nodes[commune.id] = nodes
        edges = []
        for a, b in commune.roads:
            line = _road_polyline(nodes[nfc(a)], nodes[nfc(b)], rng)
            edges.append((nfc(a), nfc(b), line))
            roads.append((commune.id, line))
        road_edges[commune.id] = edges
    villages = gpd.GeoDataFrame(pd.DataFrame(village_rows), geometry="geometry", crs=CRS_UTM)
    # Side valleys are geography, the same for every seed (like the villages).
    layout_rng = np.random.default_rng(_LAYOUT_SEED)
    for row in villages.itertuples():
        spurs.extend((row.id, line) for line in _hamlet_spurs(row, layout_rng))
    return Region(
        communes=gpd.GeoDataFrame(pd.DataFrame(commune_rows), geometry="geometry", crs=CRS_UTM),
        villages=villages,
        roads=roads,
        road_nodes=road_nodes,
        road_edges=road_edges,
        spurs=spurs,
    )


def _hamlet_spurs(village: Any, rng: np.random.Generator) -> list[np.ndarray]:
    """One or two side valleys from a village centre, ending inside its cell.

    Hamlets (xóm) sit up these; the valley carving in terrain.py follows them.
    """
    spurs = []
    cell = village.geometry.buffer(-150.0)
    for _ in range(int(rng.integers(1, 3))):
        for _attempt in range(12):
            bearing = rng.uniform(0.0, 360.0)
            length_km = rng.uniform(0.5, 1.1)
            end = point_from((village.centre_x, village.centre_y), length_km, bearing)
            if cell.contains(shapely.Point(end)):
                t = np.linspace(0.0, 1.0, 6)[:, None]
                start = np.array([village.centre_x, village.centre_y])
                spurs.append(start + t * (np.asarray(end) - start))
                break
    return spurs
