"""Where to measure next: the places one field visit would most firm up a verdict.

For the commune's community digital technology team (*Tổ công nghệ số cộng
đồng*): a list of places, each with coordinates, the households it concerns
and a reason, ranked by what a visit there would settle.

The score
---------
Every place gets ``score = households × doubt``, doubt in [0, 1]: the
households whose verdict or service a visit could still turn. Doubt is the
probability mass on the losing side of a decision, doubled:
``doubt = 1 − |2p − 1|`` (1 at a coin toss, 0 when sure), with p per kind:

=====================  =======================================================
``challenge``          a verdict disputed (FCC-style crowd challenge) and not
                       yet settled by new readings: doubt 1, and always first;
                       the place is where the challenger said, else the centre
``uncertain_verdict``  p = ``p_problem`` of the village's verdict
                       (:mod:`coverage.verdicts`); listed when its confidence
                       is below :data:`FIRM_CONFIDENCE`; a village whose centre
                       has no evidence at all (``unknown``: no reading, no
                       site within reach) has doubt 1. Place: the village
                       centre, the point of the official criterion
``predicted_only``     household cells (:attr:`AnalysisResult.households`)
                       where no carrier has been measured, only predicted; p =
                       the best carrier's ``p_served`` (Φ(m/σ), the chance its
                       median is usable) per cell, households × doubt summed
                       over the largest such cluster of touching cells in the
                       village; place: the cluster's cell nearest its
                       household-weighted centre
``network_change``     a site that started after the readings at the village
                       centre retired them, and no reading there since ("Site
                       X since …, not yet measured"); p = that carrier's
                       ``p_served`` at the centre, doubt at least
                       :data:`NEW_SITE_DOUBT`
=====================  =======================================================

Places whose score is below :data:`MIN_SCORE` are left out. Ranks: challenged
villages first, then by score, households, village id (a stable order).

A challenge is settled (:func:`challenges_settled`) once readings taken in
its village after it make at least one cell measured: at least
:data:`coverage.thresholds.MIN_READINGS_MEASURED` readings of one carrier and
radio in one verdict cell, the evidence the analysis itself lets rule.
"""

from __future__ import annotations

from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import thresholds as T
from coverage.pipeline import AnalysisResult
from coverage.points import readings_by_village
from geodata.hexgrid import cell_centres, cells_for_points, connected_groups

__all__ = [
    "FIRM_CONFIDENCE",
    "MIN_SCORE",
    "NEW_SITE_DOUBT",
    "SURVEY_COLUMNS",
    "SURVEY_KINDS",
    "challenges_settled",
    "survey_plan",
]

#: Columns of :func:`survey_plan`'s answer.
SURVEY_COLUMNS: Final = (
    "rank",
    "commune_id",
    "village_id",
    "village",
    "lon",
    "lat",
    "kind",
    "households",
    "score",
    "reason",
    "reason_vi",
)
#: The kinds of places, in the order they are explained (see the module docstring).
SURVEY_KINDS: Final = ("challenge", "uncertain_verdict", "predicted_only", "network_change")
#: A verdict at odds of 4 to 1 or better is firm: below, a visit may still turn it
#: (the verdict itself is given from MIN_CONFIDENCE, 3 to 2, up).
FIRM_CONFIDENCE: Final = 0.8
#: A site no reading has checked is worth a visit as much as a coin toss at least:
#: its real power, height and azimuth are the site database's word, and its own
#: calibration offset is the carrier's until readings near it exist.
NEW_SITE_DOUBT: Final = 0.5
#: Less than half a household's worth of doubt is not worth a trip.
MIN_SCORE: Final = 0.5

