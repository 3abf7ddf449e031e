"""A real region, loaded as a planner has it: communes, villages, sites and rasters, then analysed.

``lomsong region load`` and ``POST /api/v1/region`` call :func:`load_region`:

1. every input is read and validated row by row before anything is stored
   (vectors in any format GDAL reads and any declared CRS, brought to
   EPSG:4326; tables of points with lon/lat; rasters rasterio opens);
2. an input that does not overlap the communes is refused whole, with the
   likely cause (:func:`geodata.villages.check_overlap`);
3. rasters are copied into the data dir as Cloud-Optimised GeoTIFFs, under
   names of their own, so the region being replaced keeps its files until
   the new one is stored;
4. the region replaces the stored one in one transaction (the demo's
   readings go with it, uploads stay), the rasters are recorded, and every
   commune is analysed.

:func:`region_summary` says what the store holds (``lomsong region show``,
``GET /api/v1/region``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.config import Rasters
from app.services.analysis import analyze_communes
from app.services.rejections import RejectionTally
from app.store import Store
from geodata import constants as C
from geodata.errors import InvalidInputError
from geodata.raster import RasterInfo, copy_as_cog, raster_info
from geodata.readings import Rejection, nothing_valid_error
from geodata.villages import FieldMap, check_overlap, read_commune_file, read_village_file

logger = logging.getLogger(__name__)

#: Where region files live under ``LOMSONG_DATA_DIR``.
REGION_DIR = "region"
#: Called with one line of progress per step (the CLI prints them).
OnStep = Callable[[str], None]


@dataclass(frozen=True)
class RegionFiles:
    """The inputs of a region load, and how to read them.

    ``communes_fields`` / ``villages_fields`` map the files' columns to
    lomsong's (:class:`geodata.villages.FieldMap`); ``points_crs`` is the CRS
    of lon/lat columns in a CSV or spreadsheet of village points.
    """

    communes: Path
    villages: Path
    sites: Path
    dem: Path | None = None
    population: Path | None = None
    buildings: Path | None = None
    communes_fields: FieldMap = field(default_factory=FieldMap)
    villages_fields: FieldMap = field(default_factory=FieldMap)
    sites_format: str = "native"
    points_crs: str = C.CRS_WGS84


@dataclass
class InputReport:
    """One input: how many rows were accepted, the refused ones, its CRS and extent."""

    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    crs: str | None = None
    bounds: tuple[float, float, float, float] | None = None
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Give ``accepted``, the rejections (listed, total, by reason), ``crs`` and ``bounds``."""
        return {
            "accepted": self.accepted,
            **self.extra,
            **RejectionTally.of(self.rejected).as_dict(),
            "crs": self.crs,
            "bounds": None if self.bounds is None else [round(b, 6) for b in self.bounds],
        }


