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
from coverage.errors import CoverageError
from geodata.errors import GeodataError

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lomsong`` command; returns the exit status.

    Examples
    --------
    >>> main(["analyze", "--help"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)
    handlers = {"demo": _demo, "analyze": _analyze, "serve": _serve}
    try:
        return handlers[args.command](args)
    except (GeodataError, CoverageError) as exc:
        print(f"lomsong: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
