"""Site files: a plain OpenCelliD export is valid input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geodata import constants as C
from geodata.errors import InvalidInputError, MissingColumnError
from geodata.formats import read_sites as read_site_file
from geodata.sites import (
    SITE_COLUMNS,
    hypothetical_cells,
    normalise_sites,
    read_sites,
    validate_sites,
)

OPENCELLID = (
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\r\n"
    "LTE,452,2,1201,25601,,105.4901,22.5702,2500,12,1,1700000000,1710000000,\r\n"
    "UMTS,452,4,3101,77,,105.5,22.58,,3,1,1700000000,1710000000,0\r\n"
)


def test_plain_opencellid_gets_documented_defaults(tmp_path: Path) -> None:
    path = tmp_path / "cell_towers.csv"
    path.write_bytes(OPENCELLID.encode())
    sites = read_sites(path)
    assert sites["carrier"].tolist() == ["VinaPhone", "Viettel"]
    assert sites["radio"].tolist() == ["lte", "umts"]
    assert sites["eirp_dbm"].tolist() == [C.DEFAULT_EIRP_DBM["lte"], C.DEFAULT_EIRP_DBM["umts"]]
    assert sites["freq_mhz"].tolist() == [1800.0, 2100.0]
    assert sites["height_m"].tolist() == [C.DEFAULT_SITE_HEIGHT_M] * 2
    assert sites["azimuth_deg"].isna().all()  # omni
    assert sites["range_m"].tolist() == [2500.0, C.MAX_CELL_RANGE_M]
    assert sites["created"].dt.year.tolist() == [2023, 2023]
    assert sites["site_id"].nunique() == 2


def test_a_bad_row_is_refused_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "cell_towers.csv"
    path.write_text(OPENCELLID.replace("UMTS", "WIMAX"))
    result = read_site_file(path)
    assert result.valid["radio"].tolist() == ["lte"]
    assert [(r.index, r.field, r.reason) for r in result.rejected] == [
        (3, "radio", "unknown radio, expected GSM, UMTS, LTE or NR")
    ]
    assert result.rejected_by_reason == {"radio: unknown radio, expected GSM, UMTS, LTE or NR": 1}
    assert read_sites(path)["radio"].tolist() == ["lte"]  # the thin wrapper


def test_nothing_valid_left_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cell_towers.csv"
    path.write_text(OPENCELLID.replace("LTE", "WIMAX").replace("UMTS", "CDMA"))
    with pytest.raises(
        InvalidInputError,
        match=r"no valid sites \(2 refused: radio: unknown radio, expected GSM, UMTS, LTE or NR"
        r" ×1; radio: CDMA is not analysed; expected GSM, UMTS, LTE or NR ×1\)",
    ):
        read_sites(path)


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "cell_towers.csv"
    path.write_text("radio,mcc,lon,lat\nLTE,452,105,22\n")
    with pytest.raises(
        MissingColumnError, match=r"sites: the header line lacks required column\(s\) net"
    ):
        read_sites(path)


def test_huge_numbers_and_lone_surrogates_are_rejected_per_row() -> None:
    rows = pd.DataFrame(
        {
            "radio": ["LTE"] * 4,
            "mcc": ["452"] * 4,
            "net": ["4", "4", "9" * 400, "4"],
            "lon": ["105.49"] * 4,
            "lat": ["22.56"] * 4,
            "cell": ["1", "9" * 400, "2", "3"],
            "name": ["a", "b", "c", "\udc80"],
        },
        index=[2, 3, 4, 5],
        dtype=object,
    )

    result = validate_sites(rows)

    assert result.valid["cell_id"].tolist() == [1]
    assert [r.as_dict() for r in result.rejected] == [
        {"index": 3, "field": "cell", "reason": "cell: not a finite number"},
        {"index": 4, "field": "net", "reason": "net: not a finite number"},
        {"index": 5, "field": "name", "reason": "name: not valid Unicode text (a lone surrogate)"},
    ]


def _two_sectored_sites() -> pd.DataFrame:
    rows = []
    for site, eirp in (("v1", 61.0), ("v2", 63.0)):
        for sector in range(2):
            rows.append(
                {
                    "radio": "LTE",
                    "mcc": 452,
                    "net": 4,
                    "lon": 105.5 + 0.01 * len(rows),
                    "lat": 22.5,
                    "site_id": site,
                    "azimuth_deg": 180.0 * sector,
                    "eirp_dbm": eirp,
                    "freq_mhz": 900.0,
                    "beamwidth_deg": 90.0,
                }
            )
    return normalise_sites(pd.DataFrame(rows))


def test_hypothetical_cells_take_the_carriers_usual_antennas() -> None:
    sites = _two_sectored_sites()
    candidates = pd.DataFrame(
        {
            "candidate_id": ["c-viettel", "c-mobifone"],
            "lon": [105.6, 105.7],
            "lat": [22.6, 22.7],
            "height_m": [42.0, np.nan],
            "carrier": ["viettel", "MobiFone"],
            "radio": [None, "umts"],
        }
    )
    when = pd.Timestamp("2026-12-01T00:00:00Z")
    cells = hypothetical_cells(candidates, sites, created=when)
    viettel = cells.loc[cells["site_id"] == "c-viettel"]
    # Viettel's own sites: 2 sectors, EIRP median 62, 900 MHz, 90° beams, LTE.
    assert viettel["azimuth_deg"].tolist() == [0.0, 180.0]
    assert viettel["eirp_dbm"].tolist() == [62.0, 62.0]
    assert set(viettel["freq_mhz"]) == {900.0} and set(viettel["beamwidth_deg"]) == {90.0}
    assert set(viettel["radio"]) == {"lte"} and set(viettel["height_m"]) == {42.0}
    assert set(viettel["carrier"]) == {"Viettel"} and set(viettel["mnc"]) == {4}
    # MobiFone has no cells here: the documented defaults, three sectors.
    mobifone = cells.loc[cells["site_id"] == "c-mobifone"]
    assert mobifone["azimuth_deg"].tolist() == [0.0, 120.0, 240.0]
    assert set(mobifone["eirp_dbm"]) == {C.DEFAULT_EIRP_DBM["umts"]}
    assert set(mobifone["height_m"]) == {C.DEFAULT_SITE_HEIGHT_M}
    assert set(cells["created"]) == {when}
    assert list(cells.columns) == list(SITE_COLUMNS)


def test_hypothetical_cells_refuse_an_unknown_carrier() -> None:
    candidates = pd.DataFrame(
        {"candidate_id": ["x"], "lon": [105.6], "lat": [22.6], "carrier": ["Nobody"]}
    )
    with pytest.raises(ValueError, match="unknown carrier 'Nobody'"):
        hypothetical_cells(candidates, _two_sectored_sites(), created=pd.Timestamp.now())
