"""Where readings may come from: known networks, their countries, the loaded region.

Three checks keep an upload from poisoning a region, all vectorised:

- :func:`known_network` — an MNC must be one its MCC has
  (:data:`geodata.constants.VIETNAM_MNCS` and ``data/mnc_operators.json``);
- :func:`in_mcc_country` — a reading of an MCC whose country is known
  (:data:`geodata.constants.MCC_COUNTRIES`) must lie in that country's buffered
  polygon (ichnaea's ``regions_buffer``, 0.5° buffer, in ``data/``);
- :class:`LoadedRegion` — a reading must lie within the stored communes' and
  villages' extents, plus :data:`geodata.constants.REGION_MARGIN_DEG`.

The data files are read once, on first use. Their sources and licences are in
``geodata/data/NOTICE``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import shapely

from geodata import constants as C

DATA_DIR = Path(__file__).parent / "data"
MNC_FILE = DATA_DIR / "mnc_operators.json"
REGIONS_FILE = DATA_DIR / "regions_buffer.geojson"


def network_codes(mcc: np.ndarray, mnc: np.ndarray) -> np.ndarray:
    """``mcc * 1000 + mnc`` as int64 (NaN or out-of-range values give -1)."""
    mcc = np.asarray(mcc, dtype="float64")
    mnc = np.asarray(mnc, dtype="float64")
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(mcc) & np.isfinite(mnc) & (mcc >= 0) & (mcc < 1000) & (mnc >= 0)
        ok &= mnc < 1000
    codes = np.full(mcc.shape, -1, dtype=np.int64)
    codes[ok] = mcc[ok].astype(np.int64) * 1000 + mnc[ok].astype(np.int64)
    return codes


@cache
def known_networks() -> np.ndarray:
    """Sorted network codes (``mcc * 1000 + mnc``) of every known network."""
    table: dict[str, list[int]] = json.loads(MNC_FILE.read_text(encoding="utf-8"))
    codes = {int(mcc) * 1000 + mnc for mcc, mncs in table.items() for mnc in mncs}
    codes |= {C.MCC_VIETNAM * 1000 + mnc for mnc in C.VIETNAM_MNCS}
    return np.array(sorted(codes), dtype=np.int64)


def known_network(mcc: np.ndarray, mnc: np.ndarray) -> np.ndarray:
    """Whether each ``(mcc, mnc)`` is a known network.

    >>> known_network(np.array([452, 452, 272]), np.array([4, 99, 2])).tolist()
    [True, False, True]
    """
    return np.isin(network_codes(mcc, mnc), known_networks())


@cache
def country_regions() -> dict[str, shapely.Geometry]:
    """Buffered country polygons by ISO alpha-2, prepared for point tests."""
    collection = json.loads(REGIONS_FILE.read_text(encoding="utf-8"))
    regions = {}
    for feature in collection["features"]:
        geometry = shapely.from_geojson(json.dumps(feature["geometry"]))
        shapely.prepare(geometry)
        regions[feature["properties"]["alpha2"]] = geometry
    return regions


def in_mcc_country(mcc: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Tell whether each reading lies in its MCC's country.

    ``True`` where the MCC's country is not in :data:`geodata.constants.MCC_COUNTRIES`.

    >>> in_mcc_country(np.array([452, 452, 272]), np.array([105.5, -6.3, -6.3]),
    ...                np.array([22.5, 53.3, 53.3])).tolist()
    [True, False, True]
    """
    mcc = np.asarray(mcc, dtype="float64")
    inside = np.ones(mcc.shape, dtype=bool)
    regions = country_regions()
    for code, alpha2 in C.MCC_COUNTRIES.items():
        rows = np.flatnonzero(mcc == code)
        if rows.size:
            inside[rows] = shapely.contains_xy(regions[alpha2], lon[rows], lat[rows])
    return inside


@dataclass(frozen=True)
class LoadedRegion:
    """The union of the loaded places' extents, each grown by a margin.

    Parameters
    ----------
    area : shapely.Geometry or None
        ``None`` when no place is loaded: then nothing is outside.
    """

    area: shapely.Geometry | None

    @classmethod
    def from_boxes(
        cls,
        boxes: Sequence[tuple[float, float, float, float]] | np.ndarray,
        *,
        margin_deg: float = C.REGION_MARGIN_DEG,
    ) -> LoadedRegion:
        """From ``(minx, miny, maxx, maxy)`` extents in degrees."""
        array = np.asarray(boxes, dtype="float64").reshape(-1, 4)
        array = array[np.isfinite(array).all(axis=1)]
        if not len(array):
            return cls(None)
        grown = shapely.box(
            array[:, 0] - margin_deg,
            array[:, 1] - margin_deg,
            array[:, 2] + margin_deg,
            array[:, 3] + margin_deg,
        )
        area = shapely.union_all(grown)
        shapely.prepare(area)
        return cls(area)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Whether each point lies in the region (all ``True`` when nothing is loaded)."""
        lon = np.asarray(lon, dtype="float64")
        if self.area is None:
            return np.ones(lon.shape, dtype=bool)
        return np.asarray(shapely.contains_xy(self.area, lon, np.asarray(lat, dtype="float64")))
