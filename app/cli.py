"""``lomsong``: the command line, calling the library directly (no HTTP)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pydantic

from app.core.config import DEFAULT_DEMO_SEED, default_assets_dir
from app.store import Store
from coverage.errors import CoverageError

if TYPE_CHECKING:
    import geopandas as gpd

    from app.core.config import Settings
    from coverage.evaluate import VerdictScore
    from coverage.pipeline import AnalysisResult
    from geodata.readings import ValidatedReadings
from geodata.constants import Verdict
from geodata.errors import GeodataError
from geodata.exports import write_geojson

# Kept literal so `lomsong --help` needs no heavy import; tests check they match.
READING_FORMATS = ("csv", "json", "gnettrack", "opencellid", "geosubmit", "geojson", "xlsx")
ROLES = ("collector", "planner", "admin")

# Exit status for bad input (argparse uses 2 for bad arguments).
EXIT_BAD_INPUT = 1


def _input_arguments(parser: argparse.ArgumentParser, *, dem_required: bool) -> None:
    """Add the files an analysis reads (``analyze`` and ``plan`` read them alike)."""
    parser.add_argument(
        "--villages", type=Path, required=True, help="GeoJSON, GeoPackage, Shapefile or FlatGeobuf"
    )
    parser.add_argument("--sites", type=Path, required=True, help="OpenCelliD-style CSV")
    parser.add_argument(
        "--readings", type=Path, action="append", required=True, help="readings file (repeatable)"
    )
    parser.add_argument(
        "--readings-format",
        "--format",
        dest="format",
        choices=("auto", *READING_FORMATS),
        default="auto",
        help="layout of the readings files (default: told from each file)",
    )
    parser.add_argument("--tz", help="IANA time zone of a G-NetTrack log (Asia/Ho_Chi_Minh)")
    parser.add_argument("--mcc", type=int, help="G-NetTrack: the operator's MCC (452)")
    parser.add_argument("--mnc", type=int, help="G-NetTrack: the operator's MNC (4 = Viettel)")
    parser.add_argument(
        "--sites-format",
        choices=("native", "opencellid"),
        default="native",
        help="native: OpenCelliD columns plus lomsong's; opencellid: those columns only",
    )
    parser.add_argument("--dem", type=Path, required=dem_required, help="terrain GeoTIFF")
    parser.add_argument("--population", type=Path, help="population GeoTIFF (WorldPop, GHSL)")
    parser.add_argument(
        "--buildings", type=Path, help="building footprints or points (GeoJSON/GPKG/FlatGeobuf)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lomsong",
        description="Find villages with no mobile signal (trắng sóng) or patchy signal (lõm sóng).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="write the demo region's files")
    demo.add_argument("--out", type=Path, required=True, help="directory to write into")
    demo.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_DEMO_SEED,
        help=f"generator seed (default {DEFAULT_DEMO_SEED})",
    )

    analyze = commands.add_parser("analyze", help="judge villages from files, write results")
    _input_arguments(analyze, dem_required=False)
    analyze.add_argument("--out", type=Path, required=True, help="directory for the results")
    analyze.add_argument("--lang", choices=("vi", "en"), default="vi", help="map language")
    analyze.add_argument(
        "--assets-dir", type=Path, default=default_assets_dir(), help="node_modules with leaflet"
    )
    where = analyze.add_mutually_exclusive_group()
    where.add_argument(
        "--cluster", metavar="local:N", help="analyse in tiles on a dask LocalCluster of N workers"
    )
    where.add_argument(
        "--scheduler", metavar="tcp://HOST:8786", help="analyse in tiles on a running dask cluster"
    )

    serve = commands.add_parser("serve", help="run the web service")
    serve.add_argument("--demo", action="store_true", help="load and serve the demo region")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (more than 1 needs PostgreSQL: LOMSONG_DATABASE_URL)",
    )

    ingest = commands.add_parser(
        "ingest", help="store a readings file in the service's data dir (LOMSONG_DATA_DIR)"
    )
    ingest.add_argument("file", type=Path, help="the readings file")
    ingest.add_argument(
        "--format",
        choices=("auto", *READING_FORMATS),
        default="auto",
        help="its layout (default: told from the file)",
    )
    ingest.add_argument("--tz", help="IANA time zone of a G-NetTrack log (Asia/Ho_Chi_Minh)")
    ingest.add_argument("--mcc", type=int, help="G-NetTrack: the operator's MCC (452)")
    ingest.add_argument("--mnc", type=int, help="G-NetTrack: the operator's MNC (4 = Viettel)")
    ingest.add_argument(
        "--no-refresh", action="store_true", help="do not re-judge the villages touched"
    )

    evaluate = commands.add_parser(
        "evaluate", help="spatially blocked cross-validation of the signal estimates"
    )
    evaluate.add_argument("--readings", type=Path, required=True, help="a readings file")
    evaluate.add_argument(
        "--readings-format",
        "--format",
        dest="format",
        choices=("auto", *READING_FORMATS),
        default="auto",
        help="its layout (default: told from the file)",
    )
    evaluate.add_argument("--tz", help="IANA time zone of a G-NetTrack log")
    evaluate.add_argument("--mcc", type=int, help="G-NetTrack: the operator's MCC")
    evaluate.add_argument("--mnc", type=int, help="G-NetTrack: the operator's MNC")
    evaluate.add_argument("--sites", type=Path, help="site CSV (without: readings only)")
    evaluate.add_argument("--dem", type=Path, help="terrain GeoTIFF")
    evaluate.add_argument("--resolution", type=int, default=10, help="H3 resolution (10)")
    evaluate.add_argument("--folds", type=int, default=5, help="number of folds (5)")
    evaluate.add_argument(
        "--block-m", type=float, help="square CV blocks of this side, metres (default: H3 res 7)"
    )
    evaluate.add_argument("--villages", type=Path, help="villages to judge (with --truth)")
    evaluate.add_argument("--population", type=Path, help="population GeoTIFF (with --villages)")
    # dest kept apart from the word "truth": nothing in app/ reads a demo's truth by name.
    evaluate.add_argument(
        "--truth",
        dest="reference",
        type=Path,
        help="CSV village_id,verdict[,borderline]: score the villages' verdicts against it",
    )
    evaluate.add_argument(
        "--truth-signal",
        dest="reference_signal",
        type=Path,
        help="CSV lat,lon,mcc,mnc,radio,median_dbm,shadowing_db: adds the oracle to the CV",
    )

    _region_parser(commands)
    _plan_parser(commands)
    _db_parser(commands)
    _export_readings_parser(commands)

    keys = commands.add_parser("keys", help="manage API keys (in LOMSONG_DATA_DIR)")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--name", help="who holds the key")
    keys_commands.add_parser("list", help="list keys (ids and roles, never the secrets)")
    revoke = keys_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", help="the key's id, as `keys list` shows it")
    return parser


def _db_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser(
        "db", help="the store's database (LOMSONG_DATABASE_URL, else LOMSONG_DATA_DIR's SQLite)"
    )
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser(
        "upgrade", help="create the database or run the migrations it lacks, then exit"
    )
    copy = db_commands.add_parser(
        "copy", help="copy a SQLite deployment, every table, into an empty PostgreSQL database"
    )
    copy.add_argument("--from", dest="source", type=Path, required=True, help="the SQLite file")
    copy.add_argument(
        "--to", dest="target", help="postgresql://... URL (default: LOMSONG_DATABASE_URL)"
    )


def _db(args: argparse.Namespace) -> int:
    from app.core.config import Settings
    from app.store.db import open_database
    from app.store.schema import SCHEMA_VERSION, migrate

    settings = Settings()
    if args.db_command == "copy":
        return _db_copy(args, settings)
    db = open_database(settings.database)
    try:
        ran = migrate(db)
    finally:
        db.close()
    if ran:
        print(f"{db.path}: schema version {SCHEMA_VERSION} (ran {ran[0]}..{ran[-1]})")
    else:
        print(f"{db.path}: schema version {SCHEMA_VERSION}, nothing to do")
    return 0


def _db_copy(args: argparse.Namespace, settings: Any) -> int:
    """``lomsong db copy``: a SQLite file's every table into an empty PostgreSQL database."""
    from app.store import Store
    from app.store.copy import copy_store
    from app.store.db import is_database_url
    from geodata.errors import InvalidInputError

    target_url = args.target or settings.database_url
    if not is_database_url(target_url):
        raise InvalidInputError(
            f"db copy: give --to postgresql://... or set LOMSONG_DATABASE_URL (not {target_url!r})"
        )
    if not args.source.is_file():
        raise InvalidInputError(f"db copy: --from {args.source}: no such SQLite file")
    source = Store(args.source, device_salt=settings.device_salt)
    target = Store(target_url, device_salt=settings.device_salt)
    try:
        counts = copy_store(source, target)
    finally:
        source.close()
        target.close()
    for table, rows in counts.items():
        print(f"  {table:<18} {rows:>12,}")
    print(f"{args.source} -> {target.path}: {sum(counts.values()):,} rows copied")
    return 0


