"""The bundled demo region: Thượng Nông (Na Hang) and Linh Phú (Chiêm Hóa).

A deterministic, seeded simulation grounded in public facts (DESIGN.md):
village boundaries, a synthetic karst DEM, a settlement raster, carrier
sites, a field campaign of signal readings, and the ground truth that only
tests and evaluations read (``truth.csv`` per village, ``signal_truth.csv``
per reading). Nothing here is real data; the simulator's physics (field.py)
is its own and is not shared with the analysis in ``coverage/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geodata.demo.campaign import simulate_readings, write_readings
from geodata.demo.field import build_field
from geodata.demo.network import build_network, write_sites
from geodata.demo.reading_truth import READING_TRUTH_FILE, reading_truth, write_reading_truth
from geodata.demo.region import TO_WGS84, Region, build_region
from geodata.demo.settlements import place_households, write_population
from geodata.demo.terrain import build_terrain, write_dem
from geodata.demo.truth import village_truth, write_truth

__all__ = ["READING_TRUTH_FILE", "DemoFiles", "write_demo"]


@dataclass(frozen=True)
class DemoFiles:
    """Paths of the files :func:`write_demo` writes."""

    communes: Path
    villages: Path
    sites: Path
    readings: Path
    dem: Path
    population: Path
    truth: Path


def _write_geojson(region: Region, out_dir: Path) -> tuple[Path, Path]:
    communes_path, villages_path = out_dir / "communes.geojson", out_dir / "villages.geojson"
    region.communes.to_crs(4326).to_file(communes_path, driver="GeoJSON")
    villages = region.villages.copy()
    lon, lat = TO_WGS84.transform(villages["centre_x"].to_numpy(), villages["centre_y"].to_numpy())
    villages["centre_lon"], villages["centre_lat"] = lon.round(6), lat.round(6)
    columns = [
        "id",
        "name",
        "commune_id",
        "commune",
        "district",
        "province",
        "households",
        "population",
        "poverty_rate",
        "centre_lon",
        "centre_lat",
        "geometry",
    ]
    villages.loc[:, columns].to_crs(4326).to_file(villages_path, driver="GeoJSON")
    return communes_path, villages_path


def write_demo(out_dir: Path, *, seed: int = 7, without_site: str | None = None) -> DemoFiles:
    """Generate the demo region into ``out_dir`` (created if missing).

    The same seed gives byte-identical tables; the geography the demo is
    grounded in (the twelve villages of Thượng Nông, Bản Giòng's 98
    households and its distances to the VNPT sites) is the same for every
    seed. Beside the files :class:`DemoFiles` lists, the simulator's true
    signal at every reading goes into :data:`READING_TRUTH_FILE`
    (``signal_truth.csv``, see :mod:`geodata.demo.reading_truth`).

    Parameters
    ----------
    out_dir : pathlib.Path
        Directory to write into.
    seed : int, default 7
        Seed of every random draw.
    without_site : str, optional, keyword-only
        A ``site_id`` of the seed's network to hold out: the same world
        (villages, terrain, households, the other sites and their shadowing,
        the phones' routes and fading) as if that site had never been built.
        It is absent from ``sites.csv``, from the field every reading is
        drawn from (no reading is served by it), and from the truth.

    Raises
    ------
    ValueError
        When ``without_site`` is not a site of the seed's network.

    Returns
    -------
    DemoFiles

    Examples
    --------
    >>> import tempfile
    >>> files = write_demo(Path(tempfile.mkdtemp()) / "demo", seed=7)  # doctest: +SKIP
    >>> files.villages.name  # doctest: +SKIP
    'villages.geojson'
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # One generator passed down in a fixed order keeps every seed reproducible.
    region = build_region(rng)
    terrain = build_terrain(region, rng)
    network = build_network(rng)
    absent = frozenset() if without_site is None else frozenset({without_site})
    known = set(network.cells["site_id"])
    if not absent <= known:
        raise ValueError(
            f"without_site: {without_site!r} is not a demo site (seed {seed}: "
            f"{', '.join(sorted(known))})"
        )
    # The whole network is drawn (every seed's draws stay in order), then the
    # held-out site is left out of the physics and of sites.csv.
    field = build_field(region, terrain, network, rng, absent=absent)
    households = place_households(region, rng)
    readings = simulate_readings(region, households, network, field, rng, true_positions=True)
    truth = village_truth(region, households, field)
    write_reading_truth(reading_truth(readings, field), out_dir / READING_TRUTH_FILE)

    communes_path, villages_path = _write_geojson(region, out_dir)
    return DemoFiles(
        communes=communes_path,
        villages=villages_path,
        sites=write_sites(network, out_dir / "sites.csv", absent=absent),
        readings=write_readings(readings, out_dir / "readings.csv"),
        dem=write_dem(terrain, out_dir / "dem.tif"),
        population=write_population(households, terrain, out_dir / "population.tif"),
        truth=write_truth(truth, out_dir / "truth.csv"),
    )
