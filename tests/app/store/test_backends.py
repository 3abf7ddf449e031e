"""The same repositories on SQLite and PostgreSQL/PostGIS give the same answers.

One set of writes goes to a SQLite file and to a PostgreSQL database; every
read must come back identical (values, dtypes, order, JSON columns,
geometries). Then what only PostgreSQL does: PostGIS columns, the GiST index
under bbox filters, the search ignoring diacritics in SQL, concurrent
publishes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from app.store import Store
from app.store.challenges import NewChallenge
from geodata.sites import cell_keys, normalise_sites

SALT = "test-salt"
#: Around Bản Giòng only (105.490-105.500, 22.560-22.570 in tests/app/conftest.py).
BAN_GIONG_BOX = (105.489, 22.559, 105.4905, 22.5605)


def _cells() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "h3": ["8a4a5d6b1a57fff", "8a4a5d6b1a47fff", "8a4a5d6b1a5ffff"],
            "carrier": ["Viettel", "Viettel", "MobiFone"],
            "radio": ["lte", None, "umts"],
            "p_usable": [0.4, None, 0.93],
            "dbm": [-100.5, -110.0, None],
            "cell_class": ["weak", "none", "good"],
            "evidence": ["measured", "predicted", "measured"],
            "count": [3, 0, 12],
            "commune_id": ["thuong-nong", "linh-phu", "thuong-nong"],
            "lat": [22.565, 22.015, 22.566],
            "lon": [105.495, 105.415, 105.496],
        }
    )


def _more_sites() -> pd.DataFrame:
    frame = normalise_sites(
        pd.DataFrame(
            {
                "radio": ["UMTS", "LTE"],
                "mcc": [452, 452],
                "net": [1, 4],
                "area": [7, 101],
                "cell": [77, 1002],
                "lon": [105.475, 105.412],
                "lat": [22.561, 22.011],
                "range": [1500, 2000],
            }
        )
    )
    return frame.assign(cell_key=cell_keys(frame))


def _fill(
    store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    results: pd.DataFrame,
    dead_zones: gpd.GeoDataFrame,
) -> None:
    """The same writes, on whichever backend."""
    store.replace_region(communes, villages, sites)
    store.publish(results, dead_zones, _cells())
    store.upsert_sites(_more_sites())
    moved = villages.iloc[[1]].assign(households=41)
    store.upsert_villages(moved)
    store.add_challenge(NewChallenge("ban-giong", "Mất sóng", "Bí thư", "k1", "patchy", 105.49))
    store.add_challenge(NewChallenge("dong-da-1", "Không có sóng", "Trưởng bản", None, None))
    store.settle_challenges({1: "covered"})
    store.add_api_key("k1", "hash-1", role="planner", name="Phòng KH")
    store.save_idempotent_response("key:k1", "abc", request_hash="h", response='{"ok": 1}')
    store.save_idempotent_response("key:k1", "abc", request_hash="h2", response='{"ok": 2}')
    store.set_meta({"demo_seed": "7"})
    store.mark_refreshed(12)


READS: dict[str, Callable[[Store], Any]] = {
    "communes": lambda s: s.communes(),
    "commune": lambda s: s.commune("thuong-nong"),
    "find_communes": lambda s: s.find_communes("thuong"),
    "villages": lambda s: s.villages(),
    "villages_without_results": lambda s: s.villages(with_results=False),
    "villages_filtered": lambda s: s.villages(province="tuyen quang", name_contains="ban"),
    "villages_bbox": lambda s: s.villages(bbox=(105.46, 22.55, 105.485, 22.58)),
    "villages_none": lambda s: s.villages(ids=[]),
    "village_points": lambda s: s.village_points(["thuong-nong"]),
    "sites": lambda s: s.sites(),
    "find_sites": lambda s: s.find_sites(carrier="viettel", bbox=(105.4, 22.0, 105.5, 22.6)),
    "find_sites_radio": lambda s: s.find_sites(radio="UMTS"),
    "dead_zones": lambda s: s.dead_zones(with_places=True),
    "dead_zones_bbox": lambda s: s.dead_zones(bbox=(105.40, 22.00, 105.43, 22.03)),
    "dead_zones_place": lambda s: s.dead_zones(district="Chiem Hoa", verdicts=["no_signal"]),
    "cells": lambda s: s.cells(),
    "cells_filtered": lambda s: s.cells(carrier="VIETTEL", bbox=(105.4, 22.0, 105.5, 22.6)),
    # Without the times they were written at (the two stores' seconds may differ).
    "challenges": lambda s: s.challenges().drop(columns=["created", "settled"]),
    "challenges_of_commune": lambda s: s.challenges(commune_ids=["linh-phu"], status="open")[
        ["id", "village_id", "verdict"]
    ],
    "api_keys": lambda s: [k.as_dict() | {"created": None} for k in s.api_keys()],
    "idempotent": lambda s: s.idempotent_response("key:k1", "abc"),
    "meta": lambda s: (s.results_version(), s.refresh_mark(), s.get_meta("demo_seed")),
    "counts": lambda s: s.counts(),
}


@pytest.fixture
def both(
    tmp_path: Path,
    postgres_url: str,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    results: pd.DataFrame,
    dead_zone_frame: gpd.GeoDataFrame,
) -> Iterator[tuple[Store, Store]]:
    """A SQLite store and a PostgreSQL store that received the same writes."""
    stores = (
        Store(tmp_path / "lomsong.sqlite3", device_salt=SALT),
        Store(postgres_url, device_salt=SALT),
    )
    for store in stores:
        _fill(store, communes, villages, sites, results, dead_zone_frame)
    yield stores
    for store in stores:
        store.close()


def _assert_same(name: str, lite: Any, pg: Any) -> None:
    if isinstance(lite, gpd.GeoDataFrame):
        assert_geodataframe_equal(lite, pg, check_less_precise=False)
    elif isinstance(lite, pd.DataFrame):
        pd.testing.assert_frame_equal(lite, pg, obj=name)
    else:
        assert lite == pg, name


def test_every_read_is_the_same_on_both_backends(both: tuple[Store, Store]) -> None:
    lite, pg = both
    assert (lite.dialect, pg.dialect) == ("sqlite", "postgresql")
    for name, read in READS.items():
        _assert_same(name, read(lite), read(pg))
    # And they hold what was written, not merely the same wrong thing.
    assert pg.find_communes("thuong")["id"].tolist() == ["thuong-nong"]
    assert pg.villages(bbox=(105.46, 22.55, 105.485, 22.58))["id"].tolist() == ["na-ta"]
    assert pg.villages().set_index("id").loc["na-ta", "households"] == 41
    assert pg.find_sites(carrier="viettel")["cell_id"].tolist() == [1001, 1002]
    assert pg.dead_zones(bbox=(105.40, 22.00, 105.43, 22.03))["id"].tolist() == ["linh-phu-dz-001"]
    assert pg.cells(carrier="VIETTEL", bbox=(105.4, 22.0, 105.5, 22.6))["h3"].tolist() == [
        "8a4a5d6b1a47fff",
        "8a4a5d6b1a57fff",
    ]
    assert pg.challenges()["status"].tolist() == ["settled", "open"]
    assert pg.idempotent_response("key:k1", "abc") == ("h", '{"ok": 1}')
    assert pg.counts() == {
        "communes": 2,
        "villages": 3,
        "sites": 3,
        "village_results": 3,
        "dead_zones": 2,
        "readings": 0,
    }
    # replace_region, publish, upsert_sites, upsert_villages, two challenges, one settled.
    assert pg.results_version() == lite.results_version() == 7


def test_geometries_are_postgis_columns_and_sites_points_follow_lon_lat(
    both: tuple[Store, Store],
) -> None:
    _, pg = both
    rows = pg.db.query(
        "SELECT id, ST_SRID(geometry) AS srid, GeometryType(geometry) AS kind,"
        " ST_Contains(geometry, ST_SetSRID(ST_MakePoint(105.495, 22.565), 4326)) AS inside"
        " FROM villages ORDER BY id"
    )
    assert rows.to_dict("list") == {
        "id": ["ban-giong", "dong-da-1", "na-ta"],
        "srid": [4326] * 3,
        "kind": ["POLYGON"] * 3,
        "inside": [True, False, False],
    }
    moved = _more_sites().iloc[[0]].assign(lon=105.48, lat=22.57)
    assert pg.upsert_sites(moved).updated == 1
    points = pg.db.query(
        "SELECT cell_id, ST_X(geometry) AS x, ST_Y(geometry) AS y, ST_SRID(geometry) AS srid"
        " FROM sites ORDER BY rowid"
    )
    assert points.to_dict("list") == {
        "cell_id": [1001, 77, 1002],
        "x": [105.495, 105.48, 105.412],
        "y": [22.565, 22.57, 22.011],
        "srid": [4326] * 3,
    }
    assert pg.find_sites(bbox=(105.479, 22.569, 105.481, 22.571))["cell_id"].tolist() == [77]


def test_the_search_ignoring_diacritics_runs_in_postgresql(
    backend_store: Store, villages: gpd.GeoDataFrame
) -> None:
    communes = gpd.GeoDataFrame(
        {
            "id": ["thuong-nong", "thuong-lam"],
            "name": ["Thượng Nông", "Thượng Lâm"],
            "province": ["Tuyên Quang"] * 2,
            "aliases": [["Thượng Giáp"], None],
        },
        geometry=[shapely.box(105.4, 22.5, 105.5, 22.6), shapely.box(105.3, 22.5, 105.4, 22.6)],
        crs="EPSG:4326",
    )
    backend_store.replace_region(communes, villages, pd.DataFrame())
    found = {
        q: backend_store.find_communes(q)["id"].tolist()
        for q in ("thuong nong", "THUONG", "Thượng Lâm", "giap", "nông", "hà giang")
    }
    assert found == {
        "thuong nong": ["thuong-nong"],
        "THUONG": ["thuong-lam", "thuong-nong"],
        "Thượng Lâm": ["thuong-lam"],
        "giap": ["thuong-nong"],
        "nông": ["thuong-nong"],
        "hà giang": [],
    }


def _recorded_sql(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """Every ``store.db.query`` from now on, as (sql, params), still answered."""
    seen: list[tuple[str, list[Any]]] = []
    query = store.db.query

    def recording(sql: str, params: Any = ()) -> pd.DataFrame:
        seen.append((sql, list(params)))
        return query(sql, params)

    monkeypatch.setattr(store.db, "query", recording)
    return seen


def test_bbox_filters_use_the_gist_indexes(
    postgres_url: str,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    results: pd.DataFrame,
    dead_zone_frame: gpd.GeoDataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(postgres_url, device_salt=SALT)
    try:
        _fill(store, communes, villages, sites, results, dead_zone_frame)
        seen = _recorded_sql(store, monkeypatch)
        assert store.villages(bbox=BAN_GIONG_BOX)["id"].tolist() == ["ban-giong"]
        assert store.dead_zones(bbox=BAN_GIONG_BOX).empty
        assert store.find_sites(bbox=(105.49, 22.56, 105.50, 22.57))["cell_id"].tolist() == [1001]
        assert len(seen) == 3
        conn = store.db.connection()
        # Three rows a table: the planner would scan them. Forbid that, so the
        # plan shows whether the filter *can* use the index at all.
        conn.execute("SET enable_seqscan = off")
        plans = [
            "\n".join(r[0] for r in conn.execute(f"EXPLAIN {sql}", params).fetchall())
            for sql, params in seen
        ]
        for plan, index in zip(
            plans, ("villages_geometry", "dead_zones_geometry", "sites_geometry"), strict=True
        ):
            assert f"Index Scan using {index}" in plan or f"on {index}" in plan, plan
            assert "&&" in plan, plan
    finally:
        store.close()


def test_concurrent_publishes_leave_one_consistent_version(
    loaded_store: Store, results: pd.DataFrame, dead_zone_frame: gpd.GeoDataFrame
) -> None:
    before = loaded_store.results_version()
    runs = 15
    errors: list[BaseException] = []

    def publish(tag: str) -> None:
        verdicts = results.assign(best_carrier=tag)
        zones = dead_zone_frame.assign(id=[f"{tag}-{i}" for i in range(len(dead_zone_frame))])
        cells = _cells().assign(evidence=tag)
        try:
            for _ in range(runs):
                loaded_store.publish(verdicts, zones, cells)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=publish, args=(tag,)) for tag in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    # Every publish was one bump, none lost to a race on the counter.
    assert loaded_store.results_version() == before + 2 * runs
    last = set(loaded_store.villages()["best_carrier"])
    assert last in ({"left"}, {"right"})
    (tag,) = last
    assert loaded_store.dead_zones()["id"].tolist() == [f"{tag}-1", f"{tag}-0"]
    assert set(loaded_store.cells()["evidence"]) == {tag}
    assert len(loaded_store.cells()) == 3
