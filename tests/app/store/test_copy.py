"""``lomsong db copy``: a SQLite deployment (the demo, an upload, a key) moved into PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from app.cli import EXIT_BAD_INPUT, main
from app.core.security import Role
from app.services.demo import load_demo
from app.services.ingest import ingest_file
from app.services.keys import authenticate, create_key
from app.store import Store
from app.store.copy import TargetNotEmptyError, copied_tables, copy_store

SALT = "copy-test-salt"
CSV = "time,lat,lon,mcc,mnc,radio,signal_dbm,no_service,device\n" + "".join(
    f"2025-11-{1 + i % 28:02d}T0{i % 10}:00:00Z,22.56{i},105.49{i},452,4,lte,-9{i},false,p{i}\n"
    for i in range(8)
)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A SQLite store holding the demo, analysed, one upload of 8 readings and a key."""
    work = tmp_path_factory.mktemp("deployment")
    path = work / "lomsong.sqlite3"
    store = Store(path, device_salt=SALT)
    try:
        load_demo(store, data_dir=work, seed=7)
        (work / "drive.csv").write_text(CSV, encoding="utf-8")
        report = ingest_file(store, work / "drive.csv", format="csv", owner="key:abc")
        assert report.accepted == 8
        store.save_idempotent_response("key:abc", "k-1", request_hash="h", response="{}")
        _, secret = create_key(store, Role.ADMIN, name="ops")
    finally:
        store.close()
    yield path, secret


def _stores(path: Path, url: str) -> tuple[Store, Store]:
    return Store(path, device_salt=SALT), Store(url, device_salt="another-salt")


def test_every_table_arrives_the_same(deployment: tuple[Path, str], postgres_url: str) -> None:
    path, secret = deployment
    source, target = _stores(path, postgres_url)
    try:
        counts = copy_store(source, target)

        assert counts["readings"] == source.readings_count() > 40_000
        assert set(counts) == {*copied_tables(), "readings"}
        assert target.counts() == source.counts()
        for table in copied_tables():
            rows = target.db.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0]
            assert (
                rows == counts[table] == source.db.query(f"SELECT count(*) FROM {table}").iat[0, 0]
            ), table
        pd.testing.assert_frame_equal(
            target.villages().sort_values("id").reset_index(drop=True),
            source.villages().sort_values("id").reset_index(drop=True),
        )
        pd.testing.assert_frame_equal(
            target.dead_zones().sort_values("id").reset_index(drop=True),
            source.dead_zones().sort_values("id").reset_index(drop=True),
        )
        by_key = ["content_key"]
        pd.testing.assert_frame_equal(
            target.readings().sort_values(by_key).reset_index(drop=True),
            source.readings().sort_values(by_key).reset_index(drop=True),
        )
        # Devices are the stored hashes, not hashed again with the target's salt.
        assert "p1" not in set(target.readings()["device"])
        assert target.results_version() == source.results_version()
        assert target.rasters() == source.rasters()
        assert target.last_batch_id() == source.last_batch_id()
        assert target.uploads() == source.uploads()
        assert authenticate(target, secret).id == authenticate(source, secret).id
        assert target.idempotent_response("key:abc", "k-1") is not None
        # The loaded region (from PostGIS boxes on the target) is the same area.
        region, copied = source.loaded_region().area, target.loaded_region().area
        assert region is not None and copied is not None and region.equals(copied)
        # Ids go on after the copied ones.
        next_upload = target.create_upload(owner="key:abc", origin="import", format="csv")
        assert next_upload == max(u["id"] for u in source.uploads()) + 1
    finally:
        source.close()
        target.close()


def test_a_target_holding_data_is_refused(deployment: tuple[Path, str], postgres_url: str) -> None:
    path, _ = deployment
    source, target = _stores(path, postgres_url)
    try:
        target.set_meta({"results_version": "3"})
        with pytest.raises(TargetNotEmptyError, match=r"already holds data \(tables meta\)"):
            copy_store(source, target)
        assert target.readings_count() == 0
    finally:
        source.close()
        target.close()


def test_db_copy_command_copies_then_refuses_to_copy_again(
    deployment: tuple[Path, str],
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ = deployment
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("LOMSONG_DEVICE_SALT", SALT)
    monkeypatch.setenv("LOMSONG_DATABASE_URL", postgres_url)

    assert main(["db", "copy", "--from", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(f"{path} -> {postgres_url}: ")
    assert main(["db", "copy", "--from", str(path), "--to", postgres_url]) == EXIT_BAD_INPUT
    assert "already holds data (tables " in capsys.readouterr().err
    assert main(["db", "copy", "--from", str(tmp_path / "none.sqlite3")]) == EXIT_BAD_INPUT
    assert "no such SQLite file" in capsys.readouterr().err
