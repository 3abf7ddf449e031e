"""A plan's files, from a plan built here by hand: GeoJSON GDAL opens, a CSV that reads back."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodata.formats.candidates import read_candidates
from geodata.hexgrid import cell_areas_m2, cells_for_points, neighbourhood
from geodata.plans import (
    PLAN_CSV_COLUMNS,
    footprint_polygons,
    plan_frame,
    plan_table,
    write_plan,
)
from geodata.sites import CANDIDATE_COLUMNS


def _ring(lat: float, lon: float, k: int) -> np.ndarray:
    centre = cells_for_points(np.array([lat]), np.array([lon]), resolution=10)
    return neighbourhood(centre, k=k)["neighbour"].to_numpy(np.uint64)


@pytest.fixture
def footprints() -> pd.DataFrame:
    """Two candidates' footprints: 19 cells round one, 7 round another; a third has none."""
    return pd.concat(
        [
            pd.DataFrame({"candidate_id": "co-s7-Viettel", "h3": _ring(22.57, 105.49, 2)}),
            pd.DataFrame({"candidate_id": "new-3-MobiFone", "h3": _ring(22.60, 105.52, 1)}),
        ],
        ignore_index=True,
    )


@pytest.fixture
def candidates() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "candidate_id": ["co-s7-Viettel", "new-3-MobiFone", "up-2"],
            "kind": ["colocation", "new_site", "uploaded"],
            "lon": [105.49, 105.52, 105.50],
            "lat": [22.57, 22.60, 22.58],
            "height_m": [30.0, 40.0, 35.0],
            "carrier": ["Viettel", "MobiFone", "VinaPhone"],
            "radio": ["lte", "lte", "umts"],
            "cost": [3e8, 1.5e9, 9e8],
            "host_site_id": ["s7", None, None],
            "households_served": [61.333, 12.0, 0.0],
            "households_served_own": [70.0, 12.0, 0.0],
            "villages_out_of_no_signal": [1, 0, 0],
            "villages_out_of_patchy": [0, 1, 0],
        }
    )


@pytest.fixture
def chosen(candidates: pd.DataFrame) -> pd.DataFrame:
    """The plan's chosen, given out of rank order."""
    rows = candidates.iloc[[1, 0]].reset_index(drop=True)
    return rows.assign(
        rank=[2, 1],
        marginal_households=[9.96, 61.333],
        cumulative_households=[71.293, 61.333],
        cumulative_cost=[1.8e9, 3e8],
    )


def test_a_footprint_is_its_cells_dissolved_into_one_outline(footprints: pd.DataFrame) -> None:
    shapes = footprint_polygons(footprints)
    assert shapes.index.tolist() == ["co-s7-Viettel", "new-3-MobiFone"]
    assert shapes.crs.to_epsg() == 4326
    assert (shapes.geom_type == "Polygon").all()  # one piece each, no inner edges
    # The outline's area is the cells' area (metres, in the data's UTM zone).
    metric = shapes.to_crs(32648).area.to_numpy()
    cells = footprints.groupby("candidate_id")["h3"].apply(
        lambda h: cell_areas_m2(h.to_numpy(np.uint64)).sum()
    )
    np.testing.assert_allclose(metric, cells.loc[shapes.index].to_numpy(), rtol=0.01)
    assert footprint_polygons(footprints.iloc[0:0]).empty


def test_the_plan_is_in_rank_order_each_with_its_footprint(
    chosen: pd.DataFrame, footprints: pd.DataFrame
) -> None:
    frame = plan_frame(chosen, footprints)
    assert frame["candidate_id"].tolist() == ["co-s7-Viettel", "new-3-MobiFone"]
    assert frame["rank"].tolist() == [1, 2]
    assert frame["marginal_households"].tolist() == [61.3, 10.0]
    masts = gpd.GeoSeries(shapely.points(frame["lon"], frame["lat"]), crs=4326)
    assert frame.geometry.contains(masts).all()
    no_footprint = plan_frame(chosen, footprints.loc[footprints["candidate_id"] == "x"])
    assert no_footprint.geometry.isna().all()


def test_the_csv_has_the_plan_columns_and_reads_back_as_candidates(chosen: pd.DataFrame) -> None:
    table = plan_table(chosen)
    assert list(table.columns) == list(PLAN_CSV_COLUMNS)
    assert table["id"].tolist() == ["co-s7-Viettel", "new-3-MobiFone"]
    assert table["cumulative_cost"].tolist() == [3e8, 1.8e9]
    again = read_candidates(io.BytesIO(table.to_csv(index=False).encode()))
    assert again.rejected == []
    assert again.valid["candidate_id"].tolist() == table["id"].tolist()
    assert again.valid["height_m"].tolist() == [30.0, 40.0]


