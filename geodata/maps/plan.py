"""The plan page: what a plan would build, where its signal would reach, and what it changes.

One pure function, :func:`plan_page`, draws a plan from plain frames: the
villages coloured by their verdict after the plan (and, in a layer of its
own, before it), each chosen candidate as a marker coloured by its kind
(co-location, new mast, uploaded) with its predicted footprint as an
outline, and a panel with the summary, the chosen in order and the villages
before and after. The service's ``/maps/communes/{id}/plan`` and the CLI's
offline ``plan.html`` are this page. Vietnamese by default, English on request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import branca.element
import folium
import geopandas as gpd
import pandas as pd

from geodata.constants import CRS_WGS84, Lang
from geodata.errors import InvalidInputError
from geodata.maps import layers as L
from geodata.maps.display import display_geometry
from geodata.maps.features import LegendItem
from geodata.maps.index import lang_query, path_segment
from geodata.maps.templating import js_literal, render
from geodata.maps.text import VERDICT_COLOURS, VERDICT_LABELS, radio_word, words
from geodata.plans import villages_lifted

#: CSS classes of the drawn candidates and footprints, so a browser test can count them.
CANDIDATE_CLASS: Final = "lomsong-candidate"
FOOTPRINT_CLASS: Final = "lomsong-footprint"
PLAN_VILLAGE_CLASS: Final = "lomsong-plan-village"

#: Marker and outline colour per candidate kind (Okabe-Ito: apart under colour-vision
#: deficiencies, and none of the verdicts' hues).
KIND_COLOURS: Final[dict[str, str]] = {
    "colocation": "#0072b2",
    "new_site": "#d55e00",
    "uploaded": "#cc79a7",
    "hypothetical": "#000000",
}
KIND_LABELS: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "colocation": "Lắp chung trên cột sẵn có",
        "new_site": "Cột mới",
        "uploaded": "Đề xuất tải lên",
        "hypothetical": "Trạm giả định",
    },
    "en": {
        "colocation": "Co-location on an existing mast",
        "new_site": "New mast",
        "uploaded": "Uploaded proposal",
        "hypothetical": "Hypothetical site",
    },
}
PLAN_TEXT: Final[dict[str, dict[str, str]]] = {
    "vi": {
        "title": "Kế hoạch phủ sóng",
        "panel_title": "Kế hoạch",
        "short": "{n} trạm, thêm {households} hộ có sóng",
        "summary": (
            "{n} trạm phục vụ thêm {households} hộ, tổng chi phí {cost} đồng;"
            " {no_signal} thôn thoát trắng sóng, {patchy} thôn thoát lõm sóng."
        ),
        "kind": "Loại",
        "carrier": "Nhà mạng",
        "newly": "Hộ có sóng thêm",
        "cumulative": "Cộng dồn",
        "cost": "Chi phí (đồng)",
        "nothing": "Không trạm nào phục vụ thêm hộ nào.",
        "village": "Thôn/bản",
        "before": "Trước",
        "after": "Sau",
        "without": "Hộ không có sóng",
        "method": "Phương pháp",
        "rank": "Thứ tự",
        "height": "Chiều cao (m)",
        "legend_plan": "Trạm đề xuất (theo loại)",
        "legend_footprint": "Vùng phủ sóng dự báo của trạm (viền)",
        "after_layer": "Thôn/bản sau kế hoạch",
        "before_layer": "Thôn/bản hiện nay",
        "footprints_layer": "Vùng phủ sóng dự báo",
        "candidates_layer": "Trạm đề xuất",
        "commune_map": "Bản đồ xã",
        "legend_title": "Tình trạng sóng của thôn/bản sau kế hoạch (màu nền)",
    },
    "en": {
        "title": "Coverage plan",
        "panel_title": "Plan",
        "short": "{n} sites, {households} more households served",
        "summary": (
            "{n} sites serve {households} more households for {cost} VND in all;"
            " {no_signal} villages out of no signal, {patchy} out of patchy signal."
        ),
        "kind": "Kind",
        "carrier": "Carrier",
        "newly": "Households newly served",
        "cumulative": "Cumulative",
        "cost": "Cost (VND)",
        "nothing": "No site serves any more households.",
        "village": "Village",
        "before": "Before",
        "after": "After",
        "without": "Households without signal",
        "method": "Method",
        "rank": "Rank",
        "height": "Height (m)",
        "legend_plan": "Proposed sites (by kind)",
        "legend_footprint": "A site's predicted coverage (outline)",
        "after_layer": "Villages after the plan",
        "before_layer": "Villages today",
        "footprints_layer": "Predicted coverage",
        "candidates_layer": "Proposed sites",
        "commune_map": "Commune map",
        "legend_title": "Signal in each village after the plan (fill)",
    },
}


@dataclass(frozen=True)
class PlanSummary:
    """What a plan does in all: households newly served, cost, and how it was chosen."""

    households_served: float
    cost: float
    method: str


@dataclass(frozen=True)
class PlanUrls:
    """The service's links from a plan page: the index and the commune's own map."""

    commune_id: str
    base: str = "/maps"


def number(value: object, lang: Lang) -> str:
    """Write a whole number as people read it: ``1.200.000`` in Vietnamese, ``1,200,000`` else.

    >>> number(1.2e9, "vi"), number(61.6, "en"), number(float("nan"), "vi")
    ('1.200.000.000', '62', '—')
    """
    figure = pd.to_numeric(value, errors="coerce")
    if pd.isna(figure) or not math.isfinite(float(figure)):
        return "—"
    text = f"{float(figure):,.0f}"
    return text.replace(",", ".") if lang == "vi" else text


def _texts(lang: Lang) -> dict[str, str]:
    if lang not in PLAN_TEXT:
        raise InvalidInputError(f"unknown language {lang!r}, expected 'vi' or 'en'")
    return PLAN_TEXT[lang]


def _village_layers(
    villages: gpd.GeoDataFrame, plan_villages: pd.DataFrame, *, lang: Lang
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the villages coloured after the plan, and before it: two FeatureCollections."""
    labels, none = VERDICT_LABELS[lang], words(lang)["none"]
    joined = villages[["id", "name", "households", "geometry"]].merge(
        plan_villages.drop(columns=["name", "households"], errors="ignore"),
        left_on="id",
        right_on="village_id",
        how="left",
    )
    collections = []
    for when in ("after", "before"):
        verdict = joined[f"verdict_{when}"].fillna("unknown").astype(str)
        verdict = verdict.where(verdict.isin(list(VERDICT_COLOURS)), "unknown")
        without = joined[f"households_without_signal_{when}"]
        frame = gpd.GeoDataFrame(
            {
                "name": joined["name"].astype(str),
                "verdict": verdict,
                "verdict_label": verdict.map(labels),
                "households": [
                    number(v, lang) if pd.notna(v) else none for v in joined["households"]
                ],
                "without": [number(v, lang) for v in without],
            },
            geometry=joined.geometry.to_numpy(),
            crs=CRS_WGS84,
        )
        collections.append(frame.to_geo_dict(drop_id=True))
    return collections[0], collections[1]


