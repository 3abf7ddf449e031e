"""The demo's carrier sites and cells, and their OpenCelliD-style CSV.

Sites are placed by hand near roads (towers in karst stand in the valleys,
by the commune centres), carrier by carrier, since infrastructure sharing is
low in Tuyên Quang. The three VNPT sites around Bản Giòng are placed from
the village by distance and bearing. The seed varies heights, EIRPs, sector
orientations and the hidden per-site power offset the CSV does not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geodata import constants as C
from geodata.demo.region import (
    BAN_GIONG_SITES,
    LINH_PHU,
    THUONG_NONG,
    TO_WGS84,
    ban_giong_xy,
    point_from,
    to_utm,
)
from geodata.sites import OPENCELLID_COLUMNS, SITE_EXTRA_COLUMNS

VNPT, VIETTEL, MOBIFONE = 2, 4, 1

#: OpenCelliD cell_towers.csv columns, then lomsong's optional site columns.
SITE_COLUMNS: tuple[str, ...] = OPENCELLID_COLUMNS + SITE_EXTRA_COLUMNS

# Layers a site can carry: (radio, frequency MHz, sectored?).
LTE1800 = ("lte", 1800.0, True)
LTE900 = ("lte", 900.0, True)
LTE900_OMNI = ("lte", 900.0, False)
LTE1800_OMNI = ("lte", 1800.0, False)
UMTS2100 = ("umts", 2100.0, True)

# Sites: (name, mnc, commune layout, x_km, y_km, layers). Positions in km
# from the commune's bbox centre; None means "placed from Bản Giòng".
_SITES = (
    ("Thuong-Nong_TQG", VNPT, THUONG_NONG, -2.4, -0.3, (LTE1800, UMTS2100)),
    ("Thuong-NongII_TQG", VNPT, THUONG_NONG, None, None, (LTE1800,)),
    ("ThuongGiap_TQG", VNPT, THUONG_NONG, None, None, (LTE1800, LTE900)),
    ("TQG_NaHang_ThuongNong_01", VIETTEL, THUONG_NONG, -3.7, 0.7, (LTE1800, UMTS2100)),
    ("TQG_NaHang_ThuongNong_02", VIETTEL, THUONG_NONG, 2.5, -0.6, (LTE1800,)),
    ("TQG_NaHang_YenHoa_03", VIETTEL, THUONG_NONG, 6.3, -3.9, (LTE900_OMNI,)),
    ("TQ_NHG_ThuongNong", MOBIFONE, THUONG_NONG, 0.6, 0.3, (LTE1800, UMTS2100)),
    ("TQ_NHG_NaHang_East", MOBIFONE, THUONG_NONG, 7.6, 1.2, (LTE1800,)),
    ("LinhPhu_TQG", VNPT, LINH_PHU, 0.3, 0.0, (LTE1800, UMTS2100)),
    ("LinhPhuII_TQG", VNPT, LINH_PHU, -2.3, -1.2, (LTE1800,)),
    ("TQG_ChiemHoa_LinhPhu_01", VIETTEL, LINH_PHU, -0.1, 0.7, (LTE1800, UMTS2100)),
    ("TQG_ChiemHoa_LinhPhu_02", VIETTEL, LINH_PHU, 1.3, -4.0, (LTE1800, LTE900)),
    ("TQG_ChiemHoa_TriPhu_01", VIETTEL, LINH_PHU, 1.2, -8.3, (LTE1800,)),
    ("TQ_CHA_LinhPhu", MOBIFONE, LINH_PHU, 1.7, -1.3, (LTE1800,)),
    ("TQ_CHA_KimBinh", MOBIFONE, LINH_PHU, -6.6, -1.9, (LTE1800_OMNI,)),
)

# Tracking/location area codes per carrier (one TAC per district cluster).
_AREA_BASE = {VNPT: 12100, VIETTEL: 22300, MOBIFONE: 31500}
# Hidden per-site power offset (feeder losses, tilt, ageing) the CSV omits.
SITE_OFFSET_DB = 4.0
SECTOR_BEAMWIDTH_DEG = 65.0
OMNI_EIRP_DBM = 58.0
# UMTS carriers share the power amplifier with LTE: a little less EIRP.
UMTS_EIRP_BACKOFF_DB = 2.0


@dataclass(frozen=True)
class Network:
    """Sites and cells; ``cells`` holds the CSV columns plus UTM x/y and truth."""

    cells: pd.DataFrame


def build_network(rng: np.random.Generator) -> Network:
    """Place the demo's sites and expand them into cells (sectors and layers).

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    Network
        ``cells`` has one row per cell with the :data:`SITE_COLUMNS`, plus
        ``x``, ``y`` (UTM), ``radio_lc`` (lower-case radio) and
        ``offset_db`` (the hidden power offset, truth only).
    """
    rows = []
    giong = ban_giong_xy()
    for index, (name, mnc, commune, x_km, y_km, layers) in enumerate(_SITES):
        if x_km is None:
            distance_km, bearing = BAN_GIONG_SITES[name]
            x, y = point_from(giong, distance_km, bearing)
        else:
            x, y = to_utm(commune, x_km, float(y_km or 0.0))
        lon, lat = TO_WGS84.transform(x, y)
        site_id = f"{C.MCC_VIETNAM}-{mnc:02d}-{index + 1:03d}"
        height = float(rng.integers(25, 46))
        eirp = round(float(rng.uniform(60.0, 63.0)), 1)
        offset = float(rng.uniform(-SITE_OFFSET_DB, SITE_OFFSET_DB))
        rotation = float(rng.uniform(0.0, 120.0))
        area = _AREA_BASE[mnc] + (0 if commune is THUONG_NONG else 1)
        created = int(
            pd.Timestamp("2017-03-01", tz="UTC").timestamp() + rng.integers(0, 7 * 365) * 86400
        )
        for layer, (radio, freq, sectored) in enumerate(layers):
            azimuths = [(rotation + 120.0 * k) % 360.0 for k in range(3)] if sectored else [None]
            for sector, azimuth in enumerate(azimuths):
                if radio == "lte":
                    # E-UTRAN cell identity: 20-bit eNB id, 8-bit cell id.
                    cell = (1000 * mnc + index + 1) * 256 + 10 * layer + sector + 1
                    unit = (3 * (7 * index + mnc) + sector) % (C.PCI_MAX_LTE + 1)
                else:
                    # UTRAN cell id: 12-bit RNC id, 16-bit cell id.
                    cell = (100 + mnc) * 65536 + 10 * (index + 1) + sector + 1
                    unit = (8 * (index + 1) + sector) % (C.PSC_MAX + 1)
                cell_eirp = eirp if sectored else OMNI_EIRP_DBM
                if radio == "umts":
                    cell_eirp -= UMTS_EIRP_BACKOFF_DB
                rows.append(
                    {
                        "radio": radio.upper(),
                        "mcc": C.MCC_VIETNAM,
                        "net": mnc,
                        "area": area + (500 if radio == "umts" else 0),
                        "cell": cell,
                        "unit": unit,
                        "lon": round(lon, 6),
                        "lat": round(lat, 6),
                        "range": int(rng.integers(1500, 6000)),
                        "samples": int(rng.integers(3, 400)),
                        "changeable": 1,
                        "created": created,
                        "updated": created + int(rng.integers(200, 900)) * 86400,
                        "averageSignal": 0,
                        "site_id": site_id,
                        "name": name,
                        "height_m": height,
                        "azimuth_deg": round(azimuth, 1) if azimuth is not None else np.nan,
                        "beamwidth_deg": SECTOR_BEAMWIDTH_DEG if sectored else np.nan,
                        "eirp_dbm": round(cell_eirp, 1),
                        "freq_mhz": freq,
                        "x": x,
                        "y": y,
                        "radio_lc": radio,
                        "offset_db": offset,
                    }
                )
    return Network(cells=pd.DataFrame(rows))


def write_sites(network: Network, path: Path, *, absent: frozenset[str] = frozenset()) -> Path:
    """Write ``sites.csv``: OpenCelliD columns then lomsong's site columns.

    The cells of the site ids in ``absent`` are left out (a held-out site).
    """
    cells = network.cells
    table = cells.loc[~cells["site_id"].isin(absent), list(SITE_COLUMNS)].copy()
    for column in ("height_m", "azimuth_deg", "beamwidth_deg", "eirp_dbm", "freq_mhz"):
        table[column] = table[column].astype(float)
    table.to_csv(path, index=False, lineterminator="\n")
    return path
