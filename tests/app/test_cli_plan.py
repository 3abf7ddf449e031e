"""`lomsong plan` on the demo's Thượng Nông (no population raster): four files that agree.

The demo region is written here (seed 7) and cut to one commune; the plan
gets what a planner has: villages, sites, readings, the DEM and a list of
their own candidates. Nothing the simulator knows reaches it.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from app.cli import DEFAULT_PLAN_K, main
from geodata.demo import write_demo
from geodata.formats.candidates import read_candidates

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Inputs:
    villages: Path
    sites: Path
    readings: Path
    dem: Path
    candidates: Path
    centre: tuple[float, float]  # Bản Giòng's centre (lon, lat)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    root = tmp_path_factory.mktemp("plan-inputs")
    demo = write_demo(root / "demo", seed=7)
    villages = gpd.read_file(demo.villages)
    villages = villages.loc[villages["commune_id"] == "thuong-nong"]
    villages.to_file(root / "villages.geojson", driver="GeoJSON")
    west, south, east, north = villages.total_bounds
    readings = pd.read_csv(demo.readings, dtype=str)
    lon, lat = readings["lon"].astype(float), readings["lat"].astype(float)
    near = lon.between(west - 0.02, east + 0.02) & lat.between(south - 0.02, north + 0.02)
    readings.loc[near].to_csv(root / "readings.csv", index=False)
    ban_giong = villages.loc[villages["name"] == "Bản Giòng"].iloc[0]
    centre = (float(ban_giong["centre_lon"]), float(ban_giong["centre_lat"]))
    # The planner's own proposal: a Viettel mast at Bản Giòng's cultural house, cheap.
    (root / "candidates.csv").write_text(
        "id;name;lon;lat;height;carrier;radio;cost\n"
        f"nha-van-hoa;Nhà văn hóa Bản Giòng;{centre[0]};{centre[1]};35;Viettel;4G;200000000\n"
        "bad;x;abc;22.5;30;Viettel;lte;1\n",
        encoding="utf-8",
    )
    return Inputs(
        root / "villages.geojson",
        Path(demo.sites),
        root / "readings.csv",
        Path(demo.dem),
        root / "candidates.csv",
        centre,
    )


def _args(inputs: Inputs, out: Path, *extra: str) -> list[str]:
    return [
        "plan",
        "--villages",
        str(inputs.villages),
        "--sites",
        str(inputs.sites),
        "--readings",
        str(inputs.readings),
        "--dem",
        str(inputs.dem),
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def planned(inputs: Inputs, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("plan-out")
    printed = io.StringIO()  # capsys is per test; this runs once for the module
    with contextlib.redirect_stdout(printed):
        status = main(_args(inputs, out, "--candidates", str(inputs.candidates)))
    assert status == 0
    return out, printed.getvalue()


def test_plan_writes_the_four_files_and_says_what_the_plan_does(planned: tuple[Path, str]) -> None:
    out, printed = planned
    assert sorted(p.name for p in out.iterdir()) == [
        "candidates.geojson",
        "plan.csv",
        "plan.geojson",
        "plan.html",
    ]
    assert "candidates: 1 accepted, 1 rejected" in printed
    assert "lon: not a number ('abc')" in printed
    assert re.search(
        rf"plan \(k = {DEFAULT_PLAN_K}\): {DEFAULT_PLAN_K} sites serve [\d,]+ more households"
        r" for [\d,]+ VND",
        printed,
    )
    assert re.search(r"villages lifted: \d+ out of no signal, \d+ out of patchy signal", printed)
    assert "method: Lazy greedy maximum coverage" in printed and "1 - 1/e" in printed


def test_gdal_opens_both_geojsons(planned: tuple[Path, str]) -> None:
    out, _ = planned
    if shutil.which("ogrinfo") is None:
        pytest.fail("ogrinfo is missing: apt-get install -y gdal-bin (`make test` does)")
    every = gpd.read_file(out / "candidates.geojson")
    for name, count in (("candidates.geojson", len(every)), ("plan.geojson", DEFAULT_PLAN_K)):
        info = subprocess.run(
            ["ogrinfo", "-so", "-al", str(out / name)], capture_output=True, text=True, check=True
        ).stdout
        assert f"Feature Count: {count}" in info
        assert 'ID["EPSG",4326]' in info
    assert (every.geom_type == "Point").all()
    # Every kind of candidate is weighed, the planner's own among them (the bad row is not).
    assert {"colocation", "new_site", "uploaded"} <= set(every["kind"])
    uploaded = every.loc[every["kind"] == "uploaded"]
    assert uploaded["candidate_id"].tolist() == ["nha-van-hoa"]
    assert (every["households_served"] >= 0).all()


def test_the_csv_rows_are_the_plan_geojson_features(planned: tuple[Path, str]) -> None:
    out, _ = planned
    rows = pd.read_csv(out / "plan.csv", encoding="utf-8-sig")
    plan = gpd.read_file(out / "plan.geojson")
    document = json.loads((out / "plan.geojson").read_bytes())
    assert rows["rank"].tolist() == plan["rank"].tolist() == list(range(1, DEFAULT_PLAN_K + 1))
    assert rows["id"].tolist() == plan["candidate_id"].tolist()
    for column in ("kind", "carrier", "radio"):
        assert rows[column].tolist() == plan[column].tolist()
    for column in ("lon", "lat", "cost", "marginal_households", "cumulative_households"):
        assert rows[column].tolist() == pytest.approx(plan[column].tolist())
    assert rows["height"].tolist() == pytest.approx(plan["height_m"].tolist())
    assert rows["cumulative_cost"].tolist() == pytest.approx(rows["cost"].cumsum().tolist())
    # Overlaps count once: what each adds never grows, and the sum is the plan's total.
    added = rows["marginal_households"].to_numpy()
    assert (added[1:] <= added[:-1] + 0.1).all()
    assert document["households_served"] == pytest.approx(added.sum(), abs=0.5)
    assert document["k"] == DEFAULT_PLAN_K and document["budget"] is None
    # Each chosen site's footprint is drawn: a polygon near its mast.
    assert plan.geometry.notna().all()
    masts = gpd.GeoSeries(gpd.points_from_xy(plan["lon"], plan["lat"]), crs=4326)
    assert (plan.to_crs(32648).distance(masts.to_crs(32648), align=False) < 15_000).all()
    # plan.csv is a candidate file: a planner can edit it and weigh it again.
    again = read_candidates(out / "plan.csv")
    assert again.rejected == [] and again.valid["candidate_id"].tolist() == rows["id"].tolist()


def test_plan_html_is_offline_and_draws_the_footprints(planned: tuple[Path, str]) -> None:
    page = (Path(planned[0]) / "plan.html").read_text(encoding="utf-8")
    assert "<title>Kế hoạch phủ sóng — Xã Thượng Nông</title>" in page
    assert '"className":"lomsong-footprint"' in page
    assert re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page) == []


def test_a_budget_plan_for_one_carrier_stays_within_it(inputs: Inputs, tmp_path: Path) -> None:
    out = tmp_path / "budget"
    status = main(_args(inputs, out, "--budget", "2000000000", "--carrier", "viettel"))
    assert status == 0
    rows = pd.read_csv(out / "plan.csv", encoding="utf-8-sig")
    assert len(rows) >= 1 and rows["cumulative_cost"].iloc[-1] <= 2e9
    assert set(rows["carrier"]) == {"Viettel"}
    document = json.loads((out / "plan.geojson").read_bytes())
    assert document["budget"] == 2e9 and document["k"] is None
    assert document["carrier"] == "Viettel"
    assert "Khuller" in document["method"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--k", "0"], "argument --k: '0' must be at least 1"),
        (["--k", "two"], "argument --k: 'two' is not a whole number"),
        (["--budget", "-5"], "argument --budget: '-5' must be a finite number above 0"),
        (["--budget", "inf"], "argument --budget: 'inf' must be a finite number above 0"),
        (["--k", "3", "--budget", "1e9"], "argument --budget: not allowed with argument --k"),
        (["--carrier", "Beeline"], "argument --carrier: unknown carrier 'Beeline'"),
        (["--spacing-m", "0"], "argument --spacing-m: '0' must be a finite number above 0"),
    ],
)
def test_bad_values_are_clear_errors_with_status_2(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = ["--villages", "v", "--sites", "s", "--readings", "r", "--dem", "d"]
    with pytest.raises(SystemExit) as stopped:
        main(["plan", *paths, "--out", str(tmp_path / "x"), *extra])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_candidate_file_with_nothing_valid_stops_the_plan(
    inputs: Inputs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat,height,carrier,radio,cost\n105.5,22.5,30,Beeline,lte,1\n")
    status = main(_args(inputs, tmp_path / "out", "--candidates", str(bad)))
    assert status == 1
    err = capsys.readouterr().err
    assert f"lomsong: error: {bad}: no valid candidates (1 refused: carrier: unknown carrier" in err
    assert not (tmp_path / "out").exists()
