"""Places on both backends: communes with unit types and former names, villages' boundary."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from app.store import Store
from app.store.db import Database
from app.store.schema import MIGRATIONS, migrate
from geodata.villages import normalise_villages

SALT = "test-salt"


def communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["thuong-nong", "na-hang"],
            "name": ["Thượng Nông", "Na Hang"],
            "district": [None, None],
            "province": ["Tuyên Quang"] * 2,
            "unit_type": ["xã", "thị trấn"],
            "aliases": [["Thượng Giáp", "Xuân Tân"], []],
        },
        geometry=[shapely.box(105.4, 22.5, 105.5, 22.6), shapely.box(105.5, 22.5, 105.6, 22.6)],
        crs="EPSG:4326",
    )


def villages() -> gpd.GeoDataFrame:
    return normalise_villages(
        gpd.GeoDataFrame(
            {
                "id": ["a", "b"],
                "name": ["Bản A", "Bản B"],
                "commune": ["Thượng Nông", "Na Hang"],
                "province": ["Tuyên Quang"] * 2,
                "households": [10, 20],
                "boundary": ["voronoi", "polygon"],
            },
            geometry=[
                shapely.box(105.4, 22.5, 105.45, 22.55),
                shapely.box(105.5, 22.5, 105.55, 22.55),
            ],
            crs="EPSG:4326",
        )
    )


def test_communes_keep_unit_types_and_former_names(database: Path | str) -> None:
    store = Store(database, device_salt=SALT)
    store.replace_region(communes(), villages(), pd.DataFrame())
    stored = store.communes().set_index("id")
    assert stored.loc["thuong-nong", "unit_type"] == "xã"
    assert stored.loc["thuong-nong", "aliases"] == ["Thượng Giáp", "Xuân Tân"]
    assert stored.loc["na-hang", "aliases"] is None
    assert stored.loc["na-hang", "district"] is None
    assert store.commune("thuong-nong")["aliases"] == ["Thượng Giáp", "Xuân Tân"]
    # A search for a former name, without diacritics, finds the merged commune.
    for q in ("Thượng Giáp", "thuong giap", "XUAN TAN", "Thượng Nông"):
        assert store.find_communes(q)["id"].tolist() == ["thuong-nong"], q
    assert store.find_communes("Na")["id"].tolist() == ["na-hang"]
    assert store.find_communes("giap tan").empty
    store.close()


def test_villages_keep_how_their_outline_was_made(database: Path | str) -> None:
    store = Store(database, device_salt=SALT)
    store.replace_region(communes(), villages(), pd.DataFrame())
    stored = store.villages().set_index("id")
    assert stored["boundary"].to_dict() == {"a": "voronoi", "b": "polygon"}
    assert stored["district"].isna().all()
    store.close()


def test_a_commune_made_from_villages_has_no_unit_type(database: Path | str) -> None:
    store = Store(database, device_salt=SALT)
    store.replace_region(communes().iloc[:1], villages().iloc[:1], pd.DataFrame())
    changes = store.upsert_villages(villages().iloc[1:])
    assert changes.communes_added == 1
    added = store.communes().set_index("id").loc["na-hang"]
    assert pd.isna(added["unit_type"]) and added["aliases"] is None
    store.close()


def test_migration_6_marks_earlier_villages_as_drawn(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = Database(path)
    for step in MIGRATIONS[:4]:  # a database of before migration 6 (5 has no villages change)
        with db.write() as conn:
            step(conn)
    with db.write() as conn:
        conn.execute("PRAGMA user_version = 4")
        conn.execute(
            "INSERT INTO villages (id, name, name_folded, geometry) VALUES ('v', 'V', 'v', x'00')"
        )
    db.close()
    db = Database(path)
    assert migrate(db)[-1] == len(MIGRATIONS)
    db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT boundary FROM villages").fetchall() == [("polygon",)]
        columns = {row[1] for row in conn.execute("PRAGMA table_info(communes)")}
    assert {"unit_type", "aliases", "aliases_folded"} <= columns
