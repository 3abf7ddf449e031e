"""GeoJSON features of the map pages, with ready-made strings in the page's language."""

from __future__ import annotations

import math
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.constants import CRS_WGS84, Lang
from geodata.maps.index import path_segment
from geodata.maps.text import EVIDENCE_LABELS, VERDICT_COLOURS, VERDICT_LABELS, words


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _count(value: Any, none: str) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return none if pd.isna(number) else f"{number:.0f}"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def signal_lines(carriers: Any, *, lang: Lang) -> list[str]:
    """One line per carrier: radio, P(usable) at the centre and the evidence.

    >>> signal_lines({"Viettel": {"radio": "lte", "centre_p_usable": 0.81,
    ...     "evidence": "measured"}}, lang="en")
    ['Viettel (LTE): 81% · measured']
    """
    if not isinstance(carriers, dict) or not carriers:
        return [words(lang)["none"]]
    lines = []
    for carrier, summary in sorted(carriers.items()):
        summary = summary or {}
        radio = str(summary.get("radio") or "").upper()
        p = summary.get("centre_p_usable")
        share = "?" if p is None or _blank(p) else f"{100 * float(p):.0f}%"
        evidence = EVIDENCE_LABELS[lang].get(str(summary.get("evidence")), "")
        lines.append(f"{carrier} ({radio}): {share} · {evidence}".strip(" ·"))
    return lines


def village_collection(
    villages: gpd.GeoDataFrame,
    *,
    lang: Lang,
    detail: Literal["full", "overview"] = "full",
    village_url: str | None = None,
) -> dict[str, Any]:
    """Villages as a FeatureCollection of display strings (what popups show).

    ``overview`` leaves out the per-carrier lines and reading dates, to keep
    a province of thousands of villages light.
    """
    text, labels = words(lang), VERDICT_LABELS[lang]
    none = text["none"]
    verdict = _column(villages, "verdict").fillna("unknown").astype(str)
    verdict = verdict.where(verdict.isin(list(VERDICT_COLOURS)), "unknown")
    properties: dict[str, Any] = {
        "id": _column(villages, "id").astype(str),
        "name": _column(villages, "name").astype(str),
        "verdict": verdict,
        "verdict_label": verdict.map(labels),
        "households": _column(villages, "households").map(lambda v: _count(v, none)),
        "without": _column(villages, "households_without_signal").map(lambda v: _count(v, none)),
        "best_carrier": _column(villages, "best_carrier").map(
            lambda v: none if _blank(v) else str(v)
        ),
    }
    # Outlines drawn around a point (geodata.villages.voronoi_villages) are approximate.
    approximate = _column(villages, "boundary").astype(object) == "voronoi"
    if approximate.any():
        properties["boundary"] = [text["boundary_voronoi"] if a else none for a in approximate]
    if detail == "full":
        properties["confidence"] = _column(villages, "confidence").map(
            lambda v: none if _blank(v) else f"{float(v):.0%}"
        )
        reasons = _column(villages, "reasons_vi" if lang == "vi" else "reasons")
        properties["why"] = [list(r) if isinstance(r, list | tuple) else [] for r in reasons]
        properties["signal"] = [signal_lines(c, lang=lang) for c in _column(villages, "carriers")]
        properties["readings"] = _column(villages, "readings_count").map(lambda v: _count(v, "0"))
        # dd/mm/yyyy, as dates are read here.
        properties["last_reading"] = _column(villages, "last_reading").map(
            lambda v: none if _blank(v) else pd.Timestamp(v).strftime("%d/%m/%Y")
        )
    if village_url:
        properties["link"] = [text["open_village"]] * len(villages)
        properties["url"] = [village_url.format(id=path_segment(i)) for i in properties["id"]]
    frame = gpd.GeoDataFrame(properties, geometry=villages.geometry.to_numpy(), crs=CRS_WGS84)
    collection: dict[str, Any] = frame.to_geo_dict(drop_id=True)
    return collection


def dead_zone_collection(zones: gpd.GeoDataFrame, *, lang: Lang) -> dict[str, Any]:
    """Dead zones with their label, area, households and absent carriers."""
    text = words(lang)
    verdict = _column(zones, "verdict").astype(str)
    area = pd.to_numeric(_column(zones, "area_km2"), errors="coerce")
    absent = _column(zones, "carriers_absent").map(
        lambda v: (
            ", ".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else text["none"]
        )
    )
    frame = gpd.GeoDataFrame(
        {
            "verdict": verdict,
            "label": verdict.map(VERDICT_LABELS[lang]).fillna(text["dead_zone"]),
            "area_km2": area.map(lambda v: text["none"] if pd.isna(v) else f"{v:.2f}"),
            "households": _column(zones, "households").map(lambda v: _count(v, text["none"])),
            "carriers_absent": absent,
            "nearest_site_m": _column(zones, "nearest_site_m").map(
                lambda v: _count(v, text["none"])
            ),
        },
        geometry=zones.geometry.to_numpy(),
        crs=CRS_WGS84,
    )
    collection: dict[str, Any] = frame.to_geo_dict(drop_id=True)
    return collection


def site_collection(sites: pd.DataFrame, wedges: np.ndarray, *, lang: Lang) -> dict[str, Any]:
    """One point per (site, carrier) and one wedge per sector with a known azimuth."""
    text = words(lang)
    carrier = _column(sites, "carrier").fillna("?").astype(str)
    radio = _column(sites, "radio").fillna("").astype(str).str.upper()
    name = _column(sites, "name").fillna(_column(sites, "site_id")).fillna("").astype(str)
    azimuth = pd.to_numeric(_column(sites, "azimuth_deg"), errors="coerce")
    lon = pd.to_numeric(sites["lon"], errors="coerce").round(5)
    lat = pd.to_numeric(sites["lat"], errors="coerce").round(5)
    base = pd.DataFrame(
        {
            "carrier": carrier.to_numpy(),
            "radio": radio.to_numpy(),
            "label": (text["site"] + " " + name + " · " + carrier).to_numpy(),
            "azimuth": azimuth.map(lambda v: "omni" if pd.isna(v) else f"{v:.0f}").to_numpy(),
        }
    )
    points = base.assign(lon=lon.to_numpy(), lat=lat.to_numpy())
    points = points.drop_duplicates(subset=["lon", "lat", "carrier", "radio"])
    point_frame = gpd.GeoDataFrame(
        points.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(points["lon"], points["lat"]),
        crs=CRS_WGS84,
    )
    has_wedge = np.array([w is not None for w in wedges], dtype=bool)
    wedge_frame = gpd.GeoDataFrame(
        base.loc[has_wedge].reset_index(drop=True),
        geometry=list(wedges[has_wedge]),
        crs=CRS_WGS84,
    )
    combined = pd.concat([wedge_frame, point_frame], ignore_index=True)
    frame = gpd.GeoDataFrame(combined, geometry="geometry", crs=CRS_WGS84)
    collection: dict[str, Any] = frame.to_geo_dict(drop_id=True)
    return collection
