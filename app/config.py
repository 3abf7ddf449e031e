"""The service's settings: one pydantic-settings class, read from ``LOMSONG_*``."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

#: The salt shipped in the code; fine for the demo and a laptop, refused elsewhere.
PLACEHOLDER_SALT = "changethis"

# 10 MB holds ~40,000 JSON readings: a long field day uploaded in one batch.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


def default_assets_dir() -> Path:
    """``<repo>/node_modules``, found from this package's location (``make assets``)."""
    return Path(__file__).resolve().parent.parent / "node_modules"


class Settings(BaseSettings):
    """Everything the service reads from its environment (prefix ``LOMSONG_``).

    Examples
    --------
    >>> Settings(data_dir="/tmp/lomsong", demo=True).demo_seed
    7
    """

    model_config = SettingsConfigDict(env_prefix="LOMSONG_", extra="ignore")

    data_dir: Path = Path("./var")
    environment: Literal["local", "production"] = "local"
    demo: bool = False
    demo_seed: int = 7
    device_salt: str = PLACEHOLDER_SALT
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    assets_dir: Path = Field(default_factory=default_assets_dir)
    lang_default: Literal["vi", "en"] = "vi"
    #: A tile URL template (``.../{z}/{x}/{y}.png``) offered as an extra base map on
    #: the map pages. Off by default: the pages work offline on the DEM hillshade.
    online_tiles: str | None = None

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "lomsong.sqlite3"

    @property
    def leaflet_dir(self) -> Path:
        """Leaflet's ``dist`` directory, served at ``/static/leaflet``."""
        return self.assets_dir / "leaflet" / "dist"

    @model_validator(mode="after")
    def _refuse_placeholder_salt(self) -> Settings:
        # A known salt makes device hashes reversible by brute force over IMEIs.
        if self.device_salt == PLACEHOLDER_SALT and not self.demo:
            message = (
                f"LOMSONG_DEVICE_SALT is {PLACEHOLDER_SALT!r}; set a secret value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
            if self.environment != "local":
                raise ValueError(message)
            logger.warning("%s (accepted because LOMSONG_ENVIRONMENT=local)", message)
        return self


@lru_cache
def get_settings() -> Settings:
    """The settings built from the environment, once per process."""
    return Settings()
