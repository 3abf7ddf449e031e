"""The analysis in tiles on dask.distributed gives the single-process answers.

The tiled run (``coverage.tiles.analyze_tiled`` on a 2-worker ``LocalCluster``,
worker processes) is compared with ``coverage.pipeline.analyze`` on the demo
cut into ≥ 3 tiles and on ``benchmarks/bench_province.py``'s province at scale
0.05 (190 villages, 75 sites, ~250,000 readings) cut into 3. Measured here:
every float equal to the bit (largest difference 0.0); the bounds asserted
(1e-9 dB, 1e-12 in P, 1e-9 relative area) leave room only for a BLAS that
would sum in another order on another machine.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from coverage.pipeline import (
    AnalysisResult,
    analyze,
    floor_summary,
    service_floors_of,
)
from coverage.predict import predict_signal
from coverage.stats import service_floors
from coverage.tiles import (
    ClusterError,
    Tile,
    analyze_tiled,
    assign_owners,
    client_for,
    make_tiles,
    sites_reaching,
)
from geodata import constants as C
from geodata.demo import write_demo
from geodata.errors import InvalidInputError
from geodata.hexgrid import cells_for_points, cells_in_polygons
from geodata.readings import read_readings_csv, validate_readings
from geodata.sites import read_sites
from geodata.villages import normalise_villages, read_villages

ROOT = Path(__file__).resolve().parents[2]

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    with client_for("local:2") as found:
        yield found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    files = write_demo(tmp_path_factory.mktemp("demo"), seed=7)
    villages = normalise_villages(read_villages(files.villages))
    # The demo has two communes; Linh Phú's villages without a commune are
    # units of their own, so that the demo makes more than two tiles.
    villages.loc[villages["commune_id"] == "linh-phu", "commune_id"] = None
    return {
        "villages": villages,
        "sites": read_sites(files.sites),
        "readings": validate_readings(read_readings_csv(files.readings)).valid,
        "dem": files.dem,
        "population": files.population,
    }


def assert_same(single: AnalysisResult, tiled: AnalysisResult) -> None:
    """Verdicts, households, dead zones, cells and signal: the same."""
    a, b = single.villages, tiled.villages
    assert a["id"].tolist() == b["id"].tolist()
    for column in ("verdict", "confidence", "households_without_signal", "best_carrier"):
        assert a[column].tolist() == b[column].tolist(), column
    assert a["readings_count"].tolist() == b["readings_count"].tolist()
    pd.testing.assert_frame_equal(single.households, tiled.households)
    pd.testing.assert_frame_equal(single.new_sites, tiled.new_sites)
    assert single.fading_db == tiled.fading_db

    za, zb = single.dead_zones, tiled.dead_zones
    assert len(za) > 0
    columns = ["id", "village_id", "commune_id", "carrier", "radio", "households", "verdict"]
    pd.testing.assert_frame_equal(za[columns], zb[columns])
    crs = single.metric_crs
    area_a, area_b = za.to_crs(crs).area.to_numpy(), zb.to_crs(crs).area.to_numpy()
    assert np.max(np.abs(area_b / area_a - 1.0)) <= 1e-9

    ca, cb = single.cells, tiled.cells
    assert ca["h3"].tolist() == cb["h3"].tolist()
    assert ca["carrier"].tolist() == cb["carrier"].tolist()
    assert ca["evidence"].tolist() == cb["evidence"].tolist()
    assert ca["cell_class"].tolist() == cb["cell_class"].tolist()
    margin_a, margin_b = ca["margin_db"].to_numpy(float), cb["margin_db"].to_numpy(float)
    assert (np.isnan(margin_a) == np.isnan(margin_b)).all()
    assert np.nanmax(np.abs(margin_a - margin_b)) <= 1e-9
    p_a, p_b = ca["p_usable"].to_numpy(float), cb["p_usable"].to_numpy(float)
    assert np.nanmax(np.abs(p_a - p_b)) <= 1e-12

    sa, sb = single.signal, tiled.signal
    keys = ["h3", "carrier", "radio", "evidence", "count"]
    pd.testing.assert_frame_equal(sa[keys], sb[keys])
    assert np.nanmax(np.abs(sa["mean_dbm"].to_numpy() - sb["mean_dbm"].to_numpy())) <= 1e-9
    assert single.calibration.carriers.equals(tiled.calibration.carriers)


def test_the_demo_in_tiles_is_the_demo(demo: dict[str, object], client: object) -> None:
    villages = demo["villages"]
    assert isinstance(villages, gpd.GeoDataFrame)
    tiles = make_tiles(villages, max_villages=6)
    assert len(tiles) >= 3
    kwargs = {"dem": demo["dem"], "population": demo["population"]}
    single = analyze(villages, demo["sites"], demo["readings"], **kwargs)  # type: ignore[arg-type]
    tiled = analyze_tiled(
        villages,
        demo["sites"],  # type: ignore[arg-type]
        demo["readings"],  # type: ignore[arg-type]
        client=client,  # type: ignore[arg-type]
        tiles=tiles,
        **kwargs,  # type: ignore[arg-type]
    )
    assert_same(single, tiled)
    assert set(single.villages["verdict"]) >= {"covered", "patchy"}


def test_the_demo_from_a_readings_dataset_is_the_demo(
    demo: dict[str, object], client: object, tmp_path: Path
) -> None:
    from geodata.readings_dataset import write_readings_dataset

    villages, sites, readings = demo["villages"], demo["sites"], demo["readings"]
    assert isinstance(villages, gpd.GeoDataFrame) and isinstance(readings, pd.DataFrame)
    assert write_readings_dataset(readings, tmp_path / "readings") == len(readings)
    kwargs = {"dem": demo["dem"], "population": demo["population"]}
    single = analyze(villages, sites, readings, **kwargs)  # type: ignore[arg-type]
    tiled = analyze_tiled(
        villages,
        sites,  # type: ignore[arg-type]
        tmp_path / "readings",
        client=client,  # type: ignore[arg-type]
        tiles=make_tiles(villages, max_villages=6),
        **kwargs,  # type: ignore[arg-type]
    )
    assert_same(single, tiled)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_province import synthesise
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return synthesise(0.05, tmp_path_factory.mktemp("province"), np.random.default_rng(0))


def test_the_province_in_tiles_is_the_province(province: dict[str, object], client: object) -> None:
    villages = province["villages"]
    assert isinstance(villages, gpd.GeoDataFrame)
    assert len(villages) == 190
    tiles = make_tiles(villages, max_villages=80)
    assert [len(t.village_ids) for t in tiles] == [72, 72, 46]
    args = (villages, province["sites"], province["readings"])
    single = analyze(*args, dem=province["dem"])  # type: ignore[arg-type]
    tiled = analyze_tiled(*args, dem=province["dem"], client=client, tiles=tiles)  # type: ignore[arg-type]
    assert_same(single, tiled)


# --- tiling -----------------------------------------------------------------


def _communes(n: int, per: int) -> gpd.GeoDataFrame:
    """``n`` communes of ``per`` villages, 0.01° squares in a row, communes side by side."""
    import shapely

    rows = []
    for c in range(n):
        for v in range(per):
            west = 105.0 + 0.01 * (c * per + v)
            rows.append(
                {
                    "id": f"c{c}v{v}",
                    "name": f"Thôn {v}",
                    "commune": f"Xã {c}",
                    "province": "Tuyên Quang",
                    "households": 50,
                    "geometry": shapely.box(west, 22.0, west + 0.009, 22.009),
                }
            )
    return normalise_villages(gpd.GeoDataFrame(rows, crs="EPSG:4326"))


def test_tiles_keep_communes_whole_and_bounded() -> None:
    villages = _communes(12, 5)
    tiles = make_tiles(villages, max_villages=12, max_extent_km=40.0)
    ids = [v for t in tiles for v in t.village_ids]
    assert sorted(ids) == sorted(villages["id"])  # every village, once
    commune_of = villages.set_index("id")["commune_id"]
    for tile in tiles:
        assert len(tile.village_ids) <= 12
        mine = {commune_of[v] for v in tile.village_ids}
        assert mine == set(tile.communes)
        for commune in mine:  # whole
            assert set(commune_of.index[commune_of == commune]) <= set(tile.village_ids)
    assert [len(t.village_ids) for t in tiles] == [10, 10, 10, 10, 10, 10]
    # 0.05° of villages per commune (~5.2 km): at most 7 communes in 40 km.
    wide = make_tiles(villages, max_villages=1000, max_extent_km=40.0)
    assert [len(t.communes) for t in wide] == [7, 5]


def test_a_commune_larger_than_the_bound_is_one_tile() -> None:
    villages = _communes(2, 9)
    tiles = make_tiles(villages, max_villages=4)
    assert [len(t.village_ids) for t in tiles] == [9, 9]


def test_villages_without_commune_are_units_of_their_own() -> None:
    villages = _communes(1, 6)
    villages["commune_id"] = None
    tiles = make_tiles(villages, max_villages=2)
    assert [t.village_ids for t in tiles] == [
        ("c0v0", "c0v1"),
        ("c0v2", "c0v3"),
        ("c0v4", "c0v5"),
    ]


def test_bad_tile_bounds_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="max_villages=0"):
        make_tiles(_communes(1, 2), max_villages=0)


def test_tiles_must_hold_every_village_once(demo: dict[str, object], client: object) -> None:
    villages = demo["villages"]
    assert isinstance(villages, gpd.GeoDataFrame)
    tiles = make_tiles(villages)
    short = [Tile(0, tiles[0].village_ids[1:], tiles[0].communes, tiles[0].bounds), *tiles[1:]]
    first = tiles[0].village_ids[0]
    with pytest.raises(InvalidInputError, match=rf"in none \['{first}'\]"):
        analyze_tiled(villages, demo["sites"], demo["readings"], client=client, tiles=short)  # type: ignore[arg-type]


def test_owners_are_the_nearest_tiles() -> None:
    tiles = [
        Tile(0, ("a",), ("x",), (105.0, 22.0, 105.1, 22.1)),
        Tile(1, ("b",), ("y",), (105.3, 22.0, 105.4, 22.1)),
    ]
    lon = np.array([105.05, 105.18, 105.22, 105.9])  # inside 0, nearer 0, nearer 1, beyond 1
    cells = cells_for_points(np.full(4, 22.05), lon, resolution=10)
    assert assign_owners(cells, tiles).tolist() == [0, 0, 1, 1]


def test_a_tiles_site_halo_holds_every_site_that_reaches_it(demo: dict[str, object]) -> None:
    villages = demo["villages"]
    sites = demo["sites"]
    assert isinstance(villages, gpd.GeoDataFrame) and isinstance(sites, pd.DataFrame)
    import pyproj

    to_utm = pyproj.Transformer.from_crs(4326, 32648, always_xy=True)
    site_x, site_y = to_utm.transform(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    for tile in make_tiles(villages, max_villages=6):
        mine = villages.loc[villages["id"].isin(tile.village_ids)]
        cells = cells_in_polygons(mine, resolution=9)["h3"].to_numpy(np.uint64)
        from geodata.hexgrid import cell_centres

        lat, lon = cell_centres(cells)
        x, y = to_utm.transform(lon, lat)
        reaching = set(sites.loc[sites_reaching(sites, tile.bounds), "site_id"])
        for site_id, one in sites.groupby("site_id"):
            rows = sites["site_id"].to_numpy() == site_id
            found = predict_signal(one, x, y, site_x=site_x[rows], site_y=site_y[rows])
            if len(found):  # the site reaches a cell of the tile
                assert site_id in reaching
        assert len(reaching) < sites["site_id"].nunique() or len(villages) == len(mine)


# --- the service floors from summaries ----------------------------------------


@pytest.mark.parametrize("n", [150, 200, 201, 1_000, 4_321])
def test_service_floors_from_summaries_are_the_service_floors(n: int) -> None:
    rng = np.random.default_rng(n)
    dbm = rng.normal(-100, 12, n)
    readings = pd.DataFrame(
        {
            "radio": rng.choice(["lte", "umts"], n, p=[0.8, 0.2]),
            "signal_dbm": np.where(rng.random(n) < 0.02, np.nan, dbm),
            "no_service": rng.random(n) < 0.1,
        }
    )
    shuffled = readings.iloc[rng.permutation(n)]
    parts = [shuffled.iloc[i : i + n // 4 + 1] for i in range(0, n, n // 4 + 1)]
    floors = service_floors(readings)
    assert service_floors_of([floor_summary(p) for p in parts]) == floors
    if n >= 1_000:  # the readings' own floor, not the 3GPP one
        assert floors["lte"] != C.SERVICE_FLOOR_DBM["lte"]


# --- the cluster --------------------------------------------------------------


def test_local_0_is_refused() -> None:
    with pytest.raises(ClusterError, match="local:N needs N ≥ 1"), client_for("local:0"):
        pass


def test_a_malformed_cluster_is_refused() -> None:
    refused = pytest.raises(ClusterError, match=r"'udp://x': expected local:N or tcp://HOST:PORT")
    with refused, client_for("udp://x"):
        pass


def test_an_unknown_scheduler_is_named_without_a_hang() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    start = time.perf_counter()
    refused = pytest.raises(ClusterError, match=rf"no dask scheduler at {address} \(waited 1 s\)")
    with refused, client_for(address, timeout=1.0):
        pass
    assert time.perf_counter() - start < 10.0


def test_analyze_refuses_local_0_before_reading_its_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import EXIT_BAD_INPUT, main

    missing = tmp_path / "nowhere.csv"
    argv = ["analyze", "--villages", str(missing), "--sites", str(missing)]
    argv += ["--readings", str(missing), "--out", str(tmp_path / "out"), "--cluster", "local:0"]
    assert main(argv) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        "lomsong: error: cluster 'local:0': local:N needs N ≥ 1 worker processes\n"
    )
    assert not (tmp_path / "out").exists()


def test_the_cluster_setting_is_checked() -> None:
    import pydantic

    from app.core.config import Settings

    assert Settings(demo=True, cluster=" local:3 ").cluster == "local:3"
    assert Settings(demo=True, cluster="tcp://10.0.0.5:8786").cluster == "tcp://10.0.0.5:8786"
    with pytest.raises(pydantic.ValidationError, match="'local:0': expected local:N"):
        Settings(demo=True, cluster="local:0")
