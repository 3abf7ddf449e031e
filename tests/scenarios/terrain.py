"""Karst terrain: flat valley floors between steep limestone towers and ridges.

The world is a square of ``SIZE_PX`` x ``SIZE_PX`` pixels of ``CELL_M`` metres
in UTM zone 48N (EPSG:32648), somewhere around 22°N 105°E. Valleys are
meandering polylines (two or three main valleys crossing the square, side
valleys branching off them); away from a valley floor the ground rises in a
steep wall to a karst massif of cone-shaped towers (fengcong).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from scipy import ndimage
from scipy.spatial import cKDTree

CRS_UTM = "EPSG:32648"  # UTM zone 48N: 102°E-108°E, all of northern Vietnam's karst
CELL_M = 30.0
SIZE_PX = 700  # 21 km square

TO_WGS84 = Transformer.from_crs(CRS_UTM, "EPSG:4326", always_xy=True)
TO_UTM = Transformer.from_crs("EPSG:4326", CRS_UTM, always_xy=True)


@dataclass(frozen=True)
class Valley:
    """A valley: its centreline (metres, UTM) and the half-width of its flat floor."""

    line: shapely.LineString
    half_width_m: float
    main: bool


@dataclass(frozen=True)
class Terrain:
    """The DEM and what was used to build it.

    ``z[row, col]`` is the elevation of the pixel whose centre is at
    ``x0 + (col + 0.5) * CELL_M``, ``y0 - (row + 0.5) * CELL_M`` (row 0 north).
    """

    z: np.ndarray
    x0: float
    y0: float
    valleys: tuple[Valley, ...]
    floor: np.ndarray  # 1 on a valley floor, falling to 0 up the wall
    slope_deg: np.ndarray

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        size = SIZE_PX * CELL_M
        return self.x0, self.y0 - size, self.x0 + size, self.y0

    def pixel(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (row, col) of points, in pixel-centre coordinates."""
        return (self.y0 - y) / CELL_M - 0.5, (x - self.x0) / CELL_M - 0.5

    def sample(self, grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear value of ``grid`` (a raster on the DEM's pixels) at points."""
        row, col = self.pixel(np.asarray(x, float), np.asarray(y, float))
        shape = row.shape
        coords = np.vstack([row.ravel(), col.ravel()])
        return ndimage.map_coordinates(grid, coords, order=1, mode="nearest").reshape(shape)

    def inside(self, x: np.ndarray, y: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
        west, south, east, north = self.bounds
        return (
            (x >= west + margin_m)
            & (x <= east - margin_m)
            & (y >= south + margin_m)
            & (y <= north - margin_m)
        )


def gaussian_field(rng: np.random.Generator, correlation_m: float) -> np.ndarray:
    """A stationary Gaussian random field on the DEM's pixels, unit variance.

    White noise smoothed by a Gaussian kernel of σ_k pixels has the
    correlation exp(-r²/(4σ_k²)), which falls to 1/e at r = 2σ_k: so
    σ_k = correlation / 2.
    """
    sigma_px = correlation_m / CELL_M / 2.0
    pad = int(4 * sigma_px) + 1
    noise = rng.standard_normal((SIZE_PX + 2 * pad, SIZE_PX + 2 * pad))
    field = ndimage.gaussian_filter(noise, sigma_px, mode="wrap")[pad:-pad, pad:-pad]
    return (field - field.mean()) / field.std()


def _wander(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    *,
    step_m: float,
    length_m: float,
    turn_deg: float,
    box: tuple[float, float, float, float],
    pull: float = 0.0,
) -> shapely.LineString:
    """A meandering line from ``start``: random heading changes, a pull back
    towards the initial heading, stopped at ``length_m`` or at the box."""
    west, south, east, north = box
    points = [start.copy()]
    current = heading
    for _ in range(int(length_m / step_m)):
        current += np.deg2rad(rng.normal(0.0, turn_deg)) - pull * (current - heading)
        nxt = points[-1] + step_m * np.array([np.sin(current), np.cos(current)])
        points.append(nxt)
        if not (west <= nxt[0] <= east and south <= nxt[1] <= north):
            break
    return shapely.LineString(points)


def _valleys(rng: np.random.Generator, box: tuple[float, float, float, float]) -> list[Valley]:
    west, south, east, north = box
    size = east - west
    valleys: list[Valley] = []
    # Main valleys cross the square: one roughly west-east, one roughly
    # north-south, sometimes a third on a diagonal.
    starts = [
        (np.array([west, south + size * rng.uniform(0.3, 0.7)]), 90.0),
        (np.array([west + size * rng.uniform(0.3, 0.7), north]), 180.0),
    ]
    if rng.random() < 0.6:
        starts.append((np.array([west + size * rng.uniform(0.0, 0.3), south]), 45.0))
    for start, heading in starts:
        line = _wander(
            rng,
            start,
            np.deg2rad(heading + rng.normal(0, 10)),
            step_m=300.0,
            length_m=1.6 * size,
            turn_deg=9.0,
            box=box,
            pull=0.15,
        )
        valleys.append(Valley(line, float(rng.uniform(220.0, 420.0)), True))
    # Side valleys: narrow, branching off a main valley, a few km long.
    for _ in range(int(rng.integers(6, 10))):
        parent = valleys[int(rng.integers(len(starts)))].line
        origin = np.asarray(parent.interpolate(rng.uniform(0.1, 0.9), normalized=True).coords[0])
        ahead = np.asarray(
            parent.interpolate(parent.project(shapely.Point(origin)) + 50.0).coords[0]
        )
        along = np.arctan2(*(ahead - origin))  # heading of the parent valley (atan2(dx, dy))
        heading = along + np.deg2rad(rng.choice([-1, 1]) * rng.uniform(60, 110))
        line = _wander(
            rng,
            origin,
            heading,
            step_m=200.0,
            length_m=rng.uniform(1800, 4000),
            turn_deg=18.0,
            box=box,
            pull=0.1,
        )
        valleys.append(Valley(line, float(rng.uniform(90.0, 170.0)), False))
    return valleys


def make_terrain(rng: np.random.Generator, *, lon: float, lat: float) -> Terrain:
    """Build the karst DEM centred near (lon, lat)."""
    cx, cy = TO_UTM.transform(lon, lat)
    size = SIZE_PX * CELL_M
    x0, y0 = round(cx - size / 2, -1), round(cy + size / 2, -1)
    box = (x0, y0 - size, x0 + size, y0)
    valleys = _valleys(rng, box)

    cols = x0 + (np.arange(SIZE_PX) + 0.5) * CELL_M
    rows = y0 - (np.arange(SIZE_PX) + 0.5) * CELL_M
    gx, gy = np.meshgrid(cols, rows)
    # Distance from every pixel to the nearest valley centreline, and that
    # valley's floor half-width.
    pts, widths = [], []
    for valley in valleys:
        n = max(2, int(valley.line.length / 15.0))
        dense = shapely.line_interpolate_point(valley.line, np.linspace(0, valley.line.length, n))
        pts.append(shapely.get_coordinates(dense))
        widths.append(np.full(n, valley.half_width_m))
    tree = cKDTree(np.vstack(pts))
    distance, nearest = tree.query(np.column_stack([gx.ravel(), gy.ravel()]))
    half_width = np.concatenate(widths)[nearest]
    wobble = 40.0 * gaussian_field(rng, 600.0).ravel()  # floors are not ribbons of constant width
    ramp_m = rng.uniform(70.0, 140.0)  # steep limestone walls
    t = np.clip((distance - half_width - wobble) / ramp_m, 0.0, 1.0)
    floor = (1.0 - t * t * (3 - 2 * t)).reshape(SIZE_PX, SIZE_PX)

    # Valley floors: a gentle regional tilt and a few metres of undulation.
    tilt = rng.uniform(-0.004, 0.004, size=2)
    base = rng.uniform(180.0, 320.0) + tilt[0] * (gx - cx) + tilt[1] * (gy - cy)
    base += 3.0 * gaussian_field(rng, 900.0)
    # The massif: a plinth plus cone towers (fine noise sharpened by a power
    # above 1: narrow summits, broad bases) and longer ridges.
    plinth = rng.uniform(40.0, 90.0) + 25.0 * gaussian_field(rng, 3000.0)
    cones = 0.65 * gaussian_field(rng, rng.uniform(300.0, 450.0))
    cones += 0.35 * gaussian_field(rng, rng.uniform(900.0, 1400.0))
    u = 0.5 * (1 + np.tanh(cones / cones.std()))  # 0..1
    towers = rng.uniform(180.0, 320.0) * np.clip((u - 0.25) / 0.75, 0.0, 1.0) ** 1.6
    relief = np.clip(plinth, 20.0, None) + towers
    z = (base + (1.0 - floor) * relief).astype(np.float32)

    dzdy, dzdx = np.gradient(z.astype(float), CELL_M)
    slope = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    return Terrain(z=z, x0=x0, y0=y0, valleys=tuple(valleys), floor=floor, slope_deg=slope)