# Village and commune fields a flag can map (--name-field NAME_3 ...).
_MAPPED_FIELDS = (
    "id",
    "name",
    "commune",
    "district",
    "province",
    "households",
    "population",
    "poverty_rate",
    "lon",
    "lat",
)


def _region_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    region = commands.add_parser(
        "region", help="load a real region into the service's data dir, or show it"
    )
    region_commands = region.add_subparsers(dest="region_command", required=True)
    load = region_commands.add_parser(
        "load",
        help="replace the region: communes, villages, sites, rasters; then analyse it",
        description="Vectors in any format GDAL reads (GeoJSON, GeoPackage, Shapefile, "
        "FlatGeobuf) in any declared CRS, or a CSV of points with lon/lat; rasters any "
        "GeoTIFF, copied into LOMSONG_DATA_DIR/region as Cloud-Optimised GeoTIFFs.",
    )
    load.add_argument("--communes", type=Path, required=True, help="commune polygons")
    load.add_argument(
        "--villages", type=Path, required=True, help="village polygons or points (CSV: lon/lat)"
    )
    load.add_argument("--sites", type=Path, required=True, help="site CSV (OpenCelliD columns)")
    load.add_argument("--dem", type=Path, required=True, help="terrain GeoTIFF (SRTM, Copernicus)")
    load.add_argument("--population", type=Path, help="population GeoTIFF (WorldPop, GHSL)")
    load.add_argument(
        "--buildings", type=Path, help="building footprints or points (households are put by them)"
    )
    load.add_argument(
        "--sites-format", choices=("native", "opencellid"), default="native", help="site layout"
    )
    load.add_argument(
        "--communes-fields",
        help='\'gadm\' (GADM 4.1 level 3) or a JSON file {"name": "TEN_XA", ...}',
    )
    load.add_argument("--commune-aliases-field", help="communes: column of former names")
    load.add_argument(
        "--villages-fields", help="a JSON file mapping village fields to the file's columns"
    )
    for name in _MAPPED_FIELDS:
        load.add_argument(
            f"--{name.replace('_', '-')}-field",
            dest=f"{name}_field",
            help=f"villages: {name}'s column",
        )
    load.add_argument(
        "--points-crs", default="EPSG:4326", help="CRS of a CSV's lon/lat columns (EPSG:4326)"
    )
    region_commands.add_parser("show", help="what is loaded: counts, extents, rasters")


