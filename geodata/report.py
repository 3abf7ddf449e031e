"""A printable commune report: one A4 HTML page set with a static map and the villages.

What a commune chairman brings to a meeting: a one-line summary, the map
(a PNG drawn with matplotlib: no script, prints the same everywhere), the
criterion in words, the villages with why each is judged so, the households
each carrier leaves without signal (whom to call) and a link (and QR code)
back to the interactive map. It prints on A4 in colour or in greyscale: each
verdict has its own fill lightness and hatching, from a colour-blind-safe
palette (:data:`VERDICT_PRINT_STYLE`).

The figure is drawn on its own :class:`matplotlib.figure.Figure`, never
through pyplot: no global state, so pages render safely on worker threads,
and importing this module leaves the caller's matplotlib backend alone. No
text it draws is parsed as mathtext (a village named ``Bản $x$`` is text).
The page is the Jinja template ``geodata/maps/templates/commune_report.html``
(autoescaped).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import math
from collections.abc import Mapping
from typing import Any, Final
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import segno
import shapely
from markupsafe import Markup
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath
from matplotlib.text import Text

from geodata.constants import (
    CRS_WGS84,
    PATCHY_HOUSEHOLD_SHARE,
    USABLE_P_HIGH,
    USABLE_P_LOW,
    VERDICT_ORDER,
    Lang,
)
from geodata.errors import InvalidInputError
from geodata.maps.templating import count, render
from geodata.maps.text import VERDICT_LABELS, words

#: Fill colour and matplotlib hatch per verdict, for paper. Colours from the
#: Okabe–Ito palette (vermillion, orange) and ColorBrewer Blues (#bdd7e7),
#: safe for the common colour blindnesses; their CIE L* lightness (54, 71, 85,
#: 100) differs by at least 14 between any two, so a greyscale print still
#: tells them apart, and the hatching says it again.
VERDICT_PRINT_STYLE: Final[dict[str, tuple[str, str]]] = {
    "no_signal": ("#d55e00", "xxx"),
    "patchy": ("#e69f00", "///"),
    "covered": ("#bdd7e7", ""),
    "unknown": ("#ffffff", ".."),
}
#: Dead zones: outlined and hatched upright over the verdict's own hatching.
DEAD_ZONE_STYLE: Final[dict[str, Any]] = {"edgecolor": "#000000", "hatch": "|||", "linewidths": 0.9}
#: Dates on a report are Vietnam's (one time zone, UTC+7, no daylight saving).
REPORT_TIMEZONE: Final = ZoneInfo("Asia/Ho_Chi_Minh")

# The same hatching in the page's swatches, as CSS backgrounds.
_CSS_HATCH = {
    "xxx": "repeating-linear-gradient(45deg,#000 0 1px,transparent 1px 4px),"
    "repeating-linear-gradient(-45deg,#000 0 1px,transparent 1px 4px)",
    "///": "repeating-linear-gradient(-45deg,#000 0 1px,transparent 1px 4px)",
    "..": "radial-gradient(#000 0.8px,transparent 1px) 0 0/4px 4px",
    "": "none",
}

_REPORT_TEXT = {
    "vi": {
        "title": "Báo cáo sóng di động",
        "villages": "Tình trạng theo thôn/bản",
        "no_readings": "chưa có",
        "totals": "Tổng",
        "printed": "In ngày",
        "page": "Trang",
        "criterion": "Tiêu chí",
        "by_carrier": "Hộ không có sóng theo nhà mạng (và trạm gần nhất của nhà mạng)",
        "households_short": "hộ",
        "site": "trạm:",
        "map_link": "Bản đồ tương tác",
        "summary": "{no_signal} thôn trắng sóng, {patchy} lõm sóng{unknown}; "
        "{without}/{households} hộ không có sóng",
        "summary_unknown": ", {n} chưa đủ dữ liệu",
        "no_signal_rule": "Trắng sóng: tại trung tâm thôn (nhà văn hóa), nhà mạng tốt nhất "
        "cũng chỉ có sóng dùng được dưới {low} thời gian.",
        "patchy_rule": "Lõm sóng: trung tâm thôn có sóng nhưng lúc có lúc mất (nhà mạng tốt "
        "nhất dùng được dưới {high} thời gian), hoặc từ {share} số hộ trở lên ở nơi không "
        "nhà mạng nào có sóng dùng được.",
        "household_rule": "Hộ không có sóng: hộ ở nơi không nhà mạng nào có sóng dùng được"
        "{served}.",
        "served": " ít nhất {served} thời gian",
        "unknown_rule": "Chưa đủ dữ liệu: chưa có số đo và chưa biết trạm nào trong tầm phủ, "
        "hoặc dữ liệu chưa đủ để kết luận{confidence}.",
        "confidence": " (độ tin cậy dưới {confidence})",
    },
    "en": {
        "title": "Mobile signal report",
        "villages": "Signal by village",
        "no_readings": "none yet",
        "totals": "Total",
        "printed": "Printed",
        "page": "Page",
        "criterion": "Criterion",
        "by_carrier": "Households without each carrier (and that carrier's nearest site)",
        "households_short": "hh",
        "site": "site:",
        "map_link": "Interactive map",
        "summary": "{no_signal} {villages} with no signal, {patchy} patchy{unknown}; "
        "{without}/{households} households without signal",
        "summary_unknown": ", {n} not known",
        "no_signal_rule": "No signal (trắng sóng): at the village centre (its cultural house) "
        "even the best carrier is usable less than {low} of the time.",
        "patchy_rule": "Patchy (lõm sóng): the centre has signal but it comes and goes (the best "
        "carrier is usable less than {high} of the time), or at least {share} of the "
        "households live where no carrier gives usable signal.",
        "household_rule": "A household is without signal where no carrier gives usable "
        "signal{served}.",
        "served": " at least {served} of the time",
        "unknown_rule": "Not enough data: no readings and no known site within reach, or "
        "evidence that cannot decide{confidence}.",
        "confidence": " (confidence below {confidence})",
    },
}

# Page margin boxes do not inherit the body's font.
_MARGIN_FONT = "font: 8pt system-ui, Arial, sans-serif; color: #333;"


def print_date() -> dt.date:
    """Return today's date in Vietnam: the print date a report shows."""
    return dt.datetime.now(REPORT_TIMEZONE).date()


