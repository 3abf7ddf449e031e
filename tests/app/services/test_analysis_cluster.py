"""The service's full re-analysis runs on LOMSONG_CLUSTER; a refresh of some communes does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.core.config import get_settings
from app.services import analysis
from app.store import Store
from geodata.readings import validate_readings


class _Store:
    def last_batch_id(self) -> int:
        return 0


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[object, object]]]:
    calls: list[tuple[object, object]] = []

    def analyse(store: object, communes: object, *, rasters: object = None, cluster: object = None):
        calls.append((communes, cluster))
        return None  # no villages: nothing published

    monkeypatch.setattr(analysis, "analyse", analyse)
    get_settings.cache_clear()
    yield calls
    get_settings.cache_clear()


def test_a_full_reanalysis_runs_on_the_cluster(
    seen: list[tuple[object, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOMSONG_DEMO", "1")
    monkeypatch.setenv("LOMSONG_CLUSTER", "tcp://10.0.0.5:8786")
    assert analysis.analyze_communes(_Store(), None) == []  # type: ignore[arg-type]
    assert analysis.analyze_communes(_Store(), ["thuong-nong"]) == []  # type: ignore[arg-type]
    assert seen == [(None, "tcp://10.0.0.5:8786"), (["thuong-nong"], None)]


def test_without_the_setting_it_runs_in_process(
    seen: list[tuple[object, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOMSONG_CLUSTER", raising=False)
    assert analysis.analyze_communes(_Store(), None) == []  # type: ignore[arg-type]
    assert seen == [(None, None)]


def _readings_near(lon: float, lat: float, n: int) -> pd.DataFrame:
    """``n`` Viettel LTE readings on a 40 m grid around (lon, lat), weakening outwards."""
    rng = np.random.default_rng(5)
    dx, dy = rng.uniform(-0.01, 0.01, n), rng.uniform(-0.01, 0.01, n)
    frame = pd.DataFrame(
        {
            "time": pd.Timestamp("2026-10-05T03:00:00Z") + pd.to_timedelta(np.arange(n), "s"),
            "lat": lat + dy,
            "lon": lon + dx,
            "mcc": 452,
            "mnc": 4,
            "radio": "lte",
            "signal_dbm": -80.0 - 2_000.0 * np.hypot(dx, dy),
            "no_service": False,
            "cell_id": 1001,
            "device": [f"phone-{i % 7}" for i in range(n)],
        }
    )
    return validate_readings(frame, now=pd.Timestamp("2026-11-01T00:00:00Z")).valid


def test_the_full_reanalysis_on_a_local_cluster_publishes_the_single_runs_verdicts(
    loaded_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real 2-worker LocalCluster: the same verdicts and households as in process."""
    loaded_store.add_readings(_readings_near(105.495, 22.565, 400))
    in_process = analysis.analyse(loaded_store)
    assert in_process is not None

    monkeypatch.setenv("LOMSONG_DEMO", "1")
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOMSONG_CLUSTER", "local:2")
    get_settings.cache_clear()
    try:
        judged = analysis.analyze_communes(loaded_store, None)
    finally:
        get_settings.cache_clear()

    assert sorted(judged) == ["ban-giong", "dong-da-1", "na-ta"]
    stored = loaded_store.villages().set_index("id")
    expected = in_process.villages.set_index("id")
    assert stored.loc[sorted(judged), "verdict"].tolist() == (
        expected.loc[sorted(judged), "verdict"].tolist()
    )
    assert stored.loc[sorted(judged), "households_without_signal"].tolist() == (
        expected.loc[sorted(judged), "households_without_signal"].astype(int).tolist()
    )
