"""The karst scenario generator: deterministic, readable by lomsong's readers, balanced."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.warp
import shapely
from pyproj import Geod

from geodata.readings import read_readings_csv, validate_readings
from geodata.sites import OPENCELLID_COLUMNS, read_sites
from geodata.villages import read_villages
from tests.scenarios import ScenarioFiles, write_scenario

SEEDS = (1, 2)
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module", params=SEEDS)
def scenario(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    seed = request.param
    return seed, write_scenario(tmp_path_factory.mktemp(f"karst-{seed}"), seed=seed)


def _truth(files: ScenarioFiles) -> pd.DataFrame:
    return pd.read_csv(files.truth, dtype={"village_id": str}).set_index("village_id")


def test_same_seed_same_files(tmp_path: Path) -> None:
    first = write_scenario(tmp_path / "a", seed=3)
    again = write_scenario(tmp_path / "b", seed=3)
    other = write_scenario(tmp_path / "c", seed=4)
    for name in ("villages", "sites", "readings", "truth", "households"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes(), name
    with rasterio.open(first.dem) as a, rasterio.open(again.dem) as b:
        assert np.array_equal(a.read(1), b.read(1))
    assert first.readings.read_bytes() != other.readings.read_bytes()


def test_dem_is_a_karst_geotiff(scenario: tuple[int, ScenarioFiles]) -> None:
    _, files = scenario
    with rasterio.open(files.dem) as dem:
        assert dem.crs.to_epsg() == 32648
        assert dem.res == (30.0, 30.0)
        assert dem.shape == (700, 700)
        z = dem.read(1)
        west, south, east, north = rasterio.warp.transform_bounds(dem.crs, "EPSG:4326", *dem.bounds)
    assert 104.5 < west < east < 106.0 and 21.5 < south < north < 23.0
    assert np.isfinite(z).all()
    # Flat floors and towers a few hundred metres above them.
    relief = np.percentile(z, 99) - np.percentile(z, 1)
    assert 200.0 < relief < 700.0
    assert (np.abs(np.diff(z, axis=1)) < 0.5).mean() > 0.03  # flat valley floors


def test_villages_read_with_the_project_reader(scenario: tuple[int, ScenarioFiles]) -> None:
    _, files = scenario
    villages = read_villages(files.villages)
    truth = _truth(files)
    assert villages.crs.to_epsg() == 4326
    assert sorted(villages["id"]) == sorted(truth.index)
    assert 17 <= len(villages) <= 25
    assert villages["households"].between(30, 200).all()
    assert (villages["households"].to_numpy() == truth.loc[villages["id"], "households"]).all()
    for name in villages["name"]:
        assert unicodedata.is_normalized("NFC", name) and not name.isascii()
    local = villages.loc[~truth.loc[villages["id"], "remote"].to_numpy()]
    areas = local.to_crs(32648).area / 1e6
    assert areas.between(0.5, 8.0).all()  # a few km²
    centres = shapely.points(local["centre_lon"], local["centre_lat"])
    assert shapely.contains(local.geometry.to_numpy(), centres).all()


def test_sites_read_with_the_project_reader(scenario: tuple[int, ScenarioFiles]) -> None:
    _, files = scenario
    sites = read_sites(files.sites)
    assert set(sites["carrier"]) == {"MobiFone", "VinaPhone", "Viettel"}
    assert set(sites["radio"]) == {"lte", "umts"}
    raw = pd.read_csv(files.sites)
    bare = raw.loc[raw["net"] == files.bare_carrier]
    extras = [c for c in raw.columns if c not in OPENCELLID_COLUMNS]
    assert bare[extras].isna().all().all()  # only OpenCelliD's columns
    assert bare["range"].between(300, 3000).all()
    detailed = raw.loc[raw["net"] != files.bare_carrier]
    assert detailed[["site_id", "height_m", "azimuth_deg", "eirp_dbm"]].notna().all().all()
    assert (detailed.groupby(["site_id", "radio"]).size() == 3).all()  # three sectors


def test_readings_validate_without_rejections(scenario: tuple[int, ScenarioFiles]) -> None:
    _, files = scenario
    result = validate_readings(read_readings_csv(files.readings))
    assert result.rejected == []
    readings = result.valid
    assert 3000 < len(readings) < 30000
    assert set(readings["mnc"]) == {1, 2, 4}
    assert readings["time"].dt.normalize().nunique() >= 3
    lte = readings.loc[(readings["radio"] == "lte") & ~readings["no_service"], "signal_dbm"]
    assert lte.between(-140, -44).all()
    # Half the phones log no-service, the others write nothing without service.
    logging = readings.groupby("device")["no_service"].any()
    devices = readings["device"].nunique()
    assert 0 < logging.sum() <= devices - devices // 2


def test_truth_is_balanced_and_honest(scenario: tuple[int, ScenarioFiles]) -> None:
    _, files = scenario
    truth = _truth(files)
    local = truth.loc[~truth["remote"]]
    assert local["verdict"].isin(["no_signal", "patchy"]).any()
    assert (local["verdict"] == "covered").any()
    assert local["borderline"].mean() < 0.3
    assert local.loc[~local["visited"], "readings"].eq(0).all()
    assert 2 <= (~local["visited"]).sum() <= 3
    remote = truth.loc[truth["remote"]]
    assert 2 <= len(remote) <= 3 and (remote["verdict"] == "no_signal").all()
    covered = local["verdict"] == "covered"
    assert (local.loc[covered, "share_unserved"] < 0.1).all()
    assert (local.loc[covered, "centre_availability"] >= 0.9).all()


def test_remote_villages_are_far_from_every_site_and_reading(
    scenario: tuple[int, ScenarioFiles],
) -> None:
    _, files = scenario
    truth = _truth(files)
    villages = read_villages(files.villages).set_index("id")
    sites = read_sites(files.sites)
    readings = read_readings_csv(files.readings)
    points = pd.concat([sites[["lon", "lat"]], readings[["lon", "lat"]]], ignore_index=True)
    for vid in truth.index[truth["remote"]]:
        lon, lat = villages.loc[vid, ["centre_lon", "centre_lat"]]
        _, _, metres = GEOD.inv(
            np.full(len(points), lon),
            np.full(len(points), lat),
            points["lon"].to_numpy(),
            points["lat"].to_numpy(),
        )
        assert metres.min() >= 40_000.0
