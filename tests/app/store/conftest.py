"""Stores of the store tests, on each backend: a SQLite file, then a PostgreSQL database.

``loaded_store`` here replaces the API suite's (a client's SQLite store) for
the tests of this directory: the same tiny region, verdicts and dead zones
(``tests/app/conftest.py``), in a store of its own on ``database``'s backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from app.store import Store
from tests.app.conftest import load_tiny_region


@pytest.fixture
def backend_store(database: Path | str) -> Iterator[Store]:
    """An empty store on ``database`` (parametrised: SQLite, then PostgreSQL)."""
    store = Store(database, device_salt="test-salt")
    yield store
    store.close()


@pytest.fixture
def loaded_store(
    backend_store: Store,
    communes: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    results: pd.DataFrame,
    dead_zone_frame: gpd.GeoDataFrame,
) -> Store:
    """``backend_store`` holding the tiny region, fixed verdicts and dead zones."""
    return load_tiny_region(backend_store, communes, villages, sites, results, dead_zone_frame)
