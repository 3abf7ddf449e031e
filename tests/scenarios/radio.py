"""The scenario's own radio physics: the "true" median signal at any point.

For a cell ``i`` and a receiver at ``x`` (phone 1.5 m above ground)::

    median_i(x) = EIRP_i - RS_i + G_i(x) - PL(d) - L_edges(x) - L_forest(x)
                  + offset_site + S_site(x)

* ``PL`` is a log-distance law, ``PL0(f) + 10 n log10(d / 100 m)``, with
  ``PL0`` the free-space loss at 100 m plus a scenario excess, and its own
  exponent ``n`` per radio (3.1-3.7, drawn per scenario).
* ``L_edges`` is Epstein-Peterson over *every* edge of the taut string
  (upper convex hull) of the terrain profile from antenna to phone, sampled
  at the DEM's own resolution, with 4/3-Earth curvature; each edge's loss is
  ITU-R P.526's knife-edge approximation J(ν).
* ``G_i`` is a raised-cosine sector pattern (half-power at ±beamwidth/2,
  22 dB front-to-back) and a vertical pattern around a 4° downtilt.
* ``L_forest`` is forest on slopes: up to ``forest_db`` where the ground at
  the phone is steeper than 12°, ramping in to 30°.
* ``offset_site`` is a per-site random offset (feeder losses, mis-set
  power: N(0, 3) dB, clipped to ±6), ``S_site`` a spatially correlated
  Gaussian field per site (σ ≈ 7 dB) plus one common to all sites (σ ≈ 4 dB).
* ``RS_i`` turns EIRP into the measured quantity: 10·log10(1200) = 30.8 dB
  for LTE RSRP (per resource element of 100 RB), 10 dB for UMTS RSCP (the
  CPICH is ~10 % of the power).

The temporal fading σ_t(x) varies by place: 2 dB plus up to 5 dB from a
smooth field (pockets where service truly comes and goes) plus 0.08 dB per
dB of edge loss on the serving path (diffracted paths flicker more),
clipped to 1.5..12 dB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from tests.scenarios.terrain import CELL_M, Terrain, gaussian_field

SPEED_OF_LIGHT = 299_792_458.0
PHONE_HEIGHT_M = 1.5
EARTH_RADIUS_M = 6_371_000.0
K_FACTOR = 4.0 / 3.0  # standard atmosphere refraction
REFERENCE_M = 100.0
MAX_RANGE_M = 24_000.0  # beyond this no cell of the scenario is heard
RS_OFFSET_DB = {"lte": 30.8, "umts": 10.0}
USABLE_DBM = {"lte": -115.0, "umts": -115.0}  # DESIGN.md's "usable" (Android's lowest bar)
# Where a phone loses service altogether (3GPP reference sensitivity, about).
SERVICE_FLOOR_DBM = {"lte": -123.0, "umts": -117.0}
REPORT_RANGE_DBM = {"lte": (-140.0, -44.0), "umts": (-120.0, -25.0)}
FRONT_TO_BACK_DB = 22.0
DOWNTILT_DEG = 4.0
VERTICAL_HALF_POWER_DEG = 9.0
MAX_EDGE_LOSS_DB = 90.0
CHUNK = 600


@dataclass(frozen=True)
class Physics:
    """Scenario-wide propagation constants, drawn once per seed."""

    exponent: dict[str, float]
    excess_db: float
    forest_db: float
    sigma_common_db: float
    sigma_site_db: float
    shadow_correlation_m: float


def draw_physics(rng: np.random.Generator) -> Physics:
    lte = float(rng.uniform(3.1, 3.5))
    return Physics(
        exponent={"lte": lte, "umts": lte + float(rng.uniform(0.05, 0.2))},
        excess_db=float(rng.uniform(0.0, 4.0)),
        forest_db=float(rng.uniform(6.0, 12.0)),
        sigma_common_db=4.0,
        sigma_site_db=7.0,
        shadow_correlation_m=float(rng.uniform(200.0, 500.0)),
    )


def knife_edge_db(nu: np.ndarray) -> np.ndarray:
    """ITU-R P.526 J(ν): loss of one knife edge, 0 below ν = -0.78."""
    v = nu - 0.1
    loss = 6.9 + 20.0 * np.log10(np.sqrt(v * v + 1.0) + v)
    return np.where(nu > -0.78, loss, 0.0)


def _hull_vertices(z: np.ndarray) -> np.ndarray:
    """Indices of the upper convex hull of each profile row (the taut string).

    From the transmitter, the next vertex is the sample seen at the steepest
    upward slope; repeated until the receiver. Rows finished early repeat
    the last index. Sample spacing is constant along a row, so slopes can
    be taken in sample units.
    """
    rows, length = z.shape
    current = np.zeros(rows, dtype=np.int64)
    columns = [current.copy()]
    active = np.arange(rows)
    j = np.arange(length)
    while active.size:
        c = current[active]
        step = j[None, :] - c[:, None]
        slope = (z[active] - z[active, c][:, None]) / np.where(step > 0, step, 1)
        slope[step <= 0] = -np.inf
        nxt = slope.argmax(axis=1)
        current[active] = nxt
        columns.append(current.copy())
        active = active[nxt < length - 1]
    return np.stack(columns, axis=1)


def edge_loss_db(
    terrain: Terrain,
    sx: float,
    sy: float,
    antenna_z: float,
    px: np.ndarray,
    py: np.ndarray,
    wavelengths: tuple[float, ...],
) -> list[np.ndarray]:
    """Epstein-Peterson loss over all hull edges, one array per wavelength."""
    out = [np.zeros(px.size) for _ in wavelengths]
    distance = np.hypot(px - sx, py - sy)
    inside = terrain.inside(px, py) & (distance > CELL_M) & (distance < MAX_RANGE_M)
    order = np.flatnonzero(inside)[np.argsort(distance[inside], kind="stable")]
    for start in range(0, order.size, CHUNK):
        rows = order[start : start + CHUNK]
        d = distance[rows]
        length = max(3, int(np.ceil(d.max() / CELL_M)) + 1)
        t = np.linspace(0.0, 1.0, length)
        qx = sx + (px[rows, None] - sx) * t[None, :]
        qy = sy + (py[rows, None] - sy) * t[None, :]
        z = terrain.sample(terrain.z, qx, qy).astype(float)
        along = d[:, None] * t[None, :]
        z += along * (d[:, None] - along) / (2.0 * K_FACTOR * EARTH_RADIUS_M)
        z[:, 0] = antenna_z
        z[:, -1] += PHONE_HEIGHT_M
        hull = _hull_vertices(z)
        a, b, c = hull[:, :-2], hull[:, 1:-1], hull[:, 2:]
        edge = b < length - 1  # an interior vertex: a real obstacle
        r = np.arange(rows.size)[:, None]
        za, zb, zc = z[r, a], z[r, b], z[r, c]
        span = np.where(c > a, c - a, 1)
        height = zb - (za + (zc - za) * (b - a) / span)
        spacing = (d / (length - 1))[:, None]
        d1 = np.maximum((b - a) * spacing, 1.0)
        d2 = np.maximum((c - b) * spacing, 1.0)
        for k, wavelength in enumerate(wavelengths):
            nu = height * np.sqrt(2.0 * (d1 + d2) / (wavelength * d1 * d2))
            loss = np.where(edge, knife_edge_db(nu), 0.0).sum(axis=1)
            out[k][rows] = np.minimum(loss, MAX_EDGE_LOSS_DB)
    return out


def sector_gain_db(bearing_deg: np.ndarray, azimuth_deg: float, beamwidth_deg: float) -> np.ndarray:
    """Raised-cosine horizontal pattern, -3 dB at ±beamwidth/2."""
    phi = np.deg2rad((bearing_deg - azimuth_deg + 180.0) % 360.0 - 180.0)
    power = -0.3 / np.log10((1.0 + np.cos(np.deg2rad(beamwidth_deg / 2))) / 2.0)
    with np.errstate(divide="ignore"):
        gain = 10.0 * power * np.log10((1.0 + np.cos(phi)) / 2.0)
    return np.maximum(gain, -FRONT_TO_BACK_DB)


def vertical_gain_db(depression_deg: np.ndarray) -> np.ndarray:
    off = (depression_deg - DOWNTILT_DEG) / VERTICAL_HALF_POWER_DEG
    return -np.minimum(3.0 * off * off, 18.0)


def free_space_db(distance_m: np.ndarray | float, freq_mhz: float) -> np.ndarray:
    return 20.0 * np.log10(np.asarray(distance_m) / 1000.0) + 20.0 * np.log10(freq_mhz) + 32.45


def cell_medians(
    terrain: Terrain,
    physics: Physics,
    sites: pd.DataFrame,
    cells: pd.DataFrame,
    px: np.ndarray,
    py: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Median signal (dBm) of every cell at every point, and each cell's edge loss.

    Returns two arrays of shape (cells, points), in the order of ``cells``.
    """
    medians = np.full((len(cells), px.size), -np.inf)
    edges = np.zeros((len(cells), px.size))
    ground = terrain.sample(terrain.z, px, py)
    inside = terrain.inside(px, py)
    slope = np.where(inside, terrain.sample(terrain.slope_deg, px, py), 0.0)
    forest = physics.forest_db * np.clip((slope - 12.0) / 18.0, 0.0, 1.0)
    common = physics.sigma_common_db * terrain.sample(
        gaussian_field(rng, physics.shadow_correlation_m).astype(np.float32), px, py
    )
    for site in sites.itertuples():
        own = physics.sigma_site_db * terrain.sample(
            gaussian_field(rng, physics.shadow_correlation_m).astype(np.float32), px, py
        )
        mine = cells.index[cells["site"] == site.Index]
        freqs = sorted(set(cells.loc[mine, "freq_mhz"]))
        antenna_z = float(site.ground_m + site.height_m)
        losses = edge_loss_db(
            terrain,
            site.x,
            site.y,
            antenna_z,
            px,
            py,
            tuple(SPEED_OF_LIGHT / (f * 1e6) for f in freqs),
        )
        dx, dy = px - site.x, py - site.y
        flat = np.maximum(np.hypot(dx, dy), 1.0)
        drop = antenna_z - (np.where(inside, ground, site.ground_m) + PHONE_HEIGHT_M)
        distance = np.hypot(flat, drop)
        bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
        vertical = vertical_gain_db(np.degrees(np.arctan2(drop, flat)))
        for i in mine:
            cell = cells.loc[i]
            radio = str(cell["radio"])
            pl0 = free_space_db(REFERENCE_M, cell["freq_mhz"]) + physics.excess_db
            path = pl0 + 10.0 * physics.exponent[radio] * np.log10(
                np.maximum(distance, REFERENCE_M / 10) / REFERENCE_M
            )
            edge = losses[freqs.index(cell["freq_mhz"])]
            gain = sector_gain_db(bearing, cell["azimuth_deg"], cell["beamwidth_deg"]) + vertical
            value = (
                cell["eirp_dbm"]
                - RS_OFFSET_DB[radio]
                + gain
                - path
                - edge
                - forest
                + site.offset_db
                + own
                + common
            )
            row = cells.index.get_loc(i)
            medians[row] = np.where(distance < MAX_RANGE_M, value, -np.inf)
            edges[row] = edge
    return medians, edges


