"""Map cells: fine cells gathered into the res-9 hexagons maps show, each with a commune."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.map_cells import (
    CELL_COLUMNS,
    DEVICE_COLUMNS,
    MAP_RESOLUTION,
    MIN_DEVICES,
    cells_for_storage,
    cells_geoframe,
    coarsen_cells,
    device_sketch,
    public_cells,
)
from coverage.pipeline import analyze
from coverage.thresholds import PRIOR_READINGS
from geodata.hexgrid import (
    cell_resolutions,
    cells_for_points,
    cells_from_strings,
    cells_to_strings,
    change_resolution,
)
from geodata.readings import validate_readings
from geodata.sites import normalise_sites
from geodata.villages import normalise_villages


def _children(n: int) -> np.ndarray:
    """``n`` distinct res-10 cells of one res-9 parent."""
    lat = 22.57 + np.linspace(0, 0.0008, 40)
    cells = np.unique(cells_for_points(lat, np.full(40, 105.49), resolution=10))
    parent = cells_for_points(np.array([22.57]), np.array([105.49]), resolution=9)[0]
    mine = cells[change_resolution(cells, 9) == parent]
    assert len(mine) >= n
    return mine[:n]


def test_a_parent_weighs_its_children_by_readings_plus_the_prediction() -> None:
    h3 = _children(2)
    fine = pd.DataFrame(
        {
            "h3": h3,
            "carrier": ["Viettel"] * 2,
            "radio": ["lte", "gsm"],
            "p_usable": [0.9, 0.1],
            "dbm": [-90.0, -115.0],
            "evidence": ["measured", "predicted"],
            "count": [6, 0],
        }
    )
    coarse = coarsen_cells(fine, resolution=9)
    assert len(coarse) == 1
    row = coarse.iloc[0]
    w = np.array([6 + PRIOR_READINGS, PRIOR_READINGS])
    assert np.isclose(row["p_usable"], (0.9 * w[0] + 0.1 * w[1]) / w.sum())
    assert np.isclose(row["dbm"], (-90.0 * w[0] - 115.0 * w[1]) / w.sum())
    assert row["radio"] == "lte"  # the child with the most evidence speaks
    assert row["evidence"] == "measured"
    assert row["count"] == 6
    assert cell_resolutions(cells_from_strings(coarse["h3"]))[0] == 9


def test_analysis_result_map_cells_are_the_stored_cells(villages, sites, readings) -> None:
    result = analyze(villages, sites, readings)
    cells = result.map_cells()
    pd.testing.assert_frame_equal(
        cells, cells_for_storage(result.cells, result.villages, devices=result.devices)
    )
    assert set(cells.columns) == set(CELL_COLUMNS)
    assert set(cell_resolutions(cells_from_strings(cells["h3"]))) == {MAP_RESOLUTION}
    assert set(cells["commune_id"]) == set(villages["commune_id"])
    overview = result.map_cells(resolution=8)
    assert len(overview) < len(cells)
    frame = cells_geoframe(cells)
    assert frame.crs.to_epsg() == 4326
    assert frame.geometry.geom_type.eq("Polygon").all()


# Privacy: a public hexagon's readings come from at least MIN_DEVICES devices.


def _families() -> tuple[np.ndarray, np.ndarray]:
    """Res-10 cells under two res-9 siblings (one res-8 parent), and one under another parent.

    Returns the three res-10 cells and their res-9 parents.
    """
    lat, lon = np.meshgrid(22.57 + np.linspace(0, 0.02, 60), 105.49 + np.linspace(0, 0.02, 60))
    fine = np.unique(cells_for_points(lat.ravel(), lon.ravel(), resolution=10))
    nine, eight = change_resolution(fine, 9), change_resolution(fine, 8)
    frame = pd.DataFrame({"fine": fine, "nine": nine, "eight": eight})
    firsts = frame.drop_duplicates("nine")
    shared = firsts.groupby("eight")["nine"].transform("size") >= 2
    family = firsts.loc[shared]
    home = family["eight"].iloc[0]
    a, b = family.loc[family["eight"] == home].iloc[:2]["fine"]
    other = firsts.loc[firsts["eight"] != home].iloc[0]["fine"]
    chosen = np.array([a, b, other], dtype=np.uint64)
    return chosen, change_resolution(chosen, 9)


def _fine(h3: np.ndarray, counts: list[int], carrier: str = "Viettel") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "h3": h3,
            "carrier": [carrier] * len(h3),
            "radio": ["lte"] * len(h3),
            "p_usable": [0.9] * len(h3),
            "dbm": [-95.0] * len(h3),
            "evidence": ["measured" if n else "predicted" for n in counts],
            "count": counts,
        }
    )


def _sketch(rows: list[tuple[int, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "h3": np.array([h for h, _, _ in rows], dtype=np.uint64),
            "carrier": pd.Series([c for _, c, _ in rows], dtype="string"),
            "device": np.array([d for _, _, d in rows], dtype=np.int64),
        }
    )


def test_a_hexagon_read_by_three_devices_is_public_as_it_is() -> None:
    (a, _, other), nine = _families()
    cells = _fine(np.array([a, other]), [6, 0])
    devices = _sketch([(a, "Viettel", 0), (a, "Viettel", 1), (a, "Viettel", 2)])

    public = public_cells(cells, devices, resolution=9)

    pd.testing.assert_frame_equal(public, coarsen_cells(cells, resolution=9))
    assert public["h3"].tolist() == sorted(cells_to_strings(nine[[0, 2]]))


def test_siblings_read_by_the_same_two_devices_are_dropped_not_summed() -> None:
    (a, b, other), nine = _families()
    cells = pd.concat(
        [_fine(np.array([a, b, other]), [3, 3, 0]), _fine(np.array([a]), [0], "MobiFone")],
        ignore_index=True,
    )
    # Two devices in each sibling: four per child, summed; two distinct.
    devices = _sketch([(h, "Viettel", d) for h in (a, b) for d in (0, 1)])

    public = public_cells(cells, devices, resolution=9)

    # Viettel's family under the parent goes; MobiFone's model-only hexagon
    # there and Viettel's elsewhere stay.
    assert sorted(zip(public["h3"], public["carrier"], strict=True)) == sorted(
        [(cells_to_strings(nine[[2]])[0], "Viettel"), (cells_to_strings(nine[[0]])[0], "MobiFone")]
    )
    assert public["count"].sum() == 0


def test_siblings_with_three_devices_between_them_merge_into_their_parent() -> None:
    (a, b, other), nine = _families()
    cells = _fine(np.array([a, b, other]), [4, 1, 0])
    devices = _sketch([(a, "Viettel", 0), (a, "Viettel", 1), (b, "Viettel", 2)])

    public = public_cells(cells, devices, resolution=9)

    parent = coarsen_cells(cells.iloc[:2], resolution=8)
    assert public["h3"].tolist() == sorted([parent["h3"].iloc[0], cells_to_strings(nine[[2]])[0]])
    merged = public.set_index("h3").loc[parent["h3"].iloc[0]]
    assert (merged["count"], merged["evidence"]) == (5, "measured")
    assert cell_resolutions(cells_from_strings(public["h3"])).tolist().count(8) == 1
    # Without a sketch no hexagon with readings is public.
    assert public_cells(cells, None, resolution=9)["count"].sum() == 0


def test_the_sketch_keeps_three_devices_per_cell_and_one_for_readings_without_an_id() -> None:
    readings = pd.DataFrame(
        {
            "lat": [22.57] * 6 + [22.60],
            "lon": [105.49] * 6 + [105.49],
            "mcc": 452,
            "mnc": [4, 4, 4, 4, 2, 2, 4],
            "device": ["a", "b", "c", "d", None, None, "a"],
        }
    )

    sketch = device_sketch(readings, resolution=10)

    assert tuple(sketch.columns) == DEVICE_COLUMNS
    per_cell = sketch.groupby(["h3", "carrier"])["device"].nunique()
    assert sorted(per_cell.tolist()) == [1, 1, MIN_DEVICES]
    assert set(sketch["carrier"]) == {"Viettel", "VinaPhone"}


@pytest.fixture
def long_village() -> gpd.GeoDataFrame:
    """One village 9 km long, with a Viettel site south of it."""
    frame = gpd.GeoDataFrame(
        {
            "id": ["dai"],
            "name": ["Bản Dài"],
            "commune": ["Thượng Nông"],
            "province": ["Tuyên Quang"],
            "households": [120],
        },
        geometry=[shapely.box(105.40, 22.555, 105.49, 22.575)],
        crs="EPSG:4326",
    )
    return normalise_villages(frame)


@pytest.fixture
def viettel_site() -> pd.DataFrame:
    return normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE"],
                "mcc": [452],
                "net": [4],
                "area": [1],
                "cell": [1],
                "lon": [105.445],
                "lat": [22.55],
                "site_id": ["s1"],
                "height_m": [30.0],
                "eirp_dbm": [62.0],
                "freq_mhz": [1800.0],
            }
        )
    )


def _track(lat: np.ndarray, lon: np.ndarray, devices: list[str]) -> pd.DataFrame:
    n = len(lat)
    return validate_readings(
        pd.DataFrame(
            {
                "time": pd.date_range("2026-01-05T08:00", periods=n, freq="45s", tz="UTC").strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "lat": lat,
                "lon": lon,
                "accuracy_m": 10.0,
                "mcc": 452,
                "mnc": 4,
                "radio": "lte",
                "signal_dbm": -100.0,
                "no_service": False,
                "device": devices,
            }
        )
    ).valid


def test_one_phones_track_leaves_no_public_hexagon(
    long_village: gpd.GeoDataFrame, viettel_site: pd.DataFrame
) -> None:
    # 40 readings over 8 km, one every 200 m, by one phone.
    n = 40
    lon = 105.405 + np.linspace(0, 8000 / (111_320 * np.cos(np.radians(22.565))), n)
    lat = 22.565 + 0.001 * np.sin(np.linspace(0, 6, n))
    readings = _track(lat, lon, ["phone-1"] * n)

    result = analyze(long_village, viettel_site, readings)
    public = result.map_cells()

    coarse = coarsen_cells(result.cells, resolution=MAP_RESOLUTION)
    assert (coarse["count"] > 0).sum() >= 20  # without the rule: a hexagon every 400 m
    assert len(public) and public["count"].sum() == 0
    touched = cells_for_points(lat, lon, resolution=MAP_RESOLUTION)
    shown = set(cells_from_strings(public["h3"]).tolist())
    assert not shown & set(touched.tolist())
    assert not shown & set(change_resolution(touched, MAP_RESOLUTION - 1).tolist())


def test_three_phones_in_one_hexagon_make_it_public(
    long_village: gpd.GeoDataFrame, viettel_site: pd.DataFrame
) -> None:
    lat, lon = np.full(9, 22.565) + np.linspace(0, 0.0003, 9), np.full(9, 105.445)
    readings = _track(lat, lon, ["p1", "p2", "p3"] * 3)
    hexagon = cells_to_strings(cells_for_points(lat[:1], lon[:1], resolution=MAP_RESOLUTION))[0]

    public = analyze(long_village, viettel_site, readings).map_cells()

    row = public.loc[(public["h3"] == hexagon) & (public["carrier"] == "Viettel")]
    assert row["count"].tolist() == [9]
    assert public["count"].sum() == 9
    # Two phones are not enough.
    two = analyze(long_village, viettel_site, readings.loc[readings["device"] != "p3"]).map_cells()
    assert two["count"].sum() == 0