def _polygon_paths(geometries: gpd.GeoSeries) -> tuple[list[MplPath], np.ndarray]:
    """One matplotlib path per polygon part (holes included), and the row each came from."""
    parts, rows = shapely.get_parts(geometries.to_numpy(), return_index=True)
    paths = []
    for part in parts:
        rings = [part.exterior, *part.interiors] if part.geom_type == "Polygon" else []
        if rings:
            paths.append(
                MplPath.make_compound_path(
                    *(MplPath(shapely.get_coordinates(r), closed=True) for r in rings)
                )
            )
    kept = np.array([p.geom_type == "Polygon" for p in parts], dtype=bool)
    return paths, rows[kept]


def _verdicts(villages: pd.DataFrame) -> pd.Series:
    """Each village's verdict, ``unknown`` when missing or not one of ours."""
    verdict = villages.get("verdict", pd.Series("unknown", index=villages.index))
    verdict = verdict.fillna("unknown").astype(str)
    return verdict.where(verdict.isin(list(VERDICT_PRINT_STYLE)), "unknown")


def map_figure(
    villages: gpd.GeoDataFrame, dead_zones: gpd.GeoDataFrame | None = None, *, lang: Lang = "vi"
) -> Figure:
    """Draw the villages filled and hatched by verdict, dead zones over them, names at centres.

    No axes, ticks or axis labels (the page says where); the legend, hatched
    as the map, sits below the axes, so it never covers a village. No text
    is parsed as mathtext.
    """
    villages = villages.to_crs(CRS_WGS84)
    fig = Figure(figsize=(7.3, 5.6), dpi=150)
    ax = fig.subplots()
    verdict = _verdicts(villages).to_numpy()
    paths, rows = _polygon_paths(villages.geometry)
    for name in VERDICT_ORDER:
        colour, hatch = VERDICT_PRINT_STYLE[name]
        mine = [p for p, r in zip(paths, rows, strict=True) if verdict[r] == name]
        if mine:
            ax.add_collection(
                PathCollection(
                    mine,
                    facecolors=colour,
                    edgecolors="#333333",
                    hatchcolor="#333333",
                    hatch=hatch or None,
                    linewidths=0.8,
                    label=name,
                )
            )
    if dead_zones is not None and len(dead_zones):
        zone_paths, _ = _polygon_paths(dead_zones.to_crs(CRS_WGS84).geometry)
        ax.add_collection(
            PathCollection(zone_paths, facecolors="none", label="dead_zones", **DEAD_ZONE_STYLE)
        )
    ax.autoscale_view()
    points = villages.geometry.representative_point()
    for point, name in zip(points, villages["name"].astype(str), strict=True):
        ax.annotate(
            name,
            (point.x, point.y),
            ha="center",
            fontsize=7,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.85, "lw": 0},
        )
    if len(villages):
        mid_lat = float(villages.total_bounds[[1, 3]].mean())
        ax.set_aspect(1 / math.cos(math.radians(mid_lat)))
    ax.set_axis_off()
    labels = VERDICT_LABELS[lang]
    handles = [
        Patch(
            facecolor=VERDICT_PRINT_STYLE[v][0],
            edgecolor="#333333",
            hatch=VERDICT_PRINT_STYLE[v][1] or None,
            label=labels[v],
        )
        for v in VERDICT_ORDER
    ]
    handles.append(
        Patch(facecolor="none", label=words(lang)["dead_zone"], **_patch_style(DEAD_ZONE_STYLE))
    )
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=3,
        fontsize=7.5,
        frameon=False,
        handleheight=1.6,
        handlelength=2.6,
    )
    for text in fig.findobj(Text):
        text.set_parse_math(False)  # a name with "$" is text, not TeX
    return fig


