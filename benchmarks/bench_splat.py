"""lomsong's path loss beside SPLAT! 1.4.2's Longley-Rice on the demo DEM.

The demo's DEM (UTM, 30 m) is reprojected to WGS84 at 3 arc-seconds (or 1
with ``--hd``) and written as SRTM ``.hgt`` tiles (big-endian int16, 1201 or
3601 samples a side, named by their south-west corner), which ``srtm2sdf``
(``srtm2sdf-hd``) turns into SPLAT! Data Files. For a few sites and a few
hundred receivers at 1.5 m, SPLAT! runs point to point (``-t tx.qth -r
rx.qth -metric -olditm``: the Longley-Rice ITM, not the ITWOM default;
``tx.lrp`` at the cell's frequency, average ground, continental temperate,
vertical polarisation, 50 % of locations and time) and its report's
"Longley-Rice path loss" is read. lomsong's path loss at the same receivers
is what :func:`coverage.predict.predict_signal` adds up before the
antenna pattern: Hata (open area) plus the terrain loss, with the 48-sample
profiles and with profiles at every DEM pixel (the default), in one process.

Prints, per site, the time SPLAT! took over lomsong's and the median / RMS
difference (lomsong − SPLAT!, dB); never asserts. SPLAT!'s time includes
loading its terrain on each run (one process per receiver, as the CLI
works). Receivers SPLAT! flags with an ITM error code (parameters out of
the model's range, mostly deep diffraction) are counted, and kept.

Run: ``.venv/bin/python benchmarks/bench_splat.py`` (needs ``apt-get install splat``)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject, transform_bounds

from coverage.diffraction import FIXED_PROFILE_SAMPLES, diffraction_loss_db, float32_terrain
from coverage.pathloss import hata_rural_loss_db
from geodata import constants as C
from geodata.raster import read_raster

SRTM_VOID = -32768
LOSS_LINE = re.compile(r"Longley-Rice path loss:\s+([-\d.]+)\s*dB")
ERROR_LINE = re.compile(r"Longley-Rice model error number:\s+(\d+)")
# A few paths send SPLAT! 1.4.2 into an endless loop (one ran 14 min at
# 100 % CPU on the demo); such a receiver is dropped and counted.
SPLAT_TIMEOUT_S = 10.0


def tools(hd: bool) -> tuple[str, str]:
    """SPLAT! and its SRTM converter, or exit non-zero saying how to get them."""
    names = ("splat-hd", "srtm2sdf-hd") if hd else ("splat", "srtm2sdf")
    found = [shutil.which(name) for name in names]
    if not all(found):
        print(f"{' and '.join(names)} not found: apt-get install splat", file=sys.stderr)
        sys.exit(1)
    return found[0], found[1]  # type: ignore[return-value]


def write_sdf(dem_path: Path, out: Path, *, hd: bool, srtm2sdf: str) -> None:
    """The DEM as SRTM tiles (bilinear, WGS84), converted to SDF files in ``out``."""
    size = 3601 if hd else 1201
    step = 1.0 / (size - 1)
    with rasterio.open(dem_path) as src:
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        for lat in range(int(np.floor(south)), int(np.floor(north)) + 1):
            for lon in range(int(np.floor(west)), int(np.floor(east)) + 1):
                tile = np.full((size, size), SRTM_VOID, dtype=np.float32)
                # Sample centres on whole multiples of the step, row 0 at the north edge.
                reproject(
                    rasterio.band(src, 1),
                    tile,
                    dst_crs="EPSG:4326",
                    dst_transform=from_origin(lon - step / 2, lat + 1 + step / 2, step, step),
                    resampling=Resampling.bilinear,
                    dst_nodata=SRTM_VOID,
                )
                name = (
                    f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}"
                    f"{'E' if lon >= 0 else 'W'}{abs(lon):03d}.hgt"
                )
                np.round(tile).astype(">i2").tofile(out / name)
                subprocess.run([srtm2sdf, name], cwd=out, check=True, capture_output=True)


def qth(path: Path, name: str, lat: float, lon: float, height_m: float) -> None:
    # SPLAT! wants longitude in degrees West (0-360).
    path.write_text(f"{name}\n{lat:.7f}\n{(-lon) % 360:.7f}\n{height_m:.2f} meters\n")


def splat_loss(
    splat: str, work: Path, sdf: Path, site: pd.Series, rx_lat: np.ndarray, rx_lon: np.ndarray
) -> tuple[np.ndarray, int, int, float]:
    """SPLAT!'s Longley-Rice loss at each receiver (NaN where it hung), its ITM
    error count, the runs that hung, and the seconds taken (hung runs' excluded)."""
    qth(work / "tx.qth", "tx", site["lat"], site["lon"], site["height_m"])
    (work / "tx.lrp").write_text(
        "15.000 ; Earth dielectric constant (average ground)\n"
        "0.005 ; Earth conductivity (S/m)\n"
        "301.000 ; Atmospheric bending constant (N-units)\n"
        f"{site['freq_mhz']:.3f} ; Frequency (MHz)\n"
        "5 ; Radio climate (continental temperate)\n"
        "1 ; Polarisation (vertical)\n"
        "0.50 ; Fraction of situations\n"
        "0.50 ; Fraction of time\n"
    )
    loss = np.full(len(rx_lat), np.nan)
    errors = hung = 0
    start = time.perf_counter()
    for k, (lat, lon) in enumerate(zip(rx_lat, rx_lon, strict=True)):
        qth(work / "rx.qth", "rx", lat, lon, C.RECEIVER_HEIGHT_M)
        (work / "tx-to-rx.txt").unlink(missing_ok=True)
        try:
            subprocess.run(
                [splat, "-t", "tx.qth", "-r", "rx.qth", "-d", str(sdf), "-metric", "-olditm"],
                cwd=work,
                check=True,
                capture_output=True,
                timeout=SPLAT_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            hung += 1
            continue
        report = (work / "tx-to-rx.txt").read_text(errors="replace")
        found = LOSS_LINE.search(report)
        loss[k] = float(found.group(1)) if found else np.nan
        error = ERROR_LINE.search(report)
        errors += bool(error and error.group(1) != "0")
    return loss, errors, hung, time.perf_counter() - start - hung * SPLAT_TIMEOUT_S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, help="a `lomsong demo` folder (else one is made)")
    parser.add_argument("--sites", type=int, default=4)
    parser.add_argument("--receivers", type=int, default=100, help="per site")
    parser.add_argument("--hd", action="store_true", help="1 arc-second (splat-hd)")
    args = parser.parse_args()
    splat, srtm2sdf = tools(args.hd)
    rng = np.random.default_rng(0)
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        demo = args.demo
        if demo is None:
            demo = root / "demo"
            lomsong = Path(sys.executable).parent / "lomsong"
            subprocess.run(
                [str(lomsong), "demo", "--out", str(demo)], check=True, capture_output=True
            )
        sdf = root / "sdf"
        sdf.mkdir()
        write_sdf(demo / "dem.tif", sdf, hd=args.hd, srtm2sdf=srtm2sdf)
        dem = float32_terrain(read_raster(demo / "dem.tif"))  # once: its envelopes are cached
        to_metric = Transformer.from_crs("EPSG:4326", dem.crs, always_xy=True)
        to_wgs84 = Transformer.from_crs(dem.crs, "EPSG:4326", always_xy=True)
        sites = pd.read_csv(demo / "sites.csv").drop_duplicates("site_id")
        sites = sites.iloc[rng.choice(len(sites), min(args.sites, len(sites)), replace=False)]
        print(
            f"SPLAT! {'HD 1' if args.hd else '3'} arc-second, Longley-Rice (-olditm); "
            f"{args.receivers} receivers per site at {C.RECEIVER_HEIGHT_M} m; "
            f"difference = lomsong - SPLAT! (dB)"
        )
        header = (
            f"{'site':<22}{'scheme':<14}{'time ratio':>11}{'median':>9}{'RMS':>8}"
            f"{'ITM err':>9}{'hung':>6}"
        )
        print(header)
        every: dict[str, list[np.ndarray]] = {"48 samples": [], "every pixel": []}
        for _, site in sites.iterrows():
            sx, sy = to_metric.transform(site["lon"], site["lat"])
            # Receivers 0.5-10 km away, kept on the DEM (its NaN-free interior).
            angle = rng.uniform(0, 2 * np.pi, 4 * args.receivers)
            radius = np.sqrt(rng.uniform(0.5**2, 10.0**2, angle.size)) * 1000.0
            rx, ry = sx + radius * np.sin(angle), sy + radius * np.cos(angle)
            on_dem = np.isfinite(dem.sample(rx, ry))
            rx, ry = rx[on_dem][: args.receivers], ry[on_dem][: args.receivers]
            lon, lat = to_wgs84.transform(rx, ry)
            theirs, errors, hung, splat_s = splat_loss(
                splat, root, sdf, site, np.asarray(lat), np.asarray(lon)
            )
            hata = hata_rural_loss_db(
                np.hypot(rx - sx, ry - sy) / 1000.0,
                float(site["freq_mhz"]),
                base_height_m=float(site["height_m"]),
            )
            for scheme, samples in (("48 samples", FIXED_PROFILE_SAMPLES), ("every pixel", None)):
                diffraction_loss_db(
                    dem, (sx, sy), 30.0, rx[:1], ry[:1], 1800.0, samples=samples
                )  # warm: envelopes built once per DEM
                start = time.perf_counter()
                ours = hata + diffraction_loss_db(
                    dem,
                    (sx, sy),
                    float(site["height_m"]),
                    rx,
                    ry,
                    float(site["freq_mhz"]),
                    samples=samples,
                )
                ours_s = time.perf_counter() - start
                diff = (ours - theirs)[np.isfinite(theirs)]
                every[scheme].append(diff)
                print(
                    f"{site['site_id']:<22}{scheme:<14}{splat_s / ours_s:>10,.0f}x"
                    f"{np.median(diff):>9.1f}{np.sqrt(np.mean(diff**2)):>8.1f}"
                    f"{errors:>9}{hung:>6}"
                )
        for scheme, diffs in every.items():
            diff = np.concatenate(diffs)
            print(
                f"{'all sites':<22}{scheme:<14}{'':>11}{np.median(diff):>9.1f}"
                f"{np.sqrt(np.mean(diff**2)):>8.1f}"
            )


if __name__ == "__main__":
    main()
