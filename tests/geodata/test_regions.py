"""geodata.regions: known networks, MCC countries and the loaded region, vectorised."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from geodata import regions
from geodata.regions import LoadedRegion, in_mcc_country, known_network

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "samples"


def test_known_network_covers_vietnam_and_refuses_phantoms() -> None:
    mcc = np.array([452] * 11 + [272, 998, np.nan])
    mnc = np.array([*range(0, 11), 2, 1, 4])

    known = known_network(mcc, mnc)

    assert known.tolist() == [False, *[True] * 9, False, True, False, False]


def test_mcc_country_check_is_one_call_per_country() -> None:
    lon = np.array([105.85, -8.47, 100.5, 105.85])
    lat = np.array([21.03, 51.89, 13.75, 21.03])

    inside = in_mcc_country(np.array([452, 452, 520, 520]), lon, lat)

    # Hà Nội in VN; Cork not; Bangkok in TH; Hà Nội is 4° from Thailand's buffer.
    assert inside.tolist() == [True, False, True, False]


def test_loaded_region_is_the_union_of_grown_extents() -> None:
    region = LoadedRegion.from_boxes(
        [(105.46, 22.55, 105.51, 22.58), (105.40, 22.00, 105.45, 22.03)], margin_deg=0.02
    )

    inside = region.contains(
        np.array([105.50, 105.525, 105.535, 105.45, 105.43]),
        np.array([22.56, 22.56, 22.56, 22.30, 22.01]),
    )

    # Inside; within the margin; past it; between the two communes; the second commune.
    assert inside.tolist() == [True, True, False, False, True]


def test_nothing_loaded_means_nothing_is_outside() -> None:
    region = LoadedRegion.from_boxes(np.empty((0, 4)))

    assert region.area is None
    assert region.contains(np.array([0.0, 105.0]), np.array([0.0, 22.0])).tolist() == [True, True]


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")
def test_shipped_files_are_derived_from_ichnaea() -> None:
    """Every shipped network is in ichnaea's list, and every shipped polygon
    covers ichnaea's own within the simplification's tolerance."""
    rows = json.loads((SAMPLES / "ichnaea_mobile_codes_mnc_operators.json").read_text())
    theirs = {int(m) * 1000 + int(n) for m, n, *_ in rows if m.isdigit() and n.isdigit()}
    assert set(regions.known_networks().tolist()) == theirs

    with gzip.open(SAMPLES / "ichnaea_regions_buffer.geojson.gz") as f:
        features = json.load(f)["features"]
    source = {
        f["properties"]["alpha2"]: shapely.from_geojson(json.dumps(f["geometry"])) for f in features
    }
    for alpha2, ours in regions.country_regions().items():
        assert ours.contains(source[alpha2].buffer(-0.05)), alpha2
        assert abs(ours.area - source[alpha2].area) / source[alpha2].area < 0.01
