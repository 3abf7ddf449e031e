"""Schemathesis against the service's own OpenAPI schema: no 5xx, and answers as declared.

The app runs in-process on a tiny region (two communes, three villages),
with anonymous uploads on so the upload endpoints parse the generated bodies
instead of stopping at the key check. Bounded: a few examples per operation.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import schemathesis
import shapely
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from app.core.config import Settings
from app.main import create_app
from app.store import Store
from geodata.sites import normalise_sites
from geodata.villages import normalise_villages
from tests.app.conftest import database_url_for

pytestmark = pytest.mark.slow

WGS84 = "EPSG:4326"


def _tiny_region(path: Path | str) -> None:
    store = Store(path, device_salt="schemathesis")
    communes = gpd.GeoDataFrame(
        {
            "id": ["thuong-nong"],
            "name": ["Thượng Nông"],
            "district": ["Na Hang"],
            "province": ["Tuyên Quang"],
        },
        geometry=[shapely.box(105.46, 22.55, 105.51, 22.58)],
        crs=WGS84,
    )
    villages = normalise_villages(
        gpd.GeoDataFrame(
            {
                "id": ["ban-giong", "na-ta"],
                "name": ["Bản Giòng", "Nà Tà"],
                "commune": ["Thượng Nông"] * 2,
                "district": ["Na Hang"] * 2,
                "province": ["Tuyên Quang"] * 2,
                "households": [98, 40],
            },
            geometry=[
                shapely.box(105.49, 22.56, 105.50, 22.57),
                shapely.box(105.47, 22.56, 105.48, 22.57),
            ],
            crs=WGS84,
        )
    )
    sites = normalise_sites(
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
        )
    )
    store.replace_region(communes, villages, sites)
    store.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    data_dir = tmp_path_factory.mktemp("schemathesis-var")
    settings = Settings(
        data_dir=data_dir,
        device_salt="schemathesis",
        allow_anonymous_upload=True,
        rate_limit_per_minute=100_000,
        max_import_bytes=1024 * 1024,
        database_url=database_url_for(data_dir),
    )
    _tiny_region(settings.database)
    return create_app(settings)


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# Examples per operation: enough to reach every parameter's edge cases, small
# enough that the whole schema runs in well under two minutes.
EXAMPLES_PER_OPERATION = 15


def test_no_input_gets_a_server_error_and_answers_match_the_schema(
    api_schema: schemathesis.BaseSchema,
) -> None:
    # schemathesis's pytest loader (``from_fixture``) does not run under pytest 9
    # yet, so each operation is driven here with its own Hypothesis run.
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            # The same examples on every run: a failure here is a bug, not bad luck.
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

        try:
            call()
        except Exception as exc:  # collect every failing operation, not just the first
            where = "".join(traceback.format_exception(exc, limit=-4))
            failures.append(f"{operation.label}: {exc!r}\n{where}")

    assert not failures, "\n\n".join(failures)
