"""The simulator's own radio physics: the true median signal of every carrier.

This is the demo's ground truth and deliberately *not* the analysis's model
(coverage/ must find the dead zones from readings, not from this code). A
cell's median signal at a point is

    EIRP + hidden site offset − per-RE (LTE) or pilot (UMTS) conversion
    − log-distance path loss (exponent 3.1, not Okumura-Hata's)
    − single knife-edge diffraction over the DEM profile
    − 3GPP sector pattern − clutter + correlated shadowing,

computed on a coarse UTM grid around each commune and interpolated. A
carrier's median for a radio is the best of its cells of that radio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import ndimage

from geodata.demo.network import Network
from geodata.demo.noise import gaussian_field
from geodata.demo.region import Region
from geodata.demo.terrain import Terrain

#: Temporal (fast) fading around the median, dB: one reading = median + N(0, σ).
TEMPORAL_SIGMA_DB = 5.0
# Location shadowing: σ and correlation length of the gaussian field.
SHADOW_SIGMA_DB = 6.0
SHADOW_CORR_M = 300.0
# Half of the shadowing is common to all sites (local clutter), half per site.
SHADOW_COMMON_SHARE = 0.5
# Grid step of the computed field and the range beyond which a site is ignored.
FIELD_STEP_M = 75.0
FIELD_MARGIN_M = 1500.0
SITE_RANGE_M = 15000.0
PROFILE_SAMPLES = 48
RX_HEIGHT_M = 1.5
# The simulator's path loss: free space at 1 km, an excess for the rough
# ground, and a log-distance exponent of its own.
PATH_LOSS_EXPONENT = 3.1
EXCESS_LOSS_DB = 8.0
# Clutter loss: forest on the slopes, denser forest and houses on valley floors.
CLUTTER_SLOPE_DB, CLUTTER_VALLEY_DB = 4.0, 8.0
# EIRP (whole 20 MHz carrier) to RSRP (one resource element): 12 subcarriers
# per resource block, 100 resource blocks.
LTE_RESOURCE_BLOCKS = 100
LTE_RE_DB = 10.0 * np.log10(12 * LTE_RESOURCE_BLOCKS)
# UMTS CPICH carries about a tenth of the cell's power.
UMTS_PILOT_DB = 10.0
# Effective earth radius (k = 4/3) for the profile bulge.
EARTH_RADIUS_EFF_M = 4.0 / 3.0 * 6_371_000.0
SPEED_OF_LIGHT = 299_792_458.0
# 3GPP TR 36.814 horizontal pattern: 12 (φ/φ3dB)², capped at 25 dB.
SECTOR_MAX_LOSS_DB = 25.0
NO_SIGNAL_DBM = -200.0


@dataclass(frozen=True)
class SignalGrid:
    """Median fields on one commune's grid, keyed by (mnc, radio)."""

    x0: float  # centre of column 0
    y0: float  # centre of row 0 (southernmost row)
    step: float
    shape: tuple[int, int]
    median: dict[tuple[int, str], np.ndarray]
    serving: dict[tuple[int, str], np.ndarray]  # row index into Network.cells
    shadowing: dict[tuple[int, str], np.ndarray]  # median − the median without shadowing, dB

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Tell which points ``(x, y)`` lie inside the field's grid."""
        rows, cols = self.shape
        col, row = (x - self.x0) / self.step, (y - self.y0) / self.step
        return (col >= 0) & (col <= cols - 1) & (row >= 0) & (row <= rows - 1)