_VERDICT_WORDS = {
    "en": {
        "no_signal": "no signal",
        "patchy": "patchy",
        "covered": "covered",
        "unknown": "unknown",
    },
    "vi": {
        "no_signal": "trắng sóng",
        "patchy": "lõm sóng",
        "covered": "có sóng",
        "unknown": "chưa rõ",
    },
}
_TEXT = {
    "challenge": {
        "en": "Verdict ({verdict}) challenged on {date}: “{text}”; not yet settled by new readings",
        "vi": "Kết luận ({verdict}) bị phản ánh ngày {date}: “{text}”; chưa có số đo mới",
    },
    "no_evidence": {
        "en": "No readings and no known site reach the village centre: measure there",
        "vi": "Chưa có số đo và chưa biết trạm nào phủ tới trung tâm thôn: cần đo tại đây",
    },
    "uncertain": {
        "en": "Verdict {verdict} is not firm (confidence {confidence:.0%}): "
        "readings at the village centre would settle it",
        "vi": "Kết luận “{verdict}” chưa chắc chắn (độ tin cậy {confidence:.0%}): "
        "cần đo tại trung tâm thôn",
    },
    "undecided": {
        "en": "The evidence cannot decide (confidence {confidence:.0%}): "
        "readings at the village centre would settle it",
        "vi": "Dữ liệu chưa đủ để kết luận (độ tin cậy {confidence:.0%}): "
        "cần đo tại trung tâm thôn",
    },
    "predicted_only": {
        "en": "{households:.0f} households where no carrier has been measured "
        "(predicted only, usable signal likely {p:.0%})",
        "vi": "{households:.0f} hộ ở nơi chưa có số đo của nhà mạng nào "
        "(chỉ dự báo, khả năng có sóng {p:.0%})",
    },
    "network_change": {
        "en": "Site {site} ({carrier}) since {date}, not yet measured: "
        "older readings at the centre no longer count",
        "vi": "Trạm {site} ({carrier}) hoạt động từ {date}, chưa được đo: "
        "số đo cũ tại trung tâm thôn không còn được tính",
    },
}
# How much of a challenge's text a reason quotes.
_QUOTE_CHARS = 120


def _doubt(p: np.ndarray | pd.Series) -> np.ndarray:
    """``1 − |2p − 1|``: 1 at a coin toss, 0 when sure (NaN: nothing known, 1)."""
    values = np.asarray(p, dtype=float)
    return np.where(np.isnan(values), 1.0, 1.0 - np.abs(2.0 * values - 1.0))


def _date(value: object) -> str:
    return str(pd.Timestamp(value).strftime("%d/%m/%Y"))


def _quote(text: object) -> str:
    words = " ".join(str(text).split())
    return words if len(words) <= _QUOTE_CHARS else words[: _QUOTE_CHARS - 1].rstrip() + "…"


def _centres(villages: pd.DataFrame) -> pd.DataFrame:
    """``village_id, lon, lat`` of each village's centre (the recorded one, else a point inside)."""
    inside = gpd.GeoSeries(villages.geometry).representative_point()
    missing = pd.Series(np.nan, index=villages.index)
    lon = pd.to_numeric(villages.get("centre_lon", missing), errors="coerce")
    lat = pd.to_numeric(villages.get("centre_lat", missing), errors="coerce")
    known = (lon.notna() & lat.notna()).to_numpy()
    return pd.DataFrame(
        {
            "village_id": villages["id"].astype(str).to_numpy(),
            "lon": np.where(known, lon, inside.x),
            "lat": np.where(known, lat, inside.y),
        }
    )


def _rows(
    base: pd.DataFrame, kind: str, households: object, score: object, texts: dict[str, list[str]]
) -> pd.DataFrame:
    out = base[["village_id", "lon", "lat"]].reset_index(drop=True).copy()
    out["kind"] = kind
    out["households"] = np.asarray(households, dtype=float)
    out["score"] = np.asarray(score, dtype=float)
    out["reason"] = texts["en"]
    out["reason_vi"] = texts["vi"]
    return out


def _uncertain_villages(villages: pd.DataFrame, centres: pd.DataFrame) -> pd.DataFrame:
    """Villages whose verdict a visit could still turn, at their centres."""
    confidence = pd.to_numeric(villages["confidence"], errors="coerce").fillna(0.0)
    p_problem = pd.to_numeric(villages["p_problem"], errors="coerce")
    chosen = (confidence < FIRM_CONFIDENCE).to_numpy()
    picked = villages.loc[chosen]
    doubt = _doubt(p_problem.loc[chosen])
    households = pd.to_numeric(picked["households"], errors="coerce").fillna(0.0).to_numpy(float)
    texts: dict[str, list[str]] = {"en": [], "vi": []}
    for verdict, sure, p in zip(
        picked["verdict"].astype(str), confidence.loc[chosen], p_problem.loc[chosen], strict=True
    ):
        for lang in ("en", "vi"):
            if pd.isna(p):
                texts[lang].append(_TEXT["no_evidence"][lang])
            elif verdict == "unknown":
                texts[lang].append(_TEXT["undecided"][lang].format(confidence=sure))
            else:
                texts[lang].append(
                    _TEXT["uncertain"][lang].format(
                        verdict=_VERDICT_WORDS[lang].get(verdict, verdict), confidence=sure
                    )
                )
    base = centres.set_index("village_id").loc[picked["id"].astype(str)].reset_index()
    return _rows(base, "uncertain_verdict", households, households * doubt, texts)


