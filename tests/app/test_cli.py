"""`lomsong demo` and `lomsong analyze`, called as `app.cli.main([...])`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from app.cli import main

FORBIDDEN = ("cdn.jsdelivr", "cdnjs", "unpkg", "code.jquery", "bootstrapcdn", "fonts.googleapis")


@pytest.fixture
def inputs(tmp_path: Path, villages: gpd.GeoDataFrame) -> dict[str, Path]:
    """The tiny region as the files a user would bring."""
    paths = {
        "villages": tmp_path / "villages.geojson",
        "sites": tmp_path / "sites.csv",
        "readings": tmp_path / "readings.csv",
        "more_readings": tmp_path / "more.csv",
    }
    villages.drop(columns=["commune_id"]).to_file(paths["villages"], driver="GeoJSON")
    pd.DataFrame(
        {
            "radio": ["LTE"],
            "mcc": [452],
            "net": [4],
            "area": [101],
            "cell": [1001],
            "unit": [0],
            "lon": [105.495],
            "lat": [22.565],
            "range": [3000],
            "samples": [10],
            "changeable": [1],
            "created": [1700000000],
            "updated": [1700000000],
            "averageSignal": [0],
        }
    ).to_csv(paths["sites"], index=False)
    readings = pd.DataFrame(
        {
            "time": [f"2026-01-0{d}T0{h}:00:00Z" for d in (5, 6, 7) for h in (1, 2)],
            "lat": 22.565,
            "lon": 105.495,
            "accuracy_m": 10,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -90,
            "no_service": False,
            "device": "p1",
        }
    )
    readings.iloc[:4].to_csv(paths["readings"], index=False)
    bad = readings.iloc[4:].copy()
    bad.loc[bad.index[0], "lat"] = 95.0
    bad.to_csv(paths["more_readings"], index=False)
    return paths


def test_analyze_writes_results_and_an_offline_map(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"

    status = main(
        [
            "analyze",
            "--villages",
            str(inputs["villages"]),
            "--sites",
            str(inputs["sites"]),
            "--readings",
            str(inputs["readings"]),
            "--readings",
            str(inputs["more_readings"]),
            "--out",
            str(out),
        ]
    )

    assert status == 0
    villages = json.loads((out / "villages.geojson").read_text(encoding="utf-8"))
    assert len(villages["features"]) == 3
    props = {f["properties"]["id"]: f["properties"] for f in villages["features"]}
    for key in (
        "id",
        "name",
        "commune",
        "verdict",
        "households",
        "households_without_signal",
        "best_carrier",
        "carriers",
    ):
        assert key in props["ban-giong"]
    assert props["ban-giong"]["name"] == "Bản Giòng"
    assert props["ban-giong"]["verdict"] in {"no_signal", "patchy", "covered", "unknown"}
    zones = json.loads((out / "dead_zones.geojson").read_text(encoding="utf-8"))
    assert zones["type"] == "FeatureCollection"
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "Trắng sóng (không có sóng)" in page
    assert re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page) == []
    assert not any(host in page for host in FORBIDDEN)
    printed = capsys.readouterr().out
    assert "readings: 5 valid, 1 rejected" in printed
    assert "lat: outside -90..90" in printed
    assert re.search(r"total\s+3\s+199", printed)


def test_analyze_reports_bad_input_without_a_traceback(
    inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text("not geojson", encoding="utf-8")

    status = main(
        [
            "analyze",
            "--villages",
            str(broken),
            "--sites",
            str(inputs["sites"]),
            "--readings",
            str(inputs["readings"]),
            "--out",
            str(tmp_path / "out"),
        ]
    )

    assert status == 1
    assert capsys.readouterr().err.startswith(f"lomsong: error: {broken}: not a readable")


@pytest.mark.slow
def test_demo_writes_the_region(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"

    assert main(["demo", "--out", str(out), "--seed", "7"]) == 0

    for name in (
        "communes.geojson",
        "villages.geojson",
        "sites.csv",
        "readings.csv",
        "dem.tif",
        "population.tif",
    ):
        assert (out / name).is_file()
    villages = gpd.read_file(out / "villages.geojson")
    assert (villages["commune_id"] == "thuong-nong").sum() == 12
    assert "villages" in capsys.readouterr().out
