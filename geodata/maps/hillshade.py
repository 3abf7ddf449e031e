"""A hillshade of the DEM as a PNG: the offline base layer of the map pages.

The DEM is warped to Web Mercator (what Leaflet draws in, so an image
overlay sits exactly) and shaded with the classic Horn-gradient formula
(sun from the north-west, 45° high), in numpy.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.warp
from PIL import Image

from geodata.errors import InvalidInputError
from geodata.raster import open_raster

WEB_MERCATOR = "EPSG:3857"
#: Longest side of the image, in pixels: ~60 m per pixel over a commune.
MAX_SIZE_PX = 1024
#: Quality of the WebP the service sends: a sixth of the PNG's bytes (446 KB -> 76 KB
#: for Thượng Nông), and a hillshade has no edge lossy coding would blur visibly.
WEBP_QUALITY = 75


@dataclass(frozen=True)
class Hillshade:
    """A PNG and the (south, west, north, east) bounds it covers, in degrees."""

    png: bytes
    bounds: tuple[float, float, float, float]

    def leaflet_bounds(self) -> list[list[float]]:
        """``[[south, west], [north, east]]``, as Leaflet wants them."""
        south, west, north, east = self.bounds
        return [[south, west], [north, east]]


def shade(
    elevation: np.ndarray, *, pixel_m: float, azimuth: float = 315.0, altitude: float = 45.0
) -> np.ndarray:
    """Illumination 0–1 of each cell (NaN stays NaN).

    >>> shade(np.zeros((3, 3)), pixel_m=30.0)[1, 1].round(3)
    np.float64(0.707)
    """
    dz_dy, dz_dx = np.gradient(elevation, pixel_m)
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    # Rows run southwards, so the northward gradient is -dz_dy.
    aspect = np.arctan2(-dz_dx, dz_dy)
    zenith = np.radians(90.0 - altitude)
    sun = np.radians(azimuth)
    lit = np.cos(zenith) * np.cos(slope) + np.sin(zenith) * np.sin(slope) * np.cos(sun - aspect)
    shade: np.ndarray = np.clip(lit, 0.0, 1.0)
    return shade


def render_hillshade(
    dem_path: str | Path,
    *,
    bounds_wgs84: tuple[float, float, float, float] | None = None,
    max_size: int = MAX_SIZE_PX,
) -> Hillshade:
    """Shade ``dem_path`` (optionally only ``(west, south, east, north)``) as a grey PNG.

    Raises
    ------
    InvalidInputError
        When the DEM cannot be read or does not cover the bounds.
    """
    with open_raster(dem_path) as dataset:
        if bounds_wgs84 is None:
            bounds = rasterio.warp.transform_bounds(dataset.crs, WEB_MERCATOR, *dataset.bounds)
        else:
            bounds = rasterio.warp.transform_bounds("EPSG:4326", WEB_MERCATOR, *bounds_wgs84)
        left, bottom, right, top = bounds
        if right <= left or top <= bottom:
            raise InvalidInputError("empty hillshade bounds")
        scale = max(right - left, top - bottom) / max_size
        width = max(1, round((right - left) / scale))
        height = max(1, round((top - bottom) / scale))
        transform = rasterio.transform.from_bounds(left, bottom, right, top, width, height)
        elevation = np.full((height, width), np.nan)
        rasterio.warp.reproject(
            rasterio.band(dataset, 1),
            elevation,
            dst_transform=transform,
            dst_crs=WEB_MERCATOR,
            resampling=rasterio.warp.Resampling.bilinear,
            dst_nodata=np.nan,
        )
    south, west, north, east = _degrees(left, bottom, right, top)
    if np.isnan(elevation).all():
        raise InvalidInputError(f"{dem_path}: the DEM does not cover the area")
    # Web Mercator stretches distances by 1/cos(latitude): ground metres per pixel.
    pixel_m = scale * np.cos(np.radians((south + north) / 2))
    lit = shade(elevation, pixel_m=pixel_m)
    grey = np.nan_to_num(lit * 255, nan=0).astype(np.uint8)
    alpha = np.where(np.isnan(lit), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(buffer, "PNG", optimize=True)
    return Hillshade(buffer.getvalue(), (south, west, north, east))


def _degrees(left: float, bottom: float, right: float, top: float) -> tuple[float, ...]:
    west, south, east, north = rasterio.warp.transform_bounds(
        WEB_MERCATOR, "EPSG:4326", left, bottom, right, top
    )
    return south, west, north, east


def cached_hillshade(
    dem_path: str | Path,
    *,
    cache_dir: Path,
    bounds_wgs84: tuple[float, float, float, float] | None = None,
    max_size: int = MAX_SIZE_PX,
) -> tuple[str, Hillshade]:
    """:func:`render_hillshade`, cached on disk; returns ``(key, hillshade)``.

    The key hashes the DEM's path, size and modification time with the
    bounds, so a new DEM makes a new image. Each file is written whole to a
    temporary name and renamed into place (``os.replace``), the bounds before
    the image: a reader racing a writer finds the pair complete or the image
    missing, never a half-written file.
    """
    path = Path(dem_path)
    stat = path.stat()
    rounded = None if bounds_wgs84 is None else [round(float(b), 4) for b in bounds_wgs84]
    source = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, rounded, max_size])
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    png_path, meta_path = cache_dir / f"hillshade-{key}.png", cache_dir / f"hillshade-{key}.json"
    webp_path = cache_dir / f"hillshade-{key}.webp"
    if png_path.is_file() and meta_path.is_file() and webp_path.is_file():
        bounds = tuple(json.loads(meta_path.read_text()))
        return key, Hillshade(png_path.read_bytes(), bounds)
    hillshade = render_hillshade(path, bounds_wgs84=bounds_wgs84, max_size=max_size)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(meta_path, json.dumps(list(hillshade.bounds)).encode())
    _write_atomically(png_path, hillshade.png)
    _write_atomically(webp_path, webp_of(hillshade.png))
    return key, hillshade


def webp_of(png: bytes, *, quality: int = WEBP_QUALITY) -> bytes:
    """Return a hillshade PNG as a lossy WebP with its transparency (what the service sends)."""
    buffer = io.BytesIO()
    with Image.open(io.BytesIO(png)) as image:
        image.convert("RGBA").save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by way of a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_cached_png(cache_dir: Path, key: str, *, suffix: str = "png") -> bytes | None:
    """Return the cached image of ``key`` (``suffix`` ``png`` or ``webp``).

    ``None`` when ``key`` is malformed or not cached.
    """
    if not (len(key) == 16 and all(c in "0123456789abcdef" for c in key)):
        return None
    path = cache_dir / f"hillshade-{key}.{suffix}"
    return path.read_bytes() if path.is_file() else None