def _patch_style(style: Mapping[str, Any]) -> dict[str, Any]:
    """Return a collection's style for one legend patch (``linewidths`` → ``linewidth``)."""
    return {("linewidth" if k == "linewidths" else k): v for k, v in style.items()}


def static_map_png(
    villages: gpd.GeoDataFrame, dead_zones: gpd.GeoDataFrame | None = None, *, lang: Lang = "vi"
) -> bytes:
    """Return :func:`map_figure` as PNG bytes, cropped to what it draws."""
    buffer = io.BytesIO()
    map_figure(villages, dead_zones, lang=lang).savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def summary_line(villages: pd.DataFrame, *, lang: Lang = "vi") -> str:
    """One line for the meeting: villages by verdict, households without signal of all.

    Examples
    --------
    >>> frame = pd.DataFrame({"verdict": ["no_signal", "patchy", "covered"],
    ...     "households": [98, 70, 755], "households_without_signal": [94, 47, 0]})
    >>> summary_line(frame)
    '1 thôn trắng sóng, 1 lõm sóng; 141/923 hộ không có sóng'
    """
    text = _REPORT_TEXT[lang]
    verdict = _verdicts(villages)
    unknown = int((verdict == "unknown").sum())
    households = pd.to_numeric(villages.get("households"), errors="coerce")
    without = pd.to_numeric(villages.get("households_without_signal"), errors="coerce")
    no_signal = int((verdict == "no_signal").sum())
    return text["summary"].format(
        no_signal=no_signal,
        villages="village" if no_signal == 1 else "villages",  # English only
        patchy=int((verdict == "patchy").sum()),
        unknown=text["summary_unknown"].format(n=unknown) if unknown else "",
        without=count(0 if without is None else without.sum()),
        households=count(0 if households is None else households.sum()),
    )


