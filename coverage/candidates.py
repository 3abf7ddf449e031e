"""Candidate sites that could close the gaps (issue 14, step 7 of DESIGN.md).

Three kinds, all in :data:`geodata.sites.CANDIDATE_COLUMNS`:

- **co-location** (:func:`colocation_candidates`): a carrier's antennas on
  another carrier's existing mast. In Tuyên Quang carriers share little
  infrastructure, and a mast that is already there (with its power, road and
  backhaul) is often the cheapest fix for a *trắng sóng* village;
- **new sites** (:func:`terrain_candidates`): high points of the terrain with
  line of sight over the settled valleys near the villages, on a grid;
- **uploaded**: any list a planner brings (``lon, lat, height_m, carrier,
  radio, cost``).

:func:`all_candidates` gathers them with distinct ids. Costs come from
:class:`Costs` (VND per candidate; :data:`DEFAULT_COSTS` says where each
figure comes from). What a candidate would serve is
:func:`coverage.planning.evaluate_candidates`'s question.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy import ndimage
from scipy.spatial import cKDTree

from coverage.diffraction import FIXED_PROFILE_SAMPLES, diffraction_loss_db, float32_terrain
from coverage.errors import CoverageError
from geodata import constants as C
from geodata.errors import CRSMismatchError
from geodata.hexgrid import cell_centres, cell_resolutions, cells_in_polygons, change_resolution
from geodata.raster import Raster, read_raster, utm_crs_for
from geodata.sites import CANDIDATE_COLUMNS, carrier_codes, carrier_name, main_radio
from geodata.threads import map_in_order


class InvalidCandidateError(CoverageError, ValueError):
    """A candidate (or an option of the candidate generators) is not valid."""


@dataclass(frozen=True)
class Costs:
    """What a candidate costs to build, in VND, and where the figures come from.

    Attributes
    ----------
    colocation : float
        Another carrier's antennas, radios and power on an existing mast.
    new_site : float
        A new mast with its antennas, power and backhaul.
    source : str
        Where the figures come from (shown beside a plan's cost).
    """

    colocation: float
    new_site: float
    source: str

    def __post_init__(self) -> None:
        """Refuse costs that are not positive finite numbers."""
        for name in ("colocation", "new_site"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InvalidCandidateError(f"cost of {name}: {value!r} is not a positive amount")


#: Default costs (VND). **Assumptions**, not tariffs: no public price list of
#: Vietnamese carriers exists. A new rural BTS with its tower, power and
#: microwave or fibre backhaul is put at about 1.5 billion VND (the order of
#: magnitude Vietnamese press and the Public-Utility Telecom Fund's
#: programmes quote for a mountain site, ~1-2 billion); a co-location (the
#: carrier's radio units and antennas on a mast that already has power and a
#: road) at about 0.4 billion, a quarter of it: the tower, land, access and
#: power, which co-location spares, are most of a rural site's cost (the
#: GSMA's infrastructure-sharing studies put passive sharing's saving at
#: 16-35 % of a network's capex and the tower at well over half a new site's).
#: Replace them with a carrier's own figures (``Costs(...)``).
DEFAULT_COSTS = Costs(
    colocation=400_000_000.0,
    new_site=1_500_000_000.0,
    source=(
        "assumed: new rural site ~1.5 billion VND (tower, power, backhaul), "
        "co-location ~0.4 billion VND (radios and antennas on an existing mast)"
    ),
)

# A carrier with a site this close to a mast is already on it (the same
# mast, or one in the same compound): no co-location candidate there.
SAME_MAST_M = 50.0
# Terrain candidates (terrain_candidates): a high point stands at least
# PROMINENCE_M above the mean ground within 1.5 grid spacings around it,
# lies within NEAR_VILLAGE_M of a settled cell (the village stands for the
# road: lomsong has no road data, and villages are where roads lead), and
# sees at least MIN_SEEN_HOUSEHOLDS households within SIGHT_RANGE_M with a
# terrain loss of at most CLEAR_SIGHT_DB: 6 dB is a knife edge grazing the
# line of sight (v = 0), near-clear sight.
PROMINENCE_M = 20.0
NEAR_VILLAGE_M = 3000.0
SIGHT_RANGE_M = 6000.0
CLEAR_SIGHT_DB = 6.0
MIN_SEEN_HOUSEHOLDS = 5.0
# Grid spacing of new-site candidates (one per block of this size).
DEFAULT_SPACING_M = 500.0
# The mast a new site is assumed to get: a 30 m tower, the usual rural
# macro mast (geodata.constants.DEFAULT_SITE_HEIGHT_M).
NEW_SITE_HEIGHT_M = C.DEFAULT_SITE_HEIGHT_M
# Resolution of the cells standing for settled ground without household weights.
_SETTLED_RESOLUTION = 10
# Sight is screened to the settled cells gathered at this resolution (res 9,
# ~175 m across; seven res-10 cells each): a screening for high points, the
# evaluation judges every household cell.
SIGHT_RESOLUTION = 9


def _empty_candidates() -> pd.DataFrame:
    dtypes = {"lon": float, "lat": float, "height_m": float, "cost": float}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, object)) for c in CANDIDATE_COLUMNS})


def carrier_list(sites: pd.DataFrame, carriers: list[str] | tuple[str, ...] | None) -> list[str]:
    """Return the carriers to make candidates for, by their canonical names.

    The carriers of the site table, or ``carriers`` (brands or ``MCC-MNC``,
    any case).

    Raises
    ------
    InvalidCandidateError
        When a carrier is not known.
    """
    if carriers is None:
        return sorted({str(c) for c in sites["carrier"].dropna()}) if len(sites) else []
    names = []
    for given in carriers:
        try:
            names.append(carrier_name(*carrier_codes(str(given))))
        except ValueError as error:
            raise InvalidCandidateError(f"carrier {given!r}: not a known carrier") from error
    return sorted(set(names))


def _metric(lon: np.ndarray, lat: np.ndarray, crs: object) -> tuple[np.ndarray, np.ndarray]:
    to_metric = pyproj.Transformer.from_crs(C.CRS_WGS84, crs, always_xy=True)
    x, y = to_metric.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, float), np.asarray(y, float)


def colocation_candidates(
    sites: pd.DataFrame,
    *,
    carriers: list[str] | tuple[str, ...] | None = None,
    costs: Costs = DEFAULT_COSTS,
) -> pd.DataFrame:
    """Every carrier on every existing mast of another carrier.

    A mast is a ``site_id``: its position is its first cell's, its height the
    largest of its cells' ``height_m``. A carrier already on the mast (a
    site of its own within :data:`SAME_MAST_M`) gets no candidate there.
    Each candidate carries the carrier's main radio
    (:func:`geodata.sites.main_radio`) and ``costs.colocation``; its id is
    ``co-<host_site_id>-<carrier>``.

    Parameters
    ----------
    sites : DataFrame
        Normalised sites (:func:`geodata.sites.normalise_sites`).
    carriers : list of str, optional, keyword-only
        The carriers to co-locate (default: those of ``sites``).
    costs : Costs, keyword-only

    Returns
    -------
    DataFrame
        :data:`geodata.sites.CANDIDATE_COLUMNS`, kind ``colocation``.

    Examples
    --------
    >>> sites = pd.DataFrame({"site_id": ["a", "b"], "carrier": ["Viettel", "MobiFone"],
    ...     "lon": [105.40, 105.45], "lat": [22.50, 22.50], "height_m": [30.0, 40.0],
    ...     "radio": ["lte", "lte"]})
    >>> colocation_candidates(sites)["candidate_id"].tolist()
    ['co-a-MobiFone', 'co-b-Viettel']
    """
    names = carrier_list(sites, carriers)
    if len(sites) == 0 or not names:
        return _empty_candidates()
    masts = (
        sites.assign(carrier=sites["carrier"].astype(object))
        .groupby("site_id", sort=True)
        .agg(
            lon=("lon", "first"),
            lat=("lat", "first"),
            height_m=("height_m", "max"),
            host=("carrier", "first"),
        )
        .reset_index()
    )
    crs = utm_crs_for(masts["lon"].to_numpy(float), masts["lat"].to_numpy(float))
    x, y = _metric(masts["lon"].to_numpy(), masts["lat"].to_numpy(), crs)
    carrier_of_cell = sites["carrier"].astype(object).to_numpy()
    cell_x, cell_y = _metric(sites["lon"].to_numpy(), sites["lat"].to_numpy(), crs)
    frames = []
    for carrier in names:  # a loop over carriers (a handful)
        own = carrier_of_cell == carrier
        if own.any():
            tree = cKDTree(np.column_stack([cell_x[own], cell_y[own]]))
            nearest, _ = tree.query(np.column_stack([x, y]))
            free = nearest > SAME_MAST_M
        else:
            free = np.ones(len(masts), dtype=bool)
        hosts = masts.loc[free]
        frames.append(
            pd.DataFrame(
                {
                    "candidate_id": "co-" + hosts["site_id"].astype(str) + f"-{carrier}",
                    "kind": "colocation",
                    "lon": hosts["lon"].to_numpy(float),
                    "lat": hosts["lat"].to_numpy(float),
                    "height_m": hosts["height_m"].fillna(C.DEFAULT_SITE_HEIGHT_M).to_numpy(float),
                    "carrier": carrier,
                    "radio": main_radio(sites, carrier),
                    "cost": float(costs.colocation),
                    "host_site_id": hosts["site_id"].astype(str).to_numpy(),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("candidate_id", kind="stable").reset_index(drop=True)[
        list(CANDIDATE_COLUMNS)
    ]


def _settled_points(
    villages: gpd.GeoDataFrame, households: pd.DataFrame | None, metric_crs: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Settled cells in metres and their households.

    From the analysis' household weights when given; else every cell of the
    villages, each village's households spread evenly over its cells.
    """
    if households is not None and len(households):
        cells = households["h3"].to_numpy(np.uint64)
        weight = households["households"].to_numpy(float)
    else:
        table = cells_in_polygons(villages, resolution=_SETTLED_RESOLUTION)
        total = villages.set_index("id")["households"].astype(float)
        size = table.groupby("id")["h3"].transform("size").to_numpy(float)
        cells = table["h3"].to_numpy(np.uint64)
        weight = table["id"].map(total).fillna(0.0).to_numpy(float) / size
    lat, lon = cell_centres(cells)
    x, y = _metric(lon, lat, metric_crs)
    return x, y, weight, cells