def _predicted_clusters(result: AnalysisResult) -> pd.DataFrame:
    """Each village's largest cluster of household cells that only a prediction speaks for."""
    homes = result.households.loc[result.households["households"] > 0]
    cells = result.cells
    if homes.empty or cells.empty:
        return _no_places("predicted_only")
    per_cell = cells.assign(
        measured=cells["evidence"].isin(["measured", "both"]),
        predicted=cells["evidence"].eq("predicted"),
    ).groupby("h3")
    summary = pd.DataFrame(
        {
            "measured": per_cell["measured"].any(),
            "predicted": per_cell["predicted"].any(),
            "p": per_cell["p_served"].max(),
        }
    )
    only = summary.loc[summary["predicted"] & ~summary["measured"]]
    rows = homes.merge(only[["p"]], left_on="h3", right_index=True)
    if rows.empty:
        return _no_places("predicted_only")
    h3 = rows["h3"].to_numpy(np.uint64)
    lat, lon = cell_centres(h3)
    rows = rows.assign(
        lat=lat,
        lon=lon,
        group=connected_groups(h3),
        weighed=rows["households"] * _doubt(rows["p"]),
    )
    rows["cluster"] = rows["village_id"].astype(str) + "#" + rows["group"].astype(str)
    clusters = rows.groupby("cluster").agg(
        village_id=("village_id", "first"),
        households=("households", "sum"),
        score=("weighed", "sum"),
    )
    clusters = clusters.sort_values(["households", "score"], ascending=False)
    largest = clusters.drop_duplicates("village_id")
    members = rows.loc[rows["cluster"].isin(largest.index)].copy()
    weights, by = members["households"], members["cluster"]
    centre_lat = _weighted_mean(members["lat"], weights, by)
    centre_lon = _weighted_mean(members["lon"], weights, by)
    # The cluster's cell nearest its household-weighted centre (a crescent's
    # centre can lie outside it), distances on the local tangent plane.
    scale = np.cos(np.radians(members["lat"]))
    members["off"] = (members["lat"] - by.map(centre_lat)) ** 2 + (
        (members["lon"] - by.map(centre_lon)) * scale
    ) ** 2
    place = members.loc[members.groupby("cluster")["off"].idxmin()].set_index("cluster")
    # The cluster's own chance of service, as its households see it.
    p_mean = _weighted_mean(members["p"], weights, by)
    largest = largest.join(place[["lon", "lat"]]).join(p_mean.rename("p"))
    texts = {
        lang: [
            _TEXT["predicted_only"][lang].format(households=hh, p=p)
            for hh, p in zip(largest["households"], largest["p"], strict=True)
        ]
        for lang in ("en", "vi")
    }
    return _rows(largest, "predicted_only", largest["households"], largest["score"], texts)


def _no_places(kind: str) -> pd.DataFrame:
    empty = pd.DataFrame(columns=["village_id", "lon", "lat"])
    return _rows(empty, kind, [], [], {"en": [], "vi": []})


def _weighted_mean(values: pd.Series, weights: pd.Series, by: pd.Series) -> pd.Series:
    """Mean of ``values`` per group of ``by``, weighted."""
    return (values * weights).groupby(by).sum() / weights.groupby(by).sum()


def _network_changes(
    result: AnalysisResult, villages: pd.DataFrame, centres: pd.DataFrame
) -> pd.DataFrame:
    """Villages whose centre readings a newer site retired, not measured since."""
    started = result.new_sites
    if started is None or started.empty:
        return _no_places("network_change")
    started = started.loc[started["village_id"].isin(villages["id"])]
    at_centre = result.centre_cells.merge(result.cells[["h3", "carrier", "p_served"]], on="h3")
    p = at_centre.groupby(["village_id", "carrier"])["p_served"].max()
    keys = pd.MultiIndex.from_frame(started[["village_id", "carrier"]])
    doubt = np.maximum(_doubt(p.reindex(keys).to_numpy(float)), NEW_SITE_DOUBT)
    households = (
        pd.to_numeric(villages.set_index("id")["households"], errors="coerce")
        .reindex(started["village_id"])
        .fillna(0.0)
        .to_numpy(float)
    )
    texts = {
        lang: [
            _TEXT["network_change"][lang].format(
                site=row.site_id, carrier=row.carrier, date=_date(row.since)
            )
            for row in started.itertuples(index=False)
        ]
        for lang in ("en", "vi")
    }
    base = started[["village_id"]].merge(centres, on="village_id", how="left")
    return _rows(base, "network_change", households, households * doubt, texts)


