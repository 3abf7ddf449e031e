"""``lomsong region load`` end to end on real commune boundaries, then the service serves them.

The communes are GADM 4.1's real Tuyên Quang boundaries (``../shared/realdata``,
not redistributable: read in place, skipped when absent), made into what a
planner holds after the 2025 reform: Nà Hang's communes with Thượng Giáp merged
into Thượng Nông (its former name kept), written as a GeoPackage in UTM. The
villages are points generated here inside them, in a ``;`` CSV with Vietnamese
column names and numbers; the DEM is a GeoTIFF written here; the sites a CSV.
None of it comes from the demo loader.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from fastapi.testclient import TestClient
from rasterio.transform import from_origin

from app.cli import main
from app.core.config import Settings
from app.main import create_app
from app.store import Store

ROOT = Path(__file__).resolve().parents[2]
COMMUNES = ROOT.parent / "shared" / "realdata" / "tuyen_quang_communes.geojson"
SALT = "region-test-salt"

pytestmark = pytest.mark.skipif(not COMMUNES.is_file(), reason="../shared/realdata is absent")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "var"
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOMSONG_DEVICE_SALT", SALT)
    return data_dir


def merged_na_hang(folder: Path) -> tuple[Path, shapely.Geometry]:
    """Nà Hang's GADM communes, Thượng Giáp merged into Thượng Nông, in EPSG:32648."""
    gadm = gpd.read_file(COMMUNES)
    na_hang = gadm.loc[gadm["NAME_2"] == "NàHang"].copy()
    giap = na_hang["NAME_3"] == "ThượngGiáp"
    nong = na_hang["NAME_3"] == "ThượngNông"
    merged = shapely.union_all([*na_hang.loc[giap | nong].geometry]).buffer(0)
    na_hang.loc[nong, "geometry"] = gpd.GeoSeries([merged], crs=gadm.crs).values
    na_hang.loc[nong, "TEN_CU"] = "Thượng Giáp"
    na_hang = na_hang.loc[~giap, ["NAME_1", "NAME_2", "NAME_3", "TYPE_3", "TEN_CU", "geometry"]]
    path = folder / "xa_na_hang.gpkg"
    na_hang.to_crs("EPSG:32648").to_file(path)
    return path, merged


def village_points(folder: Path, communes: Path, thuong_nong: shapely.Geometry) -> Path:
    """Points inside the communes, as a ';' CSV with Vietnamese names and numbers."""
    rng = np.random.default_rng(12)
    areas = gpd.read_file(communes).to_crs("EPSG:4326")
    rows = []
    points = thuong_nong.buffer(-0.005).representative_point()
    centre = np.array([points.x, points.y])
    for n in range(6):  # around Thượng Nông's centre, inside it
        for _ in range(100):
            lon, lat = centre + rng.uniform(-0.03, 0.03, 2)
            if thuong_nong.buffer(-0.002).contains(shapely.Point(lon, lat)):
                break
        households = "1.234" if n == 0 else str(int(rng.integers(20, 200)))
        rows.append((f"tn-{n}", f"Thôn {n + 1}", households, f"{lon:.5f}".replace(".", ","), lat))
    for n, area in enumerate(areas.geometry.iloc[:4]):
        inside = area.representative_point()
        rows.append((f"x-{n}", f"Bản {n}", "50", f"{inside.x:.5f}".replace(".", ","), inside.y))
    rows.append(("far", "Bản Xa", "10", "106,9", 10.8))  # Ho Chi Minh City: in no commune
    table = pd.DataFrame(rows, columns=["MA_THON", "TEN_THON", "SO_HO", "KINH_DO", "VI_DO"])
    table["VI_DO"] = [f"{v:.5f}".replace(".", ",") for v in table["VI_DO"]]
    path = folder / "thon.csv"
    table.to_csv(path, sep=";", index=False)
    return path


def dem(folder: Path, bounds: tuple[float, float, float, float]) -> Path:
    """A smooth hill over the communes, 0.002° pixels, as a plain GeoTIFF."""
    west, south, east, north = bounds
    pixel = 0.002
    width, height = int((east - west) / pixel) + 10, int((north - south) / pixel) + 10
    rows, cols = np.indices((height, width))
    values = 300 + 600 * np.exp(-(((rows - height / 2) ** 2 + (cols - width / 2) ** 2) / 4e3))
    path = folder / "dem.tif"
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_origin(west - 5 * pixel, north + 5 * pixel, pixel, pixel),
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **profile) as out:
        out.write(values.astype("float32"), 1)
    return path


def sites(folder: Path, lon: float, lat: float) -> Path:
    path = folder / "sites.csv"
    pd.DataFrame(
        {
            "radio": ["LTE", "GSM"],
            "mcc": [452, 452],
            "net": [4, 2],
            "area": [101, 7],
            "cell": [1001, 22],
            "unit": [0, 0],
            "lon": [lon, lon + 0.05],
            "lat": [lat, lat - 0.04],
            "range": [3000, 5000],
            "samples": [10, 3],
            "changeable": [1, 1],
            "created": [1700000000] * 2,
            "updated": [1700000000] * 2,
            "averageSignal": [0, 0],
        }
    ).to_csv(path, index=False)
    return path


@pytest.fixture
def region_files(tmp_path: Path) -> dict[str, Path]:
    communes, thuong_nong = merged_na_hang(tmp_path)
    centre = thuong_nong.representative_point()
    bounds = tuple(gpd.read_file(communes).to_crs("EPSG:4326").total_bounds)
    return {
        "communes": communes,
        "villages": village_points(tmp_path, communes, thuong_nong),
        "sites": sites(tmp_path, centre.x, centre.y),
        "dem": dem(tmp_path, bounds),  # type: ignore[arg-type]
    }


