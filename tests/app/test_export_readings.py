"""`lomsong export-readings` and app.services.readings_export: stored readings as GeoParquet."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from app.cli import main
from app.services.readings_export import export_readings
from app.store import Store
from geodata.readings import validate_readings
from geodata.readings_dataset import dataset_files, read_readings_dataset

SALT = "export-test-salt"


def _readings(rows: list[tuple[str, float, float, int, float | None]]) -> pd.DataFrame:
    """Validated LTE readings from ``(time, lat, lon, mnc, dBm or None for no service)``."""
    time, lat, lon, mnc, dbm = zip(*rows, strict=True)
    raw = pd.DataFrame(
        {
            "time": list(time),
            "lat": list(lat),
            "lon": list(lon),
            "accuracy_m": 10.0,
            "mcc": 452,
            "mnc": list(mnc),
            "radio": "lte",
            "signal_dbm": list(dbm),
            "no_service": [d is None for d in dbm],
            "device": pd.array([f"phone-{i % 2}" for i in range(len(rows))], dtype="str"),
            "source": pd.array(["field"] * len(rows), dtype="str"),
        }
    )
    result = validate_readings(raw, now=pd.Timestamp("2026-06-01", tz="UTC"))
    assert not result.rejected
    return result.valid


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A service data dir whose store holds 7 readings in two uploads."""
    data = tmp_path / "data"
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(data))
    monkeypatch.setenv("LOMSONG_DEVICE_SALT", SALT)
    monkeypatch.delenv("LOMSONG_DATABASE_URL", raising=False)
    store = Store(data / "lomsong.sqlite3", device_salt=SALT)
    # Thượng Nông (Bản Giòng) in January and February, Linh Phú in January.
    store.add_readings(
        _readings(
            [
                ("2026-01-05T08:00:00+07:00", 22.5712, 105.4921, 4, -104.0),
                ("2026-01-05T08:01:00+07:00", 22.5714, 105.4925, 4, None),
                ("2026-02-10T09:00:00Z", 22.5716, 105.4930, 2, -112.5),
                ("2026-01-20T10:00:00Z", 22.0100, 105.4300, 1, -95.0),
            ]
        )
    )
    # A reading the first upload already stored (same phone), and Hà Nội in March.
    store.add_readings(
        _readings(
            [
                ("2026-01-05T08:00:00+07:00", 22.5712, 105.4921, 4, -104.0),
                ("2026-03-01T00:00:00Z", 21.0285, 105.8542, 4, -80.0),
                ("2026-03-01T00:00:05Z", 21.0286, 105.8543, 4, -81.0),
                ("2026-03-02T00:00:00Z", 21.0290, 105.8550, 1, None),
            ]
        )
    )
    store.close()
    return data


def _stored(data_dir: Path) -> pd.DataFrame:
    store = Store(data_dir / "lomsong.sqlite3", device_salt=SALT)
    try:
        frame = store.readings()
    finally:
        store.close()
    # The store's text columns are pandas' "string"; a dataset gives "str", as a file's readings.
    return frame.astype({"device": "str", "source": "str"})


def _same_rows(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        got.sort_values("content_key").reset_index(drop=True),
        expected.sort_values("content_key").reset_index(drop=True),
    )


def test_export_writes_every_stored_reading(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dataset"
    assert main(["export-readings", "--out", str(out)]) == 0
    # 7 stored (the repeat was not); partitions: Thượng Nông Jan + Feb, Linh Phú Jan, Hà Nội Mar.
    assert capsys.readouterr().out == f"7 readings in 4 partitions written to {out}\n"
    stored = _stored(data_dir)
    assert len(stored) == 7
    back = read_readings_dataset(out)
    _same_rows(back, stored)
    assert not back["device"].str.startswith("phone-").any()  # hashed, as stored


def test_export_of_a_bbox_keeps_the_readings_inside(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dataset"
    bbox = "105.40,22.50,105.56,22.62"  # Thượng Nông
    assert main(["export-readings", "--out", str(out), "--bbox", bbox]) == 0
    assert capsys.readouterr().out == f"3 readings in 2 partitions written to {out}\n"
    stored = _stored(data_dir)
    _same_rows(read_readings_dataset(out), stored[stored["lat"] > 22.5])
    # Again, smaller: the dataset is replaced, not added to.
    assert main(["export-readings", "--out", str(out), "--bbox", "105.4,22.57,105.5,22.5713"]) == 0
    assert capsys.readouterr().out == f"1 readings in 1 partitions written to {out}\n"
    assert read_readings_dataset(out)["signal_dbm"].tolist() == [-104.0]


def test_a_bad_bbox_is_refused_by_argparse(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for bbox in ("105.4,22.5,105.5", "105.6,22.5,105.5,22.6", "a,b,c,d"):
        with pytest.raises(SystemExit) as exit_info:
            main(["export-readings", "--out", str(tmp_path / "d"), "--bbox", bbox])
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert f"argument --bbox: {bbox!r}: expected minlon,minlat,maxlon,maxlat" in error
    assert not (tmp_path / "d").exists()


def test_an_out_dir_that_is_not_a_dataset_is_left_alone(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("keep me", encoding="utf-8")
    assert main(["export-readings", "--out", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"lomsong: error: {out}: not a readings dataset (no _lomsong_readings.json);"
        " refusing to write into it\n"
    )
    assert [p.name for p in out.iterdir()] == ["todo.txt"]


def test_an_empty_store_exports_an_empty_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOMSONG_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("LOMSONG_DEVICE_SALT", SALT)
    monkeypatch.delenv("LOMSONG_DATABASE_URL", raising=False)
    out = tmp_path / "dataset"
    assert main(["export-readings", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"0 readings in 0 partitions written to {out}\n"
    assert read_readings_dataset(out).empty


def test_the_service_gathers_small_batches_into_chunks(data_dir: Path, tmp_path: Path) -> None:
    store = Store(data_dir / "lomsong.sqlite3", device_salt=SALT)
    try:
        # Chunks of 2 rows: 4 writes of a stream, still one file per partition.
        assert export_readings(store, tmp_path / "r", chunk_rows=2) == 7
        assert export_readings(store, tmp_path / "hn", bounds=(105.8, 21.0, 105.9, 21.1)) == 3
    finally:
        store.close()
    files = dataset_files(tmp_path / "r")
    assert len(files) == len({f.parent for f in files}) == 4
    _same_rows(read_readings_dataset(tmp_path / "r"), _stored(data_dir))
    assert [f.parent.name for f in dataset_files(tmp_path / "hn")] == ["month=2026-03"]
    with pytest.raises(ValueError, match="bounds must be"):
        export_readings(store, tmp_path / "x", bounds=(106.0, 21.0, 105.0, 22.0))
