"""Path loss, antenna pattern and knife-edge diffraction against published values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS

from coverage.diffraction import (
    diffraction_loss_db,
    knife_edge_loss_db,
)
from coverage.pathloss import cell_reach_m, free_space_loss_db, hata_rural_loss_db, sector_gain_db
from coverage.predict import predict_signal
from geodata import constants as C
from geodata.raster import Raster
from geodata.sites import normalise_sites


def test_knife_edge_matches_itu_r_p526() -> None:
    # ITU-R P.526 Fig. 7: J(0) ≈ 6 dB, J(1) ≈ 13.9 dB, J(-0.78) → 0.
    loss = knife_edge_loss_db(np.array([-2.0, -0.78, 0.0, 1.0]))
    assert loss[0] == 0.0
    assert loss[1] == 0.0
    assert abs(loss[2] - 6.0) < 0.1
    assert abs(loss[3] - 13.9) < 0.2


def test_hata_is_monotonic_and_above_free_space() -> None:
    distance = np.array([0.5, 1.0, 2.0, 5.0, 10.0])
    for freq in (900.0, 1800.0, 2100.0, 3500.0):
        loss = hata_rural_loss_db(distance, freq, base_height_m=30.0)
        assert np.all(np.diff(loss) > 0)
        assert np.all(loss >= free_space_loss_db(distance, freq) - 1e-9)


def test_hata_open_area_value_at_1km_900mhz() -> None:
    # Okumura-Hata urban at 900 MHz, hb 30 m, hm 1.5 m, 1 km: 126.4 dB;
    # the open-area correction subtracts 28.5 dB.
    loss = hata_rural_loss_db(np.array([1.0]), 900.0, base_height_m=30.0)[0]
    assert abs(loss - 97.9) < 0.3


def test_sector_pattern_3gpp() -> None:
    gain = sector_gain_db(np.array([90.0, 122.5, 270.0]), 90.0, 65.0)
    assert gain.tolist() == [0.0, -3.0, -25.0]
    assert sector_gain_db(np.array([10.0, 200.0]), float("nan"), 65.0).tolist() == [0.0, 0.0]


def flat_dem(height: float = 100.0) -> Raster:
    values = np.full((200, 200), height)
    return Raster(values, Affine(30.0, 0, 0, 0, -30.0, 6000.0), CRS.from_epsg(32648))


def test_a_ridge_between_site_and_receiver_adds_loss() -> None:
    dem = flat_dem()
    flat = diffraction_loss_db(
        dem, (300.0, 3000.0), 30.0, np.array([5700.0]), np.array([3000.0]), 1800.0
    )
    ridged = dem.values.copy()
    ridged[:, 95:100] = 500.0  # a 400 m wall halfway
    wall = Raster(ridged, dem.transform, dem.crs)
    blocked = diffraction_loss_db(
        wall, (300.0, 3000.0), 30.0, np.array([5700.0]), np.array([3000.0]), 1800.0
    )
    assert flat[0] < 2.0  # ground near a 1.5 m receiver grazes the Fresnel zone
    assert blocked[0] > 25.0


def test_predict_signal_keeps_the_best_cell_per_carrier() -> None:
    sites = normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE", "LTE"],
                "mcc": [452, 452],
                "net": [2, 2],
                "lon": [0.0, 0.0],
                "lat": [0.0, 0.0],
                "site_id": ["s", "s"],
                "azimuth_deg": [0.0, 180.0],
            }
        )
    )
    x = np.array([0.0, 0.0])
    y = np.array([1000.0, -1000.0])  # north and south of the site
    best = predict_signal(sites, x, y, site_x=np.zeros(2), site_y=np.zeros(2))
    assert len(best) == 2
    assert best.groupby("point")["predicted_dbm"].max().round(6).nunique() == 1


def test_two_ridges_cost_more_than_one() -> None:
    dem = flat_dem()
    one = dem.values.copy()
    one[:, 95:100] = 400.0
    two = one.copy()
    two[:, 150:155] = 400.0
    args = ((300.0, 3000.0), 30.0, np.array([5700.0]), np.array([3000.0]), 1800.0)
    single = diffraction_loss_db(Raster(one, dem.transform, dem.crs), *args)[0]
    double = diffraction_loss_db(Raster(two, dem.transform, dem.crs), *args)[0]
    assert double > single + 3.0  # Deygout adds the second edge


def test_dem_in_utm_or_degrees_predicts_the_same(tmp_path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from geodata.raster import read_raster

    # A ridge across a UTM raster, and the same raster warped to EPSG:4326.
    values = np.full((300, 300), 200.0, dtype="float32")
    values[:, 140:150] = 600.0
    utm = tmp_path / "utm.tif"
    profile = {
        "driver": "GTiff",
        "width": 300,
        "height": 300,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:32648",
        "transform": from_origin(540000, 2500000, 30, 30),
    }
    with rasterio.open(utm, "w", **profile) as out:
        out.write(values, 1)
    degrees = tmp_path / "wgs84.tif"
    with rasterio.open(utm) as src:
        from rasterio.warp import calculate_default_transform, reproject

        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds
        )
        with rasterio.open(
            degrees,
            "w",
            **{
                **profile,
                "crs": "EPSG:4326",
                "transform": transform,
                "width": width,
                "height": height,
            },
        ) as out:
            reproject(rasterio.band(src, 1), rasterio.band(out, 1))
    site, rx = (540000 + 30 * 50, 2500000 - 30 * 150), (540000 + 30 * 250, 2500000 - 30 * 150)
    losses = []
    for path in (utm, degrees):
        dem = read_raster(path)
        assert dem.crs.to_epsg() == 32648
        losses.append(
            diffraction_loss_db(dem, site, 30.0, np.array([rx[0]]), np.array([rx[1]]), 1800.0)[0]
        )
    assert losses[0] > 20.0
    assert abs(losses[0] - losses[1]) < 3.0


def test_coarse_terrain_spares_only_hopeless_receivers() -> None:
    from coverage.terrain import HOPELESS_MARGIN_DB, CoarseTerrain

    dem = flat_dem()
    ridged = dem.values.copy()
    ridged[:, 60:64] = 900.0  # a wall 1.8 km east of the site: hopeless behind it
    wall = Raster(ridged, dem.transform, dem.crs)
    sites = normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE"],
                "mcc": [452],
                "net": [2],
                "lon": [0.0],
                "lat": [0.0],
                "site_id": ["s"],
            }
        )
    )
    x = np.array([2500.0, 2600.0, 5000.0, 5100.0, 1000.0])
    y = np.full(5, 3000.0)
    # Receivers 0-1 and 2-3 share a coarse point each; receiver 4 has readings.
    coarse = CoarseTerrain(
        x=np.array([2550.0, 5050.0, 1000.0]),
        y=np.full(3, 3000.0),
        of_receiver=np.array([0, 0, 1, 1, 2]),
        exact=np.array([False, False, False, False, True]),
    )
    args = {"site_x": np.array([300.0]), "site_y": np.array([3000.0]), "dem": wall}
    exact = predict_signal(sites, x, y, **args).set_index("point").sort_index()
    spared = predict_signal(sites, x, y, coarse=coarse, **args).set_index("point").sort_index()
    # 0 and 1 lie ~90 dB deep behind the wall: they share their coarse point's loss.
    assert (exact["predicted_dbm"][[0, 1]] < -115 - HOPELESS_MARGIN_DB).all()
    assert spared["diffraction_db"][0] == spared["diffraction_db"][1]
    assert np.allclose(spared["predicted_dbm"][[0, 1]], exact["predicted_dbm"][[0, 1]], atol=1.0)
    # 2 and 3 are within the margin, 4 has readings: profiles of their own.
    assert spared.loc[[2, 3, 4]].equals(exact.loc[[2, 3, 4]])


def reach_of(**change: float) -> float:
    cell = {"eirp_dbm": 62.0, "height_m": 30.0} | change
    return float(
        cell_reach_m(
            np.array([cell["eirp_dbm"]]),
            np.array([30.8]),
            np.array([-124.0]),
            np.array([1800.0]),
            np.array([cell["height_m"]]),
        )[0]
    )


def test_reach_grows_with_eirp_and_height() -> None:
    assert reach_of(eirp_dbm=20.0) < reach_of(eirp_dbm=30.0) < reach_of(eirp_dbm=40.0)
    assert reach_of(eirp_dbm=30.0, height_m=15.0) < reach_of(eirp_dbm=30.0, height_m=45.0)
    assert reach_of() == C.MAX_CELL_RANGE_M  # a macro sector: the physical bound


def test_reach_does_not_depend_on_opencellid_range() -> None:
    # OpenCelliD says 500 m (the spread of its readings); the link budget
    # of a 62 dBm sector serves 5 km on open ground.
    sites = normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE"],
                "mcc": [452],
                "net": [2],
                "lon": [0.0],
                "lat": [0.0],
                "site_id": ["s"],
                "range": [500],
            }
        )
    )
    assert sites["range_m"].tolist() == [500.0]  # still parsed
    best = predict_signal(
        sites, np.array([0.0, 5000.0]), np.array([0.0, 0.0]), site_x=np.zeros(1), site_y=np.zeros(1)
    )
    assert sorted(best["point"]) == [0, 1]
    far = best.set_index("point").loc[1, "predicted_dbm"]
    assert far > C.USABLE_DBM["lte"]


def test_the_default_finds_a_one_pixel_ridge_before_a_marginal_receiver() -> None:
    # 48 samples step over the crest and leave the receiver ~16 dB above
    # usable (within PREDICTION_REFINES's band): the default recomputes its
    # profile at every pixel, finds the ridge and, as every pixel does,
    # leaves it without usable signal.
    from coverage.terrain import PREDICTION_PROFILE_SAMPLES, PREDICTION_REFINES

    dem = flat_dem()
    ridged = dem.values.copy()
    ridged[:, 104] = 400.0  # one 30 m pixel, between two of the 48 samples
    sites = normalise_sites(
        pd.DataFrame(
            {
                "radio": ["LTE"],
                "mcc": [452],
                "net": [2],
                "lon": [0.0],
                "lat": [0.0],
                "site_id": ["s"],
            }
        )
    )
    args = {
        "site_x": np.array([300.0]),
        "site_y": np.array([3000.0]),
        "dem": Raster(ridged, dem.transform, dem.crs),
    }
    x, y = np.array([5700.0]), np.array([3000.0])
    sampled = predict_signal(sites, x, y, refine_profiles=False, **args)
    default = predict_signal(sites, x, y, **args)
    exact = predict_signal(sites, x, y, profile_samples=None, **args)
    assert PREDICTION_PROFILE_SAMPLES == 48 and PREDICTION_REFINES
    assert sampled["diffraction_db"][0] < 2.0
    assert sampled["predicted_dbm"][0] > C.USABLE_DBM["lte"]
    assert default["diffraction_db"][0] > 25.0
    assert default["predicted_dbm"][0] < C.USABLE_DBM["lte"]
    assert default["predicted_dbm"][0] == exact["predicted_dbm"][0]
