"""The store's repositories on SQLite and on PostgreSQL/PostGIS, side by side.

A synthetic province (``--villages`` square villages on a grid, 20 a commune,
one dead zone each, ``--cells`` hex cells) goes into a SQLite file and into a
PostgreSQL database; then, on each backend:

- ``replace_region`` (communes, villages, sites) and ``publish`` (verdicts,
  dead zones, cells in one transaction);
- on PostgreSQL, ``publish``'s cells beside a row-by-row ``executemany`` of
  the same upsert (the baseline the COPY path replaced), ratio printed;
- ``villages(bbox=...)`` for a box of ~1 % of the province, and
  ``find_communes``, ``dead_zones(bbox=...)``, ``find_sites(bbox=...)``;
- the PostgreSQL plan of the villages' bbox query (``EXPLAIN ANALYZE``), to
  see the GiST index chosen at this size.

PostgreSQL: ``LOMSONG_TEST_POSTGRES_URL``, or the tests' throwaway cluster
(``tests/postgres.py``). Figures are printed, never asserted.

Run: ``.venv/bin/python benchmarks/bench_store.py [--villages 4000] [--cells 200000]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.store import Store  # noqa: E402
from app.store.rows import to_rows  # noqa: E402
from app.store.sql import upsert  # noqa: E402
from coverage.map_cells import CELL_COLUMNS  # noqa: E402
from geodata.sites import normalise_sites  # noqa: E402
from geodata.villages import normalise_villages  # noqa: E402
from tests import postgres  # noqa: E402

WEST, SOUTH, SIDE = 105.0, 22.0, 0.01  # a village is a 0.01° square (~1 km)


def region(n_villages: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Communes of 20 villages each, the villages on a grid, one site per commune."""
    columns = int(np.ceil(np.sqrt(n_villages)))
    i = np.arange(n_villages)
    x, y = WEST + (i % columns) * SIDE, SOUTH + (i // columns) * SIDE
    commune = [f"c{k:05d}" for k in i // 20]
    villages = normalise_villages(
        gpd.GeoDataFrame(
            {
                "id": [f"v{k:06d}" for k in i],
                "name": [f"Bản Nà {k}" for k in i],
                "commune_id": commune,
                "commune": [f"Xã Thượng {c}" for c in commune],
                "province": "Tuyên Quang",
                "households": 20 + i % 50,
            },
            geometry=shapely.box(x, y, x + SIDE * 0.9, y + SIDE * 0.9),
            crs="EPSG:4326",
        )
    )
    communes = gpd.GeoDataFrame(
        villages.dissolve("commune_id", as_index=False)[["commune_id", "commune", "geometry"]]
        .rename(columns={"commune_id": "id", "commune": "name"})
        .assign(province="Tuyên Quang"),
        crs="EPSG:4326",
    )
    centres = communes.geometry.representative_point()
    sites = normalise_sites(
        pd.DataFrame(
            {
                "radio": "LTE",
                "mcc": 452,
                "net": 4,
                "area": 1,
                "cell": np.arange(len(communes)) + 1,
                "lon": centres.x,
                "lat": centres.y,
                "range": 3000,
            }
        )
    )
    return communes, villages, sites


def results(
    villages: gpd.GeoDataFrame, n_cells: int
) -> tuple[pd.DataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Verdicts, one dead zone a village (its south-west quarter), and ``n_cells`` cells."""
    rng = np.random.default_rng(4)
    verdicts = pd.DataFrame(
        {
            "id": villages["id"],
            "verdict": rng.choice(["covered", "patchy", "no_signal"], len(villages)),
            "households_without_signal": villages["households"] // 2,
            "best_carrier": "Viettel",
            "carriers": [{"Viettel": {"households_without_signal": 3}}] * len(villages),
            "readings_count": 5,
        }
    )
    bounds = villages.geometry.bounds
    zones = gpd.GeoDataFrame(
        {
            "id": "z-" + villages["id"],
            "commune_id": villages["commune_id"],
            "verdict": "no_signal",
            "area_km2": 0.2,
            "households": 4,
            "village_ids": [[v] for v in villages["id"]],
            "carriers_absent": [["Viettel"]] * len(villages),
            "nearest_site_m": 2500.0,
        },
        geometry=shapely.box(bounds.minx, bounds.miny, bounds.minx + 0.004, bounds.miny + 0.004),
        crs="EPSG:4326",
    )
    span = np.sqrt(len(villages)) * SIDE
    cells = pd.DataFrame(
        {
            "h3": [f"89{k:013x}" for k in range(n_cells)],
            "carrier": "Viettel",
            "radio": "lte",
            "p_usable": rng.random(n_cells),
            "dbm": -100.0,
            "cell_class": "weak",
            "evidence": "predicted",
            "count": 0,
            "commune_id": rng.choice(villages["commune_id"].to_numpy(), n_cells),
            "lat": SOUTH + rng.random(n_cells) * span,
            "lon": WEST + rng.random(n_cells) * span,
        }
    )
    return verdicts, zones, cells


def timed(what: str, call: Callable[[], Any], *, repeat: int = 1) -> float:
    """Best of ``repeat`` runs of ``call``, printed."""
    best = min(_once(call) for _ in range(repeat))
    print(f"  {what:<44} {best * 1000:9.1f} ms")
    return best


def _once(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def cells_row_by_row(store: Store, cells: pd.DataFrame) -> None:
    """The baseline: one upsert a cell, as ``publish`` did before the COPY path."""
    with store.db.write() as conn:
        conn.execute("DELETE FROM cells")
        conn.executemany(
            upsert("cells", CELL_COLUMNS, ["h3", "carrier"]), to_rows(cells, CELL_COLUMNS)
        )


def main() -> None:
    """Run the comparison, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--villages", type=int, default=4000)
    parser.add_argument("--cells", type=int, default=200_000)
    args = parser.parse_args()
    communes, villages, sites = region(args.villages)
    verdicts, zones, cells = results(villages, args.cells)
    span = np.sqrt(args.villages) * SIDE
    box = (WEST + span * 0.45, SOUTH + span * 0.45, WEST + span * 0.55, SOUTH + span * 0.55)
    print(f"{len(communes)} communes, {len(villages)} villages, {len(cells)} cells; bbox {box}")
    times: dict[str, dict[str, float]] = {}
    with TemporaryDirectory() as directory:
        for location in (Path(directory) / "bench.sqlite3", postgres.fresh_database()):
            store = Store(location, device_salt="bench")
            print(store.dialect)
            times[store.dialect] = run(
                store, (communes, villages, sites), (verdicts, zones, cells), box
            )
            store.close()
    print("PostgreSQL / SQLite:")
    for name, sqlite_time in times["sqlite"].items():
        print(f"  {name:<44} {times['postgresql'][name] / sqlite_time:9.2f}")
    postgres.stop()


def run(
    store: Store,
    places: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame],
    judged: tuple[pd.DataFrame, gpd.GeoDataFrame, pd.DataFrame],
    box: tuple[float, float, float, float],
) -> dict[str, float]:
    """Time the writes and reads on one store; return the times by name."""
    cells = judged[2]
    times = {
        "replace_region": timed("replace_region", lambda: store.replace_region(*places)),
        "publish": timed("publish", lambda: store.publish(*judged)),
        "villages(bbox)": timed("villages(bbox)", lambda: store.villages(bbox=box), repeat=5),
        "dead_zones(bbox)": timed("dead_zones(bbox)", lambda: store.dead_zones(bbox=box), repeat=5),
        "find_sites(bbox)": timed("find_sites(bbox)", lambda: store.find_sites(bbox=box), repeat=5),
        "find_communes": timed(
            "find_communes('thuong c0001')", lambda: store.find_communes("thuong c0001"), repeat=5
        ),
    }
    print(f"  {len(store.villages(bbox=box))} villages in the box")
    if store.dialect == "postgresql":
        baseline = timed("cells row by row (baseline)", lambda: cells_row_by_row(store, cells))
        copied = timed("cells by COPY (replace_cells)", lambda: store.replace_cells(cells))
        print(f"  COPY / row by row: {copied / baseline:.2f}")
        explain(store, box)
    return times


def explain(store: Store, box: tuple[float, float, float, float]) -> None:
    """Print the plan of the villages' bbox query at this size."""
    conn = store.db.connection()
    conn.execute("ANALYZE villages")
    plan = conn.execute(
        "EXPLAIN ANALYZE SELECT id FROM villages v"
        " WHERE v.geometry && ST_MakeEnvelope(?, ?, ?, ?, 4326)",
        list(box),
    ).fetchall()
    print("  plan:\n" + "\n".join(f"    {row[0]}" for row in plan))


if __name__ == "__main__":
    main()
