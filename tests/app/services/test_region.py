"""A region load through the service and the admin endpoints, on a synthetic region.

Two square communes (one with a former name) in UTM, village points, one
site and a DEM, all written here; the real-boundary end-to-end test is
tests/app/test_region_cli.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from fastapi.testclient import TestClient
from rasterio.transform import from_origin

from app.core.config import Settings
from app.services.keys import create_key
from app.services.region import RegionFiles, load_region, region_summary
from app.store import Store
from geodata.errors import InvalidInputError

WGS84 = "EPSG:4326"


def write_region(folder: Path, *, villages_crs: str = WGS84) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    communes = gpd.GeoDataFrame(
        {
            "ten_xa": ["Thượng Nông", "Yên Hoa"],
            "loai": ["Xã", "Thị trấn"],
            "tinh": ["Tuyên Quang"] * 2,
            "ten_cu": ["Thượng Giáp", None],
        },
        geometry=[
            shapely.box(105.45, 22.50, 105.50, 22.55),
            shapely.box(105.50, 22.50, 105.55, 22.55),
        ],
        crs=WGS84,
    ).to_crs("EPSG:32648")
    communes.to_file(folder / "communes.gpkg")
    villages = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["Bản A", "Bản B", "Bản C"],
            "households": ["1.234", "40", "7"],
        },
        geometry=[
            shapely.Point(105.46, 22.52),
            shapely.Point(105.49, 22.53),
            shapely.Point(105.52, 22.52),
        ],
        crs=WGS84,
    ).to_crs(villages_crs)
    if villages_crs != WGS84:  # a file whose CRS is lost: projected metres read as degrees
        villages = villages.set_crs(WGS84, allow_override=True)
    villages.to_file(folder / "villages.geojson")
    pd.DataFrame(
        {
            "radio": ["LTE"],
            "mcc": [452],
            "net": [4],
            "area": [101],
            "cell": [1001],
            "unit": [0],
            "lon": [105.49],
            "lat": [22.525],
            "range": [3000],
            "samples": [10],
            "changeable": [1],
            "created": [1700000000],
            "updated": [1700000000],
            "averageSignal": [0],
        }
    ).to_csv(folder / "sites.csv", index=False)
    with rasterio.open(
        folder / "dem.tif",
        "w",
        driver="GTiff",
        width=80,
        height=60,
        count=1,
        dtype="float32",
        crs=WGS84,
        transform=from_origin(105.44, 22.56, 0.0015, 0.0015),
        nodata=-9999.0,
    ) as out:
        out.write(np.full((1, 60, 80), 400.0, "float32"))
    return {
        "communes": folder / "communes.gpkg",
        "villages": folder / "villages.geojson",
        "sites": folder / "sites.csv",
        "dem": folder / "dem.tif",
    }


def files_of(paths: dict[str, Path]) -> RegionFiles:
    from geodata.villages import FieldMap

    return RegionFiles(
        communes=paths["communes"],
        villages=paths["villages"],
        sites=paths["sites"],
        dem=paths["dem"],
        communes_fields=FieldMap.parse(
            {"name": "ten_xa", "unit_type": "loai", "province": "tinh", "aliases": "ten_cu"}
        ),
    )


def test_load_region_stores_analyses_and_a_reload_keeps_one_dem(tmp_path: Path) -> None:
    store = Store(tmp_path / "var" / "lomsong.sqlite3", device_salt="salt")
    try:
        steps: list[str] = []
        report = load_region(
            store,
            files_of(write_region(tmp_path / "in")),
            data_dir=tmp_path / "var",
            on_step=steps.append,
        )
        answer = report.as_dict()
        assert answer["inputs"]["communes"]["accepted"] == 2
        assert answer["inputs"]["communes"]["crs"] == "EPSG:32648"
        assert answer["inputs"]["villages"]["accepted"] == 3
        assert answer["inputs"]["villages"]["voronoi"] == 3
        assert answer["rasters"]["dem"]["layout"] == "COG"
        assert sum(answer["verdicts"].values()) == 3
        assert steps[0] == "communes: 2 accepted, 0 rejected, from EPSG:32648"
        summary = region_summary(store)
        assert (summary["communes"], summary["villages"], summary["sites"]) == (2, 3, 1)
        assert summary["unit_types"] == {"thị trấn": 1, "xã": 1}
        assert summary["rasters"]["dem"]["crs"] == "EPSG:4326"
        assert summary["rasters"]["population"] is None
        assert store.villages().set_index("id").loc["a", "households"] == 1234

        load_region(store, files_of(write_region(tmp_path / "in")), data_dir=tmp_path / "var")
        dems = list((tmp_path / "var" / "region").glob("*.tif"))
        assert dems == [store.rasters().dem]
    finally:
        store.close()


def test_a_villages_file_in_a_lost_crs_is_refused_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "var" / "lomsong.sqlite3", device_salt="salt")
    try:
        paths = write_region(tmp_path / "in", villages_crs="EPSG:32648")
        with pytest.raises(InvalidInputError) as caught:
            load_region(store, files_of(paths), data_dir=tmp_path / "var")
        assert "the coordinates are not degrees: the file's CRS is missing or wrong" in str(
            caught.value
        )
        assert store.counts()["communes"] == 0
    finally:
        store.close()


# --- the admin endpoints ---------------------------------------------------------
def multipart(paths: dict[str, Path], **fields: str) -> tuple[dict[str, object], dict[str, str]]:
    files = {name: (path.name, path.read_bytes()) for name, path in paths.items()}
    return files, fields


COMMUNE_FIELDS = json.dumps(
    {"name": "ten_xa", "unit_type": "loai", "province": "tinh", "aliases": "ten_cu"}
)


def test_admins_load_a_region_over_http(
    client: TestClient, store: Store, settings: Settings, tmp_path: Path
) -> None:
    admin = create_key(store, "admin")[1]
    planner = create_key(store, "planner")[1]
    files, data = multipart(write_region(tmp_path / "in"), communes_fields=COMMUNE_FIELDS)

    refused = client.post("/api/v1/region", files=files, data=data, headers={"X-API-Key": planner})
    assert refused.status_code == 403

    response = client.post("/api/v1/region", files=files, data=data, headers={"X-API-Key": admin})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["inputs"]["villages"] | {"bounds": None} == {
        "accepted": 3,
        "voronoi": 3,
        "rejected": [],
        "rejected_total": 0,
        "rejected_by_reason": {},
        "crs": None,
        "bounds": None,
    }
    assert body["rasters"]["dem"]["layout"] == "COG"
    assert Path(body["rasters"]["dem"]["path"]).parent == settings.data_dir / "region"

    shown = client.get("/api/v1/region", headers={"X-API-Key": admin})
    assert shown.status_code == 200
    assert shown.json()["communes"] == 2
    assert shown.json()["last_load"]["files"]["villages"] == "villages.geojson"
    assert client.get("/api/v1/region", headers={"X-API-Key": planner}).status_code == 403

    village = client.get("/api/v1/villages/a")
    assert village.status_code == 200
    assert village.json()["properties"]["boundary"] == "voronoi"
    assert village.json()["properties"]["district"] is None
    page = client.get("/maps/communes/thuong-nong")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    province = client.get("/maps/provinces/tuyen-quang")
    assert province.status_code == 200
    assert "Thượng Nông (None)" not in province.text and "Thượng Nông" in province.text
    index = client.get("/maps")
    assert "thuong giap" in index.text and "Thị trấn · Tuyên Quang" in index.text
    assert not list(settings.data_dir.glob(".upload-*"))  # the spooled files are gone


def test_region_upload_errors_name_the_part_or_the_file(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    admin = {"X-API-Key": create_key(store, "admin")[1]}
    paths = write_region(tmp_path / "in")
    files, data = multipart({k: v for k, v in paths.items() if k != "dem"})
    response = client.post("/api/v1/region", files=files, data=data, headers=admin)
    assert response.status_code == 422
    assert response.json() == {"detail": "missing file part(s): dem"}

    files, data = multipart(paths, villages_fields="[1]")
    response = client.post("/api/v1/region", files=files, data=data, headers=admin)
    assert (response.status_code, response.json()) == (
        422,
        {"detail": "villages_fields: not a JSON object"},
    )

    swapped = write_region(tmp_path / "bad", villages_crs="EPSG:32648")
    files, data = multipart(swapped, communes_fields=COMMUNE_FIELDS)
    response = client.post("/api/v1/region", files=files, data=data, headers=admin)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("villages/villages.geojson: the features (lon 5.")
    assert "the coordinates are not degrees" in detail
    assert store.counts()["communes"] == 0

    response = client.post(
        "/api/v1/region", content=b"{}", headers={**admin, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "send the region as multipart/form-data (one part per file)"
    }


def test_a_region_body_past_the_import_limit_is_413(tmp_path: Path) -> None:
    from app.main import create_app

    settings = Settings(
        data_dir=tmp_path / "var", device_salt="salt", environment="local", max_import_bytes=4096
    )
    with TestClient(create_app(settings)) as client:
        admin = create_key(client.app.state.store, "admin")[1]  # type: ignore[attr-defined]
        files, data = multipart(write_region(tmp_path / "in"))
        response = client.post(
            "/api/v1/region", files=files, data=data, headers={"X-API-Key": admin}
        )
        assert response.status_code == 413
        assert response.json() == {"detail": "request body is larger than 4096 bytes"}
        assert client.app.state.store.counts()["communes"] == 0  # type: ignore[attr-defined]
    assert not list(settings.data_dir.glob(".upload-*"))


def test_buildings_are_kept_as_points_and_used_by_the_analysis(tmp_path: Path) -> None:
    paths = write_region(tmp_path / "in")
    rng = np.random.default_rng(3)
    lon, lat = 105.46 + rng.uniform(-0.004, 0.004, 30), 22.52 + rng.uniform(-0.004, 0.004, 30)
    footprints = [shapely.box(x, y, x + 0.0001, y + 0.0001) for x, y in zip(lon, lat, strict=True)]
    far = [shapely.Point(106.7, 10.8)]  # Ho Chi Minh City: outside the communes, left out
    gpd.GeoDataFrame(geometry=footprints + far, crs=WGS84).to_file(tmp_path / "in" / "nha.geojson")
    store = Store(tmp_path / "var" / "lomsong.sqlite3", device_salt="salt")
    try:
        files = files_of(paths)
        files = RegionFiles(**{**files.__dict__, "buildings": tmp_path / "in" / "nha.geojson"})
        report = load_region(store, files, data_dir=tmp_path / "var")
        assert report.as_dict()["inputs"]["buildings"]["accepted"] == 30
        stored = store.buildings_path()
        assert stored is not None and stored.parent == (tmp_path / "var" / "region").resolve()
        assert len(gpd.read_file(stored)) == 30
        assert region_summary(store)["buildings"] == str(stored)
    finally:
        store.close()
