"""The analysis in tiles on dask.distributed, with :func:`coverage.pipeline.analyze`'s answers.

The region is cut into **tiles**: whole communes grouped while a tile holds
at most :data:`MAX_TILE_VILLAGES` villages and its bounding box spans at most
:data:`MAX_TILE_EXTENT_KM` each way (:func:`make_tiles`). A commune is never
split, since its dead zones may span its villages; a village without a
commune is a unit of its own. A commune larger than the bound is one tile.

Each tile is analysed by the stages of :mod:`coverage.pipeline`, one task per
tile on a ``distributed.Client``: the tiles' surveys, the fits once on the
client from their per-cell summaries, the tiles' analyses, then stitching.

**Readings are owned, not copied.** Every reading belongs to one tile: the
tile that owns its analysis cell's H3 res-5 ancestor (:data:`~coverage.pipeline.OWNER_RESOLUTION`,
the readings dataset's partitions), each res-5 cell going to the tile whose
bounds are nearest (:func:`assign_owners`). A tile's cell statistics, retired
readings, service-floor summary and device sketch cover the readings it owns,
so that the fits made from all the tiles' summaries are the fits of all the
readings, exactly.

**Halos**, the radii that reach across a tile's edge (worked out from
:mod:`coverage.predict`, :mod:`coverage.kriging` and :mod:`coverage.fusion`):

- *sites*: a site reaches a cell within its link-budget reach
  (:func:`coverage.pathloss.cell_reach_m`), capped at
  :data:`geodata.constants.MAX_CELL_RANGE_M` (15 km; never OpenCelliD's
  ``range_m``). Every tile is given every site (scattered once): the
  prediction skips those that reach none of its cells, and the nearest site
  of a village or a dead zone may lie farther than any reach. The sites that
  can reach a tile are those within :func:`site_halo_m` of its bounds
  (:func:`sites_reaching`).
- *terrain*: a tile reads the DEM window of the cells it predicts plus
  :data:`~coverage.pipeline.DEM_MARGIN_M` (= 15 km, the same cap: every terrain
  profile runs from a site within reach), clipped to the region's own
  window, so it holds the same pixels the single run reads there; the
  population window is the tile's villages (+ :data:`HALO_DEG`), margin 0.
- *readings*: measured cells within :data:`~coverage.pipeline.NEARBY_DEG` (0.02°,
  ~2 km; ``app.services.analysis._READINGS_MARGIN_DEG`` is the same 0.02°)
  of the *region's* bounds are predicted and calibrate the model; each is
  predicted by its owner. A tile's own raw readings are those it owns plus
  those within :data:`HALO_DEG` (0.005°, ~550 m: a village centre's ring of
  res-10 cells) of its villages, for the counts per village and the centre
  cells' new sites.
- *kriging*: a target uses the :data:`~coverage.kriging.NEIGHBOURS` nearest
  residuals of its res-9 parent group within :data:`~coverage.kriging.FAR_RANGES`
  variogram ranges plus the group spread (5 × at most 2 km + ~0.2 km ≈ 10.2 km);
  the client sends each tile the residuals within that radius of its cells
  (:meth:`coverage.pipeline.RegionTables.around`), the prediction at every
  sibling of its cells, and the variograms fitted on all residuals.

**Identical results** need a projected DEM (a geographic one is warped to
UTM per window, which a tile cannot share; :func:`analyze_tiled` refuses it)
and readings given as a DataFrame: the silent gaps of a phone's track
(:func:`coverage.stats.infer_silent_gaps`) are inferred once on the client,
over all readings. From a readings dataset each tile infers them in its own
readings, so a track that leaves a tile mid-gap may differ there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import thresholds as T
from coverage.errors import CoverageError, NoVillagesError
from coverage.pathloss import cell_reach_m
from coverage.pipeline import (
    AnalysisResult,
    Region,
    TileInput,
    TileSurvey,
    analyse_tile,
    fit_region,
    owner_cells,
    readings_in_force,
    sites_in_force,
    stitch,
    survey_tile,
)
from geodata import constants as C
from geodata.errors import InvalidInputError
from geodata.hexgrid import cell_centres, cells_bounds, cells_from_strings
from geodata.raster import Raster, open_raster, utm_crs_for
from geodata.villages import normalise_villages

if TYPE_CHECKING:
    from distributed import Client

#: Villages a tile holds at most (a commune larger than that is one tile).
MAX_TILE_VILLAGES = 150
#: Largest span of a tile's bounding box, east-west and north-south (km).
MAX_TILE_EXTENT_KM = 40.0
#: A tile's raw readings reach this far (degrees, ~550 m) beyond its villages.
HALO_DEG = 0.005
#: How long to wait for a scheduler given by address (seconds).
CONNECT_TIMEOUT_S = 10.0

_KM_PER_DEG = 111.32


class ClusterError(CoverageError, ValueError):
    """A cluster that cannot be started or reached."""


@dataclass(frozen=True)
class Tile:
    """Communes analysed together.

    Attributes
    ----------
    index : int
        Its number, from 0.
    village_ids : tuple of str
        Its villages.
    communes : tuple of str
        Its communes (``commune_id``; a village without one is ``village:<id>``).
    bounds : (west, south, east, north)
        Its villages' bounds, degrees.
    """

    index: int
    village_ids: tuple[str, ...]
    communes: tuple[str, ...]
    bounds: tuple[float, float, float, float]

    def expanded(self, degrees: float) -> tuple[float, float, float, float]:
        """Return the bounds grown by ``degrees`` on every side."""
        west, south, east, north = self.bounds
        return (west - degrees, south - degrees, east + degrees, north + degrees)


def _extent_km(bounds: Sequence[float]) -> tuple[float, float]:
    west, south, east, north = bounds
    mid = np.radians((south + north) / 2.0)
    return (east - west) * _KM_PER_DEG * float(np.cos(mid)), (north - south) * _KM_PER_DEG


def _units(villages: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per commune (or commune-less village): its villages and bounds."""
    unit = villages["commune_id"].astype(object)
    unit = unit.where(unit.notna(), "village:" + villages["id"].astype(str))
    bounds = villages.geometry.bounds
    frame = pd.DataFrame(
        {
            "unit": unit.to_numpy(object),
            "id": villages["id"].astype(str).to_numpy(object),
            "west": bounds["minx"].to_numpy(float),
            "south": bounds["miny"].to_numpy(float),
            "east": bounds["maxx"].to_numpy(float),
            "north": bounds["maxy"].to_numpy(float),
        }
    )
    units = frame.groupby("unit", sort=True).agg(
        west=("west", "min"),
        south=("south", "min"),
        east=("east", "max"),
        north=("north", "max"),
        villages=("id", "size"),
    )
    units["ids"] = frame.groupby("unit", sort=True)["id"].agg(tuple)
    return units


