"""Plans: lazy greedy maximum coverage against brute force, and bad input.

Small constructed instances: each candidate newly serves a set of household
cells; the greedy plan's households are compared with the best subset found
by trying them all.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from coverage.candidates import InvalidCandidateError
from coverage.planning import (
    BUDGET_METHOD,
    GREEDY_METHOD,
    Evaluation,
    InvalidPlanError,
    Plan,
    canonical_carrier,
    lazy_greedy,
    plan,
)

BOUND = 1.0 - 1.0 / math.e


def _evaluation(sets: list[list[int]], weight: np.ndarray, cost: np.ndarray) -> Evaluation:
    """An evaluation whose candidate i newly serves the household cells ``sets[i]``."""
    ids = [f"c{i}" for i in range(len(sets))]
    cells = np.arange(len(weight), dtype=np.uint64) + np.uint64(1 << 40)
    village = [f"v{j % 3}" for j in range(len(weight))]
    gains = pd.DataFrame(
        [
            {
                "candidate_id": ids[i],
                "village_id": village[j],
                "h3": cells[j],
                "households": float(weight[j]),
                "unserved_any": True,
            }
            for i, members in enumerate(sets)
            for j in members
        ],
        columns=["candidate_id", "village_id", "h3", "households", "unserved_any"],
    )
    gains["h3"] = gains["h3"].astype("uint64")
    candidates = pd.DataFrame(
        {
            "candidate_id": ids,
            "kind": "new_site",
            "lon": 105.5,
            "lat": 22.5,
            "height_m": 30.0,
            "carrier": "Viettel",
            "radio": "lte",
            "cost": cost.astype(float),
            "host_site_id": None,
        }
    )
    candidates["households_served"] = [float(weight[s].sum()) for s in sets]
    without = pd.Series(weight).groupby(village).sum()
    villages = pd.DataFrame(
        {
            "village_id": without.index,
            "name": without.index,
            "commune_id": "c",
            "verdict": "patchy",
            "households": without.to_numpy() * 2,
            "households_without_signal": without.to_numpy(),
            "households_without_carrier": without.to_numpy(),
            "known_households": without.to_numpy() * 2,
            "point_verdict": "patchy",
        }
    )
    return Evaluation(
        candidates=candidates,
        footprints=gains[["candidate_id", "h3"]],
        gains=gains,
        villages=villages,
        carrier=None,
    )


def _value(sets: list[list[int]], weight: np.ndarray, chosen: tuple[int, ...]) -> float:
    covered = set().union(*(sets[i] for i in chosen)) if chosen else set()
    return float(sum(weight[j] for j in covered))


def _random_instance(seed: int) -> tuple[list[list[int]], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cells = 30
    weight = rng.integers(1, 20, cells).astype(float)
    sets = [
        sorted(rng.choice(cells, size=int(rng.integers(1, 10)), replace=False).tolist())
        for _ in range(10)
    ]
    cost = rng.integers(1, 6, 10).astype(float) * 1e8
    return sets, weight, cost


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_greedy_within_the_bound_of_brute_force(seed: int, k: int) -> None:
    sets, weight, cost = _random_instance(seed)
    best = max(_value(sets, weight, c) for c in itertools.combinations(range(len(sets)), k))
    found = plan(_evaluation(sets, weight, cost), k=k)
    chosen = tuple(int(c[1:]) for c in found.chosen["candidate_id"])
    assert found.households_served == pytest.approx(_value(sets, weight, chosen))
    assert len(found.chosen) <= k
    assert found.households_served >= BOUND * best - 1e-9
    if k == 1:  # one pick: greedy is exact
        assert found.households_served == pytest.approx(best)
    assert found.method == GREEDY_METHOD
    assert found.chosen["rank"].tolist() == list(range(1, len(found.chosen) + 1))
    assert found.chosen["cumulative_households"].iloc[-1] == pytest.approx(found.households_served)


@pytest.mark.parametrize("seed", range(4))
def test_greedy_is_optimal_on_disjoint_sets(seed: int) -> None:
    # With disjoint sets the k heaviest are optimal, and greedy finds them.
    rng = np.random.default_rng(100 + seed)
    weight = rng.integers(1, 50, 40).astype(float)
    cut = np.sort(rng.choice(np.arange(1, 40), size=9, replace=False))
    sets = [list(part) for part in np.split(np.arange(40), cut)]
    for k in (2, 3, 5):
        best = max(_value(sets, weight, c) for c in itertools.combinations(range(len(sets)), k))
        found = plan(_evaluation(sets, weight, np.ones(len(sets))), k=k)
        assert found.households_served == pytest.approx(best)


@pytest.mark.parametrize("seed", range(8))
def test_budget_respected_and_within_the_bound(seed: int) -> None:
    sets, weight, cost = _random_instance(seed)
    budget = 6e8
    feasible = [
        c
        for r in range(len(sets) + 1)
        for c in itertools.combinations(range(len(sets)), r)
        if cost[list(c)].sum() <= budget
    ]
    best = max(_value(sets, weight, c) for c in feasible)
    found = plan(_evaluation(sets, weight, cost), budget=budget)
    assert found.cost <= budget
    assert found.cost == pytest.approx(found.chosen["cost"].sum())
    assert found.households_served >= BOUND / 2 * best - 1e-9
    assert found.method == BUDGET_METHOD
    print(f"seed {seed}: budget plan {found.households_served:.0f} of best {best:.0f}")


def test_overlaps_count_once() -> None:
    weight = np.array([5.0, 7.0, 11.0])
    found = plan(_evaluation([[0, 1], [0, 1], [2]], weight, np.ones(3)), k=3)
    # The twin of the first pick adds nothing: it is not picked at all.
    assert found.chosen["candidate_id"].tolist() == ["c0", "c2"]
    assert found.chosen["marginal_households"].tolist() == [12.0, 11.0]
    assert found.households_served == 23.0
    assert lazy_greedy([np.array([0, 1]), np.array([0, 1])], weight[:2], np.ones(2), k=2) == [
        (0, 12.0)
    ]


def test_plan_villages_before_and_after() -> None:
    weight = np.array([5.0, 7.0, 11.0])
    found = plan(_evaluation([[0], [1, 2]], weight, np.ones(2)), k=1)
    villages = found.villages.set_index("village_id")
    assert found.chosen["candidate_id"].tolist() == ["c1"]
    before = villages["households_without_signal_before"]
    after = villages["households_without_signal_after"]
    assert (before - after).to_dict() == {"v0": 0.0, "v1": 7.0, "v2": 11.0}
    assert villages.at["v1", "newly_served_share"] == pytest.approx(7.0 / 14.0)


def test_bad_options() -> None:
    sets, weight, cost = _random_instance(0)
    evaluation = _evaluation(sets, weight, cost)
    with pytest.raises(InvalidPlanError, match=r"k: 0 is not a whole number of at least 1"):
        plan(evaluation, k=0)
    with pytest.raises(InvalidPlanError, match=r"k: 2.5 is not"):
        plan(evaluation, k=2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidPlanError, match=r"budget: -1.0 is not an amount of at least 0 VND"):
        plan(evaluation, budget=-1.0)
    with pytest.raises(InvalidCandidateError, match=r"carrier 'Orange VN': not a known carrier"):
        canonical_carrier("Orange VN")
    nothing = plan(evaluation, budget=0.0)
    assert nothing.chosen.empty and nothing.households_served == 0.0 and nothing.cost == 0.0


def test_empty_evaluation_gives_an_empty_plan() -> None:
    empty = _evaluation([], np.ones(3), np.empty(0))
    found = plan(empty, k=3)
    assert found.chosen.empty
    assert found.households_served == 0.0
    assert (
        found.villages["households_without_signal_before"]
        == found.villages["households_without_signal_after"]
    ).all()


# --- On the demo: the evaluation against a full re-analysis --------------------
#
# The analysis gets what a planner has: villages, sites, readings and the DEM
# (no population raster, no truth). A candidate is then built for real, as a
# what-if does: its hypothetical cells (created now, so older readings no
# longer veto it) are added to the sites and everything is analysed again.

BAN_GIONG = "thuong-nong-ban-giong"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from coverage.pipeline import analyze
    from geodata.demo import write_demo
    from geodata.raster import read_raster
    from geodata.readings import read_readings_csv, validate_readings
    from geodata.sites import read_sites
    from geodata.villages import read_villages

    files = write_demo(tmp_path_factory.mktemp("plan-demo"), seed=7)
    villages = read_villages(files.villages)
    sites = read_sites(files.sites)
    readings = validate_readings(read_readings_csv(files.readings)).valid
    result = analyze(villages, sites, readings, dem=files.dem)
    dem = read_raster(files.dem, bounds_wgs84=tuple(villages.total_bounds), margin_m=15_000.0)
    return {
        "villages": villages,
        "sites": sites,
        "readings": readings,
        "dem_path": files.dem,
        "dem": dem,
        "result": result,
    }


def _built(demo: dict[str, object], candidates: pd.DataFrame) -> pd.DataFrame:
    """The villages as a full analysis judges them with ``candidates`` built."""
    from coverage.pipeline import analyze
    from geodata.sites import hypothetical_cells

    sites = demo["sites"]
    assert isinstance(sites, pd.DataFrame)
    cells = hypothetical_cells(candidates, sites, created=pd.Timestamp.now(tz="UTC"))
    both = pd.concat([sites, cells.reindex(columns=sites.columns)], ignore_index=True)
    after = analyze(demo["villages"], both, demo["readings"], dem=demo["dem_path"])  # type: ignore[arg-type]
    return after.villages.set_index("id")


def _without(villages: pd.DataFrame, village: str, carrier: str) -> int:
    return int(villages.at[village, "carriers"][carrier]["households_without_signal"])


# A full re-analysis differs from the evaluation by what the evaluation does
# not follow: the calibration is refitted and the residuals kriged again
# without the readings the candidate retires, and households are re-placed
# (cells whose only readings were retired lose their boost). On the demo
# these move a village by a household or two; the published count is also
# rounded to whole households. Three households are 3 % of Bản Giòng's 98.
VILLAGE_TOLERANCE_HOUSEHOLDS = 3.0


def test_colocation_on_the_vnpt_site_nearest_ban_giong(demo: dict[str, object]) -> None:
    from coverage.candidates import colocation_candidates
    from coverage.planning import evaluate_candidates
    from geodata.raster import utm_crs_for

    result, sites = demo["result"], demo["sites"]
    assert isinstance(sites, pd.DataFrame)
    village = result.villages.set_index("id").loc[BAN_GIONG]  # type: ignore[attr-defined]
    vnpt = sites.loc[sites["carrier"] == "VinaPhone"].drop_duplicates("site_id")
    import pyproj

    crs = utm_crs_for(vnpt["lon"].to_numpy(), vnpt["lat"].to_numpy())
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    sx, sy = to_metric.transform(vnpt["lon"].to_numpy(), vnpt["lat"].to_numpy())
    cx, cy = to_metric.transform(village["centre_lon"], village["centre_lat"])
    distance = np.hypot(np.asarray(sx) - cx, np.asarray(sy) - cy)
    host = str(vnpt["site_id"].to_numpy()[np.argmin(distance)])
    assert 2000 < distance.min() < 3200  # DESIGN.md: about 2.6 km to one VNPT site
    candidates = colocation_candidates(sites)
    candidates = candidates.loc[candidates["host_site_id"] == host]
    assert sorted(candidates["carrier"]) == ["MobiFone", "Viettel"]
    # And, as a control the model must see change, Viettel at the village centre.
    centre = pd.DataFrame(
        {
            "candidate_id": ["hyp-centre-Viettel"],
            "kind": "hypothetical",
            "lon": [village["centre_lon"]],
            "lat": [village["centre_lat"]],
            "height_m": [30.0],
            "carrier": ["Viettel"],
            "radio": ["lte"],
            "cost": [1.5e9],
            "host_site_id": [None],
        }
    )
    for _, candidate in pd.concat([candidates, centre], ignore_index=True).iterrows():
        one = candidate.to_frame().T.reset_index(drop=True)
        evaluation = evaluate_candidates(
            result, sites, one, terrain=demo["dem"], carrier=candidate["carrier"]
        )
        claimed = plan(evaluation, k=1).villages.set_index("village_id").loc[BAN_GIONG]
        before = _without(result.villages.set_index("id"), BAN_GIONG, candidate["carrier"])  # type: ignore[attr-defined]
        built = _built(demo, one)
        after = _without(built, BAN_GIONG, candidate["carrier"])
        print(
            f"{candidate['candidate_id']}: Bản Giòng households without {candidate['carrier']} "
            f"{before} -> {after} (full analysis); evaluation "
            f"{claimed['households_without_signal_before']:.1f} -> "
            f"{claimed['households_without_signal_after']:.1f}"
        )
        assert claimed["households_without_signal_before"] == pytest.approx(before, abs=0.5)
        assert claimed["households_without_signal_after"] == pytest.approx(
            after, abs=VILLAGE_TOLERANCE_HOUSEHOLDS
        )
        lifted = int(evaluation.candidates["villages_out_of_no_signal"].iloc[0])
        if candidate["candidate_id"] == "hyp-centre-Viettel":
            assert before - after >= 50  # the control: the model does see it
            assert claimed["verdict_before"] == "no_signal" != claimed["verdict_after"]
            assert built.at[BAN_GIONG, "verdict"] != "no_signal"
            assert lifted >= 1
        else:  # the mast stands behind a ridge: nothing changes, on either side
            assert claimed["verdict_after"] == "no_signal" == built.at[BAN_GIONG, "verdict"]


# The evaluation follows the readings a candidate leaves in force in their own
# cell (coverage.planning.with_readings), not what they do to the
# calibration's refit and to the kriged residuals around them. The analysis
# keeps a carrier's older readings wherever the new site's *uncalibrated*
# prediction is more than coverage.stats.NEW_SITE_MARGIN_DB (10 dB) below
# usable, though the calibration (a diffraction scale of ~0.5 on the demo)
# lifts many such cells above usable: those readings, taken before the site,
# then lower the refitted offset and the kriged residuals near the site. On
# the demo's top plan of 3 the full analysis finds ~7 % fewer households
# than claimed (442 of 474); with NEW_SITE_MARGIN_DB at 40 dB, 0.4 % more
# (461 for 459 claimed). Until the retirement rule changes, the claim holds
# within 10 %.
CONSISTENCY_TARGET = 0.05
CONSISTENCY_NOW = 0.10


@pytest.fixture(scope="module")
def built_plan(demo: dict[str, object]) -> tuple[Plan, float]:
    """The top plan of 3 on the demo, and the households a full analysis finds it serves."""
    from coverage.candidates import all_candidates
    from coverage.planning import evaluate_candidates

    result, sites = demo["result"], demo["sites"]
    assert isinstance(sites, pd.DataFrame)
    candidates = all_candidates(
        demo["villages"],  # type: ignore[arg-type]
        sites,
        demo["dem"],  # type: ignore[arg-type]
        metric_crs=result.metric_crs,  # type: ignore[attr-defined]
        households=result.households,  # type: ignore[attr-defined]
        max_positions=40,
    )
    evaluation = evaluate_candidates(result, sites, candidates, terrain=demo["dem"])
    top = plan(evaluation, k=3)
    before = result.villages.set_index("id")["households_without_signal"]  # type: ignore[attr-defined]
    after = _built(demo, top.chosen[list(candidates.columns)])["households_without_signal"]
    served = float((before - after).sum())
    print(
        f"plan {top.chosen['candidate_id'].tolist()}: claims {top.households_served:.1f} "
        f"households newly served; the full analysis with them built finds {served:.0f} "
        f"({served / top.households_served - 1:+.1%})"
    )
    claimed = top.villages.set_index("village_id")
    print(
        pd.DataFrame(
            {
                "claimed": (
                    claimed["households_without_signal_before"]
                    - claimed["households_without_signal_after"]
                ).round(1),
                "full": before - after,
            }
        ).loc[lambda t: (t["claimed"] > 0.5) | (t["full"] != 0)]
    )
    assert len(top.chosen) == 3
    return top, served


def test_the_top_plan_built_serves_what_it_claimed(built_plan: tuple[Plan, float]) -> None:
    top, served = built_plan
    assert served == pytest.approx(top.households_served, rel=CONSISTENCY_NOW)


@pytest.mark.xfail(
    strict=True,
    reason="the analysis keeps older readings where the uncalibrated prediction is >10 dB "
    "below usable; they pull its refit and kriging down (see CONSISTENCY_NOW)",
)
def test_the_top_plan_built_serves_what_it_claimed_within_5_percent(
    built_plan: tuple[Plan, float],
) -> None:
    top, served = built_plan
    assert served == pytest.approx(top.households_served, rel=CONSISTENCY_TARGET)


def test_evaluation_bad_input(demo: dict[str, object]) -> None:
    from coverage.candidates import colocation_candidates
    from coverage.planning import evaluate_candidates

    result, sites = demo["result"], demo["sites"]
    assert isinstance(sites, pd.DataFrame)
    candidates = colocation_candidates(sites).head(2)
    with pytest.raises(InvalidCandidateError, match=r"carrier 'Orange': not a known carrier"):
        evaluate_candidates(result, sites, candidates, terrain=None, carrier="Orange")
    wrong = candidates.assign(carrier=["Viettel", "Beeline"])
    with pytest.raises(
        InvalidCandidateError, match=r"candidates, row 2: carrier 'Beeline' is not a known carrier"
    ):
        evaluate_candidates(result, sites, wrong, terrain=None)
    twice = pd.concat([candidates.head(1)] * 2, ignore_index=True)
    with pytest.raises(InvalidCandidateError, match=r"candidate_id 'co-.*' is repeated"):
        evaluate_candidates(result, sites, twice, terrain=None)
    with pytest.raises(InvalidCandidateError, match=r"missing column\(s\) lon, lat"):
        evaluate_candidates(result, sites, candidates.drop(columns=["lon", "lat"]), terrain=None)
    empty = evaluate_candidates(result, sites, candidates.iloc[0:0], terrain=None)
    assert empty.candidates.empty and empty.gains.empty and empty.footprints.empty
    assert len(empty.villages) == 21
    baseline = empty.villages.set_index("village_id")
    assert baseline.at[BAN_GIONG, "point_verdict"] == "no_signal"
    # The baseline counts households as the analysis does (it publishes them rounded).
    published = result.villages.set_index("id")["households_without_signal"]  # type: ignore[attr-defined]
    assert (
        np.rint(baseline["households_without_signal"]).astype(int)
        == published.reindex(baseline.index)
    ).all()
    nothing = plan(empty, k=5)
    assert nothing.chosen.empty and nothing.households_served == 0.0
    assert (nothing.villages["verdict_after"] == nothing.villages["verdict_before"]).all()


def test_candidates_are_calibrated_as_the_analysis_calibrates(demo: dict[str, object]) -> None:
    from coverage.calibration import apply_calibration
    from coverage.planning import _Correction

    calibration = demo["result"].calibration  # type: ignore[attr-defined]
    rng = np.random.default_rng(3)
    for carrier, radio in [("Viettel", "lte"), ("VinaPhone", "umts"), ("Gmobile", "lte")]:
        predicted, loss = rng.uniform(-140, -70, 50), rng.uniform(0, 60, 50)
        table = pd.DataFrame(
            {
                "carrier": carrier,
                "radio": radio,
                "predicted_dbm": predicted,
                "diffraction_db": loss,
                "site_id": "not-a-site",
            }
        )
        expected = apply_calibration(table, calibration)["calibrated_dbm"].to_numpy()
        found = _Correction.of(calibration, carrier, radio).calibrated(predicted, loss)
        np.testing.assert_allclose(found, expected, atol=1e-9)