@dataclass(frozen=True)
class SignalField:
    """The true median signal everywhere the demo samples it."""

    grids: tuple[SignalGrid, ...]
    carriers: tuple[int, ...]

    def median(self, x: np.ndarray, y: np.ndarray, mnc: int, radio: str) -> np.ndarray:
        """Median dBm at UTM points (bilinear; :data:`NO_SIGNAL_DBM` where none)."""
        return self._sample("median", x, y, mnc, radio, NO_SIGNAL_DBM)

    def shadowing(self, x: np.ndarray, y: np.ndarray, mnc: int, radio: str) -> np.ndarray:
        """Return the shadowing (dB) inside :meth:`median` (bilinear; 0 where none).

        ``median − shadowing`` is the median the same cells would give without
        shadowing (path loss, terrain, antenna and clutter alone, the best
        cell's): all a perfect propagation model could know. The shadowing
        also holds the gain of a shadowed-up cell outserving the nominal best.
        """
        return self._sample("shadowing", x, y, mnc, radio, 0.0)

    def _sample(
        self, layer: str, x: np.ndarray, y: np.ndarray, mnc: int, radio: str, fill: float
    ) -> np.ndarray:
        out = np.full(np.shape(x), fill)
        for grid in self.grids:
            inside = grid.contains(x, y)
            values = getattr(grid, layer)
            if (mnc, radio) not in values or not inside.any():
                continue
            coords = np.vstack(
                [(y[inside] - grid.y0) / grid.step, (x[inside] - grid.x0) / grid.step]
            )
            out[inside] = ndimage.map_coordinates(values[mnc, radio], coords, order=1)
        return out

    def serving_cell(self, x: np.ndarray, y: np.ndarray, mnc: int, radio: str) -> np.ndarray:
        """Row index (into ``Network.cells``) of the strongest cell; -1 where none."""
        out = np.full(np.shape(x), -1, dtype=np.int64)
        for grid in self.grids:
            inside = grid.contains(x, y)
            if (mnc, radio) not in grid.serving or not inside.any():
                continue
            row = np.rint((y[inside] - grid.y0) / grid.step).astype(np.intp)
            col = np.rint((x[inside] - grid.x0) / grid.step).astype(np.intp)
            out[inside] = grid.serving[mnc, radio][row, col]
        return out


def knife_edge_loss_db(v: np.ndarray) -> np.ndarray:
    """Single knife-edge diffraction loss J(v) (ITU-R P.526 approximation)."""
    v = np.asarray(v, dtype=float)
    loss = 6.9 + 20.0 * np.log10(np.sqrt((v - 0.1) ** 2 + 1.0) + v - 0.1)
    return np.where(v > -0.78, loss, 0.0)


def _diffraction_geometry(
    terrain: Terrain, site: tuple[float, float, float], x: ArrayLike, y: ArrayLike, z: ArrayLike
) -> np.ndarray:
    """Max over the profile of h·sqrt(2d/(d1·d2)); v = this / sqrt(λ).

    Samples the DEM at :data:`PROFILE_SAMPLES` points between the antenna
    and every receiver at once (nearest pixel), with the earth's bulge.
    Single precision: metres of terrain need no more, and it halves the time.
    """
    xs, ys, zs = (np.float32(v) for v in site)
    x, y, z = (np.asarray(v, np.float32) for v in (x, y, z))
    t = (np.arange(1, PROFILE_SAMPLES + 1, dtype=np.float32) / (PROFILE_SAMPLES + 1))[:, None]
    distance = np.maximum(np.hypot(x - xs, y - ys), np.float32(1.0))
    rows, cols = terrain.nearest_index(xs + t * (x - xs), ys + t * (y - ys))
    ground = terrain.elevation[rows, cols]
    d1 = t * distance
    d2 = distance - d1
    height = ground + d1 * d2 * np.float32(0.5 / EARTH_RADIUS_EFF_M) - (zs + t * (z - zs))
    geometry: np.ndarray = (height * np.sqrt(np.float32(2.0) * distance / (d1 * d2))).max(axis=0)
    return geometry.astype(float)


def _sector_loss_db(cells: pd.DataFrame, bearing_deg: np.ndarray) -> np.ndarray:
    """Horizontal antenna loss of each cell (rows) towards each point (columns)."""
    azimuth = cells["azimuth_deg"].to_numpy(float)[:, None]
    beamwidth = cells["beamwidth_deg"].to_numpy(float)[:, None]
    off = (bearing_deg[None, :] - azimuth + 180.0) % 360.0 - 180.0
    loss = np.minimum(12.0 * (off / beamwidth) ** 2, SECTOR_MAX_LOSS_DB)
    return np.where(np.isnan(azimuth), 0.0, loss)


def _grid_for(
    bounds: tuple[float, float, float, float], step: float
) -> tuple[float, float, tuple[int, int]]:
    x_min, y_min, x_max, y_max = bounds
    x0 = np.floor((x_min - FIELD_MARGIN_M) / step) * step
    y0 = np.floor((y_min - FIELD_MARGIN_M) / step) * step
    cols = int(np.ceil((x_max + FIELD_MARGIN_M - x0) / step)) + 1
    rows = int(np.ceil((y_max + FIELD_MARGIN_M - y0) / step)) + 1
    return float(x0), float(y0), (rows, cols)