def make_tiles(
    villages: gpd.GeoDataFrame,
    *,
    max_villages: int = MAX_TILE_VILLAGES,
    max_extent_km: float = MAX_TILE_EXTENT_KM,
) -> list[Tile]:
    """Group whole communes into tiles of bounded size.

    Communes are taken in strips ``max_extent_km`` high, west to east then
    back (a serpentine, so neighbours stay together), and added to the
    current tile while it keeps at most ``max_villages`` villages and a
    bounding box no wider nor taller than ``max_extent_km``.

    Parameters
    ----------
    villages : GeoDataFrame
        Normalised villages (``id``, ``commune_id``), EPSG:4326.
    max_villages : int, keyword-only
    max_extent_km : float, keyword-only

    Returns
    -------
    list of Tile

    Raises
    ------
    InvalidInputError
        When a bound is not positive.
    """
    if max_villages < 1 or not max_extent_km > 0:
        raise InvalidInputError(
            f"tile bounds must be positive: max_villages={max_villages},"
            f" max_extent_km={max_extent_km}"
        )
    if villages.empty:
        return []
    units = _units(villages)
    south = float(units["south"].min())
    lat = (units["south"] + units["north"]) / 2.0
    lon = (units["west"] + units["east"]) / 2.0
    strip = np.floor((lat - south) * _KM_PER_DEG / max_extent_km).astype(int)
    serpentine = np.where(strip % 2 == 0, lon, -lon)
    order = np.lexsort((units.index.to_numpy(str), serpentine, strip))
    tiles: list[Tile] = []
    members: list[str] = []
    box: list[float] = []
    count = 0

    def close() -> None:
        ids = tuple(v for u in members for v in units.at[u, "ids"])
        tiles.append(Tile(len(tiles), ids, tuple(members), (box[0], box[1], box[2], box[3])))

    for position in order:  # a loop over communes
        name = str(units.index[position])
        row = units.iloc[position]
        own = [float(row["west"]), float(row["south"]), float(row["east"]), float(row["north"])]
        grown = own if not members else [min(box[0], own[0]), min(box[1], own[1])]
        if members:
            grown += [max(box[2], own[2]), max(box[3], own[3])]
            wide, tall = _extent_km(grown)
            fits = count + int(row["villages"]) <= max_villages
            if fits and wide <= max_extent_km and tall <= max_extent_km:
                members.append(name)
                box, count = grown, count + int(row["villages"])
                continue
            close()
        members, box, count = [name], own, int(row["villages"])
    close()
    return tiles


