"""The demo region is loaded and analysed once; a second start skips straight to serving."""

from __future__ import annotations

from pathlib import Path

import pytest

import app.services.demo
from app.store import Store

pytestmark = pytest.mark.slow


def test_second_load_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "db.sqlite3", device_salt="test-salt")
    try:
        assert app.services.demo.load_demo(store, data_dir=tmp_path, seed=7) is True
        counts = store.counts()
        assert counts["villages"] == counts["village_results"] > 0
        assert store.villages(commune_id="thuong-nong").shape[0] == 12

        def must_not_write(*args: object, **kwargs: object) -> None:
            raise AssertionError("the demo was written again")

        monkeypatch.setattr("geodata.demo.write_demo", must_not_write)
        assert app.services.demo.load_demo(store, data_dir=tmp_path, seed=7) is False
        assert store.counts() == counts
        assert store.get_meta("demo_seed") == "7"
    finally:
        store.close()


def test_fingerprint_changes_with_the_seed() -> None:
    assert app.services.demo.demo_fingerprint(7) != app.services.demo.demo_fingerprint(8)
    assert app.services.demo.demo_fingerprint(7) == app.services.demo.demo_fingerprint(7)
