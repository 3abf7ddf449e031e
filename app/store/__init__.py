"""Storage, SQLite or PostgreSQL/PostGIS: the one home of places, readings and results.

:class:`Store` composes one repository per concern over one database
(:func:`app.store.db.open_database`: a SQLite file, or a ``postgresql://``
URL); each repository gives the same answers on both backends:

- :mod:`app.store.places`: communes, villages, sites;
- :mod:`app.store.challenges`: challenges to verdicts (who disputed one, when, settled?);
- :mod:`app.store.readings`: reading batches and their content keys;
- :mod:`app.store.results`: verdicts, dead zones and hex cells (``publish``);
- :mod:`app.store.keys`: API keys and idempotency records;
- :mod:`app.store.meta`: typed meta values (results version, refresh mark...);
- :mod:`app.store.scenarios`: saved what-if scenarios.

Every table is defined once (:mod:`app.store.tables`), created and upgraded
by :mod:`app.store.schema`; SQL that differs between the backends lives in
:mod:`app.store.sql`. The facade binds today's method names to the repository
that answers, one line each, so callers say ``store.villages(...)`` whichever
repository answers. Geometries are WKB in SQLite and PostGIS columns in
PostgreSQL; device identifiers are stored only as salted hashes.
"""

from __future__ import annotations

from pathlib import Path

from app.store.challenges import Challenges
from app.store.db import Connection, Database, open_database
from app.store.keys import Keys, StoredKey
from app.store.meta import Meta
from app.store.places import Places, SiteChanges, VillageChanges
from app.store.readings import Readings, Uploads
from app.store.results import Results
from app.store.scenarios import Scenarios
from app.store.schema import migrate

__all__ = ["Database", "SiteChanges", "Store", "StoredKey", "VillageChanges"]


class Store:
    """All of lomsong's persistent state, in one SQLite file or one PostgreSQL database.

    Parameters
    ----------
    path : pathlib.Path or str
        The SQLite file (its directory is created when missing), or a
        ``postgresql://`` URL (:func:`app.store.db.open_database`).
    device_salt : str
        Salt for :func:`geodata.readings.hash_devices`; raw device ids never
        reach the database.
    """

    def __init__(self, path: Path | str, *, device_salt: str) -> None:
        self.db = open_database(path)
        #: The SQLite file, or the PostgreSQL URL with its password masked.
        self.path = self.db.path
        self.dialect = self.db.dialect
        migrate(self.db)
        self.meta = Meta(self.db)
        self.places = Places(self.db)
        self.batches = Readings(self.db, device_salt=device_salt)
        self.results = Results(self.db)
        self.keys = Keys(self.db)
        # One-line delegations: today's method names, whichever repository answers.
        # meta
        self.get_meta = self.meta.get
        self.set_meta = self.meta.set
        self.results_version = self.meta.results_version
        self.refresh_mark = self.meta.refresh_mark
        self.mark_refreshed = self.meta.mark_refreshed
        self.stale_communes = self.meta.stale_communes
        self.set_stale_communes = self.meta.set_stale_communes
        self.rasters = self.meta.rasters
        self.set_rasters = self.meta.set_rasters
        self.demo_fingerprint = self.meta.demo_fingerprint
        self.set_demo = self.meta.set_demo
        self.region = self.meta.region
        self.set_region = self.meta.set_region
        self.buildings_path = self.meta.buildings_path
        self.set_buildings_path = self.meta.set_buildings_path
        # places
        self.replace_region = self.places.replace_region
        self.communes = self.places.communes
        self.commune = self.places.commune
        self.find_communes = self.places.find_communes
        self.sites = self.places.sites
        self.villages = self.places.villages
        self.village = self.places.village
        self.upsert_sites = self.places.upsert_sites
        self.delete_sites = self.places.delete_sites
        self.find_sites = self.places.find_sites
        self.upsert_villages = self.places.upsert_villages
        self.delete_village = self.places.delete_village
        self.village_points = self.places.village_points
        # readings
        self.add_readings = self.batches.add_readings
        self.last_batch_id = self.batches.last_batch_id
        self.reading_positions = self.batches.reading_positions
        self.stored_by_request = self.batches.stored_by_request
        self.clear_readings = self.batches.clear_readings
        self.readings_count = self.batches.readings_count
        self.readings = self.batches.readings
        self.iter_readings = self.batches.iter_readings
        # uploads
        self.uploads_repo = Uploads(self.db)
        self.create_upload = self.uploads_repo.create_upload
        self.update_upload = self.uploads_repo.update_upload
        self.upload = self.uploads_repo.upload
        self.uploads = self.uploads_repo.uploads
        self.delete_upload = self.uploads_repo.delete_upload
        self.fail_unfinished_uploads = self.uploads_repo.fail_unfinished_uploads
        self.loaded_region = self.uploads_repo.loaded_region
        # results
        self.publish = self.results.publish
        self.save_results = self.results.save_results
        self.replace_dead_zones = self.results.replace_dead_zones
        self.replace_cells = self.results.replace_cells
        self.dead_zones = self.results.dead_zones
        self.cells = self.results.cells
        # challenges to verdicts
        self.challenges_repo = Challenges(self.db)
        self.add_challenge = self.challenges_repo.add_challenge
        self.challenges = self.challenges_repo.challenges
        self.settle_challenges = self.challenges_repo.settle_challenges
        # keys
        self.add_api_key = self.keys.add_api_key
        self.api_key_by_hash = self.keys.api_key_by_hash
        self.api_keys = self.keys.api_keys
        self.revoke_api_key = self.keys.revoke_api_key
        self.idempotent_response = self.keys.idempotent_response
        self.save_idempotent_response = self.keys.save_idempotent_response
        # scenarios
        self.scenarios_repo = Scenarios(self.db)
        self.add_scenario = self.scenarios_repo.add_scenario
        self.scenario = self.scenarios_repo.scenario
        self.scenarios = self.scenarios_repo.scenarios
        self.delete_scenario = self.scenarios_repo.delete_scenario

    def _conn(self) -> Connection:
        return self.db.connection()

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