@dataclass(frozen=True)
class CarrierField:
    """One carrier's true signal at the points: per radio the best cell's median,
    which cell that is, and the place's temporal fading σ."""

    median: dict[str, np.ndarray]  # radio -> dBm (points)
    serving: dict[str, np.ndarray]  # radio -> row of ``cells`` (-1: none)
    sigma_db: np.ndarray

    def margin_db(self) -> tuple[np.ndarray, np.ndarray]:
        """Best radio's margin over its usable threshold, and that radio."""
        radios = sorted(self.median)
        margins = np.vstack([self.median[r] - USABLE_DBM[r] for r in radios])
        best = margins.argmax(axis=0)
        return margins.max(axis=0), np.asarray(radios, dtype=object)[best]

    def camped(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per point: the radio a phone camps on, its median and its serving cell."""
        radios = sorted(self.median)
        margins = np.vstack([self.median[r] - USABLE_DBM[r] for r in radios])
        best = margins.argmax(axis=0)
        at = np.arange(best.size)
        median = np.vstack([self.median[r] for r in radios])[best, at]
        serving = np.vstack([self.serving[r] for r in radios])[best, at]
        return np.asarray(radios, dtype=object)[best], median, serving

    def availability(self) -> np.ndarray:
        """Share of time a reading would be usable, on the best radio."""
        margin, _ = self.margin_db()
        return ndtr(margin / self.sigma_db)


def carrier_fields(
    medians: np.ndarray,
    edges: np.ndarray,
    cells: pd.DataFrame,
    fading_unit: np.ndarray,
) -> dict[int, CarrierField]:
    """Best server per carrier and radio; σ_t per place (see the module docstring)."""
    fields: dict[int, CarrierField] = {}
    intermittent = 5.0 * ndtr(fading_unit) ** 2
    for mnc in sorted(set(cells["mnc"])):
        median, serving = {}, {}
        best_margin = np.full(medians.shape[1], -np.inf)
        best_edge = np.zeros(medians.shape[1])
        for radio in ("lte", "umts"):
            rows = np.flatnonzero(((cells["mnc"] == mnc) & (cells["radio"] == radio)).to_numpy())
            if not rows.size:
                continue
            top = medians[rows].argmax(axis=0)
            value = medians[rows][top, np.arange(medians.shape[1])]
            median[radio] = value
            serving[radio] = rows[top]
            better = value - USABLE_DBM[radio] > best_margin
            best_margin = np.where(better, value - USABLE_DBM[radio], best_margin)
            best_edge = np.where(better, edges[rows[top], np.arange(medians.shape[1])], best_edge)
        sigma = np.clip(2.0 + intermittent + 0.08 * best_edge, 1.5, 12.0)
        fields[mnc] = CarrierField(median=median, serving=serving, sigma_db=sigma)
    return fields
