"""The demo region in a store, as a planner's service holds it, without a population raster.

Shared by the plan API and browser tests (one session fixture): the demo
(seed 7) is written, loaded and analysed; the DEM is the region's
raster, the population raster is left out (a real region often has none).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.config import Rasters, Settings
from app.services.analysis import analyze_communes
from app.store import Store
from geodata.demo import DemoFiles, write_demo
from geodata.formats import read_readings, read_sites, read_villages, validate_chunks
from geodata.villages import read_communes
from tests.app.conftest import database_url_for


@dataclass(frozen=True)
class PlanRegion:
    settings: Settings
    files: DemoFiles


@pytest.fixture(scope="session")
def plan_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlanRegion]:
    data = tmp_path_factory.mktemp("plan-region")
    settings = Settings(
        data_dir=data / "var",
        device_salt="plan-test",
        environment="local",
        database_url=database_url_for(data / "var"),
    )
    files = write_demo(data / "demo", seed=7)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database, device_salt=settings.device_salt)
    try:
        villages, sites = read_villages(files.villages), read_sites(files.sites)
        store.replace_region(
            read_communes(files.communes),
            villages.valid.reset_index(drop=True),
            sites.valid.drop(columns="cell_key").reset_index(drop=True),
        )
        store.add_readings(validate_chunks(read_readings(files.readings)).valid, origin="demo")
        store.set_rasters(Rasters(dem=Path(files.dem)))
        analyze_communes(store)  # every commune: nothing left for the refresher to redo
    finally:
        store.close()
    yield PlanRegion(settings, files)
