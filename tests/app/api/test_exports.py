"""GET /api/v1/exports/{dataset}.{format}: round trips through geopandas, ogrinfo, filters."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from app.store import Store

OGRINFO = shutil.which("ogrinfo")


@pytest.fixture
def export_store(loaded_store: Store) -> Store:
    loaded_store.replace_cells(
        pd.DataFrame(
            {
                "h3": ["89415846573ffff", "89415846547ffff"],
                "carrier": ["Viettel", "VinaPhone"],
                "radio": ["lte", "umts"],
                "p_usable": [0.95, 0.02],
                "dbm": [-90.0, -125.0],
                "cell_class": ["good", "no_signal"],
                "evidence": ["measured", "predicted"],
                "count": [9, 0],
                "commune_id": ["thuong-nong"] * 2,
                "lat": [22.565, 22.567],
                "lon": [105.495, 105.498],
            }
        )
    )
    return loaded_store


@pytest.mark.parametrize("dataset", ["villages", "dead-zones", "cells"])
def test_geojson_and_geopackage_give_the_same_features(
    client: TestClient, export_store: Store, dataset: str, tmp_path: Path
) -> None:
    geojson = client.get(f"/api/v1/exports/{dataset}.geojson")
    gpkg = client.get(f"/api/v1/exports/{dataset}.gpkg")

    assert geojson.status_code == 200 and gpkg.status_code == 200
    assert geojson.headers["content-type"] == "application/geo+json"
    assert gpkg.headers["content-type"] == "application/geopackage+sqlite3"
    assert f'filename="lomsong-{dataset}.gpkg"' in gpkg.headers["content-disposition"]
    (tmp_path / "x.geojson").write_bytes(geojson.content)
    (tmp_path / "x.gpkg").write_bytes(gpkg.content)
    from_json = gpd.read_file(tmp_path / "x.geojson")
    from_gpkg = gpd.read_file(tmp_path / "x.gpkg")
    assert len(from_json) == len(from_gpkg) > 0
    assert from_gpkg.crs.to_epsg() == 4326
    key = "h3" if dataset == "cells" else "id"
    assert from_json[key].tolist() == from_gpkg[key].tolist()
    for a, b in zip(from_json.geometry, from_gpkg.geometry, strict=True):
        assert a.equals_exact(b, 1e-6)


def test_exports_take_the_query_filters(client: TestClient, export_store: Store) -> None:
    villages = client.get("/api/v1/exports/villages.geojson?verdict=no_signal").json()
    cells = client.get("/api/v1/exports/cells.geojson?carrier=viettel").json()
    bad = client.get("/api/v1/exports/cells.geojson?verdict=no_signal").json()

    assert [f["properties"]["id"] for f in villages["features"]] == ["dong-da-1"]
    assert [f["properties"]["carrier"] for f in cells["features"]] == ["Viettel"]
    assert [f["properties"]["cell_class"] for f in bad["features"]] == ["no_signal"]


def test_csv_for_excel(client: TestClient, export_store: Store, villages: gpd.GeoDataFrame) -> None:
    hostile = villages.copy()
    hostile.loc[hostile["id"] == "na-ta", "name"] = "=cmd|' /C calc'!A0"
    export_store.replace_region(export_store.communes(), hostile, export_store.sites())

    response = client.get("/api/v1/exports/villages.csv?commune_id=thuong-nong")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert sorted(r["name"] for r in rows) == ["'=cmd|' /C calc'!A0", "Bản Giòng"]


def test_unknown_dataset_or_format_is_422(client: TestClient, export_store: Store) -> None:
    assert client.get("/api/v1/exports/readings.csv").status_code == 422
    assert client.get("/api/v1/exports/villages.xlsx").status_code == 422
    assert client.get("/api/v1/exports/cells.csv?min_households=3").json() == {
        "detail": "min_households does not apply to cells"
    }


@pytest.mark.skipif(OGRINFO is None, reason="ogrinfo not installed (Debian gdal-bin)")
@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_ogrinfo_opens_the_exports(
    client: TestClient, export_store: Store, fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / f"villages.{fmt}"
    path.write_bytes(client.get(f"/api/v1/exports/villages.{fmt}").content)

    result = subprocess.run(
        [str(OGRINFO), "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    assert "Feature Count: 3" in result.stdout


def test_geojson_properties_keep_nested_values(client: TestClient, export_store: Store) -> None:
    body = json.loads(client.get("/api/v1/exports/villages.geojson?commune_id=thuong-nong").content)

    giong = body["features"][0]["properties"]
    assert giong["carriers"]["Viettel"]["evidence"] == "predicted"
