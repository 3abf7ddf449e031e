"""Held-out site test (issue 14): would the plan have put back a site we took away?

For each seed the demo is generated twice: whole, and with one real site
held out (:func:`geodata.demo.write_demo`'s ``without_site``: the same world
as if that site had never been built, so the readings near it never saw
it). The site is chosen by a rule a planner could apply without truth: on
the whole demo, the site whose carrier's households without signal rise most
when the analysis is run without it (its cells, and the readings its cells
served, left out). The analysis then gets only what a planner has of the
held-out world (villages, the other sites, the re-generated readings, the
DEM; no population raster, no truth), candidates are generated
(:func:`coverage.candidates.all_candidates`), evaluated for the held-out
site's carrier, and a plan of one new site is made.

Households the site served: the carrier's households without signal in the
held-out analysis minus those in the whole demo's analysis. Recovered: the
same difference with the plan's candidate added as a hypothetical site
(:func:`geodata.sites.hypothetical_cells`, created now) through a full
:func:`coverage.pipeline.analyze`, not through the evaluation's shortcut.

Run with ``-s`` to see the table per seed. Two of the five seeds are strict
xfails, each with its figures below: 23 (the evaluation over-claims a
candidate far away) and 13 (a better position than the removed site's).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from coverage.candidates import all_candidates
from coverage.pipeline import AnalysisResult, analyze
from coverage.planning import Evaluation, evaluate_candidates, plan
from geodata.demo import write_demo
from geodata.readings import read_readings_csv, validate_readings
from geodata.sites import CANDIDATE_COLUMNS, hypothetical_cells, read_sites
from geodata.villages import read_villages

# Seed 23 fails on the core as of ff76264 and 2aeaaa2 (a finding, not a bar to lower): the
# evaluation claims 492 MobiFone households for new-1-MobiFone in Linh Phú, 62
# km from the removed TQ_NHG_ThuongNong, where a full analysis with it finds
# 382 (99 of the households it claims sit in cells whose margin the full
# analysis puts just under 0 dB, median -1.9 dB, 184 of 185 cells predicted-only);
# new-6-MobiFone, 1.3 km from the removed site, is claimed at 467 and serves
# 413 in a full analysis (100 % of what the site served). An evaluation
# within a few % of the full analysis picks new-6. Strict: once the
# evaluation is fixed, the XPASS says to drop the mark.
KNOWN_FAILURE = pytest.mark.xfail(
    raises=AssertionError,
    strict=True,
    reason="evaluate_candidates over-claims a far candidate by 31 % (issue 14 consistency)",
)
# Seed 13 fails the distance bar whatever the evaluation (ids and figures as
# of core ff76264; the ids are renumbered since): the removed LinhPhu_TQG
# stood in the valley, and the full analysis finds a high point 3.3 km away
# (new-16-VinaPhone) serving 369 households against 346 for the best
# candidate within 1.5 km (new-4-VinaPhone, 1.4 km; the site served 288).
# The plan picks a candidate 3.6 km away (claimed 416, 309 in a full
# analysis: the same over-claim as seed 23; unchanged on core 2aeaaa2).
BETTER_SPOT_FARTHER = pytest.mark.xfail(
    raises=AssertionError,
    strict=True,
    reason="a better position than the removed site's lies 3.3 km away (full analysis)",
)
# The seeds of tests/coverage/test_ground_truth.py.
SEEDS = (
    7,
    11,
    pytest.param(23, marks=KNOWN_FAILURE),
    5,
    pytest.param(13, marks=BETTER_SPOT_FARTHER),
)
# The bars: the top new site within 1.5 km of the removed one, and at
# least 80 % of the households it served served again.
MAX_DISTANCE_M = 1500.0
MIN_RECOVERED_SHARE = 0.8
# A site whose loss costs fewer households than this would make the test vacuous.
MIN_SERVED = 50.0

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Inputs:
    """What a planner has: villages, sites, readings and the DEM."""

    villages: object
    sites: pd.DataFrame
    readings: pd.DataFrame
    dem: Path


def _inputs(directory: Path, seed: int, without_site: str | None = None) -> Inputs:
    files = write_demo(directory, seed=seed, without_site=without_site)
    checked = validate_readings(read_readings_csv(files.readings))
    assert checked.rejected == []
    return Inputs(read_villages(files.villages), read_sites(files.sites), checked.valid, files.dem)


def _analyse(
    inputs: Inputs, *, sites: pd.DataFrame | None = None, readings: pd.DataFrame | None = None
) -> AnalysisResult:
    return analyze(
        inputs.villages,  # type: ignore[arg-type]
        inputs.sites if sites is None else sites,
        inputs.readings if readings is None else readings,
        dem=inputs.dem,
    )


def households_without(result: AnalysisResult, carrier: str) -> float:
    """The carrier's households without usable signal, over every village.

    As :func:`coverage.verdicts._households_per_carrier` counts them: a
    household is served by the carrier where its fused margin is ≥ 0 dB;
    cells where the carrier has no estimate count as unserved.
    """
    mine = result.cells.loc[result.cells["carrier"] == carrier, ["h3", "margin_db"]]
    placed = result.households.merge(mine, on="h3", how="left")
    served = placed["households"].where(placed["margin_db"] >= 0.0, 0.0).sum()
    return float(placed["households"].sum() - served)


def site_to_hold_out(inputs: Inputs, whole: AnalysisResult) -> tuple[str, str, float]:
    """Pick the site whose carrier loses most households when the analysis goes without it.

    Without the site means without its cells and the readings its cells
    served (a planner knows both: the site list and each reading's cell).
    One analysis per site (fifteen on the demo). Returns the site id, its
    carrier and the rise; ties go to the smaller site id.
    """
    sites, readings = inputs.sites, inputs.readings
    reading_cells = pd.MultiIndex.from_arrays(
        [readings["mnc"].astype("Int64"), readings["cell_id"].astype("Int64")]
    )
    rises = []
    for site_id, cells in sites.groupby("site_id", sort=True):  # a loop over sites
        carrier = str(cells["carrier"].iloc[0])
        own = pd.MultiIndex.from_arrays(
            [cells["mnc"].astype("Int64"), cells["cell_id"].astype("Int64")]
        )
        served = reading_cells.isin(own)
        without = _analyse(
            inputs, sites=sites.loc[sites["site_id"] != site_id], readings=readings.loc[~served]
        )
        rise = households_without(without, carrier) - households_without(whole, carrier)
        rises.append((-rise, str(site_id), carrier))
    best = min(rises)
    return best[1], best[2], -best[0]


def new_sites_only(evaluation: Evaluation) -> Evaluation:
    """The evaluation restricted to new-site candidates (the test asks where to build)."""
    kept = evaluation.candidates.loc[evaluation.candidates["kind"] == "new_site"]
    ids = kept["candidate_id"]
    return dataclasses.replace(
        evaluation,
        candidates=kept.reset_index(drop=True),
        footprints=evaluation.footprints.loc[evaluation.footprints["candidate_id"].isin(ids)],
        gains=evaluation.gains.loc[evaluation.gains["candidate_id"].isin(ids)],
    )


def _distance_m(result: AnalysisResult, a: pd.Series, b: pd.Series) -> float:
    to_metric = Transformer.from_crs("EPSG:4326", result.metric_crs, always_xy=True)
    ax, ay = to_metric.transform(float(a["lon"]), float(a["lat"]))
    bx, by = to_metric.transform(float(b["lon"]), float(b["lat"]))
    return float(np.hypot(ax - bx, ay - by))


@pytest.mark.parametrize("seed", SEEDS)
def test_plan_puts_back_the_held_out_site(seed: int, tmp_path: Path) -> None:
    whole_inputs = _inputs(tmp_path / "whole", seed)
    whole = _analyse(whole_inputs)
    site_id, carrier, rise = site_to_hold_out(whole_inputs, whole)
    removed = whole_inputs.sites.loc[whole_inputs.sites["site_id"] == site_id].iloc[0]

    held = _inputs(tmp_path / "held-out", seed, without_site=site_id)
    assert site_id not in set(held.sites["site_id"])
    before = _analyse(held)
    candidates = all_candidates(
        held.villages,  # type: ignore[arg-type]
        held.sites,
        held.dem,
        metric_crs=before.metric_crs,
        carriers=[carrier],
        households=before.households,
    )
    evaluation = evaluate_candidates(
        before, held.sites, candidates, terrain=held.dem, carrier=carrier
    )
    overall = plan(evaluation, k=1).chosen.iloc[0]
    top = plan(new_sites_only(evaluation), k=1).chosen.iloc[:1]
    assert len(top) == 1 and top["kind"].iloc[0] == "new_site"
    chosen = top.iloc[0]

    cells = hypothetical_cells(
        top[list(CANDIDATE_COLUMNS)], held.sites, created=pd.Timestamp.now(tz="UTC")
    )
    after = _analyse(held, sites=pd.concat([held.sites, cells], ignore_index=True))
    served = households_without(before, carrier) - households_without(whole, carrier)
    recovered = households_without(before, carrier) - households_without(after, carrier)
    distance = _distance_m(before, chosen, removed)
    row = (
        f"seed {seed:>3} | {site_id} {removed['name']} ({carrier}, ablation rise {rise:.0f}) | "
        f"{len(candidates):,} candidates | top new site {chosen['candidate_id']} at "
        f"{distance:,.0f} m | served {served:.0f} | recovered {recovered:.0f} "
        f"({recovered / served:.0%}; the evaluation claimed "
        f"{float(chosen['households_served_own']):.0f}) | plan k=1 over all kinds: "
        f"{overall['candidate_id']} ({overall['kind']})"
    )
    print("\n" + row)
    assert served >= MIN_SERVED, row
    assert distance <= MAX_DISTANCE_M, row
    assert recovered >= MIN_RECOVERED_SHARE * served, row