def _demo(args: argparse.Namespace) -> int:
    from geodata.demo import write_demo

    files = write_demo(args.out, seed=args.seed)
    for name in ("communes", "villages", "sites", "readings", "dem", "population"):
        print(f"{name:<11} {getattr(files, name)}")
    return 0


def summary_table(villages: pd.DataFrame) -> str:
    """Villages and households per verdict, as aligned text."""
    order = list(Verdict)
    table = (
        villages.groupby("verdict")
        .agg(
            villages=("id", "size"),
            households=("households", "sum"),
            without_signal=("households_without_signal", "sum"),
        )
        .reindex(order, fill_value=0)
    )
    table.loc["total"] = table.sum()
    return table.astype(int).to_string()


def print_accounting(what: str, accepted: int, rejected_by_reason: dict[str, int]) -> None:
    """One input's ``{accepted, rejected_by_reason}``: a count line, then one line per reason."""
    print(f"{what}: {accepted} accepted, {sum(rejected_by_reason.values())} rejected")
    for reason, count in sorted(rejected_by_reason.items()):
        print(f"  rejected {count:>6}  {reason}")


@dataclass
class AnalysisInputs:
    """What ``analyze`` and ``plan`` read from their files, each file's refusals kept."""

    villages: gpd.GeoDataFrame
    sites: pd.DataFrame
    village_file: Any
    site_file: Any
    readings: ValidatedReadings
    buildings: Any = None  # geodata.buildings' result, with --buildings

    def print_accounting(self) -> None:
        """Print each file's accepted rows and rejections by reason."""
        print_accounting("villages", len(self.villages), self.village_file.rejected_by_reason)
        print_accounting("sites", len(self.sites), self.site_file.rejected_by_reason)
        print_accounting("readings", len(self.readings.valid), self.readings.rejected_by_reason)
        if self.buildings is not None:
            print(f"buildings: {len(self.buildings.points)} read")
            for reason, count in sorted(self.buildings.rejected_by_reason.items()):
                print(f"  left out {count:>6}  {reason}")


def read_analysis_inputs(args: argparse.Namespace, work: Any) -> AnalysisInputs:
    """Read ``--villages``, ``--sites``, ``--readings`` (and ``--buildings``) as ``analyze`` does.

    Raises
    ------
    InvalidInputError
        A file unreadable as a whole (named first), or one that leaves nothing valid.
    """
    from geodata.errors import InvalidInputError
    from geodata.formats import read_readings, read_sites, read_villages, validate_chunks
    from geodata.readings import ValidatedReadings, nothing_valid_error

    def named(path: Path, exc: InvalidInputError) -> InvalidInputError:
        """Return the reader's error with the file named first (once)."""
        return exc if str(exc).startswith(str(path)) else type(exc)(f"{path}: {exc}")

    with work.step(f"villages {args.villages.name}"):
        try:
            village_file = read_villages(args.villages)
        except InvalidInputError as exc:
            raise named(args.villages, exc) from None
    if village_file.valid.empty:
        raise nothing_valid_error("villages", args.villages, village_file.rejected)
    with work.step(f"sites {args.sites.name}"):
        try:
            site_file = read_sites(args.sites, format=args.sites_format)
        except InvalidInputError as exc:
            raise named(args.sites, exc) from None
    if site_file.valid.empty:
        raise nothing_valid_error("sites", args.sites, site_file.rejected)
    villages = village_file.valid.reset_index(drop=True)
    sites = site_file.valid.reset_index(drop=True)
    per_file: list[ValidatedReadings] = []
    for path in args.readings:
        try:
            with work.file_step(f"readings {path.name}", path) as handle:
                chunks = read_readings(
                    handle, format=args.format, tz=args.tz, mcc=args.mcc, mnc=args.mnc
                )
                per_file.append(validate_chunks(chunks))
        except InvalidInputError as exc:
            raise named(path, exc) from None
    validated = ValidatedReadings(
        pd.concat([v.valid for v in per_file], ignore_index=True),
        [r for v in per_file for r in v.rejected],
    )
    if validated.valid.empty and validated.rejected:
        files = ", ".join(str(p) for p in args.readings)
        raise nothing_valid_error("readings", files, validated.rejected)
    found = None
    if args.buildings is not None:
        from geodata.buildings import read_buildings

        with work.step(f"buildings {args.buildings.name}"):
            west, south, east, north = villages.to_crs("EPSG:4326").total_bounds
            found = read_buildings(args.buildings, bbox=(west, south, east, north))
    return AnalysisInputs(villages, sites, village_file, site_file, validated, found)


