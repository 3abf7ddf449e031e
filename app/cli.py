"""``lomsong``: the command line, calling the library directly (no HTTP)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from app.config import default_assets_dir
from app.geojson import write_feature_collection
from app.store import Store
from coverage.errors import CoverageError
from geodata.errors import GeodataError

# Kept literal so `lomsong --help` needs no heavy import; tests check they match.
READING_FORMATS = ("csv", "json", "gnettrack", "opencellid")
ROLES = ("collector", "planner", "admin")

# Exit status for bad input (argparse uses 2 for bad arguments).
EXIT_BAD_INPUT = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lomsong",
        description="Find villages with no mobile signal (trắng sóng) or patchy signal (lõm sóng).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="write the demo region's files")
    demo.add_argument("--out", type=Path, required=True, help="directory to write into")
    demo.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")

    analyze = commands.add_parser("analyze", help="judge villages from files, write results")
    analyze.add_argument("--villages", type=Path, required=True, help="GeoJSON/GPKG/Shapefile")
    analyze.add_argument("--sites", type=Path, required=True, help="OpenCelliD-style CSV")
    analyze.add_argument(
        "--readings", type=Path, action="append", required=True, help="readings CSV (repeatable)"
    )
    analyze.add_argument("--dem", type=Path, help="terrain GeoTIFF")
    analyze.add_argument("--population", type=Path, help="population GeoTIFF")
    analyze.add_argument("--out", type=Path, required=True, help="directory for the results")
    analyze.add_argument("--lang", choices=("vi", "en"), default="vi", help="map language")
    analyze.add_argument(
        "--assets-dir", type=Path, default=default_assets_dir(), help="node_modules with leaflet"
    )

    serve = commands.add_parser("serve", help="run the web service")
    serve.add_argument("--demo", action="store_true", help="load and serve the demo region")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    ingest = commands.add_parser(
        "ingest", help="store a readings file in the service's data dir (LOMSONG_DATA_DIR)"
    )
    ingest.add_argument("file", type=Path, help="the readings file")
    ingest.add_argument("--format", choices=READING_FORMATS, default="csv", help="its layout")
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
    evaluate.add_argument("--format", choices=READING_FORMATS, default="csv", help="its layout")
    evaluate.add_argument("--tz", help="IANA time zone of a G-NetTrack log")
    evaluate.add_argument("--mcc", type=int, help="G-NetTrack: the operator's MCC")
    evaluate.add_argument("--mnc", type=int, help="G-NetTrack: the operator's MNC")
    evaluate.add_argument("--sites", type=Path, help="site CSV (without: readings only)")
    evaluate.add_argument("--dem", type=Path, help="terrain GeoTIFF")
    evaluate.add_argument("--resolution", type=int, default=10, help="H3 resolution (10)")
    evaluate.add_argument("--folds", type=int, default=5, help="number of folds (5)")

    keys = commands.add_parser("keys", help="manage API keys (in LOMSONG_DATA_DIR)")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--role", choices=ROLES, required=True)
    create.add_argument("--name", help="who holds the key")
    keys_commands.add_parser("list", help="list keys (ids and roles, never the secrets)")
    revoke = keys_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", help="the key's id, as `keys list` shows it")
    return parser


def _demo(args: argparse.Namespace) -> int:
    from geodata.demo import write_demo

    files = write_demo(args.out, seed=args.seed)
    for name in ("communes", "villages", "sites", "readings", "dem", "population"):
        print(f"{name:<11} {getattr(files, name)}")
    return 0


def summary_table(villages: pd.DataFrame) -> str:
    """Villages and households per verdict, as aligned text."""
    order = ["no_signal", "patchy", "covered", "unknown"]
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


def _analyze(args: argparse.Namespace) -> int:
    from coverage.pipeline import analyze
    from geodata.maps import render_commune_map
    from geodata.outputs import write_cells_gpkg, write_signal_geotiffs
    from geodata.readings import read_readings_csv, validate_readings
    from geodata.sites import read_sites
    from geodata.villages import read_villages

    villages = read_villages(args.villages)
    sites = read_sites(args.sites)
    raw = pd.concat([read_readings_csv(path) for path in args.readings], ignore_index=True)
    validated = validate_readings(raw)
    result = analyze(villages, sites, validated.valid, dem=args.dem, population=args.population)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_feature_collection(result.villages, out / "villages.geojson")
    write_feature_collection(result.dead_zones, out / "dead_zones.geojson")
    write_cells_gpkg(result.signal, out / "cells.gpkg")
    rasters = write_signal_geotiffs(result.signal, out) + write_signal_geotiffs(
        result.signal, out, value="p_usable"
    )
    leaflet = args.assets_dir / "leaflet" / "dist"
    communes = ", ".join(sorted(result.villages["commune"].astype(str).unique()))
    if (leaflet / "leaflet.js").is_file():
        page = render_commune_map(
            result.villages,
            dead_zones=result.dead_zones,
            commune_name=communes,
            lang=args.lang,
            inline_assets_dir=leaflet,
        )
        (out / "map.html").write_text(page, encoding="utf-8")
    else:
        print(f"map.html not written: Leaflet not found in {leaflet} (run `make assets`)")

    print(f"readings: {len(validated.valid)} valid, {len(validated.rejected)} rejected")
    for reason, count in sorted(validated.rejected_by_reason.items()):
        print(f"  rejected {count:>6}  {reason}")
    print(f"dead zones: {len(result.dead_zones)}")
    print(f"cells.gpkg: {len(result.signal)} cell estimates; GeoTIFFs: {len(rasters)}")
    print(summary_table(result.villages))
    print(f"written to {out}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.config import Settings
    from app.main import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    settings = Settings(demo=True) if args.demo else Settings()
    uvicorn.run(create_app(settings), host=args.host, port=args.port)
    return 0


def _open_store() -> Store:
    """The store of the service's data dir (``LOMSONG_DATA_DIR``), as the service opens it."""
    from app.config import Settings

    settings = Settings()
    return Store(settings.db_path, device_salt=settings.device_salt)


