"""What-if scenarios: hypothetical sites applied to the analysis, without touching the real data.

A scenario runs :func:`app.services.analysis.analyse` twice on the same
communes, from the same store: once as it is, once with the scenario's sites
as if built (:func:`geodata.sites.hypothetical_cells`, dated now). The two
differ only by the sites, so the villages' verdicts and households before
and after are the sites' doing alone. Nothing is published: the stored
verdicts, sites and readings stay as they were; only the scenario is saved
(:mod:`app.store.scenarios`), under a random id that is also the link to
its map (``/maps/scenarios/{id}``): whoever holds the link sees the map.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd

from app.core.config import Rasters
from app.core.errors import NotFoundError, PermissionDeniedError, UnprocessableError
from app.core.security import Role
from app.services.analysis import analyse
from app.services.keys import Caller
from app.store import Store
from coverage.pipeline import AnalysisResult
from geodata import constants as C
from geodata.constants import Lang
from geodata.hexgrid import cell_polygons, cells_from_strings, cells_to_strings
from geodata.raster import utm_crs_for
from geodata.sites import CANDIDATE_COLUMNS, carrier_codes, carrier_name, hypothetical_cells

#: Hypothetical sites one scenario may hold (each adds its cells to two analyses).
MAX_SITES: Final = 50
#: Longest ``candidate_id`` and ``name`` taken (ids of plans are far shorter).
MAX_ID_CHARS: Final = 100
MAX_NAME_CHARS: Final = 200
# 9 random bytes: 12 URL-safe characters, 72 bits; the id is the map's capability.
_ID_BYTES: Final = 9


class InvalidSitesError(UnprocessableError):
    """Some hypothetical sites cannot be analysed; ``problems`` names each."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(
            "; ".join(f"site {p['index']}: {p['field']}: {p['reason']}" for p in problems)
        )
        self.problems = problems


@dataclass(frozen=True)
class _Problems:
    """Bad fields of the sites, each with its item (from 1), field, value and reason."""

    found: list[dict[str, Any]]

    def add(self, index: int, field: str, value: Any, reason: str) -> None:
        self.found.append({"index": index, "field": field, "value": value, "reason": reason})


