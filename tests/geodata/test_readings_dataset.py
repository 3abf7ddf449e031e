"""Readings as GeoParquet partitioned by res-5 cell and month (geodata.readings_dataset)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from geodata.errors import InvalidInputError, MissingColumnError
from geodata.hexgrid import cells_for_points, cells_to_strings
from geodata.readings import empty_readings, validate_readings
from geodata.readings_dataset import (
    DATASET_COLUMNS,
    MARKER,
    PARTITION_RESOLUTION,
    dataset_files,
    partitions_for,
    read_readings_dataset,
    write_readings_batches,
    write_readings_dataset,
)

NOW = pd.Timestamp("2026-06-01", tz="UTC")


def _validated(raw: pd.DataFrame) -> pd.DataFrame:
    result = validate_readings(raw, now=NOW)
    assert not result.rejected
    return result.valid


@pytest.fixture
def hand_made() -> pd.DataFrame:
    """Five readings written out by hand: local offsets, no-service rows, gaps."""
    return _validated(
        pd.DataFrame(
            {
                "time": [
                    "2026-01-31T23:30:00+07:00",  # 16:30 UTC on 31 January
                    "2026-02-01T06:59:59.250+07:00",  # 31 January UTC, 23:59:59.25
                    "2026-02-01T07:00:00+07:00",  # 1 February UTC
                    "2026-03-15T12:00:00Z",
                    "2026-03-15T12:00:01Z",
                ],
                "lat": [22.5712, 22.5713, 21.0285, 22.5712, 10.7769],
                "lon": [105.4921, 105.4922, 105.8542, 105.4921, 106.7009],
                "accuracy_m": [8.0, None, 12.5, 3.0, None],
                "mcc": [452, 452, 452, 452, 452],
                "mnc": [4, 2, 1, 4, 4],
                "radio": ["lte", "LTE", "nr", "umts", "lte"],
                "signal_dbm": [-101.0, None, -95.0, -88.0, None],
                "no_service": [False, True, False, False, True],
                "cell_id": [123456, None, 987654321, 4242, None],
                "area_code": [10501, None, 333, 7, None],
                "pci": [17, None, 1001, None, None],
                "rsrq_db": [-11.5, None, None, None, None],
                "sinr_db": [None, None, 14.0, None, None],
                "device": ["a1b2c3d4e5f60708", None, "ffff000011112222", "a1b2c3d4e5f60708", None],
                "source": ["towercollector", "app", None, "gnettrack", None],
            }
        )
    )


def _spread(n: int, seed: int) -> pd.DataFrame:
    """Readings over ~2° x 2° of northern Vietnam and three months."""
    rng = np.random.default_rng(seed)
    return _validated(
        pd.DataFrame(
            {
                "time": pd.Timestamp("2026-01-01", tz="UTC")
                + pd.to_timedelta(rng.integers(0, 90 * 86_400_000_000, n), unit="us"),
                "lat": rng.uniform(21.0, 23.0, n),
                "lon": rng.uniform(104.0, 106.0, n),
                "accuracy_m": rng.uniform(2, 50, n),
                "mcc": 452,
                "mnc": rng.choice([1, 2, 4], n),
                "radio": "lte",
                "signal_dbm": rng.uniform(-130, -60, n).round(1),
                "no_service": False,
                "device": pd.array(rng.integers(0, 30, n).astype(str), dtype="str"),
                "source": pd.array(np.full(n, "bench"), dtype="str"),
            }
        )
    )


def _same_rows(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal up to row order: values, NaN/NA places and dtypes."""
    assert got.dtypes.to_dict() == expected.dtypes.to_dict()
    pd.testing.assert_frame_equal(
        got.sort_values("content_key").reset_index(drop=True),
        expected.sort_values("content_key").reset_index(drop=True),
    )


def test_round_trip_is_exact(tmp_path: Path, hand_made: pd.DataFrame) -> None:
    root = tmp_path / "readings"
    assert write_readings_dataset(hand_made, root) == 5
    back = read_readings_dataset(root)
    assert list(back.columns) == list(DATASET_COLUMNS)
    assert isinstance(back.index, pd.RangeIndex)
    _same_rows(back, hand_made)
    # Months in UTC: 23:30+07:00 on 31 January is January; 07:00+07:00 on 1 February is February.
    partitions = {f.parent.relative_to(root).as_posix() for f in dataset_files(root)}
    hanoi = cells_to_strings(
        cells_for_points(np.array([21.0285]), np.array([105.8542]), resolution=5)
    )
    assert f"h3_5={hanoi[0]}/month=2026-02" in partitions
    assert {p.split("/")[1] for p in partitions} == {
        "month=2026-01",
        "month=2026-02",
        "month=2026-03",
    }
    assert len(partitions) == 4  # Thượng Nông in January and March, Hà Nội, Sài Gòn


