"""Dead zones per layer (any carrier, each carrier, each carrier and radio), split by village."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.dead_zones import ANY_CARRIER, DEAD_ZONE_COLUMNS, find_dead_zones
from geodata.hexgrid import cell_centres, cells_in_polygons

METRIC = "EPSG:32648"  # UTM 48N, where these villages lie
CARRIERS = ("Viettel", "VinaPhone", "MobiFone")


@pytest.fixture
def region() -> dict[str, object]:
    """Three villages side by side; a band along their south edge has no carrier.

    North of the band, ``b`` has VinaPhone but no Viettel at all, ``a`` and
    ``c`` have every carrier.
    """
    villages = gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "commune_id": ["thuong-nong", "thuong-nong", "linh-phu"],
            "households": [40, 98, 30],
        },
        geometry=[
            shapely.box(105.480, 22.560, 105.490, 22.570),
            shapely.box(105.490, 22.560, 105.500, 22.570),
            shapely.box(105.500, 22.560, 105.510, 22.570),
        ],
        crs="EPSG:4326",
    )
    village_cells = cells_in_polygons(villages, resolution=10).rename(columns={"id": "village_id"})
    sizes = village_cells.groupby("village_id")["h3"].transform("size")
    households = village_cells.assign(
        households=village_cells["village_id"].map(villages.set_index("id")["households"]) / sizes
    )
    cells = np.unique(village_cells["h3"].to_numpy(np.uint64))
    lat, lon = cell_centres(cells)
    band = lat < 22.5625
    in_b = (lon >= 105.490) & (lon < 105.500)
    rows = []
    for carrier in CARRIERS:
        p = np.where(band, 0.02, 0.97)
        if carrier == "Viettel":
            p = np.where(in_b, 0.02, p)
        rows.append(pd.DataFrame({"h3": cells, "carrier": carrier, "p_usable": p}))
    fused = pd.concat(rows, ignore_index=True)
    radios = fused.assign(radio="lte")
    sites = pd.DataFrame(
        {
            "carrier": ["Viettel", "VinaPhone"],
            "radio": ["lte", "lte"],
            "lon": [105.485, 105.530],
            "lat": [22.575, 22.575],
        }
    )
    return {
        "fused": fused,
        "village_cells": village_cells,
        "households": households,
        "villages": villages,
        "sites": sites,
        "radios": radios,
        "cells_of": village_cells.groupby("village_id")["h3"].agg(set),
        "band_of": village_cells.loc[village_cells["h3"].isin(cells[band])]
        .groupby("village_id")["h3"]
        .agg(set),
    }


def zones_of(region: dict[str, object], *, radios: bool = False) -> gpd.GeoDataFrame:
    return find_dead_zones(
        region["fused"],  # type: ignore[arg-type]
        village_cells=region["village_cells"],  # type: ignore[arg-type]
        households=region["households"],  # type: ignore[arg-type]
        villages=region["villages"],  # type: ignore[arg-type]
        sites=region["sites"],  # type: ignore[arg-type]
        metric_crs=METRIC,
        radios=region["radios"] if radios else None,  # type: ignore[arg-type]
    )


def test_a_village_without_viettel_has_its_own_viettel_zone(region: dict[str, object]) -> None:
    zones = zones_of(region)

    viettel = zones.loc[zones["carrier"] == "Viettel"].set_index("village_id")
    assert sorted(viettel.index) == ["a", "b", "c"]
    # All of b: the band and the north, where only Viettel fails.
    assert viettel.loc["b", "households"] == 98
    assert viettel.loc["b", "verdict"] == "no_signal"
    assert viettel.loc["b", "carriers_absent"] == ["Viettel"]
    # The best of any carrier fails only in the band: fewer of b's households.
    best = zones.loc[zones["carrier"] == ANY_CARRIER].set_index("village_id")
    band_share = len(region["band_of"]["b"]) / len(region["cells_of"]["b"])  # type: ignore[index]
    assert best.loc["b", "households"] == round(98 * band_share)
    assert best.loc["b", "households"] < 98
    assert best.loc["b", "carriers_absent"] == sorted(CARRIERS)
    # Each zone's nearest site is its carrier's: Viettel's stands 0.5 km north of a.
    assert viettel.loc["a", "nearest_site_m"] < best.loc["c", "nearest_site_m"]
    assert zones["radio"].isna().all()


def test_no_zone_crosses_a_village_boundary(region: dict[str, object]) -> None:
    zones = zones_of(region, radios=True)
    villages = region["villages"].set_index("id")  # type: ignore[attr-defined]

    # The band runs through all three villages: three zones per layer, not one.
    layers = zones.groupby(["carrier", zones["radio"].fillna("")])["village_id"].agg(sorted)
    assert layers.to_dict() == {
        (ANY_CARRIER, ""): ["a", "b", "c"],
        ("MobiFone", ""): ["a", "b", "c"],
        ("MobiFone", "lte"): ["a", "b", "c"],
        ("Viettel", ""): ["a", "b", "c"],
        ("Viettel", "lte"): ["a", "b", "c"],
        ("VinaPhone", ""): ["a", "b", "c"],
        ("VinaPhone", "lte"): ["a", "b", "c"],
    }
    for zone in zones.itertuples():
        outline = villages.geometry[zone.village_id]
        assert outline.buffer(1e-9).contains(zone.geometry), zone.id
        assert zone.village_ids == [zone.village_id]
        assert zone.commune_id == villages.loc[zone.village_id, "commune_id"]
    assert list(zones.columns) == list(DEAD_ZONE_COLUMNS)
    assert zones["id"].is_unique
    # Ordered: any first, then each carrier, then each carrier and radio.
    assert zones["carrier"].iloc[0] == ANY_CARRIER
    assert zones["radio"].notna().to_numpy().tolist() == sorted(
        zones["radio"].notna().to_numpy().tolist()
    )
    areas = zones.loc[zones["carrier"] == ANY_CARRIER, "area_km2"]
    assert (areas < 0.3).all()  # a band ~280 m deep in a 1 km wide village


def test_no_bad_cell_no_zone(region: dict[str, object]) -> None:
    region["fused"] = region["fused"].assign(p_usable=0.99)  # type: ignore[attr-defined]
    zones = zones_of(region)

    assert zones.empty and list(zones.columns) == list(DEAD_ZONE_COLUMNS)
    assert zones.crs == "EPSG:4326"
