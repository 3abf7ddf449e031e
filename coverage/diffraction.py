"""Terrain diffraction along site→receiver profiles (part of step 2).

Each profile is sampled at the DEM's own resolution and searched for its
Deygout edges exactly, without reading every sample: the DEM's upper
envelope bounds what a stretch of profile can hold, and only the stretches
whose bound beats the best edge found so far are read sample by sample (a
branch-and-bound over segments). The result is the loss a profile sampled at
every pixel gives, at a fraction of the reads.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from geodata import constants as C
from geodata.raster import Raster

# Effective earth radius with the standard k = 4/3 refraction (ITU-R P.452).
EFFECTIVE_EARTH_RADIUS_M = 4 / 3 * 6_371_000.0
SPEED_OF_LIGHT = 299_792_458.0
# Terrain profiles are sampled at every DEM pixel they cross (a step of at
# most PROFILE_STEP_PX pixel), as SPLAT! and ITU-R P.1812-7 §4.3 sample
# theirs (at the DEM's own spacing): a fixed count of 48 samples (~300 m at
# 15 km) stepped over ridges narrower than its step and added ~15 dB RMS
# against SPLAT! on the same DEM.
PROFILE_STEP_PX = 1.0
# The search bounds segments of profile by the DEM's upper envelope at
# these lengths (samples), coarse to fine, splitting only the segments whose
# bound beats the best edge read so far; the last level's survivors are read
# sample by sample.
SEGMENT_LEVELS = (32, 8, 2)
# The fixed count of the former scheme, kept as a baseline for benchmarks
# (``diffraction_loss_db(..., samples=FIXED_PROFILE_SAMPLES)``).
FIXED_PROFILE_SAMPLES = 48
# Profiles are computed in blocks of this many receivers, so the memory of
# one call stays bounded whatever the number of receivers (a block's
# candidate segments and reads are a few hundred per receiver at most).
PROFILE_BLOCK = 4096
# Terrain height standing for "off the DEM": below everything, blocks nothing.
_OFF_DEM_M = -1e9
# Added to each segment's bound: float32 bilinear sums may exceed their
# largest corner by rounding (~1e-4 m at 1,000 m); 1 cm covers it.
_ROUNDING_SLACK_M = 0.01
# The compiled search (coverage/_deygout.c, built by ``pip install -e .``):
# the same branch and bound as the numpy one below, over stretches of 16
# samples then pieces of 4, visited largest bound first; ~30x faster, so
# every-pixel profiles fit the province budget. Its envelope sizes are
# COARSE and FINE in the C source. Without the build, the numpy search runs
# (same result; ``COMPILED_SEARCH`` tells which).
try:
    from coverage import _deygout as _compiled  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a source tree without the build
    _compiled = None
COMPILED_SEARCH = _compiled is not None
_COMPILED_LEVELS = (16, 4)
# J(v) is 0 dB for v ≤ −0.78 (ITU-R P.526-15 eq. 31): edges lower than that
# need not be told apart.
_NO_LOSS_V = -0.78


def knife_edge_loss_db(v: np.ndarray) -> np.ndarray:
    """Single knife-edge diffraction loss J(v) (ITU-R P.526-15, eq. 31).

    J(v) = 6.9 + 20 log10(√((v−0.1)² + 1) + v − 0.1) for v > −0.78, else 0.

    >>> knife_edge_loss_db(np.array([-1.0, 0.0, 2.0])).round(1).tolist()
    [0.0, 6.0, 19.0]
    """
    v = np.asarray(v, float)
    # Evaluated where it applies only: far below −0.78 the root and v cancel.
    w = np.maximum(v, -0.78) - 0.1
    loss = 6.9 + 20 * np.log10(np.sqrt(w**2 + 1) + w)
    return np.where(v > -0.78, loss, 0.0)


def knife_edge_v(loss_db: np.ndarray) -> np.ndarray:
    """Invert :func:`knife_edge_loss_db`: the Fresnel parameter v at which it reaches ``loss_db``.

    −0.78 at or below 0 dB.

    >>> knife_edge_v(knife_edge_loss_db(np.array([0.5, 2.0]))).round(6).tolist()
    [0.5, 2.0]
    """
    x = 10 ** ((np.asarray(loss_db, float) - 6.9) / 20)
    with np.errstate(divide="ignore", over="ignore"):  # loss_db ±inf: x is inf or 0
        v = 0.1 + (x - 1 / x) / 2
    return np.where(np.asarray(loss_db) > 0, v, -0.78)


def float32_terrain(dem: Raster) -> Raster:
    """Return the same DEM with float32 values.

    Half the memory, and what the profile sampler reads (heights need
    centimetres, not float64).
    """
    if dem.values.dtype == np.float32:
        return dem
    return Raster(dem.values.astype(np.float32), dem.transform, dem.crs)


def _bilinear(values: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Sample a float32 grid bilinearly at fractional pixel positions.

    Pixel centres are at +0.5, as in :meth:`geodata.raster.Raster.sample`;
    NaN outside the grid.

    Written out rather than ``scipy.ndimage.map_coordinates``: four gathers
    are several times faster than its generic spline machinery, and the
    profiles need nothing above order 1.
    """
    height, width = values.shape
    r = row - np.float32(0.5)
    c = col - np.float32(0.5)
    inside = (r >= 0) & (r <= height - 1) & (c >= 0) & (c <= width - 1)
    r0 = np.clip(np.floor(r), 0, max(height - 2, 0)).astype(np.intp)
    c0 = np.clip(np.floor(c), 0, max(width - 2, 0)).astype(np.intp)
    fr = np.clip(r - r0, 0, 1).astype(np.float32)
    fc = np.clip(c - c0, 0, 1).astype(np.float32)
    flat = values.ravel()
    top = r0 * width + c0
    step_right = 1 if width > 1 else 0
    step_down = width if height > 1 else 0
    upper = flat[top] * (1 - fc) + flat[top + step_right] * fc
    lower = flat[top + step_down] * (1 - fc) + flat[top + step_down + step_right] * fc
    return np.where(inside, upper * (1 - fr) + lower * fr, np.float32(np.nan))