def criterion_lines(
    *, lang: Lang = "vi", served_p: float | None = None, min_confidence: float | None = None
) -> list[str]:
    """Return the official criterion in words, with the numbers of :mod:`geodata.constants`.

    ``served_p`` and ``min_confidence`` are the model's (``coverage.thresholds``:
    geodata does not import coverage); the sentences leave them out when not given.

    Examples
    --------
    >>> criterion_lines(lang="en")[0]
    'No signal (trắng sóng): at the village centre (its cultural house) even the best carrier is usable less than 10% of the time.'
    """  # noqa: E501
    text = _REPORT_TEXT[lang]
    served = "" if served_p is None else text["served"].format(served=f"{served_p:.0%}")
    sure = (
        ""
        if min_confidence is None
        else text["confidence"].format(confidence=f"{min_confidence:.0%}")
    )
    return [
        text["no_signal_rule"].format(low=f"{USABLE_P_LOW:.0%}"),
        text["patchy_rule"].format(
            high=f"{USABLE_P_HIGH:.0%}", share=f"{PATCHY_HOUSEHOLD_SHARE:.0%}"
        ),
        text["household_rule"].format(served=served),
        text["unknown_rule"].format(confidence=sure),
    ]


def _distance(metres: object, lang: Lang) -> str:
    """Return a distance for people: ``850 m``, ``2,6 km`` (a decimal comma in Vietnamese)."""
    value = pd.to_numeric(metres, errors="coerce")
    if value is None or pd.isna(value):
        return "—"
    if value < 1000:
        return f"{value:.0f} m"
    km = f"{value / 1000:.1f}"
    return f"{km.replace('.', ',') if lang == 'vi' else km} km"


def _carrier_rows(table: pd.DataFrame, lang: Lang) -> tuple[list[str], list[dict[str, Any]]]:
    """Carriers seen in the villages' summaries, and per village each one's cell text."""
    summaries = [
        c if isinstance(c, Mapping) else {}
        for c in table.get("carriers", pd.Series([None] * len(table)))
    ]
    carriers = sorted({str(k) for s in summaries for k in s})
    rows = []
    for name, summary in zip(table["name"].astype(str), summaries, strict=True):
        cells = []
        for carrier in carriers:
            one = summary.get(carrier)
            one = one if isinstance(one, Mapping) else {}
            cells.append(
                {
                    "without": one.get("households_without_signal"),
                    "site": _distance(one.get("nearest_site_m"), lang),
                }
            )
        rows.append({"name": name, "cells": cells})
    return carriers, rows


def _first_reason(reasons: object) -> str:
    """Return the first sentence of a village's reasons, ``—`` without any."""
    if isinstance(reasons, list | tuple | np.ndarray) and len(reasons):
        return str(reasons[0])
    return "—"


def _qr_svg(url: str) -> Markup:
    """``url`` as a QR code, inline SVG (segno's own output, no user markup in it)."""
    return Markup(segno.make(url, error="m").svg_inline(scale=2.5, border=2))


def _css_string(text: str) -> str:
    """``text`` as a CSS string literal's content: anything but letters, digits, spaces escaped."""
    return "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text)


def _page_css(footer: str, page_word: str) -> str:
    """Return the A4 page's CSS: margins, a footer and "Page n/N" on every page, swatches."""
    return (
        "@page { size: A4; margin: 12mm 12mm 16mm;"
        f' @bottom-left {{ content: "{_css_string(footer)}"; {_MARGIN_FONT} }}'
        f' @bottom-right {{ content: "{_css_string(page_word)} " counter(page) "/" counter(pages);'
        f" {_MARGIN_FONT} }} }}\n"
        + "".join(
            f".swatch.{v} {{ background: {_CSS_HATCH[h]}, {c}; }}\n"
            for v, (c, h) in VERDICT_PRINT_STYLE.items()
        )
    )