def _ingest(args: argparse.Namespace) -> int:
    from app.analysis import refresh_for_readings
    from app.config import Settings
    from app.ingest import ingest_file

    positions: list[pd.DataFrame] = []

    def remember(valid: pd.DataFrame) -> None:
        positions.append(valid[["lat", "lon"]].drop_duplicates())

    store = _open_store()
    try:
        report = ingest_file(
            store,
            args.file,
            format=args.format,
            tz=args.tz,
            mcc=args.mcc,
            mnc=args.mnc,
            chunk_rows=Settings().import_chunk_rows,
            on_stored=None if args.no_refresh else remember,
        )
        print(f"accepted   {report.accepted:>9}  new readings stored")
        print(f"duplicates {report.duplicates:>9}  already stored")
        print(f"rejected   {report.rejected_total:>9}")
        for reason, count in sorted(report.rejected_by_reason.items()):
            print(f"  {count:>9}  {reason}")
        if positions:
            touched = refresh_for_readings(store, pd.concat(positions).drop_duplicates())
            print(f"villages re-judged: {len(touched)}")
    finally:
        store.close()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from coverage.evaluate import cross_validate
    from geodata.formats import read_readings
    from geodata.readings import validate_readings
    from geodata.sites import read_sites

    chunks = list(read_readings(args.readings, format=args.format, tz=args.tz, mcc=args.mcc,
                                mnc=args.mnc))  # fmt: skip
    raw = pd.concat([c.readings for c in chunks]) if chunks else pd.DataFrame()
    validated = validate_readings(raw.reset_index(drop=True))
    sites = read_sites(args.sites) if args.sites else pd.DataFrame()
    print(f"readings: {len(validated.valid)} valid, "
          f"{len(validated.rejected) + sum(len(c.rejected) for c in chunks)} rejected")  # fmt: skip
    result = cross_validate(validated.valid, sites, dem=args.dem, resolution=args.resolution,
                            folds=args.folds)  # fmt: skip
    print(
        f"spatially blocked CV: {args.folds} folds of H3 res-7 blocks (~2.4 km), "
        f"cells at res {args.resolution}; RMSE/bias over cells with a measured median"
    )
    print(result.summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0


def _keys(args: argparse.Namespace) -> int:
    from app.auth import create_key

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
    }
    try:
        return handlers[args.command](args)
    except (GeodataError, CoverageError) as exc:
        print(f"lomsong: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