@dataclass
class RegionReport:
    """What a region load did: each input, the stored rasters, and the analysis."""

    inputs: dict[str, InputReport]
    rasters: dict[str, RasterInfo]
    verdicts: dict[str, int]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON answer of ``POST /api/v1/region``."""
        return {
            "inputs": {name: report.as_dict() for name, report in self.inputs.items()},
            "rasters": {name: info.as_dict() for name, info in self.rasters.items()},
            "verdicts": self.verdicts,
            "seconds": round(self.seconds, 1),
        }


def _bounds(frame: Any) -> tuple[float, float, float, float]:
    west, south, east, north = (float(b) for b in frame.total_bounds)
    return west, south, east, north


def _raster_copy(
    what: str, source: Path, folder: Path, stamp: str, extent: tuple[float, float, float, float]
) -> RasterInfo:
    """Check a raster covers the communes, then copy it into ``folder`` as a COG."""
    found = raster_info(source)
    check_overlap(f"{what} {source}", found.bounds_wgs84, extent, crs=found.crs)
    return copy_as_cog(source, folder / f"{what}-{stamp}.tif")


def load_region(
    store: Store,
    files: RegionFiles,
    *,
    data_dir: Path,
    rasters: Rasters | None = None,
    on_step: OnStep | None = None,
) -> RegionReport:
    """Read, check, store and analyse a whole region; the one home of a region load.

    Parameters
    ----------
    store : Store
    files : RegionFiles
    data_dir : pathlib.Path
        ``LOMSONG_DATA_DIR``: the rasters are copied to ``data_dir/region``.
    rasters : Rasters, optional, keyword-only
        Settings that override the stored rasters in the analysis
        (``LOMSONG_DEM_PATH``...).
    on_step : callable, optional, keyword-only
        Called with a line of progress after each step.

    Returns
    -------
    RegionReport

    Raises
    ------
    geodata.errors.InvalidInputError
        An unreadable input, one with no valid row, or one that does not
        overlap the communes. Nothing was stored then.
    """
    started = time.monotonic()
    say = on_step or (lambda line: None)
    from geodata.formats import read_sites

    communes = read_commune_file(files.communes, fields=files.communes_fields)
    if communes.valid.empty:
        raise nothing_valid_error("communes", files.communes, communes.rejected)
    extent = _bounds(communes.valid)
    inputs = {"communes": InputReport(len(communes.valid), communes.rejected, communes.crs, extent)}
    say(_line("communes", inputs["communes"]))

    villages = read_village_file(
        files.villages,
        communes=communes.valid,
        fields=files.villages_fields,
        table_crs=files.points_crs,
    )
    if villages.valid.empty:
        raise nothing_valid_error("villages", files.villages, villages.rejected)
    voronoi = int((villages.valid["boundary"] == "voronoi").sum())
    inputs["villages"] = InputReport(
        len(villages.valid),
        villages.rejected,
        None,
        _bounds(villages.valid),
        extra={"voronoi": voronoi},
    )
    say(_line("villages", inputs["villages"]) + f" ({voronoi} drawn as Voronoi cells)")

    sites = read_sites(files.sites, format=files.sites_format)
    if sites.valid.empty:
        raise nothing_valid_error("sites", files.sites, sites.rejected)
    site_bounds = (
        float(sites.valid["lon"].min()),
        float(sites.valid["lat"].min()),
        float(sites.valid["lon"].max()),
        float(sites.valid["lat"].max()),
    )
    check_overlap(f"sites {files.sites}", site_bounds, extent)
    inputs["sites"] = InputReport(len(sites.valid), sites.rejected, C.CRS_WGS84, site_bounds)
    say(_line("sites", inputs["sites"]))

    folder = (data_dir / REGION_DIR).resolve()  # the stored paths must not depend on the cwd
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    copied: dict[str, RasterInfo] = {}
    for what, source in (("dem", files.dem), ("population", files.population)):
        if source is not None:
            copied[what] = _raster_copy(what, source, folder, stamp, extent)
            info = copied[what]
            say(
                f"{what}: {info.width}×{info.height} px, {info.crs}, copied as a COG"
                f" ({info.bytes / 1e6:.1f} MB) to {info.path}"
            )

    buildings_copy = None
    if files.buildings is not None:
        from geodata.buildings import read_buildings

        found = read_buildings(files.buildings, bbox=extent)
        if found.points.empty:
            raise InvalidInputError(
                f"{files.buildings}: no buildings inside the communes"
                f" (lon {extent[0]:.4g}..{extent[2]:.4g}, lat {extent[1]:.4g}..{extent[3]:.4g});"
                " check its CRS"
            )
        folder.mkdir(parents=True, exist_ok=True)
        buildings_copy = folder / f"buildings-{stamp}.gpkg"
        found.points[["geometry"]].to_file(buildings_copy, driver="GPKG")
        inputs["buildings"] = InputReport(
            len(found.points),
            [],
            C.CRS_WGS84,
            _bounds(found.points),
            extra={"left_out": sum(found.rejected_by_reason.values())},
        )
        say(f"buildings: {len(found.points)} inside the communes, stored as points")

    store.replace_region(
        communes.valid.reset_index(drop=True),
        villages.valid.reset_index(drop=True),
        sites.valid.drop(columns="cell_key").reset_index(drop=True),
    )
    # The demo's campaign is no evidence about a real region; uploads stay.
    store.clear_readings(origin="demo")
    store.set_demo("")
    store.set_rasters(
        Rasters(
            dem=copied["dem"].path if "dem" in copied else None,
            population=copied["population"].path if "population" in copied else None,
        )
    )
    store.set_buildings_path(buildings_copy)
    store.set_region(
        {
            "loaded": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {
                "communes": str(files.communes),
                "villages": str(files.villages),
                "sites": str(files.sites),
                **({"dem": str(files.dem)} if files.dem else {}),
                **({"population": str(files.population)} if files.population else {}),
                **({"buildings": str(files.buildings)} if files.buildings else {}),
            },
            "communes_crs": communes.crs,
        }
    )
    kept = {info.path for info in copied.values()} | ({buildings_copy} if buildings_copy else set())
    _forget_old_files(folder, keep=kept)
    say("analysing every commune ...")
    judged = analyze_communes(store, rasters=rasters)
    verdicts = store.villages()["verdict"].astype(str).value_counts().sort_index().to_dict()
    say(f"analysed: {len(judged)} villages judged ({_counts(verdicts)})")
    return RegionReport(inputs, copied, verdicts, time.monotonic() - started)


def _forget_old_files(folder: Path, *, keep: set[Path]) -> None:
    """Delete the region rasters and buildings of earlier loads."""
    if not folder.is_dir():
        return
    for old in [*folder.glob("*.tif"), *folder.glob("buildings-*.gpkg")]:
        if old not in keep:
            old.unlink(missing_ok=True)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"


def _line(what: str, report: InputReport) -> str:
    refused = len(report.rejected)
    crs = f", from {report.crs}" if report.crs and report.crs != C.CRS_WGS84 else ""
    return f"{what}: {report.accepted} accepted, {refused} rejected{crs}"


def region_summary(store: Store, *, rasters: Rasters | None = None) -> dict[str, Any]:
    """Tell what the store holds: counts, extents, provinces, rasters (size, CRS) and the last load.

    ``rasters`` (the settings') override the stored ones, as in the analysis.
    """
    counts = store.counts()
    communes = store.communes()
    villages = store.villages(with_results=True)
    used = (rasters or Rasters()).over(store.rasters())
    raster_infos: dict[str, Any] = {}
    for name, path in (("dem", used.dem), ("population", used.population)):
        if path is None:
            raster_infos[name] = None
            continue
        try:
            raster_infos[name] = raster_info(path).as_dict()
        except InvalidInputError as exc:
            raster_infos[name] = {"path": str(path), "error": str(exc)}
    return {
        "communes": counts["communes"],
        "villages": counts["villages"],
        "villages_voronoi": int((villages["boundary"] == "voronoi").sum()) if len(villages) else 0,
        "sites": counts["sites"],
        "readings": counts["readings"],
        "provinces": sorted({str(p) for p in communes["province"].dropna()}),
        "unit_types": communes["unit_type"].fillna("(none)").value_counts().to_dict()
        if len(communes)
        else {},
        "communes_bounds": [round(float(b), 6) for b in communes.total_bounds]
        if len(communes)
        else None,
        "villages_bounds": [round(float(b), 6) for b in villages.total_bounds]
        if len(villages)
        else None,
        "verdicts": villages["verdict"].astype(str).value_counts().sort_index().to_dict()
        if len(villages)
        else {},
        "rasters": raster_infos,
        "buildings": None if store.buildings_path() is None else str(store.buildings_path()),
        "demo": bool(store.demo_fingerprint()),
        "last_load": store.region(),
    }