def _challenged(
    challenges: pd.DataFrame | None, villages: pd.DataFrame, centres: pd.DataFrame
) -> pd.DataFrame:
    """Open challenges, one place per village (its latest), where the challenger said."""
    if challenges is None or challenges.empty:
        return _no_places("challenge")
    open_ = challenges
    if "status" in open_:
        open_ = open_.loc[open_["status"].fillna("open").eq("open")]
    open_ = open_.loc[open_["village_id"].isin(villages["id"])]
    if open_.empty:
        return _no_places("challenge")
    open_ = open_.sort_values("created").drop_duplicates("village_id", keep="last")
    base = open_[["village_id"]].merge(centres, on="village_id", how="left")
    for axis in ("lon", "lat"):
        given = pd.to_numeric(open_.get(axis), errors="coerce") if axis in open_ else None
        if given is not None:
            base[axis] = np.where(given.notna().to_numpy(), given.to_numpy(float), base[axis])
    frame = villages.set_index("id")
    households = (
        pd.to_numeric(frame["households"], errors="coerce")
        .reindex(open_["village_id"])
        .fillna(0.0)
        .to_numpy(float)
    )
    verdicts = frame["verdict"].reindex(open_["village_id"]).fillna("unknown").astype(str)
    texts = {
        lang: [
            _TEXT["challenge"][lang].format(
                verdict=_VERDICT_WORDS[lang].get(v, v), date=_date(created), text=_quote(text)
            )
            for v, created, text in zip(verdicts, open_["created"], open_["text"], strict=True)
        ]
        for lang in ("en", "vi")
    }
    return _rows(base, "challenge", households, households, texts)


