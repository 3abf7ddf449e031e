"""SQLite storage: the one home of communes, villages, sites, readings and results.

:class:`Store` composes one repository per concern over one :class:`Database`:

- :mod:`app.store.places`: communes, villages, sites;
- :mod:`app.store.readings`: reading batches and their content keys;
- :mod:`app.store.results`: verdicts, dead zones and hex cells (``publish``);
- :mod:`app.store.keys`: API keys and idempotency records;
- :mod:`app.store.meta`: typed meta values (results version, refresh mark...).

Every table is created and upgraded by :mod:`app.store.schema`'s numbered
migrations. The facade's methods are one-line delegations, so callers say
``store.villages(...)`` whichever repository answers. Geometries are stored as
WKB; device identifiers only as salted hashes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from app.core.config import Rasters
from app.store.db import Database
from app.store.keys import Keys, StoredKey
from app.store.meta import Meta
from app.store.places import Places, SiteChanges, VillageChanges
from app.store.readings import Readings
from app.store.results import Results
from app.store.schema import migrate

__all__ = ["Database", "SiteChanges", "Store", "StoredKey", "VillageChanges"]


class Store:
    """All of lomsong's persistent state, in one SQLite file.

    Parameters
    ----------
    path : pathlib.Path
        The database file; its directory is created when missing.
    device_salt : str
        Salt for :func:`geodata.readings.hash_devices`; raw device ids never
        reach the database.
    """

    def __init__(self, path: Path, *, device_salt: str) -> None:
        self.db = Database(path)
        self.path = self.db.path
        migrate(self.db)
        self.meta = Meta(self.db)
        self.places = Places(self.db)
        self.batches = Readings(self.db, device_salt=device_salt)
        self.results = Results(self.db)
        self.keys = Keys(self.db)

    def _conn(self) -> sqlite3.Connection:
        return self.db.connection()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.db.query(sql, params)

    def close(self) -> None:
        """Close every thread's connection."""
        self.db.close()

    def counts(self) -> dict[str, int]:
        """Row counts of the main tables."""
        tables = ("communes", "villages", "sites", "reading_keys", "village_results", "dead_zones")
        conn = self.db.connection()
        counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}
        counts["readings"] = counts.pop("reading_keys")
        return counts

    # --- meta --------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A stored metadata value, or ``None``."""
        return self.meta.get(key)

    def set_meta(self, values: dict[str, str]) -> None:
        """Store metadata values (replacing earlier ones)."""
        self.meta.set(values)

    def results_version(self) -> int:
        """How many times results were written; 0 before the first."""
        return self.meta.results_version()

    def refresh_mark(self) -> int:
        """The newest batch every verdict reflects (0 when never set)."""
        return self.meta.refresh_mark()

    def mark_refreshed(self, batch_id: int) -> None:
        """Move the refresh mark forward to ``batch_id`` (never back)."""
        self.meta.mark_refreshed(batch_id)

    def stale_communes(self) -> dict[str, int]:
        """Communes left to re-judge, each with the refreshes queued for it."""
        return self.meta.stale_communes()

    def set_stale_communes(self, stale: dict[str, int]) -> None:
        """Replace the list of communes left to re-judge."""
        self.meta.set_stale_communes(stale)

    def rasters(self) -> Rasters:
        """The region's DEM and population rasters, as stored with the region."""
        return self.meta.rasters()

    def set_rasters(self, rasters: Rasters) -> None:
        """Store the region's rasters (a ``None`` path is stored as none)."""
        self.meta.set_rasters(rasters)

    def demo_fingerprint(self) -> str | None:
        """The fingerprint of the demo the store holds, if any."""
        return self.meta.demo_fingerprint()

    def set_demo(self, fingerprint: str, *, seed: int | None = None) -> None:
        """Record the demo loaded (``""``: none, while one is being loaded)."""
        self.meta.set_demo(fingerprint, seed=seed)

    # --- places ------------------------------------------------------------
    def replace_region(
        self, communes: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, sites: pd.DataFrame
    ) -> None:
        """Replace communes, villages and sites (and drop results that depended on them)."""
        self.places.replace_region(communes, villages, sites)

    def communes(self) -> gpd.GeoDataFrame:
        """All communes (id, name, district, province, geometry)."""
        return self.places.communes()

    def commune(self, commune_id: str) -> dict[str, Any]:
        """One commune's properties; raises :class:`NotFoundError` when unknown."""
        return self.places.commune(commune_id)

    def sites(self) -> pd.DataFrame:
        """All sites, in ``read_sites`` columns."""
        return self.places.sites()

    def villages(
        self,
        *,
        ids: Iterable[str] | None = None,
        commune_ids: Iterable[str] | None = None,
        with_results: bool = True,
        commune_id: str | None = None,
        verdict: str | None = None,
        province: str | None = None,
        district: str | None = None,
        name_contains: str | None = None,
    ) -> gpd.GeoDataFrame:
        """Villages, optionally with their stored results, filtered in SQL."""
        return self.places.villages(
            ids=ids,
            commune_ids=commune_ids,
            with_results=with_results,
            commune_id=commune_id,
            verdict=verdict,
            province=province,
            district=district,
            name_contains=name_contains,
        )

    def village(self, village_id: str) -> gpd.GeoDataFrame:
        """One village with its result; raises :class:`NotFoundError` when unknown."""
        return self.places.village(village_id)

    def upsert_sites(self, sites: pd.DataFrame, *, replace: bool = False) -> SiteChanges:
        """Add or update cells by their identity; with ``replace``, drop the others."""
        return self.places.upsert_sites(sites, replace=replace)

    def delete_sites(
        self, site_id: str, *, radio: str | None = None, cell_id: int | None = None
    ) -> int:
        """Delete a site's cells (only those of ``radio`` / ``cell_id`` when given)."""
        return self.places.delete_sites(site_id, radio=radio, cell_id=cell_id)

    def find_sites(
        self,
        *,
        carrier: str | None = None,
        radio: str | None = None,
        site_id: str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> gpd.GeoDataFrame:
        """Stored cells as points, by carrier, radio, site and ``(west, south, east, north)``."""
        return self.places.find_sites(carrier=carrier, radio=radio, site_id=site_id, bbox=bbox)

    def upsert_villages(self, villages: gpd.GeoDataFrame) -> VillageChanges:
        """Add or update villages by id; add the communes none of them had yet."""
        return self.places.upsert_villages(villages)

    def delete_village(self, village_id: str) -> str | None:
        """Delete a village and its verdict; ``None`` when there is no such village."""
        return self.places.delete_village(village_id)

    def village_points(self, commune_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """One point inside each village (of ``commune_ids``; all when ``None``), as lat/lon."""
        return self.places.village_points(commune_ids)

    # --- readings ----------------------------------------------------------
    def add_readings(
        self, valid: pd.DataFrame, *, origin: str = "upload", request: str | None = None
    ) -> tuple[int, int]:
        """Store validated readings; returns ``(new, duplicates)``."""
        return self.batches.add_readings(valid, origin=origin, request=request)

    def last_batch_id(self) -> int:
        """The id of the newest stored batch (0 when there is none)."""
        return self.batches.last_batch_id()

    def reading_positions(self, *, after_batch: int) -> pd.DataFrame:
        """``lat``/``lon`` of the readings in batches newer than ``after_batch``."""
        return self.batches.reading_positions(after_batch=after_batch)

    def stored_by_request(self, request: str, keys: pd.Series, *, up_to_batch: int) -> int:
        """How many of ``keys`` batches up to ``up_to_batch`` stored for ``request``."""
        return self.batches.stored_by_request(request, keys, up_to_batch=up_to_batch)

    def clear_readings(self, *, origin: str) -> None:
        """Delete the stored readings of one origin (``"demo"``); uploads stay."""
        self.batches.clear_readings(origin=origin)

    def readings_count(self) -> int:
        """How many readings are stored."""
        return self.batches.readings_count()

    def readings(self, *, bounds: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
        """Stored readings (:data:`STORED_COLUMNS`) in upload order."""
        return self.batches.readings(bounds=bounds)

    def iter_readings(
        self, columns: Sequence[str], *, batch_rows: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """Stored readings in frames of at most ``batch_rows``, in upload order."""
        return self.batches.iter_readings(columns, batch_rows=batch_rows)

    # --- results -----------------------------------------------------------
    def publish(
        self,
        villages: pd.DataFrame,
        dead_zones: gpd.GeoDataFrame,
        cells: pd.DataFrame,
        *,
        commune_ids: Iterable[str] | None = None,
    ) -> None:
        """Store one analysis' results in one transaction, with one version bump."""
        self.results.publish(villages, dead_zones, cells, commune_ids=commune_ids)

    def save_results(self, villages: pd.DataFrame) -> None:
        """Insert or replace the verdicts of the given villages (``analyze`` output)."""
        self.results.save_results(villages)

    def replace_dead_zones(
        self, dead_zones: gpd.GeoDataFrame, *, commune_ids: Iterable[str] | None = None
    ) -> None:
        """Replace the dead zones of ``commune_ids`` (all communes when ``None``)."""
        self.results.replace_dead_zones(dead_zones, commune_ids=commune_ids)

    def replace_cells(
        self, cells: pd.DataFrame, *, commune_ids: Iterable[str] | None = None
    ) -> None:
        """Replace the cells of ``commune_ids`` (all when ``None``) with ``cells``."""
        self.results.replace_cells(cells, commune_ids=commune_ids)

    def dead_zones(
        self,
        *,
        commune_id: str | None = None,
        verdict: str | None = None,
        province: str | None = None,
        district: str | None = None,
    ) -> gpd.GeoDataFrame:
        """Stored dead zones, of one commune, verdict, province or district."""
        return self.results.dead_zones(
            commune_id=commune_id, verdict=verdict, province=province, district=district
        )

    def cells(
        self,
        *,
        commune_ids: Iterable[str] | None = None,
        carrier: str | None = None,
        radio: str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        province: str | None = None,
        district: str | None = None,
    ) -> pd.DataFrame:
        """Stored cells, by commune, carrier, radio, ``(west, south, east, north)``, place."""
        return self.results.cells(
            commune_ids=commune_ids,
            carrier=carrier,
            radio=radio,
            bbox=bbox,
            province=province,
            district=district,
        )

    # --- API keys and idempotency ------------------------------------------
    def add_api_key(self, key_id: str, key_hash: str, *, role: str, name: str | None) -> StoredKey:
        """Store a new key's hash under its public id."""
        return self.keys.add_api_key(key_id, key_hash, role=role, name=name)

    def api_key_by_hash(self, key_hash: str) -> StoredKey | None:
        """The key whose hash is ``key_hash`` (revoked or not), or ``None``."""
        return self.keys.api_key_by_hash(key_hash)

    def api_keys(self) -> list[StoredKey]:
        """Every key ever created, oldest first."""
        return self.keys.api_keys()

    def revoke_api_key(self, key_id: str) -> bool:
        """Mark a key revoked; ``False`` when no live key has that id."""
        return self.keys.revoke_api_key(key_id)

    def idempotent_response(self, scope: str, key: str) -> tuple[str, str] | None:
        """``(request_hash, response_json)`` first stored for ``(scope, key)``, or ``None``."""
        return self.keys.idempotent_response(scope, key)

    def save_idempotent_response(
        self, scope: str, key: str, *, request_hash: str, response: str
    ) -> None:
        """Remember the first answer to ``(scope, key)``; later saves keep the first."""
        self.keys.save_idempotent_response(scope, key, request_hash=request_hash, response=response)
