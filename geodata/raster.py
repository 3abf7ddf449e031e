"""Rasters (DEM, population): read any GeoTIFF rasterio opens, in any CRS.

Reads only the window that covers the area of interest, and hands back a
metric raster (geographic rasters are warped to the local UTM zone) so that
distances along terrain profiles are in metres.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
import rasterio.shutil
import rasterio.warp
import rasterio.windows
from affine import Affine
from numpy.typing import ArrayLike
from pyproj import CRS
from scipy import ndimage

from geodata.errors import InvalidInputError


@dataclass(frozen=True)
class Raster:
    """A single band in memory: values (NaN for nodata), transform and CRS."""

    values: np.ndarray
    transform: Affine
    crs: CRS

    def sample(self, x: np.ndarray, y: np.ndarray, *, order: int = 1) -> np.ndarray:
        """Values at points given in the raster's CRS (bilinear; NaN outside)."""
        col, row = _apply(~self.transform, np.asarray(x, float), np.asarray(y, float))
        # Pixel centres sit at +0.5; map_coordinates indexes centres at integers.
        coords = np.vstack([np.ravel(row) - 0.5, np.ravel(col) - 0.5])
        out: np.ndarray = ndimage.map_coordinates(
            self.values, coords, order=order, cval=np.nan, mode="constant"
        )
        return out.reshape(np.shape(x))

    @property
    def pixel_size(self) -> float:
        """Mean pixel edge in CRS units."""
        return float((abs(self.transform.a) + abs(self.transform.e)) / 2)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Return x and y of every pixel centre, shaped like ``values``."""
        rows, cols = np.indices(self.values.shape)
        return _apply(self.transform, cols + 0.5, rows + 0.5)


def _apply(transform: Affine, x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Apply an affine transform to coordinate arrays.

    Affine's ``*`` on tuples is deprecated.
    """
    a, b, c, d, e, f = transform[:6]
    x, y = np.asarray(x, float), np.asarray(y, float)
    return a * x + b * y + c, d * x + e * y + f


@contextmanager
def open_raster(path: str | Path) -> Iterator[rasterio.DatasetReader]:
    """Open a raster that declares a CRS, or raise :class:`InvalidInputError`.

    Raises
    ------
    InvalidInputError
        When the file cannot be opened or has no CRS.
    """
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidInputError(f"{path}: not a readable raster ({exc})") from exc
    with dataset:
        if dataset.crs is None:
            raise InvalidInputError(f"{path}: the raster declares no CRS")
        yield dataset


def utm_crs_for(lon: ArrayLike, lat: ArrayLike) -> CRS:
    """Return the WGS84 UTM zone CRS (EPSG:326xx / 327xx) of a point or of an area.

    The one metric-CRS helper of lomsong: the analysis, the rasters, the
    writers and the maps all measure metres in the zone it picks. Like
    :meth:`geopandas.GeoSeries.estimate_utm_crs`, it takes the zone at the
    centre of the points' extent, but by arithmetic, without a query of
    PROJ's database (Vietnam has none of Norway's special zones).

    Parameters
    ----------
    lon, lat : float or array_like
        A point, or points (e.g. ``bounds[0::2]`` and ``bounds[1::2]``), in degrees.

    Returns
    -------
    pyproj.CRS

    Examples
    --------
    >>> utm_crs_for(105.49, 22.57).to_epsg()
    32648
    >>> utm_crs_for([104.0, 108.5], [21.0, 23.0]).to_epsg()  # centre 106.25 E
    32648
    """
    lons, lats = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    centre_lon = (float(np.nanmin(lons)) + float(np.nanmax(lons))) / 2
    centre_lat = (float(np.nanmin(lats)) + float(np.nanmax(lats))) / 2
    zone = int((centre_lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if centre_lat >= 0 else 32700) + zone)


def read_raster(
    path: str | Path,
    *,
    bounds_wgs84: tuple[float, float, float, float] | None = None,
    margin_m: float = 0.0,
    resampling: rasterio.warp.Resampling = rasterio.warp.Resampling.bilinear,
) -> Raster:
    """Read band 1 of a raster, windowed to ``bounds_wgs84`` (plus a margin).

    Parameters
    ----------
    path : str or Path
        Any GeoTIFF (or other raster) rasterio opens.
    bounds_wgs84 : (west, south, east, north), optional
        Area of interest in degrees; only that window is read.
    margin_m : float
        Extra margin around the bounds, in metres.
    resampling : rasterio Resampling
        Used when a geographic raster is warped to UTM.

    Raises
    ------
    InvalidInputError
        When the file cannot be opened, has no CRS, or misses the bounds.
    """
    with open_raster(path) as dataset:
        crs = CRS.from_user_input(dataset.crs)
        window = None
        if bounds_wgs84 is not None:
            west, south, east, north = rasterio.warp.transform_bounds(
                "EPSG:4326", dataset.crs, *bounds_wgs84
            )
            margin = margin_m if crs.is_projected else margin_m / 111_000
            window = (
                rasterio.windows.from_bounds(
                    west - margin, south - margin, east + margin, north + margin, dataset.transform
                )
                .round_offsets()
                .round_lengths()
            )
            window = window.intersection(
                rasterio.windows.Window(0, 0, dataset.width, dataset.height)
            )
        values = dataset.read(1, window=window, masked=True).astype("float64").filled(np.nan)
        transform = dataset.window_transform(window) if window is not None else dataset.transform
    if values.size == 0:
        raise InvalidInputError(f"{path}: the raster does not cover the area of interest")
    if crs.is_projected:
        return Raster(values, transform, crs)
    return _warp_to_utm(values, transform, crs, resampling)


