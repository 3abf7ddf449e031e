"""A printable commune report: one HTML page with a static map and a table of villages.

What a commune chairman brings to a meeting: the map is a PNG drawn with
matplotlib (no script, prints the same everywhere) embedded in the page. It
is drawn on its own :class:`matplotlib.figure.Figure`, never through pyplot:
no global state, so pages render safely on worker threads, and importing this
module leaves the caller's matplotlib backend alone. The page is the Jinja
template ``geodata/maps/templates/commune_report.html`` (autoescaped).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from markupsafe import Markup
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.path import Path as MplPath

from geodata.constants import CRS_WGS84, VERDICT_ORDER, Lang
from geodata.errors import InvalidInputError
from geodata.maps.templating import render
from geodata.maps.text import VERDICT_COLOURS, VERDICT_LABELS, words

#: Villages are listed worst first.

_REPORT_TEXT = {
    "vi": {
        "title": "Báo cáo sóng di động",
        "generated": "Tình trạng theo thôn/bản",
        "no_readings": "chưa có",
        "totals": "Tổng",
    },
    "en": {
        "title": "Mobile signal report",
        "generated": "Signal by village",
        "no_readings": "none yet",
        "totals": "Total",
    },
}

_CSS = """
body { font: 12pt/1.4 system-ui, "Segoe UI", Roboto, Arial, sans-serif; margin: 16px; color: #111; }
h1 { font-size: 18pt; margin: 0 0 4px; } .meta { color: #444; margin: 0 0 8px; }
img.map { width: 100%; max-width: 900px; border: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin-top: 10px; }
th, td { border: 1px solid #999; padding: 3px 6px; text-align: left; }
td.n { text-align: right; } tfoot td { font-weight: bold; }
.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  border: 1px solid #555; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
@page { size: A4; margin: 12mm; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; }
  tr { page-break-inside: avoid; } .noprint { display: none; } }
"""


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


def static_map_png(
    villages: gpd.GeoDataFrame, dead_zones: gpd.GeoDataFrame | None = None, *, lang: Lang = "vi"
) -> bytes:
    """Draw the villages coloured by verdict, dead zones hatched, names at the centres, as PNG."""
    villages = villages.to_crs(CRS_WGS84)
    fig = Figure(figsize=(8, 6), dpi=110)
    ax = fig.subplots()
    verdict = villages["verdict"].fillna("unknown").astype(str)
    colours = verdict.map(VERDICT_COLOURS).fillna(VERDICT_COLOURS["unknown"]).to_numpy()
    paths, rows = _polygon_paths(villages.geometry)
    ax.add_collection(
        PathCollection(
            paths,
            facecolors=colours[rows].tolist(),
            edgecolors="#333333",
            linewidths=0.8,
            alpha=0.8,
        )
    )
    if dead_zones is not None and len(dead_zones):
        zone_paths, _ = _polygon_paths(dead_zones.to_crs(CRS_WGS84).geometry)
        ax.add_collection(
            PathCollection(
                zone_paths, facecolors="none", edgecolors="#7f0000", hatch="///", linewidths=0.6
            )
        )
    ax.autoscale_view()
    points = villages.geometry.representative_point()
    for point, name in zip(points, villages["name"].astype(str), strict=True):
        ax.annotate(
            name,
            (point.x, point.y),
            ha="center",
            fontsize=7,
            parse_math=False,  # a name with "$" is text, not TeX
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0},
        )
    if len(villages):
        mid_lat = float(villages.total_bounds[[1, 3]].mean())
        ax.set_aspect(1 / math.cos(math.radians(mid_lat)))
    ax.set_xticks([])
    ax.set_yticks([])
    labels = VERDICT_LABELS[lang]
    ax.legend(
        handles=[
            Patch(facecolor=VERDICT_COLOURS[v], edgecolor="#333", label=labels[v])
            for v in VERDICT_ORDER
        ],
        loc="lower left",
        fontsize=7,
        framealpha=0.9,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def render_commune_report(
    commune: Mapping[str, Any],
    villages: gpd.GeoDataFrame,
    dead_zones: gpd.GeoDataFrame | None = None,
    *,
    lang: Lang = "vi",
    map_url: str | None = None,
) -> str:
    """Render a commune's printable report: title, evidence date, static map, table of villages.

    Pure: the service passes what its store holds for the commune, a notebook
    or the CLI what it read or analysed.

    Parameters
    ----------
    commune : mapping
        The commune's record: ``name``, and ``district`` and ``province`` when
        known (missing or null are left out of the heading); a store row will do.
    villages : GeoDataFrame
        With ``name``, ``verdict``, ``households``, ``households_without_signal``,
        ``best_carrier`` and ``last_reading`` (the evidence date is their latest).
    dead_zones : GeoDataFrame, optional
        Hatched on the map.
    lang : {"vi", "en"}
    map_url : str, optional
        A link back to the interactive map (hidden when printed).

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
    png = static_map_png(villages, dead_zones, lang=lang) if len(villages) else b""
    table = pd.DataFrame(villages.drop(columns=villages.geometry.name))
    table["verdict"] = table.get("verdict", pd.Series(dtype=object)).fillna("unknown")
    table["order"] = table["verdict"].map({v: i for i, v in enumerate(VERDICT_ORDER)})
    without = pd.to_numeric(table.get("households_without_signal"), errors="coerce")
    table = table.assign(without=without).sort_values(
        ["order", "without", "name"], ascending=[True, False, True]
    )
    rows: list[dict[str, Any]] = []
    for row in table.itertuples():
        verdict = str(row.verdict)
        best = getattr(row, "best_carrier", None)
        rows.append(
            {
                "name": str(row.name),
                "colour": VERDICT_COLOURS.get(verdict, "#9e9e9e"),
                "label": VERDICT_LABELS[lang].get(verdict, verdict),
                "households": getattr(row, "households", None),
                "without": row.without,
                "best": text["none"] if best is None or pd.isna(best) else str(best),
            }
        )
    return render(
        "commune_report.html",
        lang=lang,
        text=text,
        report=extra,
        css=Markup(_CSS),  # our own stylesheet, not data
        commune_name=commune_name,
        place=", ".join(p for p in (district, province) if p),
        evidence=evidence,
        png=base64.b64encode(png).decode() if png else "",
        map_url=map_url,
        rows=rows,
        total_households=pd.to_numeric(table.get("households"), errors="coerce").sum(),
        total_without=without.sum(),
    )


def _text(value: object) -> str:
    """Return a record's optional text field: ``""`` when missing or null."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