def _number(item: dict[str, Any], field: str) -> float | None:
    value = item.get(field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _carrier(value: Any, known: set[str]) -> str | None:
    """Return the carrier's name (``Viettel``, ``MCC-MNC``) when lomsong knows it, else ``None``."""
    if not isinstance(value, str):
        return None
    try:
        mcc, mnc = carrier_codes(value)
    except ValueError:
        return None
    name = carrier_name(mcc, mnc)
    return name if (mcc == C.MCC_VIETNAM and mnc in C.CARRIERS) or name in known else None


def _check_site(
    item: Any, index: int, problems: _Problems, known: set[str]
) -> dict[str, Any] | None:
    """One item's candidate row, or ``None`` (its faults added to ``problems``)."""
    if not isinstance(item, dict):
        problems.add(index, "item", item, "not an object")
        return None
    start = len(problems.found)
    lon, lat = _number(item, "lon"), _number(item, "lat")
    if lon is None or not C.LON_MIN <= lon <= C.LON_MAX:
        problems.add(index, "lon", item.get("lon"), "a longitude in degrees, -180 to 180")
    if lat is None or not C.LAT_MIN <= lat <= C.LAT_MAX:
        problems.add(index, "lat", item.get("lat"), "a latitude in degrees, -90 to 90")
    height: float | None = None
    if item.get("height_m") is not None:
        height = _number(item, "height_m")
        if height is None or not 0 < height <= C.SITE_HEIGHT_MAX_M:
            problems.add(
                index, "height_m", item.get("height_m"),
                f"an antenna height in metres, above 0 and at most {C.SITE_HEIGHT_MAX_M:.0f}",
            )  # fmt: skip
    carrier = _carrier(item.get("carrier"), known)
    if carrier is None:
        brands = ", ".join(C.CARRIERS.values())
        problems.add(
            index, "carrier", item.get("carrier"), f"unknown carrier (one of {brands}, or MCC-MNC)"
        )
    radio = item.get("radio")
    if radio is not None and (not isinstance(radio, str) or radio.lower() not in C.RADIOS):
        problems.add(index, "radio", radio, f"unknown radio (one of {', '.join(C.RADIOS)})")
    candidate_id = item.get("candidate_id")
    if candidate_id is not None and (
        not isinstance(candidate_id, str) or not 0 < len(candidate_id.strip()) <= MAX_ID_CHARS
    ):
        problems.add(index, "candidate_id", candidate_id, f"text of 1 to {MAX_ID_CHARS} characters")
    if len(problems.found) > start:
        return None
    return {
        "candidate_id": candidate_id.strip() if candidate_id else f"what-if-{index}",
        "kind": "hypothetical",
        "lon": lon,
        "lat": lat,
        "height_m": height if height is not None else C.DEFAULT_SITE_HEIGHT_M,
        "carrier": carrier,
        "radio": radio.lower() if isinstance(radio, str) else None,
        "cost": None,
        "host_site_id": None,
    }


def _reach(sites: pd.DataFrame, villages: gpd.GeoDataFrame) -> list[set[str]]:
    """Per site, the communes with a village within :data:`C.MAX_CELL_RANGE_M` of it."""
    metric = utm_crs_for(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    points = gpd.GeoSeries(gpd.points_from_xy(sites["lon"], sites["lat"]), crs=C.CRS_WGS84)
    shapes = villages.geometry.to_crs(metric)
    site_i, village_i = shapes.sindex.query(
        points.to_crs(metric), predicate="dwithin", distance=C.MAX_CELL_RANGE_M
    )
    communes = villages["commune_id"].astype(object).to_numpy()
    reach: list[set[str]] = [set() for _ in range(len(sites))]
    for s, v in zip(site_i, village_i, strict=True):
        if communes[v] is not None and communes[v] == communes[v]:
            reach[int(s)].add(str(communes[v]))
    return reach


def validate_sites(
    items: Sequence[Any], store: Store, *, commune_ids: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Check a scenario's sites; return them as candidate rows and the communes they reach.

    Parameters
    ----------
    items : sequence
        The sites as a client sends them: objects with ``lon``, ``lat``,
        ``carrier`` and optional ``height_m``, ``radio``, ``candidate_id``
        (other keys, such as a plan's ``cost`` or ``households_served``,
        are ignored).
    store : Store
    commune_ids : sequence of str, optional
        Analyse these communes; by default every commune with a village
        within :data:`geodata.constants.MAX_CELL_RANGE_M` of a site.

    Returns
    -------
    (DataFrame, list of str)
        :data:`geodata.sites.CANDIDATE_COLUMNS` (kind ``hypothetical``), and
        the communes to analyse, sorted.

    Raises
    ------
    InvalidSitesError
        Naming every bad item (counted from 1), field, value and reason:
        no sites or more than :data:`MAX_SITES`, an unknown carrier or radio,
        a position out of range or farther than the range of a cell from
        every village, a repeated or real site's ``candidate_id``.
    UnprocessableError
        For unknown ``commune_ids``.
    """
    problems = _Problems([])
    if not 1 <= len(items) <= MAX_SITES:
        problems.add(0, "sites", len(items), f"1 to {MAX_SITES} sites, not {len(items)}")
        raise InvalidSitesError(problems.found)
    real = store.sites()
    known = set(real["carrier"].dropna().astype(str))
    rows = [_check_site(item, i, problems, known) for i, item in enumerate(items, start=1)]
    real_ids = set(real["site_id"].dropna().astype(str))
    seen: dict[str, int] = {}
    for index, row in enumerate(rows, start=1):
        if row is None:
            continue
        cid = row["candidate_id"]
        if cid in seen:
            problems.add(index, "candidate_id", cid, f"repeats site {seen[cid]}'s candidate_id")
        elif cid in real_ids:
            problems.add(index, "candidate_id", cid, "a real site's id; name the hypothetical one")
        seen.setdefault(cid, index)
    if commune_ids is not None:
        stored = set(store.communes()["id"].astype(str))
        unknown = sorted(set(commune_ids) - stored)
        if unknown:
            raise UnprocessableError(f"commune_ids: unknown communes {unknown}")
    villages = store.villages(commune_ids=list(commune_ids) if commune_ids else None)
    good = [(i, r) for i, r in enumerate(rows, start=1) if r is not None]
    frame = pd.DataFrame([r for _, r in good], columns=list(CANDIDATE_COLUMNS))
    reach = _reach(frame, villages) if len(frame) and len(villages) else [set() for _ in good]
    km = C.MAX_CELL_RANGE_M / 1000
    for (index, row), communes in zip(good, reach, strict=True):
        if not communes:
            problems.add(
                index, "lon/lat", [row["lon"], row["lat"]],
                f"farther than {km:.0f} km (a cell's range) from every village analysed",
            )  # fmt: skip
    if problems.found:
        raise InvalidSitesError(sorted(problems.found, key=lambda p: p["index"]))
    chosen = sorted(commune_ids) if commune_ids else sorted(set().union(*reach))
    return frame, chosen


# --- before and after -----------------------------------------------------------


def _count(value: Any) -> int | None:
    """Return a household count as JSON: a whole number, or ``None`` when missing."""
    number = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(number) else round(float(number))


def _share(value: Any) -> float | None:
    """Return a confidence as JSON: three decimals, or ``None`` when missing."""
    number = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(number) else round(float(number), 3)


def _per_carrier(carriers: Any) -> dict[str, int | None]:
    if not isinstance(carriers, dict):
        return {}
    return {
        str(name): _count((summary or {}).get("households_without_signal"))
        for name, summary in sorted(carriers.items())
    }


def _state(villages: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "verdict": villages["verdict"].astype(str).to_numpy(),
            "households_without_signal": villages["households_without_signal"].to_numpy(),
            "confidence": villages["confidence"].to_numpy(),
            "carriers": [_per_carrier(c) for c in villages["carriers"]],
        },
        index=villages["id"].astype(str).to_numpy(),
    )


def compare_villages(before: pd.DataFrame, after: pd.DataFrame) -> list[dict[str, Any]]:
    """Per village of ``after``: verdict, households without signal, confidence, before and after.

    Both are :attr:`coverage.pipeline.AnalysisResult.villages` of the same
    villages; ``carriers_before``/``_after`` map each carrier to its
    households without signal.
    """
    was, now = _state(before), _state(after)
    rows = []
    for village in after.itertuples(index=False):
        key = str(village.id)
        old = was.loc[key] if key in was.index else None
        new = now.loc[key]
        without_before = None if old is None else _count(old["households_without_signal"])
        without_after = _count(new["households_without_signal"])
        rows.append(
            {
                "village_id": key,
                "name": str(village.name),
                "commune_id": None if pd.isna(village.commune_id) else str(village.commune_id),
                "households": _count(village.households),
                "verdict_before": None if old is None else old["verdict"],
                "verdict_after": new["verdict"],
                "households_without_signal_before": without_before,
                "households_without_signal_after": without_after,
                "households_newly_served": (
                    None
                    if without_before is None or without_after is None
                    else without_before - without_after
                ),
                "confidence_before": None if old is None else _share(old["confidence"]),
                "confidence_after": _share(new["confidence"]),
                "carriers_before": {} if old is None else old["carriers"],
                "carriers_after": new["carriers"],
            }
        )
    return rows


def totals(villages: list[dict[str, Any]]) -> dict[str, int]:
    """Households newly served (net over the villages), villages out of no_signal and patchy.

    A village is out of ``no_signal`` when it was *trắng sóng* and is now
    patchy or covered, out of ``patchy`` when it was *lõm sóng* and is now
    covered (``unknown`` lifts nothing).
    """
    return {
        "villages": len(villages),
        "villages_changed": sum(v["verdict_before"] != v["verdict_after"] for v in villages),
        "households_newly_served": sum(v["households_newly_served"] or 0 for v in villages),
        "villages_out_of_no_signal": sum(
            v["verdict_before"] == "no_signal" and v["verdict_after"] in ("patchy", "covered")
            for v in villages
        ),
        "villages_out_of_patchy": sum(
            v["verdict_before"] == "patchy" and v["verdict_after"] == "covered" for v in villages
        ),
    }


def newly_served_cells(before: pd.DataFrame, after: pd.DataFrame) -> np.ndarray:
    """H3 cells (uint64) where some carrier's margin is ≥ 0 after and none's was before.

    ``before`` and ``after`` are :attr:`AnalysisResult.cells` (per cell and
    carrier, ``margin_db``): the scenario's predicted footprint, where it
    serves people no carrier served.
    """
    best_after = after.groupby("h3", sort=True)["margin_db"].max()
    best_before = before.groupby("h3", sort=True)["margin_db"].max()
    was = best_before.reindex(best_after.index).fillna(-np.inf)
    served = (best_after.to_numpy() >= 0) & (was.to_numpy() < 0)
    return np.asarray(best_after.index.to_numpy()[served], dtype=np.uint64)


def _sites_out(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "candidate_id": str(row.candidate_id),
            "lon": float(row.lon),
            "lat": float(row.lat),
            "height_m": float(row.height_m),
            "carrier": str(row.carrier),
            "radio": str(row.radio),
        }
        for row in frame.itertuples(index=False)
    ]


def _results(store: Store, communes: list[str], rasters: Rasters | None) -> AnalysisResult:
    result = analyse(store, communes, rasters=rasters)
    if result is None:  # validate_sites found villages there; they went since
        raise NotFoundError(f"no villages in communes {communes}")
    return result


def run_scenario(
    store: Store,
    sites: Sequence[Any],
    *,
    owner: str,
    name: str | None = None,
    commune_ids: Sequence[str] | None = None,
    rasters: Rasters | None = None,
    now: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """Apply hypothetical sites to the analysis, save the scenario and return it.

    Parameters
    ----------
    store : Store
    sites : sequence
        As :func:`validate_sites` takes them.
    owner : str, keyword-only
        Who runs it (``key:<id>``).
    name : str, optional, keyword-only
    commune_ids : sequence of str, optional, keyword-only
        The communes to analyse (default: those the sites reach).
    rasters : Rasters, optional, keyword-only
        Rasters that override the region's (the settings').
    now : Timestamp, optional, keyword-only
        When the scenario is made (and its sites are dated); default now.

    Returns
    -------
    dict
        ``id``, ``name``, ``created`` (ISO 8601, UTC), ``owner``, ``commune_ids``,
        ``sites`` (with each one's radio), ``villages`` (:func:`compare_villages`),
        ``totals`` (:func:`totals`) and ``footprint`` (H3 res-10 cells it newly serves).

    Raises
    ------
    InvalidSitesError, UnprocessableError
        As :func:`validate_sites`.

    Examples
    --------
    >>> scenario = run_scenario(store, [{"lon": 105.5158, "lat": 22.5906,
    ...     "carrier": "Viettel"}], owner="key:ab12")  # doctest: +SKIP
    >>> scenario["totals"]["villages_out_of_no_signal"]  # doctest: +SKIP
    1
    """
    if name is not None and len(name) > MAX_NAME_CHARS:
        raise UnprocessableError(f"name: at most {MAX_NAME_CHARS} characters, not {len(name)}")
    frame, communes = validate_sites(sites, store, commune_ids=commune_ids)
    created = (now or pd.Timestamp.now(tz="UTC")).tz_convert("UTC").floor("s")
    cells = hypothetical_cells(frame, store.sites(), created=created)
    frame["radio"] = (
        cells.drop_duplicates("site_id")
        .set_index("site_id")["radio"]
        .reindex(frame["candidate_id"])
        .to_numpy()
    )
    before = _results(store, communes, rasters)
    result = analyse(store, communes, rasters=rasters, extra_sites=cells)
    if result is None:
        raise NotFoundError(f"no villages in communes {communes}")
    villages = compare_villages(before.villages, result.villages)
    scenario = {
        "id": secrets.token_urlsafe(_ID_BYTES),
        "name": name,
        "created": created.isoformat(),
        "owner": owner,
        "commune_ids": communes,
        "sites": _sites_out(frame),
        "villages": villages,
        "totals": totals(villages),
        "footprint": [
            str(c) for c in cells_to_strings(newly_served_cells(before.cells, result.cells))
        ],
    }
    store.add_scenario(scenario)
    return scenario


# --- reading, comparing, deleting -------------------------------------------------


def scenario_of(store: Store, scenario_id: str) -> dict[str, Any]:
    """Return a saved scenario.

    Raises
    ------
    NotFoundError
        When there is no scenario ``scenario_id``.
    """
    scenario = store.scenario(scenario_id)
    if scenario is None:
        raise NotFoundError(f"no scenario {scenario_id!r}")
    return scenario


def delete_scenario(store: Store, caller: Caller, scenario_id: str) -> None:
    """Delete a scenario: the planner who made it, or an admin.

    Raises
    ------
    NotFoundError, PermissionDeniedError
    """
    scenario = scenario_of(store, scenario_id)
    admin = caller.key is not None and caller.key.role == Role.ADMIN.value
    if scenario["owner"] != caller.identity and not admin:
        raise PermissionDeniedError(
            f"scenario {scenario_id!r} is not yours; only its owner or an admin may delete it"
        )
    store.delete_scenario(scenario_id)


def compare_scenarios(store: Store, scenario_id: str, other_id: str) -> dict[str, Any]:
    """Per village of either scenario: households without signal in each, and the difference.

    ``difference`` is ``other − this`` (negative: the other serves more);
    a village only one scenario analysed has ``null`` for the other.

    Raises
    ------
    NotFoundError
        Naming whichever scenario is missing.
    """
    this, other = scenario_of(store, scenario_id), scenario_of(store, other_id)
    mine = {v["village_id"]: v for v in this["villages"]}
    theirs = {v["village_id"]: v for v in other["villages"]}
    rows = []
    for key in sorted(mine.keys() | theirs.keys()):
        a, b = mine.get(key), theirs.get(key)
        first = a or b
        assert first is not None
        without_a = None if a is None else a["households_without_signal_after"]
        without_b = None if b is None else b["households_without_signal_after"]
        rows.append(
            {
                "village_id": key,
                "name": first["name"],
                "commune_id": first["commune_id"],
                "verdict": None if a is None else a["verdict_after"],
                "verdict_other": None if b is None else b["verdict_after"],
                "households_without_signal": without_a,
                "households_without_signal_other": without_b,
                "difference": (
                    None if without_a is None or without_b is None else without_b - without_a
                ),
            }
        )
    return {
        "id": scenario_id,
        "other_id": other_id,
        "totals": this["totals"],
        "totals_other": other["totals"],
        "villages": rows,
    }


# --- the map page -----------------------------------------------------------------


def scenario_page(
    store: Store,
    scenario_id: str,
    *,
    lang: Lang,
    cache_dir: Path,
    rasters: Rasters | None = None,
    online_tiles: str | None = None,
) -> str:
    """Render a scenario's map (:func:`geodata.maps.scenario.scenario_page`) from the store.

    The villages are drawn with the outlines the store holds now (a village
    deleted since is left out of the map, not of the table).

    Raises
    ------
    NotFoundError
        When there is no scenario ``scenario_id``.
    """
    from app.services.pages import PageSettings, _hillshade
    from geodata.maps import Nav, language_links
    from geodata.maps.scenario import scenario_page as render_scenario_page

    scenario = scenario_of(store, scenario_id)
    table = pd.DataFrame(scenario["villages"])
    outlines = store.villages(commune_ids=scenario["commune_ids"])[["id", "geometry"]]
    villages = gpd.GeoDataFrame(
        outlines.merge(table, left_on="id", right_on="village_id", how="inner"),
        geometry="geometry",
        crs=outlines.crs,
    )
    sites = pd.DataFrame(scenario["sites"]).assign(kind="hypothetical")
    cells = hypothetical_cells(sites, store.sites(), created=pd.Timestamp(scenario["created"]))
    footprint = cells_from_strings(np.asarray(scenario["footprint"], dtype=object))
    opts = PageSettings(lang=lang, cache_dir=cache_dir, online_tiles=online_tiles, rasters=rasters)
    shade = _hillshade(store, tuple(villages.total_bounds), opts) if len(villages) else {}
    path = f"/maps/scenarios/{scenario_id}"
    return render_scenario_page(
        villages,
        cells,
        gpd.GeoSeries(cell_polygons(footprint), crs=C.CRS_WGS84),
        title=scenario["name"]
        or ", ".join(f"{s['carrier']} {s['candidate_id']}" for s in scenario["sites"]),
        summary={"sites": len(scenario["sites"]), **scenario["totals"]},
        created=pd.Timestamp(scenario["created"]).strftime("%d/%m/%Y"),
        lang=lang,
        nav=Nav(extra=language_links(lang, path)),
        online_tiles=online_tiles,
        **shade,  # type: ignore[arg-type]
    )
