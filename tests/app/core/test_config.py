"""Settings: environment prefix, defaults, and the placeholder salt refused outside dev."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import PLACEHOLDER_SALT, Rasters, Settings


def test_reads_the_lomsong_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOMSONG_DEMO", "true")
    monkeypatch.setenv("LOMSONG_DEMO_SEED", "11")

    settings = Settings()

    assert (settings.data_dir, settings.demo, settings.demo_seed) == (tmp_path, True, 11)
    assert settings.lang_default == "vi"
    assert settings.leaflet_dir == settings.assets_dir / "leaflet" / "dist"
    assert (settings.leaflet_dir / "leaflet.js").is_file()


def test_placeholder_salt_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="LOMSONG_DEVICE_SALT"):
        Settings(environment="production")


def test_placeholder_salt_is_accepted_for_the_demo_and_locally() -> None:
    assert Settings(environment="production", demo=True).device_salt == PLACEHOLDER_SALT
    assert Settings(environment="local").device_salt == PLACEHOLDER_SALT
    assert Settings(environment="production", device_salt="s3cret").device_salt == "s3cret"


def test_rasters_come_from_lomsong_dem_and_population_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOMSONG_DEM_PATH", str(tmp_path / "dem.tif"))

    rasters = Settings(device_salt="s").rasters

    assert rasters == Rasters(dem=tmp_path / "dem.tif", population=None)