def load_args(files: dict[str, Path]) -> list[str]:
    return [
        "region",
        "load",
        "--communes",
        str(files["communes"]),
        "--communes-fields",
        "gadm",
        "--commune-aliases-field",
        "TEN_CU",
        "--villages",
        str(files["villages"]),
        "--id-field",
        "MA_THON",
        "--name-field",
        "TEN_THON",
        "--households-field",
        "SO_HO",
        "--lon-field",
        "KINH_DO",
        "--lat-field",
        "VI_DO",
        "--sites",
        str(files["sites"]),
        "--dem",
        str(files["dem"]),
    ]


def test_region_load_then_the_service_serves_thuong_nong(
    env: Path, region_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(load_args(region_files)) == 0
    out = capsys.readouterr().out
    assert "communes: 11 accepted, 0 rejected, from EPSG:32648" in out
    assert "villages: 10 accepted, 1 rejected (10 drawn as Voronoi cells)" in out
    assert (
        "villages rejected      1  commune: required field is missing, and the village lies"
        " in none of the communes" in out
    )
    assert "sites: 2 accepted, 0 rejected" in out
    assert "analysed: 10 villages judged" in out
    # Not a terminal: no bar is drawn, and the one summary line ends the output.
    assert out.splitlines()[-1].startswith("region load: region loaded into ")
    assert "\x1b[" not in out

    # The DEM is a COG in the data dir, and the store points at it.
    copied = list((env / "region").glob("dem-*.tif"))
    assert len(copied) == 1
    gdalinfo = subprocess.run(["gdalinfo", str(copied[0])], capture_output=True, text=True)
    if gdalinfo.returncode == 0:
        assert "LAYOUT=COG" in gdalinfo.stdout
    store = Store(env / "lomsong.sqlite3", device_salt=SALT)
    try:
        assert store.rasters().dem == copied[0]
        assert store.demo_fingerprint() is None
        communes = store.communes().set_index("id")
        assert len(communes) == 11
        tn = communes.loc["thuong-nong"]
        assert (tn["name"], tn["unit_type"], tn["aliases"], tn["province"], tn["district"]) == (
            "Thượng Nông",
            "xã",
            ["Thượng Giáp"],
            "Tuyên Quang",
            "Nà Hang",
        )
        assert set(communes["unit_type"]) == {"xã", "thị trấn"}
        villages = store.villages().set_index("id")
        assert villages.loc["tn-0", "households"] == 1234
        assert (villages.loc[[f"tn-{n}" for n in range(6)], "commune_id"] == "thuong-nong").all()
        assert set(villages["boundary"]) == {"voronoi"}
        assert villages.loc["tn-0", "verdict"] in {"covered", "patchy", "no_signal", "unknown"}
        # Thượng Nông's six cells tile the merged commune.
        cells = shapely.union_all(villages.loc[villages["commune_id"] == "thuong-nong"].geometry)
        outline = communes.loc["thuong-nong", "geometry"]
        assert cells.symmetric_difference(outline).area < 1e-4 * outline.area
        # The former name finds the merged commune, without diacritics too.
        assert store.find_communes("thuong giap")["id"].tolist() == ["thuong-nong"]
    finally:
        store.close()

    assert main(["region", "show"]) == 0
    shown = capsys.readouterr().out
    assert "provinces  Tuyên Quang" in shown
    assert "communes        11  lon 105." in shown
    assert "villages        10" in shown and "(10 as Voronoi cells)" in shown
    assert "sites            2" in shown
    assert "layout COG" in shown and "EPSG:4326" in shown

    settings = Settings(data_dir=env, device_salt=SALT)
    with TestClient(create_app(settings)) as client:
        page = client.get("/maps/communes/thuong-nong")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "Thượng Nông" in page.text
        assert "Thôn 1" in page.text
        assert "ước tính (ô Voronoi quanh điểm thôn)" in page.text  # the popups say so
        english = client.get("/maps/communes/thuong-nong?lang=en")
        assert "approximate (Voronoi cell around the village point)" in english.text
        assert client.get("/maps/communes/thuong-giap").status_code == 404
        town = client.get("/maps/communes/na-hang")  # a thị trấn, titled as the data says
        assert town.status_code == 200
        assert "Thị trấn Nà Hang" in town.text
        assert "Xã Thượng Nông" in page.text
        village = client.get("/api/v1/villages/tn-0")
        assert village.status_code == 200
        assert village.json()["properties"]["households"] == 1234
        assert village.json()["properties"]["boundary"] == "voronoi"
        assert village.json()["properties"]["district"] == "Nà Hang"
        index = client.get("/maps")
        assert index.status_code == 200
        assert "thuong giap" in index.text  # the former name is in the search


def test_a_villages_file_with_swapped_axes_is_refused_and_nothing_stored(
    env: Path, region_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    table = pd.read_csv(region_files["villages"], sep=";", dtype=str)
    table = table.rename(columns={"KINH_DO": "VI_DO", "VI_DO": "KINH_DO"})
    table.loc[table["MA_THON"] != "far"].to_csv(region_files["villages"], sep=";", index=False)

    assert main(load_args(region_files)) == 1
    error = capsys.readouterr().err
    assert "do not overlap the communes" in error
    assert "lon and lat look swapped" in error
    with sqlite3.connect(env / "lomsong.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM communes").fetchone() == (0,)
    assert not (env / "region").exists()


def test_a_dem_of_elsewhere_is_refused_naming_it(
    env: Path, region_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "alps").mkdir()
    region_files["dem"] = dem(tmp_path / "alps", (6.0, 46.0, 6.1, 46.1))

    assert main(load_args(region_files)) == 1
    error = capsys.readouterr().err
    assert "lomsong: error: dem " in error and "do not overlap the communes" in error