def _analyze(args: argparse.Namespace) -> int:
    from coverage.pipeline import analyze
    from geodata.progress import progress

    if args.cluster or args.scheduler:  # a bad spec is told before the inputs are read
        from coverage.tiles import check_cluster

        check_cluster(args.cluster or args.scheduler)

    with progress(f"analyze {args.out}") as work:
        inputs = read_analysis_inputs(args, work)
        villages, sites, validated = inputs.villages, inputs.sites, inputs.readings
        buildings = None if inputs.buildings is None else inputs.buildings.points
        spec = args.cluster or args.scheduler
        with work.step(f"judging {len(villages):,} villages"):
            if spec is None:
                result = analyze(
                    villages,
                    sites,
                    validated.valid,
                    dem=args.dem,
                    population=args.population,
                    buildings=buildings,
                )
            else:  # in tiles on dask.distributed: the same answers
                from coverage.tiles import analyze_tiled, client_for

                with client_for(spec) as client:
                    result = analyze_tiled(
                        villages,
                        sites,
                        validated.valid,
                        dem=args.dem,
                        population=args.population,
                        buildings=buildings,
                        client=client,
                    )
        work.finish()
        inputs.print_accounting()
        verdicts = result.villages["verdict"].value_counts()
        work.summary = (
            f"{len(villages):,} villages judged from {len(validated.valid):,} readings"
            f" ({verdicts.get(Verdict.NO_SIGNAL, 0):,} no signal,"
            f" {verdicts.get(Verdict.PATCHY, 0):,} patchy)"
        )
        _write_analysis(args, result, sites)
    return 0


def _write_analysis(args: argparse.Namespace, result: AnalysisResult, sites: pd.DataFrame) -> None:
    """``lomsong analyze``'s files: villages, dead zones, cells, GeoTIFFs and the map page."""
    from coverage.classify import classify
    from coverage.dead_zones import ANY_CARRIER
    from geodata.outputs import write_cells_gpkg, write_signal_geotiffs

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_geojson(result.villages, out / "villages.geojson")
    write_geojson(result.dead_zones, out / "dead_zones.geojson")
    signal = result.signal
    # The cells export's schema (geodata.outputs.CELL_EXPORT_SCHEMA), as the API's.
    classes = classify(signal["p_usable"], signal["mean_dbm"], signal["radio"])
    write_cells_gpkg(signal.assign(cell_class=classes), out / "cells.gpkg")
    rasters = write_signal_geotiffs(result.signal, out) + write_signal_geotiffs(
        result.signal, out, value="p_usable"
    )
    leaflet = args.assets_dir / "leaflet" / "dist"
    if (leaflet / "leaflet.js").is_file():
        # The service's commune page, from the analysis instead of the store.
        from coverage.map_cells import cells_geoframe
        from coverage.survey import survey_plan
        from geodata.maps import commune_page, padded_bounds, render_hillshade

        hillshade = None
        if args.dem is not None:
            extent = padded_bounds(tuple(result.villages.to_crs("EPSG:4326").total_bounds))
            try:
                hillshade = render_hillshade(args.dem, bounds_wgs84=extent)
            except GeodataError as exc:
                print(f"map.html: no hillshade ({exc})")
        page = commune_page(
            result.villages,
            # The map draws where even the best carrier fails; the file holds every layer.
            result.dead_zones.loc[result.dead_zones["carrier"] == ANY_CARRIER],
            cells_geoframe(result.map_cells()),
            sites,
            hillshade,
            commune=", ".join(sorted(result.villages["commune"].astype(str).unique())),
            lang=args.lang,
            inline_assets_dir=leaflet,
            survey=survey_plan(result),  # the layer "Nơi cần đo tiếp", as the service's
        )
        (out / "map.html").write_text(page, encoding="utf-8")
    else:
        print(f"map.html not written: Leaflet not found in {leaflet} (run `make assets`)")

    best = int((result.dead_zones["carrier"] == ANY_CARRIER).sum())
    print(
        f"dead zones: {best} where even the best carrier fails,"
        f" {len(result.dead_zones) - best} of single carriers and radios"
    )
    print(f"cells.gpkg: {len(result.signal)} cell estimates; GeoTIFFs: {len(rasters)}")
    print(summary_table(result.villages))
    print(f"written to {out}")


def _serve(args: argparse.Namespace) -> int:
    import copy
    import os

    import uvicorn

    from app.core.config import Settings
    from app.main import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    settings = Settings(demo=True) if args.demo else Settings()
    if args.workers < 1:
        raise SystemExit(f"--workers must be 1 or more, not {args.workers}")
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port)
        return 0
    if not settings.database_url:
        # SQLite allows one writer process; its locks and caches live in one process.
        raise SystemExit(
            f"--workers {args.workers} needs PostgreSQL: set LOMSONG_DATABASE_URL=postgresql://..."
            f" (the SQLite store, {settings.db_path}, serves one worker process)"
        )
    # Each worker process builds the app from the environment (app.main.app_from_env).
    if args.demo:
        os.environ["LOMSONG_DEMO"] = "1"
    # The access log names the worker process that answered ("[pid 1234]").
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    access = log_config["formatters"]["access"]
    access["fmt"] = access["fmt"].replace("%(levelprefix)s", "%(levelprefix)s [pid %(process)d]")
    uvicorn.run(
        "app.main:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config,
    )
    return 0


def _open_store(settings: Settings | None = None) -> Store:
    """Open the store of the service's data dir (``LOMSONG_DATA_DIR``) as the service does."""
    from app.core.config import Settings

    settings = settings or Settings()
    return Store(settings.database, device_salt=settings.device_salt)