def _block_highs(values: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the highest pixel of each ``block`` × ``block`` block."""
    rows, cols = values.shape
    pad_r, pad_c = -rows % block, -cols % block
    padded = np.pad(values, ((0, pad_r), (0, pad_c)), constant_values=-np.inf)
    nby, nbx = padded.shape[0] // block, padded.shape[1] // block
    blocks = padded.reshape(nby, block, nbx, block).transpose(0, 2, 1, 3).reshape(nby, nbx, -1)
    best = blocks.argmax(axis=2)
    valid = np.isfinite(np.take_along_axis(blocks, best[..., None], axis=2)[..., 0])
    by, bx = np.nonzero(valid)
    row = by * block + best[by, bx] // block
    col = bx * block + best[by, bx] % block
    return row, col


def _high_points(
    terrain: Raster, box: tuple[float, float, float, float], spacing_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local highs of the DEM inside ``box`` (metres), one at most per grid block.

    Per block of ``spacing_m`` the highest pixel, kept when no pixel within
    half a block around it is higher (:func:`scipy.ndimage.maximum_filter`:
    the top of a rise, not the upper edge of a slope) and it stands
    :data:`PROMINENCE_M` above the mean ground within 1.5 blocks.
    Returns x, y and the ground height.
    """
    inverse = ~terrain.transform
    col0, row0 = inverse * (box[0], box[3])
    col1, row1 = inverse * (box[2], box[1])
    r0, r1 = max(int(np.floor(min(row0, row1))), 0), int(np.ceil(max(row0, row1)))
    c0, c1 = max(int(np.floor(min(col0, col1))), 0), int(np.ceil(max(col0, col1)))
    values = terrain.values[r0:r1, c0:c1].astype(float)
    if values.size == 0 or not np.isfinite(values).any():
        return np.empty(0), np.empty(0), np.empty(0)
    block = max(round(spacing_m / terrain.pixel_size), 1)
    ground = np.where(np.isfinite(values), values, -np.inf)
    filled = np.where(np.isfinite(values), values, np.nanmean(values))
    row, col = _block_highs(ground, block)
    highest = ndimage.maximum_filter(ground, size=block, mode="nearest")
    around = ndimage.uniform_filter(filled, size=3 * block, mode="nearest")
    height = ground[row, col]
    keep = (height >= highest[row, col]) & (height - around[row, col] >= PROMINENCE_M)
    row, col, height = row[keep], col[keep], height[keep]
    x, y = terrain.transform * (col + c0 + 0.5, row + r0 + 0.5)
    return np.asarray(x, float), np.asarray(y, float), height


def _households_in_sight(
    terrain: Raster,
    points: tuple[np.ndarray, np.ndarray],
    settled: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Households each point sees within :data:`SIGHT_RANGE_M` (near-clear line of sight).

    Sight is :func:`coverage.diffraction.diffraction_loss_db` from a mast of
    :data:`NEW_SITE_HEIGHT_M` at LTE's usual frequency, on 48-sample profiles
    to the settled cells gathered at :data:`SIGHT_RESOLUTION` (a screening,
    not the evaluation): loss at most :data:`CLEAR_SIGHT_DB`. A loop over
    the points (hundreds to thousands) on threads, each vectorised over cells.
    """
    sx, sy, weight = settled
    tree = cKDTree(np.column_stack([sx, sy]))
    freq = float(C.DEFAULT_FREQ_MHZ["lte"])
    dem = float32_terrain(terrain)

    def seen(point: tuple[float, float]) -> float:
        near = np.asarray(tree.query_ball_point(point, SIGHT_RANGE_M), dtype=np.intp)
        if near.size == 0:
            return 0.0
        loss = diffraction_loss_db(
            dem, point, NEW_SITE_HEIGHT_M, sx[near], sy[near], freq, samples=FIXED_PROFILE_SAMPLES
        )
        return float(weight[near][loss <= CLEAR_SIGHT_DB].sum())

    work = [(float(x), float(y)) for x, y in zip(points[0], points[1], strict=True)]
    return np.fromiter(map_in_order(seen, work), dtype=float, count=len(work))


def _coarser(
    settled: tuple[np.ndarray, np.ndarray, np.ndarray], cells: np.ndarray, metric_crs: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gather settled cells into their parents at :data:`SIGHT_RESOLUTION` (centres, summed)."""
    if len(cells) == 0 or int(cell_resolutions(cells).max()) <= SIGHT_RESOLUTION:
        return settled
    parents, of_cell = np.unique(change_resolution(cells, SIGHT_RESOLUTION), return_inverse=True)
    lat, lon = cell_centres(parents)
    x, y = _metric(lon, lat, metric_crs)
    return x, y, np.bincount(of_cell, weights=settled[2], minlength=len(parents))


def _grid_over_settled(
    settled: tuple[np.ndarray, np.ndarray, np.ndarray], spacing_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Without a DEM: per grid block, the settled cell with the most households."""
    x, y, weight = settled
    keys = pd.DataFrame(
        {
            "bx": np.floor(x / spacing_m).astype(np.int64),
            "by": np.floor(y / spacing_m).astype(np.int64),
            "w": weight,
            "i": np.arange(len(x)),
        }
    )
    block_total = keys.groupby(["bx", "by"])["w"].transform("sum").to_numpy(float)
    heaviest = keys.sort_values(["w", "i"], ascending=[False, True]).drop_duplicates(["bx", "by"])
    chosen = heaviest["i"].to_numpy(int)
    return x[chosen], y[chosen], block_total[chosen]


def terrain_candidates(
    villages: gpd.GeoDataFrame,
    terrain: Raster | str | Path | None,
    sites: pd.DataFrame,
    *,
    metric_crs: object,
    spacing_m: float = DEFAULT_SPACING_M,
    carriers: list[str] | tuple[str, ...] | None = None,
    costs: Costs = DEFAULT_COSTS,
    households: pd.DataFrame | None = None,
    max_positions: int | None = None,
) -> pd.DataFrame:
    """New-site candidates: high points that see the settled valleys near the villages.

    On a grid of ``spacing_m``: per block, the DEM's highest pixel, kept
    when it is a local high (:data:`PROMINENCE_M` above its surroundings),
    lies within :data:`NEAR_VILLAGE_M` of a settled cell and sees, with
    near-clear line of sight (:data:`CLEAR_SIGHT_DB`), at least
    :data:`MIN_SEEN_HOUSEHOLDS` households within :data:`SIGHT_RANGE_M`.
    Settled cells are the analysis' ``households`` weights when given (see
    :attr:`coverage.pipeline.AnalysisResult.households`), else each
    village's cells with its households spread evenly. lomsong holds no
    road data: nearness to a village stands for nearness to the road (the
    road leads to the village). **Without a DEM** the positions are a grid
    over the settled cells: per block, its most populous cell.

    One candidate per (position, carrier), id ``new-<n>-<carrier>``, the
    positions numbered 1, 2, ... by households seen (most first), at
    :data:`NEW_SITE_HEIGHT_M` with the carrier's main radio and
    ``costs.new_site``.

    Parameters
    ----------
    villages : GeoDataFrame
        Normalised villages (``id``, ``households``, polygons in EPSG:4326).
    terrain : Raster, path or None
        The DEM in ``metric_crs`` (a path is read around the villages).
    sites : DataFrame
        Normalised sites: the carriers and their main radios.
    metric_crs : pyproj.CRS, keyword-only
        Where distances are measured (:attr:`~coverage.pipeline.AnalysisResult.metric_crs`).
    spacing_m : float, keyword-only
        Grid spacing (m), :data:`DEFAULT_SPACING_M` by default.
    carriers : list of str, optional, keyword-only
        The carriers to place (default: those of ``sites``).
    costs : Costs, keyword-only
    households : DataFrame, optional, keyword-only
        ``h3, households``: where households live.
    max_positions : int, optional, keyword-only
        Keep only this many positions, those that see the most households.

    Returns
    -------
    DataFrame
        :data:`geodata.sites.CANDIDATE_COLUMNS`, kind ``new_site``.

    Raises
    ------
    InvalidCandidateError
        When ``spacing_m`` is not positive or a carrier is unknown.
    CRSMismatchError
        When the DEM is not in ``metric_crs``.
    """
    if not np.isfinite(spacing_m) or spacing_m <= 0:
        raise InvalidCandidateError(f"spacing_m: {spacing_m!r} is not a positive distance")
    names = carrier_list(sites, carriers)
    if villages.empty or not names:
        return _empty_candidates()
    if terrain is not None and not isinstance(terrain, Raster):
        bounds = tuple(float(v) for v in villages.total_bounds)
        terrain = read_raster(terrain, bounds_wgs84=bounds, margin_m=NEAR_VILLAGE_M)  # type: ignore[arg-type]
    if terrain is not None and not pyproj.CRS(terrain.crs).equals(pyproj.CRS(metric_crs)):
        raise CRSMismatchError(f"the DEM is in {terrain.crs}, the analysis in {metric_crs}")
    *settled_xyw, settled_cells = _settled_points(villages, households, metric_crs)
    occupied = settled_xyw[2] > 0
    settled = (settled_xyw[0][occupied], settled_xyw[1][occupied], settled_xyw[2][occupied])
    settled_cells = settled_cells[occupied]
    if settled[0].size == 0:
        return _empty_candidates()
    if terrain is None:
        x, y, seen = _grid_over_settled(settled, spacing_m)
    else:
        box = (
            float(settled[0].min()) - NEAR_VILLAGE_M,
            float(settled[1].min()) - NEAR_VILLAGE_M,
            float(settled[0].max()) + NEAR_VILLAGE_M,
            float(settled[1].max()) + NEAR_VILLAGE_M,
        )
        x, y, _ = _high_points(terrain, box, spacing_m)
        if x.size:
            gap, _ = cKDTree(np.column_stack(settled[:2])).query(np.column_stack([x, y]))
            x, y = x[gap <= NEAR_VILLAGE_M], y[gap <= NEAR_VILLAGE_M]
        seen = (
            _households_in_sight(terrain, (x, y), _coarser(settled, settled_cells, metric_crs))
            if x.size
            else np.empty(0)
        )
        keep = seen >= MIN_SEEN_HOUSEHOLDS
        x, y, seen = x[keep], y[keep], seen[keep]
    order = np.lexsort((x, y, -seen))
    if max_positions is not None:
        order = order[: max(int(max_positions), 0)]
    x, y = x[order], y[order]
    to_wgs84 = pyproj.Transformer.from_crs(metric_crs, C.CRS_WGS84, always_xy=True)
    lon, lat = (np.round(np.asarray(v, float), 6) for v in to_wgs84.transform(x, y))
    number = np.arange(1, len(x) + 1)
    frames = [
        pd.DataFrame(
            {
                "candidate_id": [f"new-{n}-{carrier}" for n in number],
                "kind": "new_site",
                "lon": lon,
                "lat": lat,
                "height_m": NEW_SITE_HEIGHT_M,
                "carrier": carrier,
                "radio": main_radio(sites, carrier),
                "cost": float(costs.new_site),
                "host_site_id": None,
            }
        )
        for carrier in names
    ]
    out = pd.concat(frames, ignore_index=True) if frames else _empty_candidates()
    return out[list(CANDIDATE_COLUMNS)].astype({"host_site_id": object})


def checked_values(
    frame: pd.DataFrame, *, label: str, costs: Costs = DEFAULT_COSTS
) -> dict[str, np.ndarray]:
    """Check candidates' values: position, mast height, cost, carrier and radio.

    ``lon, lat, carrier`` are needed; ``height_m`` defaults to
    :data:`NEW_SITE_HEIGHT_M`, ``cost`` to the cost of the row's ``kind``
    (``costs.colocation`` for a co-location, else ``costs.new_site``) and
    ``radio`` stays None (the carrier's main radio) where absent or empty.
    Carriers come back by their canonical names, radios in lower case.

    Raises
    ------
    InvalidCandidateError
        Naming the row (from 1), the field, the value and the reason of the
        first bad value; ``label`` says which table.
    """
    missing = [c for c in ("lon", "lat", "carrier") if c not in frame]
    if missing:
        raise InvalidCandidateError(f"{label}: missing column(s) {', '.join(missing)}")
    table = frame.reset_index(drop=True)
    rows = np.arange(1, len(table) + 1)

    def numbers(column: str) -> np.ndarray:
        if column not in table:
            return np.full(len(table), np.nan)
        values: np.ndarray = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
        bad = table[column].notna().to_numpy() & ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidCandidateError(
                f"{label}, row {rows[i]}: {column} {table[column].iloc[i]!r} is not a number"
            )
        return values

    lon, lat, height, cost = (numbers(c) for c in ("lon", "lat", "height_m", "cost"))
    height = np.where(np.isnan(height), NEW_SITE_HEIGHT_M, height)
    kind = table["kind"].astype(object).to_numpy() if "kind" in table else np.full(len(table), "")
    cost = np.where(
        np.isnan(cost), np.where(kind == "colocation", costs.colocation, costs.new_site), cost
    )
    checks = (
        ("lon", lon, ~((lon >= -180) & (lon <= 180)), "is not a longitude"),
        ("lat", lat, ~((lat >= -90) & (lat <= 90)), "is not a latitude"),
        ("height_m", height, ~((height > 0) & (height <= 300)), "is not a mast height (0-300 m)"),
        ("cost", cost, ~(cost >= 0), "is not a cost (VND, at least 0)"),
    )
    for column, values, bad, why in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidCandidateError(
                f"{label}, row {rows[i]}: {column} {float(values[i])!r} {why}"
            )
    carriers = []
    for row, given in zip(rows, table["carrier"], strict=True):  # one per candidate
        try:
            carriers.append(carrier_name(*carrier_codes(str(given))))
        except ValueError as error:
            raise InvalidCandidateError(
                f"{label}, row {row}: carrier {given!r} is not a known carrier"
            ) from error
    given = table["radio"].tolist() if "radio" in table else [None] * len(table)
    radio = np.array(
        [
            None if r is None or pd.isna(r) or not str(r).strip() else str(r).strip().lower()
            for r in given
        ],
        dtype=object,
    )
    unknown = np.array([r is not None and r not in C.DEFAULT_EIRP_DBM for r in radio], bool)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InvalidCandidateError(
            f"{label}, row {rows[i]}: radio {radio[i]!r} is not one of "
            f"{', '.join(sorted(C.DEFAULT_EIRP_DBM))}"
        )
    return {
        "lon": lon,
        "lat": lat,
        "height_m": height,
        "cost": cost,
        "carrier": np.array(carriers, dtype=object),
        "radio": radio,
    }


def uploaded_candidates(frame: pd.DataFrame, *, costs: Costs = DEFAULT_COSTS) -> pd.DataFrame:
    """Check a planner's candidate list and bring it into :data:`~geodata.sites.CANDIDATE_COLUMNS`.

    Needs ``lon, lat, carrier``; ``height_m`` (default
    :data:`NEW_SITE_HEIGHT_M`), ``radio`` (default: the carrier's main radio,
    left missing here), ``cost`` (default ``costs.new_site``) and
    ``candidate_id`` (default ``up-<row>``, the row counted from 1) may be
    absent or empty (:func:`checked_values`). Kind ``uploaded``.

    Raises
    ------
    InvalidCandidateError
        Naming the row, the field, the value and the reason of the first bad value.
    """
    table = frame.reset_index(drop=True).drop(columns=["kind"], errors="ignore")
    values = checked_values(table, label="uploaded candidates", costs=costs)
    rows = np.arange(1, len(table) + 1)
    ids = (
        table["candidate_id"].astype(object)
        if "candidate_id" in table
        else pd.Series([None] * len(table), dtype=object)
    )
    ids = pd.Series(
        [
            str(v).strip() if v is not None and pd.notna(v) and str(v).strip() else f"up-{row}"
            for v, row in zip(ids, rows, strict=True)
        ],
        dtype=object,
    )
    out = pd.DataFrame({"candidate_id": ids, "kind": "uploaded", "host_site_id": None})
    for column, column_values in values.items():
        out[column] = pd.Series(
            column_values, dtype=object if column in ("carrier", "radio") else float
        )
    return out[list(CANDIDATE_COLUMNS)]


def distinct_ids(ids: pd.Series) -> pd.Series:
    """Make ids distinct: a repeated id gets ``-2``, ``-3``... in order of appearance.

    >>> distinct_ids(pd.Series(["a", "b", "a"])).tolist()
    ['a', 'b', 'a-2']
    """
    ids = ids.astype(str).reset_index(drop=True)
    repeat = ids.groupby(ids).cumcount().to_numpy()
    out = ids.where(repeat == 0, ids + "-" + (repeat + 1).astype(str))
    taken = set(out[repeat == 0])
    # A suffixed id can collide with a given one ("a-2" uploaded): number on.
    for i in np.flatnonzero(repeat > 0):  # the repeats only
        n = int(repeat[i]) + 1
        while f"{ids[i]}-{n}" in taken:
            n += 1
        out[i] = f"{ids[i]}-{n}"
        taken.add(out[i])
    return out


def all_candidates(
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    terrain: Raster | str | Path | None,
    *,
    metric_crs: object,
    uploaded: pd.DataFrame | None = None,
    carriers: list[str] | tuple[str, ...] | None = None,
    spacing_m: float = DEFAULT_SPACING_M,
    costs: Costs = DEFAULT_COSTS,
    households: pd.DataFrame | None = None,
    max_positions: int | None = None,
) -> pd.DataFrame:
    """Co-locations, new sites from the terrain and a planner's uploaded list, with distinct ids.

    See :func:`colocation_candidates`, :func:`terrain_candidates` and
    :func:`uploaded_candidates`; ``uploaded`` keeps its ids (``up-<row>``
    when absent), a repeated id gets a suffix (:func:`distinct_ids`).

    Returns
    -------
    DataFrame
        :data:`geodata.sites.CANDIDATE_COLUMNS`.
    """
    frames = [
        colocation_candidates(sites, carriers=carriers, costs=costs),
        terrain_candidates(
            villages,
            terrain,
            sites,
            metric_crs=metric_crs,
            spacing_m=spacing_m,
            carriers=carriers,
            costs=costs,
            households=households,
            max_positions=max_positions,
        ),
    ]
    if uploaded is not None and len(uploaded):
        frames.append(uploaded_candidates(uploaded, costs=costs))
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty_candidates()
    out = pd.concat(frames, ignore_index=True)[list(CANDIDATE_COLUMNS)]
    out["candidate_id"] = distinct_ids(out["candidate_id"]).to_numpy()
    return out
