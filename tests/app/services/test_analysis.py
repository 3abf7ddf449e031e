"""Running the analysis on the store: which rasters it uses, and what it publishes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core.config import Rasters, Settings
from app.services import analysis
from app.store import Store


@pytest.fixture
def analyze_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of each ``coverage.pipeline.analyze`` call (then it stops)."""
    calls: list[dict[str, Any]] = []

    def record(*args: object, **kwargs: Any) -> None:
        calls.append(kwargs)
        raise RuntimeError("stop after the call")

    monkeypatch.setattr(analysis, "analyze", record)
    return calls


def test_settings_rasters_override_the_regions_one_by_one(
    loaded_store: Store, analyze_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    loaded_store.set_rasters(Rasters(dem=tmp_path / "demo-dem.tif", population=tmp_path / "p.tif"))
    settings = Settings(device_salt="s", dem_path=tmp_path / "survey-dem.tif")

    for rasters in (None, settings.rasters):
        with pytest.raises(RuntimeError, match="stop after the call"):
            analysis.analyze_communes(loaded_store, rasters=rasters)

    assert [(c["dem"], c["population"]) for c in analyze_calls] == [
        (tmp_path / "demo-dem.tif", tmp_path / "p.tif"),
        (tmp_path / "survey-dem.tif", tmp_path / "p.tif"),
    ]


def test_a_region_without_rasters_analyses_without_them(
    loaded_store: Store, analyze_calls: list[dict[str, Any]]
) -> None:
    with pytest.raises(RuntimeError, match="stop after the call"):
        analysis.analyze_communes(loaded_store)

    assert (analyze_calls[0]["dem"], analyze_calls[0]["population"]) == (None, None)


def test_an_analysis_is_published_with_one_version_bump(loaded_store: Store) -> None:
    before = loaded_store.results_version()

    judged = analysis.analyze_communes(loaded_store, ["thuong-nong"])

    assert sorted(judged) == ["ban-giong", "na-ta"]
    assert loaded_store.results_version() == before + 1