def _pixel_coordinates(dem: Raster, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column and row (fractional) of points given in the DEM's CRS."""
    a, b, c, d, e, f = (~dem.transform)[:6]
    x, y = np.asarray(x, float), np.asarray(y, float)
    return a * x + b * y + c, d * x + e * y + f


# Envelopes per DEM array (by identity, dropped with the array) and segment.
_ENVELOPES: dict[int, tuple[weakref.ref[np.ndarray], dict[int, np.ndarray]]] = {}
_ENVELOPES_LOCK = threading.Lock()


def upper_envelope(values: np.ndarray, segment: int) -> np.ndarray:
    """Compute the DEM's upper envelope on blocks of ``segment`` × ``segment`` pixels.

    Block (I, J) holds the highest pixel within ``segment // 2 + 1`` pixels
    of it (NaN counts as off the DEM): whatever a bilinear sample within
    ``segment / 2`` pixels of a point inside the block reads, it is no
    higher. Computed once per DEM array and segment (two running maxima,
    van Herk's O(1) per pixel in :func:`scipy.ndimage.maximum_filter1d`).
    """
    key = id(values)
    with _ENVELOPES_LOCK:
        held = _ENVELOPES.get(key)
        if held is not None and held[0]() is values and segment in held[1]:
            return held[1][segment]
    margin = segment // 2 + 1
    width = segment + 2 * margin  # the block and its margin on each side
    filled = np.where(np.isnan(values), np.float32(_OFF_DEM_M), values).astype(np.float32)
    # A running maximum of even width w at i covers [i − w/2, i + w/2 − 1]:
    # centred at I·F + F/2 it covers the block I and `margin` either side.
    rows = np.minimum(np.arange(0, values.shape[0], segment) + segment // 2, values.shape[0] - 1)
    cols = np.minimum(np.arange(0, values.shape[1], segment) + segment // 2, values.shape[1] - 1)
    envelope = ndimage.maximum_filter1d(filled, size=width, axis=0, mode="nearest")[rows]
    envelope = ndimage.maximum_filter1d(envelope, size=width, axis=1, mode="nearest")[:, cols]
    with _ENVELOPES_LOCK:
        held = _ENVELOPES.get(key)
        if held is None or held[0]() is not values:

            def forget(_: object, key: int = key) -> None:
                _ENVELOPES.pop(key, None)

            held = (weakref.ref(values, forget), {})
            _ENVELOPES[key] = held
        held[1][segment] = envelope
    out: np.ndarray = envelope
    return out


# Profiles are read from a window of the DEM around their site: the site's
# reach (geodata.constants.MAX_CELL_RANGE_M) and this many pixels more, its
# corner on a grid of as many pixels (a multiple of every envelope block).
# Positions are float32 pixels from that corner, so they round the same in
# any window of the DEM that holds it: a tile's (coverage.tiles) and the
# whole region's give one loss.
CROP_GRID_PX = 32


@dataclass(frozen=True)
class _Crop:
    """The window of a DEM array a site's profiles are read from."""

    row: int
    col: int
    end_row: int
    end_col: int

    @property
    def rows(self) -> slice:
        return slice(self.row, self.end_row)

    @property
    def cols(self) -> slice:
        return slice(self.col, self.end_col)

    def envelope(self, whole: np.ndarray, segment: int) -> np.ndarray:
        """Slice the whole array's envelope (blocks of ``segment``) to the window."""
        return whole[
            self.row // segment : -(-self.end_row // segment),
            self.col // segment : -(-self.end_col // segment),
        ]


def site_crop(dem: Raster, site_col: float, site_row: float, *, reaches: float = 1.0) -> _Crop:
    """Find the window of ``dem`` a site's profiles read (see :data:`CROP_GRID_PX`).

    ``reaches`` × the largest reach plus :data:`CROP_GRID_PX` pixels either
    side of the site, its corner rounded down onto the grid, within the array.
    """
    height, width = dem.values.shape
    pixel = max(abs(dem.transform.a), abs(dem.transform.e))
    reach = int(np.ceil(reaches * C.MAX_CELL_RANGE_M / pixel)) + CROP_GRID_PX
    grid = CROP_GRID_PX

    def span(centre: float, size: int) -> tuple[int, int]:
        start = int(np.floor((centre - reach) / grid)) * grid
        end = int(np.ceil((centre + reach) / grid)) * grid
        return min(max(start, 0), size), min(max(end, 0), size)

    row, end_row = span(site_row, height)
    col, end_col = span(site_col, width)
    return _Crop(row, col, max(end_row, row), max(end_col, col))


def diffraction_loss_db(
    dem: Raster,
    site_xy: tuple[float, float],
    site_height_m: float,
    rx_x: np.ndarray,
    rx_y: np.ndarray,
    freq_mhz: float,
    *,
    samples: int | None = None,
    enough_db: np.ndarray | None = None,
) -> np.ndarray:
    """Terrain loss along each site→receiver profile: Deygout, up to 3 edges.

    Samples the DEM at every pixel the profile crosses (a step of at most
    :data:`PROFILE_STEP_PX` pixel; or, with ``samples``, at that many evenly
    spaced points, the former scheme) and adds the earth bulge d₁d₂/(2kR).
    The principal edge (largest Fresnel parameter v over the whole path)
    gives J(v); then the highest edge between the transmitter and it, and
    between it and the receiver, each seen on its own sub-path, add theirs
    (Deygout 1966; ITU-R P.526-15 §4.5.1). Secondary edges count only when
    the principal edge blocks the line of sight (v > 0): on open ground every
    sub-path grazes its Fresnel zone, and adding those grazing losses would
    double-count what Hata's median already holds.

    Parameters
    ----------
    dem : Raster
        Terrain in a metric CRS, shared with the coordinates.
    site_xy, site_height_m : the antenna's position and height above ground.
    rx_x, rx_y : numpy.ndarray
        Receivers (at :data:`geodata.constants.RECEIVER_HEIGHT_M` above ground).
    freq_mhz : float
    samples : int, optional, keyword-only
        A fixed number of interior samples per profile instead of the DEM's
        resolution (a baseline; it can step over narrow ridges).
    enough_db : numpy.ndarray, optional, keyword-only
        Per receiver, a loss past which its exact value is not needed (the
        site cannot serve it anyway): once the principal edge alone costs
        that much, the search stops and returns J(v) of the best edge found,
        a lower bound of the loss that is itself at least ``enough_db``.

    Returns
    -------
    numpy.ndarray
        Loss in dB per receiver.

    Examples
    --------
    >>> from affine import Affine
    >>> from pyproj import CRS
    >>> values = np.full((10, 100), 100.0)
    >>> values[:, 50] = 300.0  # one ridge, one pixel wide
    >>> dem = Raster(values, Affine(30.0, 0, 0, 0, -30.0, 300.0), CRS.from_epsg(32648))
    >>> loss = diffraction_loss_db(dem, (15.0, 150.0), 30.0, np.array([2985.0]),
    ...                            np.array([150.0]), 1800.0)
    >>> bool(loss[0] > 30)
    True
    """
    n = len(rx_x)
    if n == 0:
        return np.empty(0)
    terrain = float32_terrain(dem)
    rx_x, rx_y = np.asarray(rx_x, float), np.asarray(rx_y, float)
    # Receivers beyond a site's reach (the nearest site of a village) are
    # read from a wider window: a whole number of reaches, so that a profile
    # is read from the same window whichever receivers come with it.
    reaches = np.maximum(
        np.ceil(np.hypot(rx_x - site_xy[0], rx_y - site_xy[1]) / C.MAX_CELL_RANGE_M), 1.0
    )
    if np.all(reaches == reaches[0]):
        return _loss_in_window(
            terrain, site_xy, site_height_m, rx_x, rx_y, freq_mhz, samples, enough_db, reaches[0]
        )
    loss = np.empty(n)
    for k in np.unique(reaches):  # a handful of window sizes
        mine = reaches == k
        loss[mine] = _loss_in_window(
            terrain,
            site_xy,
            site_height_m,
            rx_x[mine],
            rx_y[mine],
            freq_mhz,
            samples,
            None if enough_db is None else np.asarray(enough_db)[mine],
            k,
        )
    return loss


def _loss_in_window(
    terrain: Raster,
    site_xy: tuple[float, float],
    site_height_m: float,
    rx_x: np.ndarray,
    rx_y: np.ndarray,
    freq_mhz: float,
    samples: int | None,
    enough_db: np.ndarray | None,
    reaches: float,
) -> np.ndarray:
    """:func:`diffraction_loss_db` in the window of ``reaches`` × the reach around the site."""
    n = len(rx_x)
    dem = terrain
    wavelength = SPEED_OF_LIGHT / (freq_mhz * 1e6)
    sx, sy = site_xy
    site_col, site_row = _pixel_coordinates(dem, np.array([sx]), np.array([sy]))
    crop = site_crop(terrain, float(site_col[0]), float(site_row[0]), reaches=reaches)
    values = terrain.values[crop.rows, crop.cols]
    site_col, site_row = site_col - crop.col, site_row - crop.row
    ground_tx = np.nan_to_num(
        _bilinear(values, site_col.astype(np.float32), site_row.astype(np.float32)), nan=0.0
    )[0]
    h_tx = float(ground_tx) + site_height_m
    rx_col, rx_row = _pixel_coordinates(dem, rx_x, rx_y)
    rx_col, rx_row = rx_col - crop.col, rx_row - crop.row
    ground_rx = np.nan_to_num(_bilinear(values, rx_col, rx_row), nan=0.0)
    h_rx = ground_rx + C.RECEIVER_HEIGHT_M
    distance = np.maximum(np.hypot(rx_x - sx, rx_y - sy), 1.0)
    site_pixel = (float(site_col[0]), float(site_row[0]))
    loss = np.empty(n)
    if samples is not None:
        t = np.linspace(0.0, 1.0, samples + 2)[1:-1]  # interior samples only
        for first in range(0, n, PROFILE_BLOCK):
            rows = slice(first, first + PROFILE_BLOCK)
            loss[rows] = _fixed_deygout_block(
                values,
                site_pixel,
                rx_col[rows],
                rx_row[rows],
                t,
                distance[rows],
                h_tx,
                h_rx[rows],
                wavelength,
            )
        return loss
    length_px = np.hypot(rx_col - site_pixel[0], rx_row - site_pixel[1])
    steps = np.maximum(np.ceil(length_px / PROFILE_STEP_PX), 2).astype(np.int64)
    enough_v = knife_edge_v(enough_db) if enough_db is not None else np.full(n, np.inf)
    if _compiled is not None:
        coarse, fine = (
            np.ascontiguousarray(crop.envelope(upper_envelope(terrain.values, s), s))
            for s in _COMPILED_LEVELS
        )
        dcol, drow = rx_col - site_pixel[0], rx_row - site_pixel[1]
        # By bearing: neighbouring profiles read the same DEM rows while
        # they are in cache (~2x faster than the receivers' own order).
        order = np.argsort(np.arctan2(drow, dcol), kind="stable")
        found = np.empty(n)
        _compiled.deygout(
            np.ascontiguousarray(values),
            *values.shape,
            coarse,
            *coarse.shape,
            _COMPILED_LEVELS[0],
            fine,
            *fine.shape,
            _COMPILED_LEVELS[1],
            *site_pixel,
            dcol[order].astype(np.float32),
            drow[order].astype(np.float32),
            steps[order],
            distance[order],
            h_tx,
            np.asarray(h_rx, dtype=float)[order],
            np.asarray(enough_v, dtype=float)[order],
            wavelength,
            found,
        )
        loss[order] = found
        return loss
    order = np.argsort(steps, kind="stable")  # blocks of similar length: little padding
    for first in range(0, n, PROFILE_BLOCK):
        block = order[first : first + PROFILE_BLOCK]
        path = _Path(
            values,
            site_pixel,
            rx_col[block],
            rx_row[block],
            steps[block],
            distance[block],
            wavelength,
        )
        loss[block] = _deygout(path, h_tx, h_rx[block], enough_v[block])
    return loss


def _fresnel_scale(
    t: np.ndarray, ta: np.ndarray, tb: np.ndarray, distance: np.ndarray, wavelength: float
) -> np.ndarray:
    """√(2 d_ab / (λ d_a d_b)) for a point at t between ends ta, tb (fractions of D)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        scale: np.ndarray = np.sqrt(2 * (tb - ta) / (wavelength * distance * (t - ta) * (tb - t)))
        return scale


class _Path:
    """One block of profiles from one site: where each sample lies.

    Profile p has ``steps[p]`` steps; its samples are i = 1 … steps − 1 at
    t = i / steps (0 is the transmitter, ``steps`` the receiver).
    """

    def __init__(
        self,
        values: np.ndarray,
        site_pixel: tuple[float, float],
        rx_col: np.ndarray,
        rx_row: np.ndarray,
        steps: np.ndarray,
        distance: np.ndarray,
        wavelength: float,
    ) -> None:
        self.values = values
        self.col0, self.row0 = np.float32(site_pixel[0]), np.float32(site_pixel[1])
        self.dcol = (rx_col - site_pixel[0]).astype(np.float32)
        self.drow = (rx_row - site_pixel[1]).astype(np.float32)
        self.steps = steps
        self.distance = distance
        self.wavelength = wavelength

    def position(self, t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional column and row at fractions ``t`` of profiles ``p``."""
        t32 = t.astype(np.float32)
        return self.col0 + self.dcol[p] * t32, self.row0 + self.drow[p] * t32

    def bulge(self, t: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Earth bulge d₁d₂/(2kR) (m) at fractions ``t`` of profiles ``p``."""
        bulge: np.ndarray = self.distance[p] ** 2 * t * (1 - t) / (2 * EFFECTIVE_EARTH_RADIUS_M)
        return bulge


@dataclass(frozen=True)
class _SubPaths:
    """Hold the sub-paths searched, one per profile ``p`` of a :class:`_Path`.

    Each runs from sample ``a`` (height ``ha``) to sample ``b`` (height ``hb``).
    """

    p: np.ndarray
    a: np.ndarray
    b: np.ndarray
    ha: np.ndarray
    hb: np.ndarray

    def ends(self, path: _Path, q: np.ndarray) -> tuple[np.ndarray, ...]:
        """For sub-paths ``q``: t of each end and the slope of the line."""
        steps = path.steps[self.p[q]]
        ta, tb = self.a[q] / steps, self.b[q] / steps
        return ta, tb, (self.hb[q] - self.ha[q]) / (tb - ta)


def _exact_v(
    path: _Path, sub: _SubPaths, q: np.ndarray, i: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fresnel parameter v and ground (terrain + bulge) at samples ``i`` of sub-paths ``q``."""
    p = sub.p[q]
    t = i / path.steps[p]
    col, row = path.position(t, p)
    ground = np.nan_to_num(_bilinear(path.values, col, row), nan=_OFF_DEM_M) + path.bulge(t, p)
    ta, tb, slope = sub.ends(path, q)
    line = sub.ha[q] + slope * (t - ta)
    scale = _fresnel_scale(t, ta, tb, path.distance[p], path.wavelength)
    return (ground - line) * scale, ground


def _segment_bounds(
    path: _Path, sub: _SubPaths, q: np.ndarray, start: np.ndarray, segment: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bound v from above over the samples of segments [start, start + F) of sub-paths ``q``.

    Only samples strictly between the sub-paths' ends count; also returns
    those samples' first and last index (−inf where there are none).

    The bound: the envelope plus the largest bulge, less the lowest point
    of the line, times the largest Fresnel factor on the segment (the
    smallest, when even the envelope stays below the line).
    """
    p = sub.p[q]
    steps = path.steps[p]
    end = np.minimum(start + segment - 1, steps - 1)
    lo = np.maximum(start, sub.a[q] + 1)
    hi = np.minimum(end, sub.b[q] - 1)
    envelope = upper_envelope(path.values, segment)
    col, row = path.position((start + end) / (2.0 * steps), p)
    block_row = np.clip(np.floor(row / segment), 0, envelope.shape[0] - 1).astype(np.intp)
    block_col = np.clip(np.floor(col / segment), 0, envelope.shape[1] - 1).astype(np.intp)
    ta, tb, slope = sub.ends(path, q)
    t_lo, t_hi = lo / steps, hi / steps
    line_low = sub.ha[q] + slope * (np.where(slope > 0, t_lo, t_hi) - ta)
    t_peak = np.clip(0.5, t_lo, t_hi)
    peak = envelope[block_row, block_col] + path.bulge(t_peak, p) + _ROUNDING_SLACK_M
    above = peak - line_low
    distance = path.distance[p]
    wide = np.maximum(
        _fresnel_scale(t_lo, ta, tb, distance, path.wavelength),
        _fresnel_scale(t_hi, ta, tb, distance, path.wavelength),
    )
    narrow = _fresnel_scale(np.clip((ta + tb) / 2, t_lo, t_hi), ta, tb, distance, path.wavelength)
    with np.errstate(invalid="ignore"):
        bound = np.where(lo <= hi, above * np.where(above > 0, wide, narrow), -np.inf)
    return bound, lo, hi


def _max_fresnel(
    path: _Path, sub: _SubPaths, enough_v: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the highest edge of each sub-path: (v, sample, ground).

    The sample with the largest Fresnel parameter strictly between its ends,
    when that exceeds −0.78 (else −0.78, 0, 0: no edge that costs anything).

    Exact over every sample, by branch and bound down :data:`SEGMENT_LEVELS`:
    a segment whose bound (:func:`_segment_bounds`) does not beat the best v
    read so far is dropped, the others split into the next level's
    segments; the last level's survivors are read sample by sample. The
    middle sample of each segment is read on the way (it gives the best v
    its first values). A sub-path whose best v reaches ``enough_v`` stops.
    """
    count = len(sub.p)
    # Below J's threshold every v costs 0 dB: no segment under it is worth reading.
    best = np.full(count, _NO_LOSS_V)
    stop = enough_v if enough_v is not None else np.full(count, np.inf)
    top = SEGMENT_LEVELS[0]
    first, last = sub.a // top, np.maximum(sub.b - 2, sub.a) // top
    segments = np.where(sub.b - sub.a >= 2, last - first + 1, 0)
    q = np.repeat(np.arange(count), segments)
    offset = np.arange(q.size) - np.repeat(np.cumsum(segments) - segments, segments)
    start = 1 + (first[q] + offset) * top
    pool_q, pool_i, pool_v, pool_g = [], [], [], []

    def read(q_read: np.ndarray, i_read: np.ndarray) -> None:
        v, g = _exact_v(path, sub, q_read, i_read)
        np.maximum.at(best, q_read, v)
        pool_q.append(q_read)
        pool_i.append(i_read)
        pool_v.append(v)
        pool_g.append(g)

    for level, segment in enumerate(SEGMENT_LEVELS):
        bound, lo, hi = _segment_bounds(path, sub, q, start, segment)
        if level == len(SEGMENT_LEVELS) - 1:
            keep = (bound > best[q]) & (best[q] < stop[q])
            q, lo, hi = q[keep], lo[keep], hi[keep]
            i = lo[:, None] + np.arange(segment)[None, :]
            inside = i <= hi[:, None]
            read(np.broadcast_to(q[:, None], i.shape)[inside], i[inside])
            break
        has = lo <= hi
        read(q[has], (lo[has] + hi[has]) // 2)
        keep = (bound > best[q]) & (best[q] < stop[q])
        q, start = q[keep], start[keep]
        split = segment // SEGMENT_LEVELS[level + 1]
        q = np.repeat(q, split)
        start = (start[:, None] + np.arange(split)[None, :] * SEGMENT_LEVELS[level + 1]).ravel()
        p = sub.p[q]
        useful = (start <= np.minimum(path.steps[p], sub.b[q]) - 1) & (
            start + SEGMENT_LEVELS[level + 1] - 1 >= sub.a[q] + 1
        )
        q, start = q[useful], start[useful]
    edge = np.zeros(count, dtype=np.int64)
    ground = np.zeros(count)
    all_q = np.concatenate(pool_q)
    if all_q.size:
        all_v = np.concatenate(pool_v)
        order = np.lexsort((-all_v, all_q))
        firsts = order[np.flatnonzero(np.diff(all_q[order], prepend=-1))]
        winners = all_q[firsts]
        edge[winners] = np.concatenate(pool_i)[firsts]
        ground[winners] = np.concatenate(pool_g)[firsts]
    return best, edge, ground


def _deygout(path: _Path, h_tx: float, h_rx: np.ndarray, enough_v: np.ndarray) -> np.ndarray:
    """Deygout loss (dB) for one block of profiles; see :func:`diffraction_loss_db`."""
    rows = np.arange(len(h_rx))
    steps = path.steps
    tx = np.full(len(rows), float(h_tx))
    whole = _SubPaths(rows, np.zeros(len(rows), dtype=np.int64), steps, tx, h_rx)
    v_main, edge, h_edge = _max_fresnel(path, whole, enough_v)
    loss = knife_edge_loss_db(v_main)
    blocked = np.flatnonzero((v_main > 0.0) & (v_main < enough_v))
    if blocked.size == 0:
        return loss
    e, g = edge[blocked], h_edge[blocked]
    zero = np.zeros(blocked.size, dtype=np.int64)
    for side in (
        _SubPaths(blocked, zero, e, tx[blocked], g),  # transmitter -> principal edge
        _SubPaths(blocked, e, steps[blocked], g, h_rx[blocked]),  # principal edge -> receiver
    ):
        v_side, _, _ = _max_fresnel(path, side)
        loss[blocked] += knife_edge_loss_db(np.where(np.isfinite(v_side), v_side, -10.0))
    return loss


def _fixed_deygout_block(
    values: np.ndarray,
    site_pixel: tuple[float, float],
    rx_col: np.ndarray,
    rx_row: np.ndarray,
    t: np.ndarray,
    distance: np.ndarray,
    h_tx: float,
    h_rx: np.ndarray,
    wavelength: float,
) -> np.ndarray:
    """Compute the Deygout loss (dB) on profiles sampled at fixed fractions ``t``.

    The former scheme, a baseline: the same edges as :func:`_deygout`, found
    among those samples only.

    With samples at fractions t of a path of length D, d₁ = tD and
    d₂ = (1 − t)D, so v = h·√(2/(λ D t(1 − t))) separates into a factor per
    profile and one per sample.
    """
    t32 = t.astype(np.float32)
    col = np.float32(site_pixel[0]) + np.outer(rx_col - site_pixel[0], t).astype(np.float32)
    row = np.float32(site_pixel[1]) + np.outer(rx_row - site_pixel[1], t).astype(np.float32)
    terrain = np.nan_to_num(_bilinear(values, col, row), nan=_OFF_DEM_M)
    bulge = np.outer(distance**2, t * (1 - t) / (2 * EFFECTIVE_EARTH_RADIUS_M))
    ground = terrain + bulge.astype(np.float32)
    line = np.float32(h_tx) + np.outer(h_rx - h_tx, t).astype(np.float32)
    per_profile = (1.0 / np.sqrt(distance)).astype(np.float32)
    per_sample = np.sqrt(2.0 / (wavelength * t * (1 - t))).astype(np.float32)
    v = (ground - line) * per_profile[:, None] * per_sample[None, :]
    edge = np.argmax(v, axis=1)
    rows = np.arange(len(v))
    v_main = v[rows, edge].astype(float)
    loss = knife_edge_loss_db(v_main)
    blocked = np.flatnonzero(v_main > 0.0)
    if blocked.size == 0:
        return loss
    ground, edge = ground[blocked], edge[blocked]
    d = distance[blocked]
    t_edge = t32[edge][:, None]
    h_edge = ground[np.arange(len(blocked)), edge][:, None]
    columns = np.arange(len(t))[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        line_left = np.float32(h_tx) + (h_edge - np.float32(h_tx)) * (t32[None, :] / t_edge)
        scale_left = np.sqrt(2.0 * t_edge / (wavelength * t32[None, :] * (t_edge - t32[None, :])))
        v_left = np.where(columns < edge[:, None], (ground - line_left) * scale_left, -np.inf)
        h_end = h_rx[blocked][:, None].astype(np.float32)
        line_right = h_edge + (h_end - h_edge) * ((t32[None, :] - t_edge) / (1 - t_edge))
        scale_right = np.sqrt(
            2.0 * (1 - t_edge) / (wavelength * (t32[None, :] - t_edge) * (1 - t32[None, :]))
        )
        v_right = np.where(columns > edge[:, None], (ground - line_right) * scale_right, -np.inf)
    per_blocked = 1.0 / np.sqrt(d)
    for v_sub in (v_left, v_right):
        best = np.max(v_sub, axis=1) * per_blocked
        loss[blocked] += knife_edge_loss_db(np.where(np.isfinite(best), best, -10.0))
    return loss


def dense_deygout_reference(
    dem: Raster,
    site_xy: tuple[float, float],
    site_height_m: float,
    rx_x: float,
    rx_y: float,
    freq_mhz: float,
) -> float:
    """Compute the Deygout loss of one profile read at every sample, without the search.

    What :func:`diffraction_loss_db` must equal (a test's and a benchmark's
    reference; slow, one profile).
    """
    values = float32_terrain(dem).values
    wavelength = SPEED_OF_LIGHT / (freq_mhz * 1e6)
    (col0,), (row0,) = _pixel_coordinates(dem, np.array([site_xy[0]]), np.array([site_xy[1]]))
    (col1,), (row1,) = _pixel_coordinates(dem, np.array([rx_x]), np.array([rx_y]))
    ends = np.array([[col0, row0], [col1, row1]], dtype=np.float32)
    h = np.nan_to_num(_bilinear(values, ends[:, 0], ends[:, 1]), nan=0.0).astype(float)
    h_tx, h_rx = h[0] + site_height_m, h[1] + C.RECEIVER_HEIGHT_M
    steps = max(int(np.ceil(np.hypot(col1 - col0, row1 - row0) / PROFILE_STEP_PX)), 2)
    distance = max(float(np.hypot(rx_x - site_xy[0], rx_y - site_xy[1])), 1.0)
    t = np.arange(steps + 1) / steps
    t32 = t.astype(np.float32)
    col = np.float32(col0) + np.float32(col1 - col0) * t32
    row = np.float32(row0) + np.float32(row1 - row0) * t32
    ground = np.nan_to_num(_bilinear(values, col, row), nan=_OFF_DEM_M) + distance**2 * t * (
        1 - t
    ) / (2 * EFFECTIVE_EARTH_RADIUS_M)
    ground[0], ground[-1] = h_tx, h_rx

    def highest(a: int, b: int) -> tuple[float, int]:
        if b - a < 2:
            return -np.inf, a
        i = np.arange(a + 1, b)
        line = ground[a] + (ground[b] - ground[a]) * (t[i] - t[a]) / (t[b] - t[a])
        scale = np.sqrt(2 * (t[b] - t[a]) / (wavelength * distance * (t[i] - t[a]) * (t[b] - t[i])))
        v = (ground[i] - line) * scale
        return float(v.max()), int(i[np.argmax(v)])

    v, e = highest(0, steps)
    loss = float(knife_edge_loss_db(np.array(v)))
    if v > 0:
        for a, b in ((0, e), (e, steps)):
            side, _ = highest(a, b)
            loss += float(knife_edge_loss_db(np.array(side if np.isfinite(side) else -10.0)))
    return loss