def render_commune_report(
    commune: Mapping[str, Any],
    villages: gpd.GeoDataFrame,
    dead_zones: gpd.GeoDataFrame | None = None,
    *,
    lang: Lang = "vi",
    map_url: str | None = None,
    printed: dt.date | None = None,
    served_p: float | None = None,
    min_confidence: float | None = None,
) -> str:
    """Render a commune's printable report (A4): summary, map, criterion, villages, carriers.

    Pure: the service passes what its store holds for the commune, a notebook
    or the CLI what it read or analysed.

    Parameters
    ----------
    commune : mapping
        The commune's record: ``name``, and ``district`` and ``province`` when
        known (missing or null are left out of the heading); a store row will do.
    villages : GeoDataFrame
        With ``name``, ``verdict``, ``households``, ``households_without_signal``
        and ``last_reading`` (the evidence date is their latest); optionally
        ``reasons``/``reasons_vi`` (the first sentence is the why line) and
        ``carriers`` (per carrier ``households_without_signal`` and, when
        known, ``nearest_site_m``: the per-carrier table).
    dead_zones : GeoDataFrame, optional
        Outlined and hatched on the map.
    lang : {"vi", "en"}
    map_url : str, optional
        The interactive map, linked and drawn as a QR code (give it absolute,
        for phones reading the paper).
    printed : datetime.date, optional
        The print date shown; today in Vietnam when not given.
    served_p, min_confidence : float, optional
        The model's thresholds, stated in the criterion when given.

    Raises
    ------
    InvalidInputError
        When ``villages`` has no CRS or ``lang`` is unknown.

    Examples
    --------
    >>> import shapely
    >>> villages = gpd.GeoDataFrame({"name": ["Bản Giòng"], "verdict": ["patchy"],
    ...     "households": [98]}, geometry=[shapely.box(105.49, 22.56, 105.5, 22.57)], crs=4326)
    >>> page = render_commune_report({"name": "Thượng Nông", "district": None}, villages)
    >>> "<h1>Báo cáo sóng di động: Xã Thượng Nông</h1>" in page
    True
    """
    commune_name = str(commune["name"])
    district, province = (_text(commune.get(k)) for k in ("district", "province"))
    text = words(lang)
    extra = _REPORT_TEXT[lang]
    if villages.crs is None:
        raise InvalidInputError("villages have no CRS")
    stamps = villages["last_reading"] if "last_reading" in villages else pd.Series(dtype=object)
    last = pd.to_datetime(stamps, utc=True, errors="coerce", format="ISO8601")
    evidence = extra["no_readings"] if last.isna().all() else f"{last.max():%d/%m/%Y}"
    printed_on = f"{printed or print_date():%d/%m/%Y}"
    png = static_map_png(villages, dead_zones, lang=lang) if len(villages) else b""
    table = pd.DataFrame(villages.drop(columns=villages.geometry.name))
    table["verdict"] = _verdicts(table)
    table["order"] = table["verdict"].map({v: i for i, v in enumerate(VERDICT_ORDER)})
    without = pd.to_numeric(table.get("households_without_signal"), errors="coerce")
    table = table.assign(without=without).sort_values(
        ["order", "without", "name"], ascending=[True, False, True]
    )
    reasons = table.get("reasons_vi" if lang == "vi" else "reasons")
    rows = [
        {
            "name": str(row.name),
            "verdict": str(row.verdict),
            "label": VERDICT_LABELS[lang][str(row.verdict)],
            "households": getattr(row, "households", None),
            "without": row.without,
            "why": _first_reason(None if reasons is None else reasons.loc[row.Index]),
        }
        for row in table.itertuples()
    ]
    carriers, carrier_rows = _carrier_rows(table, lang)
    carrier_totals = [
        sum(int(r["cells"][i]["without"] or 0) for r in carrier_rows) for i in range(len(carriers))
    ]
    title = f"{extra['title']}: {text['commune']} {commune_name}"
    return render(
        "commune_report.html",
        lang=lang,
        text=text,
        report=extra,
        css=Markup(_page_css(f"{title} · {extra['printed']} {printed_on}", extra["page"])),
        title=title,
        commune_name=commune_name,
        place=", ".join(p for p in (district, province) if p),
        evidence=evidence,
        printed=printed_on,
        summary=summary_line(table, lang=lang),
        criterion=criterion_lines(lang=lang, served_p=served_p, min_confidence=min_confidence),
        png=base64.b64encode(png).decode() if png else "",
        map_url=map_url,
        qr=_qr_svg(map_url) if map_url else "",
        rows=rows,
        total_households=pd.to_numeric(table.get("households"), errors="coerce").sum(),
        total_without=without.sum(),
        carriers=carriers,
        carrier_rows=carrier_rows,
        carrier_totals=carrier_totals,
    )


def _text(value: object) -> str:
    """Return a record's optional text field: ``""`` when missing or null."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