def test_round_trip_of_many_readings_over_many_partitions(tmp_path: Path) -> None:
    readings = _spread(20_000, seed=3)
    write_readings_dataset(readings, tmp_path / "r")
    _same_rows(read_readings_dataset(tmp_path / "r"), readings)
    cells = cells_for_points(readings["lat"].to_numpy(), readings["lon"].to_numpy(), resolution=5)
    months = readings["time"].dt.strftime("%Y-%m")
    assert len(dataset_files(tmp_path / "r")) == len(set(zip(cells, months, strict=True)))


def test_part_files_are_geoparquet_points_in_wgs84(tmp_path: Path, hand_made: pd.DataFrame) -> None:
    write_readings_dataset(hand_made, tmp_path / "r")
    part = next(f for f in dataset_files(tmp_path / "r") if "month=2026-03" in str(f))
    geo = json.loads(pq.read_schema(part).metadata[b"geo"])
    column = geo["columns"]["geometry"]
    assert (geo["version"], geo["primary_column"], column["encoding"]) == (
        "1.0.0",
        "geometry",
        "WKB",
    )
    assert column["geometry_types"] == ["Point"]
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    frame = gpd.read_parquet(part)
    assert frame.crs.to_epsg() == 4326
    # Two readings in March: Thượng Nông and Sài Gòn lie in different cells.
    assert len(frame) == 1
    assert (frame.geometry.x.iloc[0], frame.geometry.y.iloc[0]) == (105.4921, 22.5712)


def _gdal_reads_parquet() -> bool:
    if shutil.which("ogrinfo") is None:
        return False
    formats = subprocess.run(["ogrinfo", "--formats"], capture_output=True, text=True, check=False)
    return "Parquet" in formats.stdout


@pytest.mark.skipif(
    not _gdal_reads_parquet(), reason="this GDAL has no Parquet driver (Debian's 3.6 has none)"
)
def test_ogrinfo_opens_a_part_file(tmp_path: Path) -> None:
    readings = _spread(500, seed=5)
    write_readings_dataset(readings, tmp_path / "r")
    part = dataset_files(tmp_path / "r")[0]
    rows = pq.read_metadata(part).num_rows
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(part)], capture_output=True, text=True, check=True
    ).stdout
    assert "Geometry: Point" in info
    assert f"Feature Count: {rows}" in info
    assert 'ID["EPSG",4326]' in info


def test_bounds_open_only_the_partitions_that_meet_them(tmp_path: Path) -> None:
    readings = _spread(20_000, seed=7)
    root = tmp_path / "r"
    write_readings_dataset(readings, root)
    bounds = (104.9, 21.9, 105.15, 22.1)
    needed = set(partitions_for(bounds))
    # Every other partition's files are made unreadable: a read that opened one would fail.
    for part in dataset_files(root):
        if part.parent.parent.name.removeprefix("h3_5=") not in needed:
            part.write_bytes(b"not parquet")
    got = read_readings_dataset(root, bounds=bounds)
    inside = readings["lon"].between(104.9, 105.15) & readings["lat"].between(21.9, 22.1)
    assert inside.sum() > 100
    _same_rows(got, readings[inside])
    opened = dataset_files(root, bounds=bounds)
    assert {f.parent.parent.name.removeprefix("h3_5=") for f in opened} <= needed
    assert len(opened) < len(dataset_files(root)) / 5
    # The spoiled files are there for a read of everything.
    with pytest.raises(
        InvalidInputError, match=r"a part file is not a readings part: .*magic bytes"
    ):
        read_readings_dataset(root)


def test_partitions_for_misses_no_cell_that_meets_the_box() -> None:
    # Boxes thinner than a res-5 cell, and one spanning many: every point
    # inside each box lies in one of its partitions.
    rng = np.random.default_rng(11)
    for bounds in [
        (105.0, 22.0, 105.001, 22.4),
        (105.3, 21.0, 105.9, 21.0005),
        (103.5, 20.5, 106.0, 23.0),
    ]:
        west, south, east, north = bounds
        lon, lat = rng.uniform(west, east, 5000), rng.uniform(south, north, 5000)
        lon = np.concatenate([lon, [west, east, west, east]])
        lat = np.concatenate([lat, [south, south, north, north]])
        cells = set(cells_to_strings(cells_for_points(lat, lon, resolution=PARTITION_RESOLUTION)))
        assert cells <= set(partitions_for(bounds)), bounds


