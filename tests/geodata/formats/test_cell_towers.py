"""OpenCelliD cell_towers.csv for sites: CRLF line endings and empty fields."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geodata.sites import read_sites

EXPORT = (
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\r\n"
    "LTE,452,4,3101,25601,,105.4901,22.5702,,,1,1700000000,,\r\n"
    "GSM,452,2,,,,105.5,22.58,1000,3,,,,0\r\n"
    "NR,452,4,3101,77,,105.51,22.59,,,,,,\r\n"
)


def test_crlf_export_with_empty_fields(tmp_path: Path) -> None:
    path = tmp_path / "cell_towers.csv"
    path.write_bytes(EXPORT.encode())
    sites = read_sites(path)
    assert sites["radio"].tolist() == ["lte", "gsm", "nr"]
    assert sites["carrier"].tolist() == ["Viettel", "VinaPhone", "Viettel"]
    assert sites["cell_id"].isna().tolist() == [False, True, False]
    assert sites["area_code"].isna().tolist() == [False, True, False]
    assert sites["range_m"].tolist()[1] == 1000.0
    assert sites["created"].isna().tolist() == [False, True, True]
    assert not any(str(v).endswith("\r") for v in sites.astype(str).to_numpy().ravel())
    assert isinstance(sites["created"].iloc[0], pd.Timestamp)