def test_the_files_open_in_gdal_and_agree(
    tmp_path: Path, candidates: pd.DataFrame, chosen: pd.DataFrame, footprints: pd.DataFrame
) -> None:
    files = write_plan(
        tmp_path / "out",
        candidates=candidates,
        chosen=chosen,
        footprints=footprints,
        summary={"households_served": 71.3, "cost": 1.8e9, "method": "lazy greedy"},
        page="<!DOCTYPE html><title>plan</title>",
    )
    assert files.page is not None and files.page.read_text().startswith("<!DOCTYPE html>")
    every = gpd.read_file(files.candidates)
    assert every.crs.to_epsg() == 4326 and (every.geom_type == "Point").all()
    assert every["candidate_id"].tolist() == candidates["candidate_id"].tolist()
    assert set(CANDIDATE_COLUMNS) - {"host_site_id"} <= set(every.columns)
    assert every["households_served"].tolist() == [61.3, 12.0, 0.0]
    document = json.loads(files.plan.read_bytes())
    assert document["households_served"] == 71.3 and document["method"] == "lazy greedy"
    plan = gpd.read_file(files.plan)
    assert (plan.geom_type == "Polygon").all()
    rows = pd.read_csv(files.table, encoding="utf-8-sig")
    assert rows["id"].tolist() == plan["candidate_id"].tolist()
    assert rows["cumulative_households"].tolist() == plan["cumulative_households"].tolist()
    if shutil.which("ogrinfo") is None:
        pytest.fail("ogrinfo is missing: apt-get install -y gdal-bin (`make test` does)")
    for path in (files.candidates, files.plan):
        info = subprocess.run(
            ["ogrinfo", "-so", "-al", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert f"Feature Count: {len(every) if path == files.candidates else 2}" in info


LEAFLET_DIST = Path(__file__).resolve().parents[2] / "node_modules" / "leaflet" / "dist"


@pytest.fixture
def plan_villages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "village_id": ["ban-giong", "na-ta"],
            "name": ["Bản Giòng", "Nà Tà"],
            "commune_id": ["thuong-nong"] * 2,
            "households": [98, 40],
            "households_without_signal_before": [95.0, 12.0],
            "households_without_signal_after": [3.0, 12.0],
            "verdict_before": ["no_signal", "patchy"],
            "verdict_after": ["covered", "patchy"],
            "newly_served_share": [0.94, 0.0],
        }
    )


@pytest.fixture
def village_shapes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["ban-giong", "na-ta"], "name": ["Bản Giòng", "Nà Tà"], "households": [98, 40]},
        geometry=[
            shapely.box(105.48, 22.56, 105.50, 22.58),
            shapely.box(105.51, 22.59, 105.53, 22.61),
        ],
        crs=4326,
    )


def test_the_plan_page_draws_each_chosen_site_its_footprint_and_the_table(
    chosen: pd.DataFrame,
    footprints: pd.DataFrame,
    plan_villages: pd.DataFrame,
    village_shapes: gpd.GeoDataFrame,
) -> None:
    from geodata.maps.plan import PlanSummary, PlanUrls, plan_page

    frame = plan_frame(chosen, footprints)
    summary = PlanSummary(households_served=71.3, cost=1.8e9, method="Lazy greedy (Minoux 1978).")
    page = plan_page(
        village_shapes,
        plan_villages,
        frame,
        summary,
        commune="Thượng Nông",
        inline_assets_dir=LEAFLET_DIST,
    )
    assert "<title>Kế hoạch phủ sóng — Xã Thượng Nông</title>" in page
    assert page.count('"className":"lomsong-footprint"') == 1
    assert page.count('"className":"lomsong-candidate"') == 1
    # Both kinds drawn are in the legend, with the outline; the uploaded kind (not chosen) is not.
    assert "Lắp chung trên cột sẵn có" in page and "Cột mới" in page
    assert "Vùng phủ sóng dự báo của trạm (viền)" in page and "Đề xuất tải lên" not in page
    assert "2 trạm phục vụ thêm 71 hộ, tổng chi phí 1.800.000.000 đồng;" in page
    assert "1 thôn thoát trắng sóng, 0 thôn thoát lõm sóng." in page
    assert '<tr data-candidate="co-s7-Viettel" data-kind="colocation">' in page
    assert "Lazy greedy (Minoux 1978)." in page
    assert re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page) == []
    english = plan_page(
        village_shapes,
        plan_villages,
        frame,
        summary,
        commune="Thượng Nông",
        lang="en",
        urls=PlanUrls("thuong-nong"),
    )
    assert "2 sites serve 71 more households for 1,800,000,000 VND in all;" in english
    assert '<a href="/maps/communes/thuong-nong?lang=en">' in english
    assert '<a href="/maps/communes/thuong-nong/plan">Tiếng Việt</a>' in english