def test_months_filter(tmp_path: Path, hand_made: pd.DataFrame) -> None:
    readings = pd.concat([hand_made, _spread(3000, seed=9)])
    write_readings_dataset(readings, tmp_path / "r")
    got = read_readings_dataset(tmp_path / "r", months=["2026-02"])
    february = (readings["time"] >= "2026-02-01T00:00Z") & (readings["time"] < "2026-03-01T00:00Z")
    _same_rows(got, readings[february])
    both = read_readings_dataset(
        tmp_path / "r", months=["2026-01", "2026-03"], bounds=(104, 21, 106, 23)
    )
    inside = readings["lon"].between(104, 106) & readings["lat"].between(21, 23)
    _same_rows(both, readings[~february & inside])
    assert read_readings_dataset(tmp_path / "r", months=["2025-12"]).empty
    with pytest.raises(InvalidInputError, match=r"month '2026-13': not YYYY-MM"):
        read_readings_dataset(tmp_path / "r", months=["2026-13"])


def test_empty_input_writes_an_empty_dataset(tmp_path: Path, hand_made: pd.DataFrame) -> None:
    write_readings_dataset(hand_made, tmp_path / "r")
    empty = _validated(empty_readings())
    assert write_readings_dataset(empty, tmp_path / "r") == 0  # replaces the old one
    back = read_readings_dataset(tmp_path / "r")
    assert back.empty
    assert back.dtypes.to_dict() == hand_made.dtypes.to_dict()
    assert dataset_files(tmp_path / "r") == []
    assert read_readings_dataset(tmp_path / "r", bounds=(105, 22, 106, 23)).empty


def test_append_adds_files_and_replace_starts_again(
    tmp_path: Path, hand_made: pd.DataFrame
) -> None:
    first, second = _spread(1000, seed=1), _spread(1000, seed=2)
    root = tmp_path / "r"
    write_readings_dataset(first, root)
    assert write_readings_dataset(second, root, append=True) == 1000
    _same_rows(read_readings_dataset(root), pd.concat([first, second]))
    # Appending the same rows again stores them twice: uniqueness is the store's job.
    write_readings_dataset(hand_made, root, append=True)
    write_readings_dataset(hand_made, root, append=True)
    assert len(read_readings_dataset(root)) == 2010
    write_readings_dataset(hand_made, root)
    _same_rows(read_readings_dataset(root), hand_made)
    assert [p.name for p in tmp_path.iterdir()] == ["r"]  # no staging directory left behind


def test_a_root_that_is_not_a_dataset_is_refused(tmp_path: Path, hand_made: pd.DataFrame) -> None:
    with pytest.raises(
        InvalidInputError, match=r"nowhere: not a readings dataset \(does not exist\)"
    ):
        read_readings_dataset(tmp_path / "nowhere")
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(
        InvalidInputError, match=rf"photos: not a readings dataset \(has no {MARKER}\)"
    ):
        read_readings_dataset(other)
    with pytest.raises(InvalidInputError, match="refusing to write into it"):
        write_readings_dataset(hand_made, other)
    assert [p.name for p in other.iterdir()] == ["holiday.jpg"]


def test_bad_rows_are_named(tmp_path: Path, hand_made: pd.DataFrame) -> None:
    with pytest.raises(MissingColumnError, match="missing column"):
        write_readings_dataset(hand_made.drop(columns=["radio"]), tmp_path / "r")
    bad = hand_made.reset_index(drop=True).copy()
    bad.loc[3, "lat"] = np.nan
    with pytest.raises(
        InvalidInputError, match=r"readings: row 3: lat = null: required in a dataset"
    ):
        write_readings_dataset(bad, tmp_path / "r")
    late = hand_made.reset_index(drop=True).copy()
    late["time"] = late["time"].astype("datetime64[ns, UTC]") + pd.Timedelta(1, "ns")
    with pytest.raises(InvalidInputError, match="column time"):
        write_readings_dataset(late, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match="bounds must be"):
        partitions_for((106.0, 22.0, 105.0, 23.0))


def test_frames_stream_into_one_file_per_partition(tmp_path: Path, hand_made: pd.DataFrame) -> None:
    readings = _spread(12_000, seed=13)
    readings = readings[(readings["lon"] < 105) & (readings["lat"] < 22)].iloc[:3000]
    root = tmp_path / "r"
    frames = (readings.iloc[i : i + 500] for i in range(0, 3000, 500))
    assert write_readings_batches(frames, root) == 3000
    _same_rows(read_readings_dataset(root), readings)
    partitions = [f.parent for f in dataset_files(root)]
    assert len(partitions) == len(set(partitions))  # six frames, still one file each


def test_a_failed_replacement_keeps_the_old_dataset(
    tmp_path: Path, hand_made: pd.DataFrame
) -> None:
    root = tmp_path / "r"
    write_readings_dataset(hand_made, root)
    good = _spread(1000, seed=17).reset_index(drop=True)
    bad = good.copy()
    bad.loc[250, "lon"] = 181.0
    with pytest.raises(InvalidInputError, match=r"row 1250: lon = 181.0: outside -180..180"):
        write_readings_batches([good, bad], root)
    _same_rows(read_readings_dataset(root), hand_made)
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