def _candidate_collections(
    chosen: gpd.GeoDataFrame, *, lang: Lang
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the chosen as markers at their masts, and as footprint outlines."""
    kinds = KIND_LABELS[lang]
    kind = chosen["kind"].astype(str)
    properties = pd.DataFrame(
        {
            "id": chosen["candidate_id"].astype(str).to_numpy(),
            "kind": kind.to_numpy(),
            "kind_label": kind.map(kinds).fillna(kind).to_numpy(),
            "label": [
                f"{r}. {kinds.get(k, k)} · {c} {radio_word(ra)}"
                for r, k, c, ra in zip(
                    chosen["rank"], kind, chosen["carrier"], chosen["radio"], strict=True
                )
            ],
            "carrier": chosen["carrier"].astype(str).to_numpy(),
            "radio": chosen["radio"].map(radio_word).to_numpy(),
            "height": [number(h, lang) for h in chosen["height_m"]],
            "newly": [number(v, lang) for v in chosen["marginal_households"]],
            "cumulative": [number(v, lang) for v in chosen["cumulative_households"]],
            "cost": [number(v, lang) for v in chosen["cost"]],
        }
    )
    masts = gpd.GeoDataFrame(
        properties,
        geometry=gpd.points_from_xy(chosen["lon"].round(5), chosen["lat"].round(5)),
        crs=CRS_WGS84,
    )
    drawn = chosen.geometry.notna().to_numpy() & ~chosen.geometry.is_empty.to_numpy()
    outlines = gpd.GeoDataFrame(
        properties.loc[drawn].reset_index(drop=True),
        geometry=chosen.geometry.to_numpy()[drawn],
        crs=CRS_WGS84,
    )
    outlines = display_geometry(outlines, tolerance_m=2.0)
    return masts.to_geo_dict(drop_id=True), outlines.to_geo_dict(drop_id=True)


def plan_legend(
    kinds: list[str], *, lang: Lang, footprints: bool
) -> list[tuple[str, list[LegendItem]]]:
    """List the legend: the villages' verdicts after the plan, the kinds of site, outlines.

    >>> [title for title, _ in plan_legend(["new_site"], lang="en", footprints=True)]
    ['Signal in each village after the plan (fill)', 'Proposed sites (by kind)']
    """
    text = _texts(lang)
    sections: list[tuple[str, list[LegendItem]]] = [
        (
            text["legend_title"],
            [("fill", VERDICT_COLOURS[v], VERDICT_LABELS[lang][v]) for v in VERDICT_COLOURS],
        )
    ]
    present = [k for k in KIND_COLOURS if k in set(kinds)]
    items: list[LegendItem] = [("site", KIND_COLOURS[k], KIND_LABELS[lang][k]) for k in present]
    if footprints and present:
        items.append(("dashed", "#333333", text["legend_footprint"]))
    if items:
        sections.append((text["legend_plan"], items))
    return sections


def _panel(
    chosen: gpd.GeoDataFrame, plan_villages: pd.DataFrame, summary: PlanSummary, *, lang: Lang
) -> str:
    text, labels, kinds = _texts(lang), VERDICT_LABELS[lang], KIND_LABELS[lang]
    before = plan_villages["verdict_before"].astype(str)
    after = plan_villages["verdict_after"].astype(str)
    out_of_no_signal, out_of_patchy = villages_lifted(plan_villages)
    households = number(summary.households_served, lang)
    rows = [
        {
            "id": str(row.candidate_id),
            "rank": int(row.rank),
            "kind": kinds.get(str(row.kind), str(row.kind)),
            "kind_id": str(row.kind),
            "colour": KIND_COLOURS.get(str(row.kind), "#333333"),
            "carrier": str(row.carrier),
            "radio": radio_word(row.radio),
            "marginal": number(row.marginal_households, lang),
            "cumulative": number(row.cumulative_households, lang),
            "cost": number(row.cost, lang),
        }
        for row in chosen.itertuples()
    ]
    changed = plan_villages.loc[
        (before != after)
        | (
            pd.to_numeric(plan_villages["households_without_signal_before"])
            != pd.to_numeric(plan_villages["households_without_signal_after"])
        )
    ]
    villages = [
        {
            "name": str(v.name),
            "before": labels.get(str(v.verdict_before), str(v.verdict_before)),
            "after": labels.get(str(v.verdict_after), str(v.verdict_after)),
            "without_before": number(v.households_without_signal_before, lang),
            "without_after": number(v.households_without_signal_after, lang),
        }
        for v in changed.itertuples()
    ]
    return render(
        "plan_panel.html",
        text=text,
        summary_short=text["short"].format(n=len(rows), households=households),
        summary=text["summary"].format(
            n=len(rows),
            households=households,
            cost=number(summary.cost, lang),
            no_signal=out_of_no_signal,
            patchy=out_of_patchy,
        ),
        rows=rows,
        villages=villages,
        method=summary.method,
    )


def plan_page(
    villages: gpd.GeoDataFrame,
    plan_villages: pd.DataFrame,
    chosen: gpd.GeoDataFrame,
    summary: PlanSummary,
    *,
    commune: str,
    lang: Lang = "vi",
    urls: PlanUrls | None = None,
    hillshade: str | None = None,
    hillshade_bounds: list[list[float]] | None = None,
    assets_url: str = "/static/leaflet",
    own_assets_url: str = "/static/lomsong",
    inline_assets_dir: Path | None = None,
) -> str:
    """Render a plan as a standalone map page.

    Parameters
    ----------
    villages : GeoDataFrame
        The villages' outlines (``id``, ``name``, ``households``), any CRS.
    plan_villages : DataFrame
        :attr:`coverage.planning.Plan.villages`: ``village_id`` and the
        verdicts and households without signal before and after.
    chosen : GeoDataFrame
        :func:`geodata.plans.plan_frame`: the chosen in rank order, each as
        its footprint, with ``lon``/``lat`` of its mast.
    summary : PlanSummary
    commune : str, keyword-only
        The commune's name, for the title.
    lang : {"vi", "en"}
    urls : PlanUrls, optional
        The service's links (the index, the commune map, the other
        language); without, a standalone page.
    hillshade, hillshade_bounds : optional
        The URL of the commune's hillshade image and its Leaflet bounds.
    assets_url, own_assets_url, inline_assets_dir
        As :func:`geodata.maps.render_map` takes them (``inline_assets_dir``:
        everything in the one file, for ``plan.html``).

    Raises
    ------
    InvalidInputError
        When ``villages`` has no CRS or ``lang`` is unknown.
    """
    text, plan_text = words(lang), _texts(lang)
    if villages.crs is None:
        raise InvalidInputError("villages have no CRS")
    villages = display_geometry(villages.to_crs(CRS_WGS84), tolerance_m=2.0)
    title = f"{plan_text['title']} — {text['commune']} {commune}"
    fmap = L.titled_page_map(
        lang=lang,
        title=title,
        assets_url=assets_url,
        own_assets_url=own_assets_url,
        inline_assets_dir=inline_assets_dir,
    )
    root: Any = fmap.get_root()
    up: list[tuple[str, str]] = []
    extra: list[tuple[str, str]] = []
    if urls is not None:
        q, commune_id = lang_query(lang), path_segment(urls.commune_id)
        up = [
            (text["all_maps"], f"{urls.base}{q}"),
            (f"{plan_text['commune_map']} {commune}", f"{urls.base}/communes/{commune_id}{q}"),
        ]
        other: Lang = "en" if lang == "vi" else "vi"
        extra = [
            (
                "English" if lang == "vi" else "Tiếng Việt",
                f"{urls.base}/communes/{commune_id}/plan{lang_query(other)}",
            )
        ]
    root.html.add_child(
        branca.element.Element(L.nav_html(title, up, None, extra, printed_on=text["printed_on"]))
    )
    if len(villages):
        minx, miny, maxx, maxy = villages.total_bounds
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    if hillshade and hillshade_bounds:
        image, bounds = js_literal(hillshade), js_literal(hillshade_bounds)
        overlay = f"L.imageOverlay({image}, {bounds}, {{opacity: 0.7}})"
        L.ScriptLayer(overlay, name=text["hillshade"], overlay=False).add_to(fmap)

    after, before = _village_layers(villages, plan_villages, lang=lang)
    village_options = {
        "colourBy": "verdict",
        "colours": VERDICT_COLOURS,
        "className": PLAN_VILLAGE_CLASS,
        "style": {"color": "#333333", "weight": 1.5, "fillOpacity": 0.5},
        "title": "name",
        "tooltip": "name",
        "label": "name",
        "fields": [
            [text["verdict"], "verdict_label"],
            [text["households"], "households"],
            [text["without"], "without"],
        ],
    }
    L.feature_layer(after, village_options, name=plan_text["after_layer"]).add_to(fmap)
    L.feature_layer(
        before, {**village_options, "label": None}, name=plan_text["before_layer"], show=False
    ).add_to(fmap)
    masts, outlines = _candidate_collections(chosen, lang=lang)
    fields = [
        [plan_text["rank"], "label"],
        [text["carrier"], "carrier"],
        [text["radio"], "radio"],
        [plan_text["height"], "height"],
        [plan_text["newly"], "newly"],
        [plan_text["cumulative"], "cumulative"],
        [plan_text["cost"], "cost"],
    ]
    if outlines["features"]:
        L.feature_layer(
            outlines,
            {
                "colourBy": "kind",
                "colours": KIND_COLOURS,
                "strokeByColour": True,
                "className": FOOTPRINT_CLASS,
                "tooltip": "label",
                "title": "kind_label",
                "fields": fields,
                "style": {"weight": 1.5, "dashArray": "6 4", "fillOpacity": 0.04},
            },
            name=plan_text["footprints_layer"],
        ).add_to(fmap)
    if masts["features"]:
        L.feature_layer(
            masts,
            {
                "colourBy": "kind",
                "colours": KIND_COLOURS,
                "className": CANDIDATE_CLASS,
                "radius": 8,
                "tooltip": "label",
                "title": "kind_label",
                "fields": fields,
                "style": {"color": "#ffffff", "weight": 2, "fillOpacity": 0.95},
            },
            name=plan_text["candidates_layer"],
        ).add_to(fmap)
    control = folium.LayerControl(collapsed=False)
    control.add_to(fmap)
    kinds = chosen["kind"].astype(str).tolist()
    root.add_child(L.Legend(plan_legend(kinds, lang=lang, footprints=bool(outlines["features"]))))
    root.html.add_child(branca.element.Element(_panel(chosen, plan_villages, summary, lang=lang)))
    L.PhonePanels(control, layers=text["layers_button"], legend=text["legend_button"]).add_to(fmap)
    rendered: str = root.render()
    return rendered