def survey_plan(
    result: AnalysisResult,
    *,
    challenges: pd.DataFrame | None = None,
    now: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Rank the places where one visit would most change or firm up a verdict.

    Parameters
    ----------
    result : AnalysisResult
        An analysis (:func:`coverage.pipeline.analyze`); its villages need
        ``confidence`` and ``p_problem``.
    challenges : DataFrame, optional, keyword-only
        ``village_id, created, text`` and optionally ``status`` (only
        ``open`` ones count), ``lon``, ``lat`` (where the challenger points).
    now : Timestamp, optional, keyword-only
        Challenges created after ``now`` are not yet known (default: all are).

    Returns
    -------
    DataFrame
        :data:`SURVEY_COLUMNS`, one row per place, ranked from 1; ``score``
        and ``households`` rounded to one decimal, coordinates to 6
        (decimal degrees, EPSG:4326). See the module docstring for the score.

    Examples
    --------
    >>> import shapely
    >>> from coverage.pipeline import AnalysisResult
    >>> from coverage.calibration import Calibration
    >>> villages = gpd.GeoDataFrame({"id": ["bg"], "name": ["Bản Giòng"],
    ...     "commune_id": ["thuong-nong"], "households": [98], "verdict": ["patchy"],
    ...     "confidence": [0.62], "p_problem": [0.62]},
    ...     geometry=[shapely.box(105.49, 22.57, 105.50, 22.58)], crs="EPSG:4326")
    >>> result = AnalysisResult(villages, gpd.GeoDataFrame(), pd.DataFrame(
    ...     columns=["h3", "carrier", "evidence", "p_served"]), pd.DataFrame(), Calibration.none())
    >>> plan = survey_plan(result)
    >>> plan.loc[0, ["rank", "kind", "households", "score"]].astype(str).tolist()
    ['1', 'uncertain_verdict', '98.0', '74.5']
    """
    villages = pd.DataFrame(result.villages)
    if villages.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SURVEY_COLUMNS})
    villages["id"] = villages["id"].astype(str)
    centres = _centres(villages)
    if challenges is not None and now is not None and len(challenges):
        created = pd.to_datetime(challenges["created"], utc=True)
        challenges = challenges.loc[(created <= pd.Timestamp(now)).to_numpy()]
    parts = [
        _challenged(challenges, villages, centres),
        _uncertain_villages(villages, centres),
        _predicted_clusters(result) if len(result.households) else _no_places("predicted_only"),
        _network_changes(result, villages, centres),
    ]
    plan = pd.concat([p for p in parts if len(p)], ignore_index=True)
    if plan.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SURVEY_COLUMNS})
    plan = plan.loc[(plan["score"] >= MIN_SCORE) | plan["kind"].eq("challenge")]
    plan["first"] = plan["kind"].eq("challenge")
    plan = plan.sort_values(
        ["first", "score", "households", "village_id"], ascending=[False, False, False, True]
    ).reset_index(drop=True)
    frame = villages.set_index("id")
    plan["rank"] = np.arange(1, len(plan) + 1)
    plan["commune_id"] = (
        frame["commune_id"].reindex(plan["village_id"]).to_numpy()
        if ("commune_id" in frame)
        else None
    )
    plan["village"] = frame["name"].reindex(plan["village_id"]).astype(str).to_numpy()
    plan["lon"] = plan["lon"].astype(float).round(6)
    plan["lat"] = plan["lat"].astype(float).round(6)
    plan["households"] = plan["households"].astype(float).round(1)
    plan["score"] = plan["score"].astype(float).round(1)
    return plan[list(SURVEY_COLUMNS)]


def challenges_settled(
    challenges: pd.DataFrame,
    villages: gpd.GeoDataFrame,
    readings: pd.DataFrame,
    *,
    resolution: int = T.H3_RESOLUTION_VERDICT,
) -> np.ndarray:
    """Whether new readings settle each challenge.

    A challenge is settled when readings in its village, taken after it,
    make at least one verdict cell measured: at least
    :data:`coverage.thresholds.MIN_READINGS_MEASURED` readings of one carrier
    and radio in one cell (with or without service: both are evidence).

    Parameters
    ----------
    challenges : DataFrame
        ``village_id, created`` (UTC times).
    villages : GeoDataFrame
        ``id`` and polygons (EPSG:4326).
    readings : DataFrame
        ``time, lat, lon, mcc, mnc, radio``.
    resolution : int, keyword-only
        The verdict cells' H3 resolution.

    Returns
    -------
    ndarray of bool, one per challenge (in order)

    Examples
    --------
    >>> import shapely
    >>> v = gpd.GeoDataFrame({"id": ["bg"]}, geometry=[shapely.box(105.49, 22.57, 105.5, 22.58)],
    ...     crs="EPSG:4326")
    >>> c = pd.DataFrame({"village_id": ["bg", "bg"],
    ...     "created": pd.to_datetime(["2026-02-01", "2026-03-01"], utc=True)})
    >>> r = pd.DataFrame({"time": pd.to_datetime(["2026-02-10"] * 3, utc=True),
    ...     "lat": 22.575, "lon": 105.495, "mcc": 452, "mnc": 2, "radio": "lte"})
    >>> challenges_settled(c, v, r).tolist()
    [True, False]
    """
    settled = np.zeros(len(challenges), dtype=bool)
    if challenges.empty or readings.empty:
        return settled
    inside = readings_by_village(villages.reset_index(drop=True), readings.reset_index(drop=True))
    if inside.empty:
        return settled
    taken = readings.reset_index(drop=True).iloc[inside["reading"].to_numpy()]
    found = pd.DataFrame(
        {
            "village_id": inside["village_id"].astype(str).to_numpy(),
            "time": pd.to_datetime(taken["time"], utc=True).to_numpy(),
            "h3": cells_for_points(
                taken["lat"].to_numpy(float), taken["lon"].to_numpy(float), resolution=resolution
            ),
            "mcc": taken["mcc"].to_numpy(),
            "mnc": taken["mnc"].to_numpy(),
            "radio": taken["radio"].astype(str).to_numpy(),
        }
    )
    asked = pd.DataFrame(
        {
            "challenge": np.arange(len(challenges)),
            "village_id": challenges["village_id"].astype(str).to_numpy(),
            "created": pd.to_datetime(challenges["created"], utc=True).to_numpy(),
        }
    )
    later = asked.merge(found, on="village_id")
    later = later.loc[later["time"] > later["created"]]
    counts = later.groupby(["challenge", "h3", "mcc", "mnc", "radio"]).size()
    enough = counts.loc[counts >= T.MIN_READINGS_MEASURED].index.get_level_values("challenge")
    settled[np.unique(enough.to_numpy(int))] = True
    return settled
