"""Settings: environment prefix, defaults, and the salt required outside the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import PLACEHOLDER_SALT, SALT_REQUIRED, Rasters, Settings, get_settings
from app.main import app_from_env


def test_reads_the_lomsong_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LOMSONG_DEMO", "true")
    monkeypatch.setenv("LOMSONG_DEMO_SEED", "11")

    settings = Settings()

    assert (settings.data_dir, settings.demo, settings.demo_seed) == (tmp_path, True, 11)
    assert settings.lang_default == "vi"
    assert settings.leaflet_dir == settings.assets_dir / "leaflet" / "dist"
    assert (settings.leaflet_dir / "leaflet.js").is_file()


@pytest.mark.parametrize("environment", ["local", "production"])
@pytest.mark.parametrize("salt", [None, "", "  ", PLACEHOLDER_SALT])
def test_no_salt_or_the_placeholder_is_refused_outside_the_demo(
    environment: str, salt: str | None
) -> None:
    given = {} if salt is None else {"device_salt": salt}

    with pytest.raises(ValidationError) as refused:
        Settings(environment=environment, **given)

    assert refused.value.errors()[0]["msg"] == f"Value error, {SALT_REQUIRED}"
    assert "LOMSONG_DEVICE_SALT" in str(refused.value)


def test_app_from_env_refuses_to_start_without_a_salt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOMSONG_DEVICE_SALT", raising=False)
    monkeypatch.delenv("LOMSONG_DEMO", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError, match="LOMSONG_DEVICE_SALT is unset"):
            app_from_env()
        monkeypatch.setenv("LOMSONG_DEVICE_SALT", "a-secret")
        get_settings.cache_clear()
        assert app_from_env().state.settings.device_salt == "a-secret"
    finally:
        get_settings.cache_clear()


def test_the_demo_may_use_the_placeholder_and_a_secret_is_kept() -> None:
    assert Settings(environment="production", demo=True).device_salt == PLACEHOLDER_SALT
    assert Settings(environment="production", device_salt="s3cret").device_salt == "s3cret"
    assert Settings(device_salt="s3cret").device_salt == "s3cret"


def test_rasters_come_from_lomsong_dem_and_population_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LOMSONG_DEM_PATH", str(tmp_path / "dem.tif"))

    rasters = Settings(device_salt="s").rasters

    assert rasters == Rasters(dem=tmp_path / "dem.tif", population=None)