def assign_owners(cells: np.ndarray, tiles: Sequence[Tile]) -> np.ndarray:
    """Give each H3 cell (uint64) to the tile whose bounds are nearest its centre.

    Distances are measured from the centre to the bounds (0 inside), east-west
    shrunk by the cosine of the latitude; ties go to the lower tile.

    Returns
    -------
    numpy.ndarray
        A tile index per cell.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return np.zeros(0, dtype=int)
    lat, lon = cell_centres(cells)
    box = np.array([t.bounds for t in tiles], dtype=float)  # tiles × 4
    dx = np.maximum(np.maximum(box[None, :, 0] - lon[:, None], lon[:, None] - box[None, :, 2]), 0)
    dy = np.maximum(np.maximum(box[None, :, 1] - lat[:, None], lat[:, None] - box[None, :, 3]), 0)
    distance = np.hypot(dx * np.cos(np.radians(lat))[:, None], dy)
    owners: np.ndarray = np.argmin(distance, axis=1)
    return owners


def site_halo_m() -> float:
    """Return how far (metres) beyond a tile a site may lie and still reach it."""
    return float(C.MAX_CELL_RANGE_M)


def sites_reaching(sites: pd.DataFrame, bounds: Sequence[float]) -> np.ndarray:
    """Tell which sites' reach touches ``bounds`` (degrees): a boolean per site.

    The reach is the link budget's (:func:`coverage.pathloss.cell_reach_m`, at
    most :func:`site_halo_m`), the distance to the bounds measured locally
    (equirectangular, within 0.1 % at these ranges).
    """
    if sites.empty:
        return np.zeros(0, dtype=bool)
    reach = cell_reach_m(
        sites["eirp_dbm"].to_numpy(float),
        sites["radio"].map(C.REFERENCE_SIGNAL_OFFSET_DB).to_numpy(float),
        sites["radio"].map(C.SERVICE_FLOOR_DBM).to_numpy(float),
        sites["freq_mhz"].to_numpy(float),
        sites["height_m"].to_numpy(float),
    )
    west, south, east, north = bounds
    lat, lon = sites["lat"].to_numpy(float), sites["lon"].to_numpy(float)
    dx = np.maximum(np.maximum(west - lon, lon - east), 0.0) * np.cos(np.radians(lat))
    dy = np.maximum(np.maximum(south - lat, lat - north), 0.0)
    reached: np.ndarray = np.hypot(dx, dy) * _KM_PER_DEG * 1000.0 <= reach
    return reached


# --- the cluster -------------------------------------------------------------


def check_cluster(spec: str) -> str:
    """Check a cluster spec (see :func:`client_for`) before any work; returns it stripped.

    Raises
    ------
    ClusterError
        When it is neither ``local:N`` with N ≥ 1 nor ``tcp://…``/``tls://…``.
    """
    spec = spec.strip()
    if spec.startswith("local:"):
        count = spec.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ClusterError(f"cluster {spec!r}: local:N needs N ≥ 1 worker processes")
        return spec
    if not spec.startswith(("tcp://", "tls://")) or len(spec) <= len("tcp://"):
        raise ClusterError(f"cluster {spec!r}: expected local:N or tcp://HOST:PORT")
    return spec


@contextmanager
def client_for(spec: str, *, timeout: float = CONNECT_TIMEOUT_S) -> Iterator[Client]:
    """Open a ``distributed.Client`` for ``spec``, and close what was started.

    Parameters
    ----------
    spec : str
        ``local:N``: a ``LocalCluster`` of N worker processes, one thread
        each, no dashboard; ``tcp://HOST:PORT`` (or ``tls://``): an existing
        scheduler (``dask scheduler``, then ``dask worker tcp://HOST:8786``).
    timeout : float, keyword-only
        Seconds to wait for a scheduler given by address.

    Raises
    ------
    ClusterError
        When the spec is malformed, N < 1, or the scheduler cannot be reached.
    """
    import distributed

    dist: Any = distributed  # untyped
    spec = check_cluster(spec)
    if spec.startswith("local:"):
        cluster = dist.LocalCluster(
            n_workers=int(spec.removeprefix("local:")),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        try:
            with dist.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = dist.Client(spec, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"no dask scheduler at {spec} (waited {timeout:g} s): {exc}") from exc
    try:
        yield client
    finally:
        client.close()


# --- the analysis ------------------------------------------------------------


def _metric_crs(dem: Raster | str | Path | None, bounds: tuple[float, ...]) -> object:
    """Find the analysis' metric CRS without reading the DEM's pixels."""
    if dem is None:
        return utm_crs_for(bounds[0::2], bounds[1::2])
    if isinstance(dem, Raster):
        return dem.crs
    from pyproj import CRS

    with open_raster(dem) as dataset:
        crs = CRS.from_user_input(dataset.crs)
    if not crs.is_projected:
        raise InvalidInputError(
            f"{dem}: a tiled analysis needs a projected DEM (each tile would warp a"
            f" geographic one to its own grid); warp it once, e.g."
            f" gdalwarp -t_srs {utm_crs_for(bounds[0::2], bounds[1::2]).to_string()}"
        )
    return crs


def _check_tiles(tiles: Sequence[Tile], villages: gpd.GeoDataFrame) -> None:
    ids = [v for t in tiles for v in t.village_ids]
    known = set(villages["id"].astype(str))
    counts = pd.Series(ids, dtype=object).value_counts()
    twice = counts.index[counts > 1].tolist()
    missing = sorted(known - set(ids))
    unknown = sorted(set(ids) - known)
    if twice or missing or unknown:
        raise InvalidInputError(
            "tiles must hold every village once:"
            f" in two tiles {twice[:5]}, in none {missing[:5]}, unknown {unknown[:5]}"
        )


def _tile_inputs(
    villages: gpd.GeoDataFrame,
    readings: pd.DataFrame,
    taken: np.ndarray,
    tiles: Sequence[Tile],
    region: Region,
    buildings: gpd.GeoDataFrame | None,
) -> list[TileInput]:
    """Cut the readings in force (and buildings) into the tiles' inputs, on the client."""
    ancestor = owner_cells(readings, region.resolution)
    distinct, inverse = np.unique(ancestor, return_inverse=True)
    owner_of = assign_owners(distinct, tiles)
    owner = owner_of[inverse] if len(distinct) else np.zeros(0, dtype=int)
    lat, lon = readings["lat"].to_numpy(float), readings["lon"].to_numpy(float)
    position = pd.Series(np.arange(len(villages)), index=villages["id"].astype(str).to_numpy())
    inputs = []
    for tile in tiles:  # a loop over tiles
        west, south, east, north = tile.expanded(HALO_DEG)
        halo = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        mine = (owner == tile.index) | halo
        positions = position.reindex(list(tile.village_ids)).to_numpy(int)
        found = None
        if buildings is not None:
            found = buildings.cx[west:east, south:north]
        inputs.append(
            TileInput(
                villages=villages.iloc[positions],
                positions=positions,
                readings=readings.loc[mine].reset_index(drop=True),
                taken=taken[mine],
                owned_cells=distinct[owner_of == tile.index],
                buildings=found,
            )
        )
    return inputs


def load_tile_readings(
    root: Path,
    tile: Tile,
    villages: gpd.GeoDataFrame,
    positions: np.ndarray,
    owned_cells: np.ndarray,
    as_of: pd.Timestamp | str | None,
    buildings: gpd.GeoDataFrame | None,
    resolution: int,
) -> TileInput:
    """Read a tile's readings from a readings dataset, on a worker.

    Only the partitions around the tile's halo and the res-5 cells it owns
    are read (:func:`geodata.readings_dataset.read_readings_dataset`); silent
    gaps are inferred in these readings.
    """
    from geodata.readings_dataset import read_readings_dataset

    west, south, east, north = tile.expanded(HALO_DEG)
    if len(owned_cells):
        w, s, e, n = cells_bounds(owned_cells)
        west, south, east, north = min(west, w), min(south, s), max(east, e), max(north, n)
    readings = read_readings_dataset(root, bounds=(west, south, east, north))
    readings, taken = readings_in_force(readings, as_of, infer_gaps=True)
    hw, hs, he, hn = tile.expanded(HALO_DEG)
    lat, lon = readings["lat"].to_numpy(float), readings["lon"].to_numpy(float)
    halo = (lon >= hw) & (lon <= he) & (lat >= hs) & (lat <= hn)
    mine = halo | np.isin(owner_cells(readings, resolution), owned_cells)
    return TileInput(
        villages=villages,
        positions=positions,
        readings=readings.loc[mine].reset_index(drop=True),
        taken=taken[mine],
        owned_cells=owned_cells,
        buildings=buildings,
    )


def _dataset_cells(root: Path) -> np.ndarray:
    """List the res-5 cells a readings dataset holds, and their neighbours (uint64).

    A reading's analysis cell may have its res-5 ancestor next to the
    partition of its point: the neighbours are owned too.
    """
    import h3

    names = [p.name.split("=", 1)[1] for p in Path(root).glob("h3_5=*") if p.is_dir()]
    if not names:
        raise InvalidInputError(f"{root}: no readings dataset partitions (h3_5=…) there")
    ring = {c for name in names for c in h3.grid_disk(name, 1)}
    return np.sort(cells_from_strings(np.array(sorted(ring), dtype=object)))


def analyze_tiled(
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    readings: pd.DataFrame | str | Path,
    *,
    dem: Raster | str | Path | None = None,
    population: Raster | str | Path | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    as_of: pd.Timestamp | str | None = None,
    client: Client,
    tiles: Sequence[Tile] | None = None,
) -> AnalysisResult:
    """Analyse the villages tile by tile on a dask cluster, as :func:`~coverage.pipeline.analyze`.

    Parameters
    ----------
    villages, sites : as for :func:`coverage.pipeline.analyze`
    readings : DataFrame or path
        Validated readings, or the root of a readings dataset
        (:mod:`geodata.readings_dataset`): then each task reads only the
        partitions its tile needs.
    dem, population : Raster or path, optional, keyword-only
        Paths are opened by the workers, each reading its tile's window.
    buildings : GeoDataFrame, optional, keyword-only
        Sliced per tile on the client.
    as_of : Timestamp or str, optional, keyword-only
    client : distributed.Client, keyword-only
        See :func:`client_for`.
    tiles : sequence of Tile, optional, keyword-only
        Default :func:`make_tiles` with its default bounds.

    Returns
    -------
    AnalysisResult

    Raises
    ------
    NoVillagesError
        When ``villages`` is empty.
    InvalidInputError
        When the tiles do not hold every village once, or the DEM is geographic.
    """
    if villages.empty:
        raise NoVillagesError("no villages to analyse")
    dask: Any = client  # distributed is untyped
    villages = normalise_villages(villages)
    tiles = list(tiles) if tiles is not None else make_tiles(villages)
    _check_tiles(tiles, villages)
    bounds = tuple(float(v) for v in villages.total_bounds)
    region = Region(
        bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
        metric_crs=_metric_crs(dem, bounds),
        resolution=T.H3_RESOLUTION_VERDICT,
    )
    sites = sites_in_force(sites, as_of)
    if isinstance(readings, str | Path):
        tile_futures = _dataset_inputs(client, Path(readings), villages, tiles, as_of, buildings)
    else:
        in_force, taken = readings_in_force(readings, as_of, infer_gaps=True)
        inputs = _tile_inputs(villages, in_force, taken, tiles, region, buildings)
        tile_futures = [dask.scatter(i, hash=False) for i in inputs]
    site_future = dask.scatter(sites, broadcast=True, hash=False)
    surveyed = [
        dask.submit(survey_tile, f, site_future, region, dem=dem, pure=False) for f in tile_futures
    ]
    surveys: list[TileSurvey] = dask.gather(surveyed)
    fits, tables = fit_region(surveys, sites, region)
    fits_future = dask.scatter(fits, broadcast=True, hash=False)
    analysed = [
        dask.submit(
            analyse_tile,
            f,
            site_future,
            region,
            fits_future,
            dask.scatter(tables.around(number, survey.receivers, fits), hash=False),
            dem=dem,
            population=population,
            pure=False,
        )
        for number, (f, survey) in enumerate(zip(tile_futures, surveys, strict=True))
    ]
    analyses = dask.gather(analysed)
    return stitch(surveys, fits, analyses, region)


def _dataset_inputs(
    client: Any,
    root: Path,
    villages: gpd.GeoDataFrame,
    tiles: Sequence[Tile],
    as_of: pd.Timestamp | str | None,
    buildings: gpd.GeoDataFrame | None,
) -> list[Any]:
    """Submit one task per tile that reads its readings from the dataset (futures of TileInput)."""
    cells = _dataset_cells(root)
    owner_of = assign_owners(cells, tiles)
    position = pd.Series(np.arange(len(villages)), index=villages["id"].astype(str).to_numpy())
    futures = []
    for tile in tiles:  # a loop over tiles
        positions = position.reindex(list(tile.village_ids)).to_numpy(int)
        west, south, east, north = tile.expanded(HALO_DEG)
        found = None if buildings is None else buildings.cx[west:east, south:north]
        futures.append(
            client.submit(
                load_tile_readings,
                root,
                tile,
                villages.iloc[positions],
                positions,
                cells[owner_of == tile.index],
                as_of,
                found,
                T.H3_RESOLUTION_VERDICT,
                pure=False,
            )
        )
    return futures
