"""The service's settings: one pydantic-settings class, read from ``LOMSONG_*``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The salt shipped in the code; the demo's, refused anywhere else.
PLACEHOLDER_SALT = "changethis"
#: Why the service will not start without a salt of its own.
SALT_REQUIRED = (
    f"LOMSONG_DEVICE_SALT is unset, empty or the public placeholder {PLACEHOLDER_SALT!r}; "
    "outside the demo (LOMSONG_DEMO=1) set it to a secret, e.g. "
    "`export LOMSONG_DEVICE_SALT=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`"
)

# 10 MB holds ~40,000 JSON readings: a long field day uploaded in one batch.
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
# A G-NetTrack log of a week's driving or an OpenCelliD measurement export runs
# to hundreds of MB; imports are spooled to disk and parsed in chunks.
DEFAULT_MAX_IMPORT_BYTES = 1024 * 1024 * 1024
# Ten requests a second per key: far above any phone's upload pattern, low
# enough that a runaway client cannot starve the field teams.
DEFAULT_RATE_LIMIT_PER_MINUTE = 600


#: The demo generator's default seed (``LOMSONG_DEMO_SEED``, ``lomsong demo --seed``).
DEFAULT_DEMO_SEED = 7


@dataclass(frozen=True)
class Rasters:
    """The region's rasters: a DEM (terrain) and a population grid; ``None`` when absent."""

    dem: Path | None = None
    population: Path | None = None

    def over(self, fallback: Rasters) -> Rasters:
        """Return these paths, each missing one taken from ``fallback``.

        >>> Rasters(dem=Path("a.tif")).over(Rasters(Path("b.tif"), Path("p.tif")))
        Rasters(dem=PosixPath('a.tif'), population=PosixPath('p.tif'))
        """
        return Rasters(self.dem or fallback.dem, self.population or fallback.population)


def default_assets_dir() -> Path:
    """``<repo>/node_modules``, found from this package's location (``make assets``)."""
    return Path(__file__).resolve().parents[2] / "node_modules"


class Settings(BaseSettings):
    """Everything the service reads from its environment (prefix ``LOMSONG_``).

    Examples
    --------
    >>> Settings(data_dir="/tmp/lomsong", demo=True).demo_seed
    7
    """

    # A refusal never echoes the values given (the salt and paths stay out of logs).
    model_config = SettingsConfigDict(
        env_prefix="LOMSONG_", extra="ignore", hide_input_in_errors=True
    )

    data_dir: Path = Path("./var")
    environment: Literal["local", "production"] = "local"
    demo: bool = False
    demo_seed: int = DEFAULT_DEMO_SEED
    device_salt: str = PLACEHOLDER_SALT
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    assets_dir: Path = Field(default_factory=default_assets_dir)
    lang_default: Literal["vi", "en"] = "vi"
    #: A tile URL template (``.../{z}/{x}/{y}.png``) offered as an extra base map on
    #: the map pages. Off by default: the pages work offline on the DEM hillshade.
    online_tiles: str | None = None
    #: Largest file ``POST /api/v1/readings/import`` takes (after gunzip).
    max_import_bytes: int = Field(default=DEFAULT_MAX_IMPORT_BYTES, gt=0)
    #: Let uploads through without an API key; follows ``demo`` unless set.
    allow_anonymous_upload: bool = False
    #: Requests per minute per API key (per client address when anonymous).
    rate_limit_per_minute: int = Field(default=DEFAULT_RATE_LIMIT_PER_MINUTE, gt=0)
    #: Requests per minute per client address on the public pages and queries without a key.
    public_rate_limit_per_minute: int = Field(default=1200, gt=0)
    #: Rows per parsed chunk of an imported file (memory is bounded by it).
    import_chunk_rows: int = Field(default=100_000, gt=0)
    #: The region's DEM (GeoTIFF); overrides the one stored with the region (the demo's).
    dem_path: Path | None = None
    #: The region's population raster; overrides the one stored with the region.
    population_path: Path | None = None

    #: ``postgresql://user:password@host/db`` stores everything in PostgreSQL/PostGIS
    #: (``LOMSONG_DATABASE_URL``); unset, the embedded SQLite file :attr:`db_path`.
    database_url: str | None = None

    #: Where full re-analyses run (``LOMSONG_CLUSTER``): ``local:N`` starts a
    #: dask ``LocalCluster`` of N worker processes, ``tcp://HOST:8786`` uses a
    #: running scheduler (:func:`coverage.tiles.client_for`); unset, in process.
    cluster: str | None = None

    @field_validator("cluster")
    @classmethod
    def _cluster_spec(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if re.fullmatch(r"local:[1-9][0-9]*|(tcp|tls)://\S+", value) is None:
            raise ValueError(f"{value!r}: expected local:N (N ≥ 1) or tcp://HOST:PORT")
        return value

    @property
    def db_path(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "lomsong.sqlite3"

    @property
    def database(self) -> Path | str:
        """Where the store lives: the PostgreSQL URL when set, else the SQLite file."""
        return self.database_url or self.db_path

    @property
    def rasters(self) -> Rasters:
        """The rasters these settings name (each ``None`` unless set)."""
        return Rasters(dem=self.dem_path, population=self.population_path)

    @property
    def leaflet_dir(self) -> Path:
        """Leaflet's ``dist`` directory, served at ``/static/leaflet``."""
        return self.assets_dir / "leaflet" / "dist"

    @property
    def swagger_ui_dir(self) -> Path:
        """Swagger UI's files (npm ``swagger-ui-dist``), served at ``/static/swagger-ui``."""
        return self.assets_dir / "swagger-ui-dist"

    @property
    def redoc_dir(self) -> Path:
        """ReDoc's bundles (npm ``redoc``), served at ``/static/redoc``."""
        return self.assets_dir / "redoc" / "bundles"

    @model_validator(mode="after")
    def _anonymous_upload_follows_demo(self) -> Settings:
        # The demo is for a field team trying the app: uploads work without a key.
        if "allow_anonymous_upload" not in self.model_fields_set:
            self.allow_anonymous_upload = self.demo
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_salt(self) -> Settings:
        # A known salt makes device hashes reversible by brute force over IMEIs.
        # Only the demo (LOMSONG_DEMO=1, synthetic devices) may run on the
        # placeholder, whatever LOMSONG_ENVIRONMENT says.
        if not self.demo and self.device_salt.strip() in {"", PLACEHOLDER_SALT}:
            raise ValueError(SALT_REQUIRED)
        return self


@lru_cache
def get_settings() -> Settings:
    """Return the settings built from the environment, once per process."""
    return Settings()
