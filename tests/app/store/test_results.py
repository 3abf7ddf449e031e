"""Publishing an analysis: verdicts, dead zones and cells in one transaction, one version bump."""

from __future__ import annotations

import threading

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from app.store import Store


def _cells(commune_id: str, p_usable: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "h3": ["8a4a5d6b1a57fff" if commune_id == "thuong-nong" else "8a4a5d6b1a47fff"],
            "carrier": ["Viettel"],
            "radio": ["lte"],
            "p_usable": [p_usable],
            "dbm": [-100.0],
            "cell_class": ["weak"],
            "evidence": ["measured"],
            "count": [3],
            "commune_id": [commune_id],
            "lat": [22.565],
            "lon": [105.495],
        }
    )


def _generation(
    results: pd.DataFrame, zones: gpd.GeoDataFrame, tag: str
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Verdicts and dead zones that both say ``tag``, so a reader can tell them apart."""
    verdicts = results.assign(best_carrier=tag)
    return verdicts, zones.assign(id=[f"{tag}-{i}" for i in range(len(zones))])


def test_one_publish_is_one_version_bump(
    loaded_store: Store, results: pd.DataFrame, dead_zone_frame: gpd.GeoDataFrame
) -> None:
    before = loaded_store.results_version()
    verdicts, zones = _generation(results, dead_zone_frame, "second")

    loaded_store.publish(verdicts, zones, _cells("thuong-nong", 0.4))

    assert loaded_store.results_version() == before + 1
    assert set(loaded_store.villages()["best_carrier"]) == {"second"}
    assert loaded_store.dead_zones()["id"].tolist() == ["second-1", "second-0"]
    assert loaded_store.cells()["p_usable"].tolist() == [0.4]


def test_publish_for_some_communes_keeps_the_others_results(
    loaded_store: Store, results: pd.DataFrame, dead_zone_frame: gpd.GeoDataFrame
) -> None:
    loaded_store.replace_cells(_cells("linh-phu", 0.9))
    mine = dead_zone_frame.loc[dead_zone_frame["commune_id"] == "thuong-nong"]
    verdicts = results.loc[results["id"] != "dong-da-1"].assign(best_carrier="new")

    loaded_store.publish(
        verdicts,
        mine.assign(id="tn-new"),
        _cells("thuong-nong", 0.2),
        commune_ids=["thuong-nong"],
    )

    assert loaded_store.dead_zones()["id"].tolist() == ["linh-phu-dz-001", "tn-new"]
    assert sorted(loaded_store.cells()["commune_id"]) == ["linh-phu", "thuong-nong"]
    judged = loaded_store.villages().set_index("id")["best_carrier"]
    assert judged["dong-da-1"] is None or pd.isna(judged["dong-da-1"])
    assert judged["ban-giong"] == "new"


def test_a_publish_that_fails_midway_changes_nothing(
    loaded_store: Store,
    results: pd.DataFrame,
    dead_zone_frame: gpd.GeoDataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    version = loaded_store.results_version()
    zones_before = loaded_store.dead_zones()["id"].tolist()
    verdicts, zones = _generation(results, dead_zone_frame, "lost")

    def fail(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("app.store.results._write_cells", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        loaded_store.publish(verdicts, zones, _cells("thuong-nong", 0.1))

    assert loaded_store.results_version() == version
    assert "lost" not in set(loaded_store.villages()["best_carrier"])
    assert loaded_store.dead_zones()["id"].tolist() == zones_before


def test_a_reader_never_sees_new_verdicts_with_old_dead_zones(
    loaded_store: Store, results: pd.DataFrame, dead_zone_frame: gpd.GeoDataFrame
) -> None:
    generations = [_generation(results, dead_zone_frame, tag) for tag in ("even", "odd")]
    loaded_store.publish(*generations[0], _cells("thuong-nong", 0.5))
    done = threading.Event()

    def publish_many() -> None:
        try:
            for n in range(40):
                loaded_store.publish(*generations[n % 2], _cells("thuong-nong", 0.5))
        finally:
            done.set()

    writer = threading.Thread(target=publish_many)
    writer.start()
    seen: set[tuple[str, ...]] = set()
    reader = loaded_store.db.snapshot()
    try:
        while not done.is_set():
            reader.execute("BEGIN")  # both reads from one snapshot, as a page render does
            carriers = {r[0] for r in reader.execute("SELECT best_carrier FROM village_results")}
            zones = {r[0].split("-")[0] for r in reader.execute("SELECT id FROM dead_zones")}
            reader.execute("COMMIT")
            seen.add((*sorted(carriers), "|", *sorted(zones)))
    finally:
        reader.close()
        writer.join()

    assert seen  # the reader did read while the writer published
    assert seen <= {("even", "|", "even"), ("odd", "|", "odd")}


def test_the_last_row_of_a_key_wins_and_awkward_text_comes_back_as_written(
    loaded_store: Store, results: pd.DataFrame, dead_zone_frame: gpd.GeoDataFrame
) -> None:
    """Row by row on SQLite, one COPY on PostgreSQL: the same rows stored."""
    first, last = _cells("thuong-nong", 0.1), _cells("thuong-nong", 0.7)
    awkward = 'weak, "quoted"\nand ; two lines'
    cells = pd.concat([first, last.assign(cell_class=awkward, radio="")], ignore_index=True)
    verdicts = results.assign(best_carrier=["", None, 'Mobi,Fone "x"'])
    zones = dead_zone_frame.assign(carriers_absent=[['Việt"tel', "a,b"], []])

    loaded_store.publish(verdicts, zones, cells)

    stored = loaded_store.cells()
    assert stored[["p_usable", "cell_class", "radio"]].to_dict("list") == {
        "p_usable": [0.7],
        "cell_class": [awkward],
        "radio": [""],
    }
    judged = loaded_store.villages().set_index("id")["best_carrier"]
    assert {k: None if pd.isna(v) else v for k, v in judged.items()} == {
        "ban-giong": "",
        "na-ta": None,
        "dong-da-1": 'Mobi,Fone "x"',
    }
    absent = loaded_store.dead_zones(carrier=()).set_index("id")["carriers_absent"].to_dict()
    assert absent == {"thuong-nong-dz-001": ['Việt"tel', "a,b"], "linh-phu-dz-001": []}
    outlines = loaded_store.dead_zones(carrier=()).geometry.to_numpy()
    assert shapely.equals_exact(outlines, zones.geometry.to_numpy()[::-1], tolerance=0).all()