def _ingest(args: argparse.Namespace) -> int:
    from app.core.config import Settings
    from app.services.analysis import refresh_for_readings
    from app.services.ingest import ingest_file
    from geodata.progress import progress

    positions: list[pd.DataFrame] = []

    def remember(valid: pd.DataFrame) -> None:
        positions.append(valid[["lat", "lon"]].drop_duplicates())

    settings = Settings()
    store = _open_store(settings)
    try:
        with progress(f"ingest {args.file}") as work:
            with work.file_step(f"reading {args.file.name}", args.file) as handle:
                report = ingest_file(
                    store,
                    handle,
                    format=args.format,
                    tz=args.tz,
                    mcc=args.mcc,
                    mnc=args.mnc,
                    chunk_rows=settings.import_chunk_rows,
                    on_stored=None if args.no_refresh else remember,
                )
            touched: list[object] = []
            if positions:
                with work.step("re-judging the villages touched"):
                    touched = list(
                        refresh_for_readings(
                            store, pd.concat(positions).drop_duplicates(), rasters=settings.rasters
                        )
                    )
            work.finish()
            print(f"accepted   {report.accepted:>9}  new readings stored")
            print(f"duplicates {report.duplicates:>9}  already stored")
            print(f"rejected   {report.rejected_total:>9}")
            for reason, count in sorted(report.rejected_by_reason.items()):
                print(f"  {count:>9}  {reason}")
            if positions:
                print(f"villages re-judged: {len(touched)}")
            work.summary = (
                f"{report.accepted:,} new readings stored, {report.duplicates:,} already stored,"
                f" {report.rejected_total:,} rejected"
            )
    finally:
        store.close()
    return 0