def build_field(
    region: Region,
    terrain: Terrain,
    network: Network,
    rng: np.random.Generator,
    *,
    absent: frozenset[str] = frozenset(),
) -> SignalField:
    """Compute every carrier's true median signal around each commune.

    Parameters
    ----------
    region, terrain, network
        The demo's geography, DEM and cells.
    rng : numpy.random.Generator
        Draws the shadowing fields.
    absent : frozenset of str, keyword-only
        Site ids of ``network`` left out of the field: the world as if they
        had never been built. Their shadowing is still drawn, so every other
        site's field is the one it has with them.

    Returns
    -------
    SignalField
    """
    cells = network.cells
    grids = []
    for commune in region.communes.itertuples():
        x0, y0, shape = _grid_for(commune.geometry.bounds, FIELD_STEP_M)
        gy, gx = np.indices(shape)
        x = (x0 + FIELD_STEP_M * gx).ravel()
        y = (y0 + FIELD_STEP_M * gy).ravel()
        z = terrain.sample(x, y) + RX_HEIGHT_M
        clutter = CLUTTER_SLOPE_DB + (CLUTTER_VALLEY_DB - CLUTTER_SLOPE_DB) * terrain.sample(
            x, y, layer="valley"
        )
        corr_px = SHADOW_CORR_M / FIELD_STEP_M
        common = gaussian_field(shape, corr_px, rng).ravel()
        per_key: dict[tuple[int, str], list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        centre = np.array(commune.geometry.centroid.coords[0])
        for site_id, site in cells.groupby("site_id", sort=True):
            first = site.iloc[0]
            own = gaussian_field(shape, corr_px, rng).ravel()
            if site_id in absent:
                continue
            if np.hypot(first.x - centre[0], first.y - centre[1]) > SITE_RANGE_M:
                continue
            antenna = float(terrain.sample(np.array([first.x]), np.array([first.y]))[0])
            antenna += first.height_m
            distance = np.hypot(x - first.x, y - first.y)
            slant = np.maximum(np.hypot(distance, z - antenna), 30.0)
            geometry = _diffraction_geometry(terrain, (first.x, first.y, antenna), x, y, z)
            bearing = np.degrees(np.arctan2(x - first.x, y - first.y))
            sector = _sector_loss_db(site, bearing)
            shadow = SHADOW_SIGMA_DB * (
                np.sqrt(SHADOW_COMMON_SHARE) * common + np.sqrt(1 - SHADOW_COMMON_SHARE) * own
            )
            for k, (index, cell) in enumerate(site.iterrows()):
                wavelength = SPEED_OF_LIGHT / (cell.freq_mhz * 1e6)
                free_space_1km = 32.45 + 20.0 * np.log10(cell.freq_mhz)
                # Never less than free space (the exponent would undercut it near the mast).
                path_loss = free_space_1km + np.maximum(
                    EXCESS_LOSS_DB + 10.0 * PATH_LOSS_EXPONENT * np.log10(slant / 1000.0),
                    20.0 * np.log10(slant / 1000.0),
                )
                conversion = LTE_RE_DB if cell.radio_lc == "lte" else UMTS_PILOT_DB
                signal = (
                    cell.eirp_dbm
                    + cell.offset_db
                    - conversion
                    - path_loss
                    - knife_edge_loss_db(geometry / np.sqrt(wavelength))
                    - sector[k]
                    - clutter
                    + shadow
                )
                unshadowed = signal - shadow
                signal[distance > SITE_RANGE_M] = NO_SIGNAL_DBM
                unshadowed[distance > SITE_RANGE_M] = NO_SIGNAL_DBM
                per_key.setdefault((int(cell.net), cell.radio_lc), []).append(
                    (signal, index, unshadowed)
                )
        median, serving, shadowing = {}, {}, {}
        for key, items in per_key.items():
            stack = np.vstack([s for s, _, _ in items])
            best = stack.argmax(axis=0)
            median[key] = stack.max(axis=0).reshape(shape)
            serving[key] = np.array([i for _, i, _ in items])[best].reshape(shape)
            best_unshadowed = np.vstack([u for _, _, u in items]).max(axis=0).reshape(shape)
            shadowing[key] = np.where(
                median[key] > NO_SIGNAL_DBM, median[key] - best_unshadowed, 0.0
            )
        grids.append(SignalGrid(x0, y0, FIELD_STEP_M, shape, median, serving, shadowing))
    return SignalField(grids=tuple(grids), carriers=tuple(sorted(cells["net"].unique().tolist())))
