"""GeoJSON features of the map pages, with ready-made strings in the page's language."""

from __future__ import annotations

import math
from typing import Any, Final, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.constants import CELL_CLASSES, CRS_WGS84, Lang
from geodata.maps.index import path_segment
from geodata.maps.text import (
    CARRIER_COLOURS,
    CELL_CLASS_COLOURS,
    CELL_CLASS_LABELS,
    CENTRE_COLOUR,
    EVIDENCE_LABELS,
    OTHER_CARRIER_COLOUR,
    SECTOR_LEGEND_COLOUR,
    VERDICT_COLOURS,
    VERDICT_LABELS,
    radio_word,
    words,
)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _count(value: Any, none: str) -> str:
    number = pd.to_numeric(value, errors="coerce")
    return none if pd.isna(number) else f"{number:.0f}"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _percent(p: Any) -> str | None:
    """Write a probability as a whole percentage, rounded as the verdicts' reasons are."""
    number = pd.to_numeric(p, errors="coerce")
    if _blank(p) or pd.isna(number):
        return None
    return f"{float(number):.0%}"


def _site_words(summary: dict[str, Any], text: dict[str, str], lang: Lang) -> str:
    """Where the carrier's nearest site is, and whether a ridge hides it (when known)."""
    metres = pd.to_numeric(summary.get("nearest_site_m"), errors="coerce")
    if _blank(summary.get("nearest_site_m")) or pd.isna(metres):
        return ""
    km = f"{float(metres) / 1000:.1f}"
    words_ = [text["signal_site"].format(km=km.replace(".", ",") if lang == "vi" else km)]
    behind = summary.get("behind_terrain")
    if behind is True:
        words_.append(text["behind_ridge"])
    elif behind is False:
        words_.append(text["in_sight"])
    return ", ".join(words_)


def signal_lines(carriers: Any, *, lang: Lang) -> list[str]:
    """One line per carrier: how often its signal is usable at the village centre, and its site.

    >>> line, = signal_lines({"Viettel": {"radio": "lte", "centre_p_usable": 0.81,
    ...     "evidence": "measured", "nearest_site_m": 2630, "behind_terrain": True}}, lang="en")
    >>> for part in line.split(" · "): print(part)
    Viettel 4G: usable 81% of the time at the village centre (measured)
    nearest site 2.6 km, behind a ridge
    >>> signal_lines({"MobiFone": {"radio": "lte", "centre_p_usable": 0.05,
    ...     "evidence": "measured"}}, lang="vi")
    ['MobiFone 4G: dùng được 5% thời gian tại trung tâm thôn (đo thực tế)']
    """
    text = words(lang)
    if not isinstance(carriers, dict) or not carriers:
        return [text["none"]]
    lines = []
    for carrier, summary in sorted(carriers.items()):
        summary = summary or {}
        radio = radio_word(summary.get("radio") or "")
        share = _percent(summary.get("centre_p_usable"))
        evidence = EVIDENCE_LABELS[lang].get(str(summary.get("evidence")), "")
        if share is None:
            line = text["signal_no_centre"].format(carrier=carrier, radio=radio)
        else:
            line = text["signal_line"].format(
                carrier=carrier, radio=radio, p=share, evidence=evidence
            )
        site = _site_words(summary, text, lang)
        lines.append(f"{line} · {site}" if site else line)
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
        # A verdict with no best carrier means none serves; not knowing stays "—".
        "best_carrier": [
            str(b) if not _blank(b) else none if v == "unknown" else text["none_serves"]
            for b, v in zip(_column(villages, "best_carrier"), verdict, strict=True)
        ],
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
    radio = _column(sites, "radio").fillna("").astype(str).map(radio_word)
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


#: A legend entry: (symbol, colour, label); symbols are drawn by ``templates/legend.html``.
LegendItem = tuple[str, str, str]
#: Symbols the legend draws, one per kind of thing on the map: a filled area
#: (villages, hexagons), a dashed outline (dead zones), a dot (village
#: centres), a ringed circle (sites), a wedge (a site's sector).
LEGEND_SYMBOLS: Final = ("fill", "dashed", "dot", "site", "wedge")


def legend_sections(
    *,
    lang: Lang,
    centres: bool = True,
    dead_zones: bool = False,
    cells: bool = False,
    sites: pd.DataFrame | None = None,
    sectors: bool = False,
) -> list[tuple[str, list[LegendItem]]]:
    """Titled legend sections for what a page draws: every symbol on the map is in one.

    The village verdicts (always: they say what the map is about) and the
    signal hexagons have sections (and colours) of their own; sites are
    listed per carrier present; dead-zone outlines, village centres and
    sector wedges go under "other symbols".

    >>> [title for title, _ in legend_sections(lang="en", cells=True)]
    ['Signal in each village (fill)', 'Signal strength per carrier (hexagons)', 'Other symbols']
    """
    text = words(lang)
    sections: list[tuple[str, list[LegendItem]]] = [
        (
            text["legend_title"],
            [("fill", VERDICT_COLOURS[v], VERDICT_LABELS[lang][v]) for v in VERDICT_COLOURS],
        )
    ]
    if cells:
        sections.append(
            (
                text["legend_cells"],
                [("fill", CELL_CLASS_COLOURS[c], CELL_CLASS_LABELS[lang][c]) for c in CELL_CLASSES],
            )
        )
    if sites is not None and len(sites) and "carrier" in sites:
        present = sorted(set(sites["carrier"].dropna().astype(str)))
        sections.append(
            (
                text["legend_sites"],
                [("site", CARRIER_COLOURS.get(c, OTHER_CARRIER_COLOUR), c) for c in present],
            )
        )
    other: list[LegendItem] = []
    if dead_zones:
        other += [
            ("dashed", VERDICT_COLOURS["no_signal"], text["legend_zone_no_signal"]),
            ("dashed", VERDICT_COLOURS["patchy"], text["legend_zone_patchy"]),
        ]
    if centres:
        other.append(("dot", CENTRE_COLOUR, text["legend_centre"]))
    if sectors:
        other.append(("wedge", SECTOR_LEGEND_COLOUR, text["legend_sector"]))
    if other:
        sections.append((text["legend_symbols"], other))
    return sections