def _warp_to_utm(
    values: np.ndarray, transform: Affine, crs: CRS, resampling: rasterio.warp.Resampling
) -> Raster:
    height, width = values.shape
    lon, lat = _apply(transform, np.array(width / 2), np.array(height / 2))
    target = utm_crs_for(float(lon), float(lat))
    left, top = transform.c, transform.f
    right, bottom = _apply(transform, np.array(width), np.array(height))
    dst_transform, dst_width, dst_height = rasterio.warp.calculate_default_transform(
        crs, target, width, height, left=left, bottom=bottom, right=right, top=top
    )
    out = np.full((dst_height, dst_width), np.nan)
    rasterio.warp.reproject(
        values,
        out,
        src_transform=transform,
        src_crs=crs,
        dst_transform=dst_transform,
        dst_crs=target,
        resampling=resampling,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    return Raster(out, dst_transform, target)


@dataclass(frozen=True)
class RasterInfo:
    """What a stored raster is: its file, size, grid, CRS, extent (EPSG:4326) and layout."""

    path: Path
    bytes: int
    width: int
    height: int
    crs: str
    bounds_wgs84: tuple[float, float, float, float]
    layout: str | None

    def as_dict(self) -> dict[str, object]:
        """Plain values, for the API's answer and ``lomsong region show``."""
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "width": self.width,
            "height": self.height,
            "crs": self.crs,
            "bounds": list(self.bounds_wgs84),
            "layout": self.layout,
        }


def raster_info(path: str | Path) -> RasterInfo:
    """Size, grid, CRS, extent in degrees and GDAL's ``LAYOUT`` (``"COG"``) of a raster.

    Raises
    ------
    InvalidInputError
        When the file cannot be opened or has no CRS.
    """
    with open_raster(path) as dataset:
        bounds = rasterio.warp.transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
        layout = dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")
        return RasterInfo(
            path=Path(path),
            bytes=Path(path).stat().st_size,
            width=dataset.width,
            height=dataset.height,
            crs=CRS.from_user_input(dataset.crs).to_string(),
            bounds_wgs84=tuple(float(b) for b in bounds),  # type: ignore[arg-type]
            layout=layout,
        )


def copy_as_cog(source: str | Path, target: str | Path) -> RasterInfo:
    """Copy any raster rasterio reads into ``target`` as a Cloud-Optimised GeoTIFF.

    GDAL's ``COG`` driver (GDAL >= 3.1) writes tiles and overviews, so the
    service reads a window of a province-wide DEM without the whole file.
    The copy is written beside ``target`` and renamed over it, so a failed
    copy never leaves half a raster where the service looks. Every band, the
    nodata value and the CRS are kept; the values are not resampled.

    Raises
    ------
    InvalidInputError
        When the source cannot be opened, has no CRS, or GDAL cannot write it.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "float32",
    ...     "crs": "EPSG:4326", "transform": Affine(0.001, 0, 105.4, 0, -0.001, 22.6)}
    >>> with rasterio.open(folder / "dem.tif", "w", **profile) as out:
    ...     out.write(np.ones((1, 64, 64), "float32"))
    >>> copy_as_cog(folder / "dem.tif", folder / "cog.tif").layout
    'COG'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with open_raster(source):  # refuse what is unreadable, or has no CRS, by name
        pass
    try:
        # GDAL's CreateCopy streams the source by blocks: no whole DEM in memory.
        rasterio.shutil.copy(
            source,
            partial,
            driver="COG",
            COMPRESS="DEFLATE",
            BLOCKSIZE=256,
            OVERVIEW_RESAMPLING="AVERAGE",
            BIGTIFF="IF_SAFER",
        )
    except rasterio.errors.RasterioError as exc:
        partial.unlink(missing_ok=True)
        raise InvalidInputError(f"{source}: could not be copied as a COG ({exc})") from exc
    partial.replace(target)
    return raster_info(target)
