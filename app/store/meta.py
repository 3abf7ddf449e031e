"""The meta table behind typed accessors: every key the service keeps is named here.

- ``results_version``: how many times what a map shows changed; keys the page
  cache and the ETags. Bumped inside the write that changes it.
- ``refreshed_through_batch``: the newest readings batch every verdict
  already reflects (:mod:`app.services.refresh`).
- ``stale_communes``: communes admin changes left to re-judge, each with how
  many queued refreshes still cover it.
- ``dem_path``, ``population_path``: the region's rasters, written with the
  region (the demo loader, or a future ``lomsong region``); the settings
  ``LOMSONG_DEM_PATH`` and ``LOMSONG_POPULATION_PATH`` override them.
- ``demo_fingerprint``, ``demo_seed``: which demo the store holds.
- ``buildings_path``: the region's buildings (points, a GeoPackage), written by
  ``lomsong region load --buildings``; the analysis counts households by them.
- ``region``: what ``lomsong region load`` loaded (JSON: when, the files, their CRS).
"""

from __future__ import annotations

import json
from pathlib import Path

from app.core.config import Rasters
from app.store.db import AnyDatabase, Connection
from app.store.sql import upsert

RESULTS_VERSION = "results_version"
REFRESH_MARK = "refreshed_through_batch"
STALE_COMMUNES = "stale_communes"
DEM_PATH = "dem_path"
POPULATION_PATH = "population_path"
DEMO_FINGERPRINT = "demo_fingerprint"
DEMO_SEED = "demo_seed"
REGION = "region"
BUILDINGS_PATH = "buildings_path"


def bump_results_version(conn: Connection) -> None:
    """Increment the results version inside the caller's write transaction.

    One statement, atomic on either backend (the value is text on both).
    """
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE"
        " SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)",
        (RESULTS_VERSION,),
    )


#: Store one meta value, replacing an earlier one (both backends).
_SET = upsert("meta", ("key", "value"), ("key",))


class Meta:
    """Typed reads and writes of the meta table."""

    def __init__(self, db: AnyDatabase) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        """Return a stored metadata value, or ``None``."""
        row = self._db.connection().execute("SELECT value FROM meta WHERE key = ?", (key,))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def set(self, values: dict[str, str]) -> None:
        """Store metadata values (replacing earlier ones)."""
        with self._db.write() as conn:
            conn.executemany(_SET, list(values.items()))

    def results_version(self) -> int:
        """How many times results were written; 0 before the first."""
        return int(self.get(RESULTS_VERSION) or 0)

    def refresh_mark(self) -> int:
        """Return the newest batch every verdict reflects (0 when never set)."""
        return int(self.get(REFRESH_MARK) or 0)

    def mark_refreshed(self, batch_id: int) -> None:
        """Move the refresh mark forward to ``batch_id`` (never back)."""
        with self._db.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (REFRESH_MARK,)).fetchone()
            if batch_id > (0 if row is None else int(row[0])):
                conn.execute(_SET, (REFRESH_MARK, str(batch_id)))

    def stale_communes(self) -> dict[str, int]:
        """Communes left to re-judge, each with the refreshes queued for it."""
        return {str(k): int(v) for k, v in json.loads(self.get(STALE_COMMUNES) or "{}").items()}

    def set_stale_communes(self, stale: dict[str, int]) -> None:
        """Replace the list of communes left to re-judge."""
        self.set({STALE_COMMUNES: json.dumps(stale, sort_keys=True)})

    def add_stale_communes(self, steps: dict[str, int]) -> dict[str, int]:
        """Add each step to its commune's count, in one write (atomic across processes).

        Communes whose count falls to 0 or below leave the list; returns the list.
        """
        with self._db.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (STALE_COMMUNES,))
            found = row.fetchone()
            stale = {str(k): int(v) for k, v in json.loads(found[0] if found else "{}").items()}
            for commune, step in steps.items():
                stale[commune] = stale.get(commune, 0) + step
            stale = {c: n for c, n in stale.items() if n > 0}
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (STALE_COMMUNES, json.dumps(stale, sort_keys=True)),
            )
        return stale

    def rasters(self) -> Rasters:
        """Return the region's DEM and population rasters, as stored with the region."""
        dem, population = self.get(DEM_PATH), self.get(POPULATION_PATH)
        return Rasters(
            dem=Path(dem) if dem else None, population=Path(population) if population else None
        )

    def set_rasters(self, rasters: Rasters) -> None:
        """Store the region's rasters (a ``None`` path is stored as none)."""
        self.set(
            {
                DEM_PATH: "" if rasters.dem is None else str(rasters.dem),
                POPULATION_PATH: "" if rasters.population is None else str(rasters.population),
            }
        )

    def demo_fingerprint(self) -> str | None:
        """Return the fingerprint of the demo the store holds, if any."""
        return self.get(DEMO_FINGERPRINT) or None

    def set_demo(self, fingerprint: str, *, seed: int | None = None) -> None:
        """Record the demo loaded (``""``: none, while one is being loaded)."""
        values = {DEMO_FINGERPRINT: fingerprint}
        if seed is not None:
            values[DEMO_SEED] = str(seed)
        self.set(values)

    def region(self) -> dict[str, object] | None:
        """Return what the last region load recorded (files, CRS, when), or ``None``."""
        text = self.get(REGION)
        return json.loads(text) if text else None

    def set_region(self, record: dict[str, object]) -> None:
        """Record a region load (plain JSON values)."""
        self.set({REGION: json.dumps(record, ensure_ascii=False, sort_keys=True)})

    def buildings_path(self) -> Path | None:
        """Return the region's buildings file (points, EPSG:4326), or ``None``."""
        path = self.get(BUILDINGS_PATH)
        return Path(path) if path else None

    def set_buildings_path(self, path: Path | None) -> None:
        """Record the region's buildings file (``None``: none)."""
        self.set({BUILDINGS_PATH: "" if path is None else str(path)})