def _read_text_csv(path: Path, error: type[CoverageError]) -> pd.DataFrame:
    """Read a CSV as text cells, or raise ``error`` saying why not."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise error("no such file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise error(f"not a readable CSV ({exc})") from None


def _two_places(value: float) -> str:
    return f"{value:.2f}"


def _rate(numerator: float, denominator: int) -> str:
    if not denominator:
        return "n/a (none judged)"
    return f"{numerator * 100:.1f} % of {denominator}"


def verdict_report(score: VerdictScore) -> str:
    """Accuracy, false alarms, misses and the confusion table, as text."""
    lines = [
        f"villages scored: {score.n}, judged: {score.judged} "
        f"(not unknown, not borderline); unknown: {score.unknown_share * 100:.1f} %"
        if score.n
        else "villages scored: 0",
        f"accuracy      {_rate(score.accuracy, score.judged)}  (problem vs covered)",
        f"false alarms  {_rate(score.false_alarm_rate, score.judged_covered)}  (covered villages"
        " called a problem)",
        f"misses        {_rate(score.miss_rate, score.judged_problems)}  (problem villages"
        " called covered)",
        "confusion (rows: reference verdict, columns: found verdict; every scored village):",
        score.confusion.to_string(),
    ]
    return "\n".join(lines)


def _score_verdicts(args: argparse.Namespace, readings: pd.DataFrame, sites: pd.DataFrame) -> None:
    from coverage.evaluate import VerdictsError, reference_verdicts, score_verdicts
    from coverage.pipeline import analyze
    from geodata.villages import read_villages

    try:
        reference = reference_verdicts(_read_text_csv(args.reference, VerdictsError))
    except VerdictsError as exc:
        raise VerdictsError(f"verdicts file {args.reference}: {exc}") from None
    villages = read_villages(args.villages)
    result = analyze(villages, sites, readings, dem=args.dem, population=args.population)
    found = result.villages.set_index("id")["verdict"].astype(object)
    outside = reference.index.difference(found.index)
    print(f"\nvillage verdicts against {args.reference}")
    if len(outside):
        more = " ..." if len(outside) > 5 else ""
        print(
            f"  {len(outside)} reference villages are not among the villages (scored as "
            f"unknown): {', '.join(map(str, outside[:5]))}{more}"
        )
    print(verdict_report(score_verdicts(found, reference)))


def _evaluate(args: argparse.Namespace) -> int:
    from coverage.evaluate import ReferenceSignalError, cross_validate, reference_cells
    from geodata.formats import read_readings, validate_chunks
    from geodata.progress import progress
    from geodata.sites import read_sites

    if args.reference is not None and args.villages is None:
        print("lomsong: error: --truth needs --villages (the villages to judge)", file=sys.stderr)
        return EXIT_BAD_INPUT
    reference_signal = None
    if args.reference_signal is not None:
        try:
            reference_signal = _read_text_csv(args.reference_signal, ReferenceSignalError)
            reference_cells(reference_signal, resolution=args.resolution)  # refuse it now
        except ReferenceSignalError as exc:
            raise ReferenceSignalError(f"signal file {args.reference_signal}: {exc}") from None
    with progress(f"evaluate {args.readings}") as work:
        with work.file_step(f"readings {args.readings.name}", args.readings) as handle:
            validated = validate_chunks(
                read_readings(handle, format=args.format, tz=args.tz, mcc=args.mcc, mnc=args.mnc)
            )
        sites = read_sites(args.sites) if args.sites else pd.DataFrame()
        with work.step(f"cross-validating, {args.folds} folds"):
            result = cross_validate(
                validated.valid,
                sites,
                dem=args.dem,
                resolution=args.resolution,
                folds=args.folds,
                block_m=args.block_m,
                reference_signal=reference_signal,
            )
        work.finish()
        work.summary = _print_evaluation(args, validated, sites, result)
    return 0


def _print_evaluation(
    args: argparse.Namespace, validated: ValidatedReadings, sites: pd.DataFrame, result: Any
) -> str:
    """``lomsong evaluate``'s tables (and verdict scores); returns the summary line's text."""
    print(f"readings: {len(validated.valid)} valid, {len(validated.rejected)} rejected")
    blocks = f"{args.block_m:g} m squares" if args.block_m else "H3 res-7 blocks (~2.4 km)"
    print(
        f"spatially blocked CV: {args.folds} folds of {blocks}, "
        f"cells at res {args.resolution}; RMSE/bias over cells with a measured median"
    )
    print(result.summary.to_string(index=False, float_format=_two_places))
    print("per radio:")
    print(result.by_radio.to_string(index=False, float_format=_two_places))
    rmse = result.summary.set_index("estimator")["rmse_db"]
    if "oracle" in rmse and pd.notna(rmse["fused"]):
        print(
            f"fused RMSE {rmse['fused']:.2f} dB; oracle floor {rmse['oracle']:.2f} dB "
            f"(gap {rmse['fused'] - rmse['oracle']:.2f} dB)"
        )
    if args.reference is not None:
        _score_verdicts(args, validated.valid, sites)
    best = "fused" if pd.notna(rmse.get("fused")) else "readings"
    return (
        f"{len(validated.valid):,} readings, {args.folds}-fold blocked CV,"
        f" {best} RMSE {rmse.get(best, float('nan')):.2f} dB"
    )


def _keys(args: argparse.Namespace) -> int:
    from app.services.keys import create_key

    store = _open_store()
    try:
        if args.keys_command == "create":
            stored, key = create_key(store, args.role, name=args.name)
            print(
                f"created {stored.role} key {stored.id}" + (f" ({args.name})" if args.name else "")
            )
            print("it is shown only now; the service keeps only its hash:")
            print(key)
        elif args.keys_command == "list":
            for k in store.api_keys():
                state = f"revoked {k.revoked}" if k.revoked else "live"
                print(f"{k.id}  {k.role:<9}  {k.created}  {state:<30}  {k.name or ''}")
        elif not store.revoke_api_key(args.id):
            print(f"lomsong: error: no live API key {args.id!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        else:
            print(f"revoked {args.id}")
    finally:
        store.close()
    return 0


def _region(args: argparse.Namespace) -> int:
    from app.core.config import Settings
    from app.services.region import RegionFiles, load_region, region_summary
    from geodata.progress import progress
    from geodata.villages import FieldMap

    settings = Settings()
    store = _open_store(settings)
    try:
        if args.region_command == "show":
            _print_region(region_summary(store, rasters=settings.rasters))
            return 0
        communes_fields = (
            FieldMap.read(args.communes_fields) if args.communes_fields else FieldMap()
        )
        communes_fields = communes_fields.merged({"aliases": args.commune_aliases_field})
        villages_fields = (
            FieldMap.read(args.villages_fields) if args.villages_fields else FieldMap()
        )
        villages_fields = villages_fields.merged(
            {name: getattr(args, f"{name}_field") for name in _MAPPED_FIELDS}
        )
        files = RegionFiles(
            communes=args.communes,
            villages=args.villages,
            sites=args.sites,
            dem=args.dem,
            population=args.population,
            buildings=args.buildings,
            communes_fields=communes_fields,
            villages_fields=villages_fields,
            sites_format=args.sites_format,
            points_crs=args.points_crs,
        )
        with progress("region load") as work:
            # A spinner while it runs (on a terminal); each finished step prints its line.
            with work.step("reading, checking, storing and analysing the region"):
                report = load_region(
                    store,
                    files,
                    data_dir=settings.data_dir,
                    rasters=settings.rasters,
                    on_step=print,
                )
            work.finish()
            for name, part in report.as_dict()["inputs"].items():
                for reason, count in sorted(part["rejected_by_reason"].items()):
                    print(f"  {name} rejected {count:>6}  {reason}")
            work.summary = f"region loaded into {settings.data_dir}"
    finally:
        store.close()
    return 0


def _print_region(summary: dict[str, object]) -> None:
    """``lomsong region show``: one line per fact."""

    def extent(bounds: object) -> str:
        if not isinstance(bounds, list):
            return "-"
        west, south, east, north = bounds
        return f"lon {west:.4f}..{east:.4f}, lat {south:.4f}..{north:.4f}"

    print(f"provinces  {', '.join(summary['provinces']) or '-'}")  # type: ignore[arg-type]
    print(f"communes   {summary['communes']:>7}  {extent(summary['communes_bounds'])}")
    unit_types = summary["unit_types"] or {}
    print("           " + ", ".join(f"{k} {v}" for k, v in unit_types.items()))  # type: ignore[attr-defined]
    print(
        f"villages   {summary['villages']:>7}  {extent(summary['villages_bounds'])}"
        f"  ({summary['villages_voronoi']} as Voronoi cells)"
    )
    print(f"sites      {summary['sites']:>7}")
    print(f"readings   {summary['readings']:>7}")
    verdicts = summary["verdicts"] or {}
    print("verdicts   " + (", ".join(f"{k} {v}" for k, v in verdicts.items()) or "-"))  # type: ignore[attr-defined]
    for name, info in (summary["rasters"] or {}).items():  # type: ignore[attr-defined]
        if info is None:
            print(f"{name:<10} none")
        elif "error" in info:
            print(f"{name:<10} {info['path']}: {info['error']}")
        else:
            print(
                f"{name:<10} {info['path']}  {info['width']}×{info['height']} px, {info['crs']},"
                f" {info['bytes'] / 1e6:.1f} MB, layout {info['layout'] or 'not COG'};"
                f" {extent(info['bounds'])}"
            )
    print(f"buildings  {summary['buildings'] or 'none'}")
    if summary["demo"]:
        print("source     the demo region")
    elif summary["last_load"]:
        print(f"loaded     {summary['last_load']['loaded']}")  # type: ignore[index]


# --- lomsong plan: the sites that would serve the most households ---------------

#: Sites a plan picks when neither ``--k`` nor ``--budget`` is given.
DEFAULT_PLAN_K = 5


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _positive_amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def _carrier_argument(text: str) -> str:
    from geodata.constants import CARRIERS
    from geodata.sites import carrier_codes, carrier_name

    try:
        return carrier_name(*carrier_codes(text))
    except ValueError:
        known = ", ".join(CARRIERS.values())
        raise argparse.ArgumentTypeError(
            f"unknown carrier {text!r}; expected one of {known} or MCC-MNC (452-04)"
        ) from None


def _plan_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser(
        "plan",
        help="pick the sites that would serve the most households (co-location, new masts)",
        description="Analyse as `analyze` does, generate candidate sites (every carrier on "
        "every other carrier's mast, new masts from the terrain, and --candidates), weigh "
        "each with the calibrated model, and pick the plan that serves the most households "
        "newly (lazy greedy maximum coverage). Writes candidates.geojson, plan.geojson, "
        "plan.csv and an offline plan.html into --out.",
    )
    _input_arguments(plan, dem_required=True)
    plan.add_argument(
        "--candidates",
        type=Path,
        help="your own candidate sites: CSV lon,lat,height,carrier,radio,cost (optional id, name)",
    )
    size = plan.add_mutually_exclusive_group()
    size.add_argument(
        "--k", type=_positive_int, help=f"how many sites to pick (default {DEFAULT_PLAN_K})"
    )
    size.add_argument(
        "--budget", type=_positive_amount, help="most the plan may cost, in VND (instead of --k)"
    )
    plan.add_argument(
        "--carrier",
        type=_carrier_argument,
        help="plan for one carrier: its candidates, counting the households it serves",
    )
    plan.add_argument(
        "--spacing-m", type=_positive_amount, help="grid of new-mast candidates, metres"
    )
    plan.add_argument("--out", type=Path, required=True, help="directory for the plan's files")
    plan.add_argument("--lang", choices=("vi", "en"), default="vi", help="plan.html's language")
    plan.add_argument(
        "--assets-dir", type=Path, default=default_assets_dir(), help="node_modules with leaflet"
    )


def _read_candidate_file(path: Path, work: Any) -> Any:
    """Read ``--candidates``; an error when nothing in it is valid."""
    from geodata.errors import InvalidInputError
    from geodata.formats.candidates import read_candidates
    from geodata.readings import nothing_valid_error

    with work.step(f"candidates {path.name}"):
        try:
            found = read_candidates(path)
        except InvalidInputError as exc:
            raise type(exc)(f"{path}: {exc}") from None
    if found.valid.empty:
        raise nothing_valid_error("candidates", path, found.rejected)
    return found


def _plan(args: argparse.Namespace) -> int:
    from coverage.candidates import all_candidates
    from coverage.pipeline import DEM_MARGIN_M, analyze
    from coverage.planning import evaluate_candidates, plan
    from geodata.plans import villages_lifted, write_plan
    from geodata.progress import progress
    from geodata.raster import read_raster

    k = DEFAULT_PLAN_K if args.k is None and args.budget is None else args.k
    with progress(f"plan {args.out}") as work:
        inputs = read_analysis_inputs(args, work)
        uploaded = None if args.candidates is None else _read_candidate_file(args.candidates, work)
        villages, sites = inputs.villages, inputs.sites
        west, south, east, north = villages.to_crs("EPSG:4326").total_bounds
        with work.step(f"terrain {args.dem.name}"):
            terrain = read_raster(
                args.dem, bounds_wgs84=(west, south, east, north), margin_m=DEM_MARGIN_M
            )
        with work.step(f"judging {len(villages):,} villages"):
            result = analyze(
                villages,
                sites,
                inputs.readings.valid,
                dem=terrain,
                population=args.population,
                buildings=None if inputs.buildings is None else inputs.buildings.points,
            )
        options: dict[str, Any] = {} if args.spacing_m is None else {"spacing_m": args.spacing_m}
        with work.step("candidate sites"):
            candidates = all_candidates(
                result.villages,
                sites,
                terrain,
                metric_crs=result.metric_crs,
                uploaded=None if uploaded is None else uploaded.valid.reset_index(drop=True),
                carriers=None if args.carrier is None else [args.carrier],
                households=result.households,
                **options,
            )
        with work.step(f"weighing {len(candidates):,} candidates"):
            evaluation = evaluate_candidates(
                result, sites, candidates, terrain=terrain, carrier=args.carrier
            )
        chosen = plan(evaluation, k=k, budget=args.budget)
        work.finish()
        inputs.print_accounting()
        if uploaded is not None:
            print_accounting("candidates", len(uploaded.valid), uploaded.rejected_by_reason)
        out_of_no_signal, out_of_patchy = villages_lifted(chosen.villages)
        summary = {
            "households_served": round(float(chosen.households_served), 1),
            "cost": float(chosen.cost),
            "method": chosen.method,
            "k": k,
            "budget": args.budget,
            "carrier": args.carrier,
            "candidates_evaluated": len(evaluation.candidates),
            "villages_out_of_no_signal": out_of_no_signal,
            "villages_out_of_patchy": out_of_patchy,
        }
        files = write_plan(
            args.out,
            candidates=evaluation.candidates,
            chosen=chosen.chosen,
            footprints=evaluation.footprints,
            summary=summary,
            page=_plan_page(args, result, evaluation, chosen),
        )
        kinds = evaluation.candidates["kind"].astype(str).value_counts().sort_index()
        limit = f"k = {k}" if k is not None else f"budget {args.budget:,.0f} VND"
        print(
            f"plan ({limit}): {len(chosen.chosen)} sites serve"
            f" {chosen.households_served:,.0f} more households for {chosen.cost:,.0f} VND"
        )
        print(
            f"villages lifted: {out_of_no_signal} out of no signal,"
            f" {out_of_patchy} out of patchy signal"
        )
        weighed = ", ".join(f"{kind} {count:,}" for kind, count in kinds.items())
        print(f"candidates weighed: {len(evaluation.candidates):,} ({weighed})")
        print(f"method: {chosen.method}")
        written = [files.candidates, files.plan, files.table, files.page]
        print(f"written to {args.out}: {', '.join(p.name for p in written if p is not None)}")
        work.summary = (
            f"{len(chosen.chosen)} sites, {chosen.households_served:,.0f} households newly served"
        )
    return 0


def _plan_page(args: argparse.Namespace, result: Any, evaluation: Any, chosen: Any) -> str | None:
    """``plan.html``: the plan page with everything inline, or None without Leaflet."""
    import base64

    from geodata.maps import padded_bounds, render_hillshade
    from geodata.maps.plan import PlanSummary, plan_page
    from geodata.plans import plan_frame

    leaflet = args.assets_dir / "leaflet" / "dist"
    if not (leaflet / "leaflet.js").is_file():
        print(f"plan.html not written: Leaflet not found in {leaflet} (run `make assets`)")
        return None
    villages = result.villages
    hillshade, bounds = None, None
    try:
        shade = render_hillshade(
            args.dem, bounds_wgs84=padded_bounds(tuple(villages.to_crs("EPSG:4326").total_bounds))
        )
        hillshade = "data:image/png;base64," + base64.b64encode(shade.png).decode()
        bounds = shade.leaflet_bounds()
    except GeodataError as exc:
        print(f"plan.html: no hillshade ({exc})")
    return plan_page(
        villages,
        chosen.villages,
        plan_frame(chosen.chosen, evaluation.footprints),
        PlanSummary(chosen.households_served, chosen.cost, chosen.method),
        commune=", ".join(sorted(villages["commune"].astype(str).unique())),
        lang=args.lang,
        hillshade=hillshade,
        hillshade_bounds=bounds,
        inline_assets_dir=leaflet,
    )


def _bbox_argument(text: str) -> tuple[float, float, float, float]:
    from geodata.readings_dataset import checked_bounds

    try:
        return checked_bounds([float(part) for part in text.split(",")])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected minlon,minlat,maxlon,maxlat ({exc})"
        ) from None


def _export_readings_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export-readings",
        help="write the stored readings as GeoParquet, by H3 res-5 cell and month",
        description="The readings of the service's store (LOMSONG_DATA_DIR or "
        "LOMSONG_DATABASE_URL) into DIR/h3_5=<cell>/month=<YYYY-MM>/part-*.parquet, "
        "replacing what DIR held: what the tiled analysis's workers read.",
    )
    export.add_argument("--out", type=Path, required=True, help="the dataset's directory")
    export.add_argument(
        "--bbox", type=_bbox_argument, help="minlon,minlat,maxlon,maxlat: only the readings inside"
    )


def _export_readings(args: argparse.Namespace) -> int:
    from app.services.readings_export import export_readings
    from geodata.readings_dataset import dataset_files

    store = _open_store()
    try:
        rows = export_readings(store, args.out, bounds=args.bbox)
    finally:
        store.close()
    partitions = len({part.parent for part in dataset_files(args.out)})
    print(f"{rows:,} readings in {partitions:,} partitions written to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lomsong`` command; returns the exit status.

    Examples
    --------
    >>> main(["analyze", "--help"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)
    handlers = {
        "demo": _demo,
        "analyze": _analyze,
        "serve": _serve,
        "ingest": _ingest,
        "keys": _keys,
        "evaluate": _evaluate,
        "region": _region,
        "plan": _plan,
        "db": _db,
        "export-readings": _export_readings,
    }
    try:
        return handlers[args.command](args)
    except (GeodataError, CoverageError) as exc:
        print(f"lomsong: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except pydantic.ValidationError as exc:
        # Settings from the environment (LOMSONG_*) refused: their reasons, no traceback.
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            reason = str(error["msg"]).removeprefix("Value error, ")
            print(f"lomsong: error: {where}: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
