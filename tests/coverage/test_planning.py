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
