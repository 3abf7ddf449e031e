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
import pyogrio
import pytest
from fastapi.testclient import TestClient

from app.cli import main
from app.store import Store
from geodata.exports import CELL_LIMIT
from geodata.outputs import CELL_EXPORT_SCHEMA

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
    assert client.get("/api/v1/exports/villages.xls").status_code == 422
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


def test_xlsx_export_opens_back_with_flat_carrier_columns(
    client: TestClient, export_store: Store
) -> None:
    response = client.get("/api/v1/exports/villages.xlsx?verdict=patchy,no_signal")

    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert 'filename="lomsong-villages.xlsx"' in response.headers["content-disposition"]
    back = pd.read_excel(io.BytesIO(response.content), sheet_name="villages", engine="calamine")
    back = back.sort_values("id", ignore_index=True)
    assert back["id"].tolist() == ["ban-giong", "dong-da-1"]
    assert back["name"].tolist() == ["Bản Giòng", "Đống Đa 1"]
    assert back["hh_without_viettel"].tolist()[0] == 98
    assert back["hh_without_vinaphone"].tolist()[0] == 40
    assert back["p_usable_viettel"].tolist()[0] == 0.05
    assert pd.isna(back["hh_without_viettel"].tolist()[1])  # no summary for Đống Đa 1
    assert "carriers" not in back and "wkt" not in back
    assert {"lon", "lat"} <= set(back.columns)


def test_csv_and_geopackage_flatten_carriers_and_geojson_keeps_them(
    client: TestClient, export_store: Store, tmp_path: Path
) -> None:
    text = client.get("/api/v1/exports/villages.csv").content.decode("utf-8-sig")
    (tmp_path / "v.gpkg").write_bytes(client.get("/api/v1/exports/villages.gpkg").content)

    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["ban-giong"]["hh_without_viettel"] == "98"
    assert rows["na-ta"]["hh_without_viettel"] == "0"
    assert rows["ban-giong"]["radio_vinaphone"] == "lte"
    assert "carriers" not in rows["ban-giong"]
    gpkg = gpd.read_file(tmp_path / "v.gpkg").set_index("id")
    assert gpkg.loc["ban-giong", "hh_without_viettel"] == 98
    assert gpkg.loc["ban-giong", "evidence_viettel"] == "predicted"
    assert "carriers" not in gpkg


def test_semicolon_csv_for_vietnamese_excel(client: TestClient, export_store: Store) -> None:
    response = client.get("/api/v1/exports/cells.csv?delimiter=semicolon")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    assert text.splitlines()[0] == ";".join(CELL_EXPORT_SCHEMA)
    back = pd.read_csv(io.StringIO(text), sep=";", decimal=",").sort_values("carrier")
    assert back["carrier"].tolist() == ["Viettel", "VinaPhone"]
    assert back["p_usable"].tolist() == [0.95, 0.02]
    assert back["mean_dbm"].tolist() == [-90.0, -125.0]
    assert "0,95" in text


def test_wkt_on_request_fits_a_cell(
    client: TestClient, export_store: Store, villages: gpd.GeoDataFrame
) -> None:
    import numpy as np
    import shapely

    angle = np.linspace(0, 2 * np.pi, 5000, endpoint=False)
    ring = np.c_[
        105.495 + 0.004 * np.cos(angle) * (1 + 0.02 * np.sin(60 * angle)),
        22.565 + 0.004 * np.sin(angle),
    ]
    big = villages.copy()
    big.loc[big["id"] == "ban-giong", "geometry"] = shapely.Polygon(ring)
    export_store.replace_region(export_store.communes(), big, export_store.sites())

    plain = client.get("/api/v1/exports/villages.csv").content.decode("utf-8-sig")
    with_wkt = client.get("/api/v1/exports/villages.csv?geometry=wkt").content.decode("utf-8-sig")
    xlsx = client.get("/api/v1/exports/villages.xlsx?geometry=wkt").content

    assert "wkt" not in next(csv.DictReader(io.StringIO(plain)))
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(with_wkt))}
    assert len(rows["ban-giong"]["wkt"]) <= CELL_LIMIT < len(shapely.Polygon(ring).wkt)
    assert float(rows["ban-giong"]["wkt_simplified_m"]) > 0
    assert float(rows["na-ta"]["wkt_simplified_m"]) == 0
    sheet = pd.read_excel(io.BytesIO(xlsx), engine="calamine")
    assert sheet.map(lambda v: len(str(v))).to_numpy().max() <= CELL_LIMIT


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("villages.gpkg?delimiter=semicolon", "delimiter applies to csv only, not to gpkg"),
        ("villages.geojson?geometry=wkt", "geometry=wkt applies to csv and xlsx only"),
    ],
)
def test_options_of_other_formats_are_422(
    client: TestClient, export_store: Store, query: str, detail: str
) -> None:
    response = client.get(f"/api/v1/exports/{query}")

    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_an_unknown_delimiter_is_422(client: TestClient, export_store: Store) -> None:
    response = client.get("/api/v1/exports/villages.csv?delimiter=tab")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "delimiter"]


def test_cells_export_and_analyze_cells_gpkg_share_one_schema(
    client: TestClient, export_store: Store, villages: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    villages.to_file(tmp_path / "villages.geojson", driver="GeoJSON")
    pd.DataFrame(
        {
            "radio": ["LTE"],
            "mcc": [452],
            "net": [4],
            "area": [101],
            "cell": [1001],
            "lon": [105.495],
            "lat": [22.565],
            "range": [3000],
        }
    ).to_csv(tmp_path / "sites.csv", index=False)
    pd.DataFrame(
        {
            "time": [f"2026-01-0{d}T0{h}:00:00Z" for d in (5, 6) for h in (1, 2)],
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
    ).to_csv(tmp_path / "readings.csv", index=False)
    status = main(
        [
            "analyze",
            *("--villages", str(tmp_path / "villages.geojson")),
            *("--sites", str(tmp_path / "sites.csv")),
            *("--readings", str(tmp_path / "readings.csv")),
            *("--out", str(tmp_path / "out")),
        ]
    )
    (tmp_path / "api.gpkg").write_bytes(client.get("/api/v1/exports/cells.gpkg").content)

    assert status == 0
    cli = pyogrio.read_info(tmp_path / "out" / "cells.gpkg", layer="cells")
    api = pyogrio.read_info(tmp_path / "api.gpkg", layer="cells")
    assert cli["features"] > 0 and api["features"] == 2
    assert cli["fields"].tolist() == api["fields"].tolist() == list(CELL_EXPORT_SCHEMA)
    assert cli["dtypes"].tolist() == api["dtypes"].tolist()
    assert (cli["geometry_type"], cli["crs"]) == (api["geometry_type"], api["crs"])
    cli_cells = gpd.read_file(tmp_path / "out" / "cells.gpkg")
    assert cli_cells["cell_class"].notna().all() and (cli_cells["resolution"] == 10).all()
